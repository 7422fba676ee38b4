"""ESI's notations, read: rates (``150/15m``), HTTP dates, integer headers, and routes with their
ids templated (for logs and limits)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

ID_NAMES = {
    "alliances": "alliance_id",
    "categories": "category_id",
    "characters": "character_id",
    "contracts": "contract_id",
    "corporations": "corporation_id",
    "groups": "group_id",
    "markets": "region_id",
    "orders": "order_id",
    "regions": "region_id",
    "stations": "station_id",
    "structures": "structure_id",
    "systems": "system_id",
    "types": "type_id",
}


# --- small helpers ---------------------------------------------------------------------------------
def rate_parse(text: str) -> tuple[int, float]:
    """ESI's rate notation: ``"150/15m"`` → (150, 900.0). Units: s, m, h."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*([smh])\s*", text or "")
    if not match:
        raise ValueError(f"a rate is written like '150/15m', not {text!r}")
    count, amount, unit = match.groups()
    return int(count), float(int(amount) * {"s": 1, "m": 60, "h": 3600}[unit])


def route_template(path: str) -> str:
    """``/markets/10000002/orders/`` → ``/markets/{region_id}/orders/`` (for logs and limits)."""
    parts = path.split("/")
    for i, part in enumerate(parts):
        if part.isdigit():
            parts[i] = "{" + ID_NAMES.get(parts[i - 1] if i else "", "id") + "}"
    return "/".join(parts)


def _http_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _as_datetime(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None
