"""What the ESI client raises: every failure is an :class:`EsiError` (status None when no HTTP
answer came at all), with subclasses for the cases callers handle on their own."""

from __future__ import annotations

import json


# --- errors and results --------------------------------------------------------------------------
class EsiError(Exception):
    """ESI did not give a usable answer. ``status`` is None when no HTTP answer came at all."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class EsiTimeout(EsiError):
    """Every attempt timed out."""


class EsiAuthError(EsiError):
    """401 or 403: the token is missing, expired, revoked or lacks the scope."""


class EsiNotFound(EsiError):
    """404 — for market history: the type was never traded in the region."""


class EsiRolledOver(EsiError):
    """The pages kept disagreeing on Last-Modified after every allowed re-fetch."""


def _error_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"][:300]
    return ""
