"""The access-token service behind every authenticated ESI call.

``access_token_get`` hands out a token that is good for at least another minute, refreshing it
first when needed. Refreshing happens under the character's row lock (``select_for_update``; on
SQLite the IMMEDIATE transaction does the same), so concurrent workers make one token request:
the others wait, then find the fresh token. EVE SSO rotates refresh tokens, so using one twice
would burn the login; the lock is what prevents that, and the rotated one is always stored.

``invalid_grant`` means the pilot revoked Lenny or the login lapsed: the character is marked
``needs_relogin``, its jobs stop and ``TokenInvalid`` is raised, now and on every later call,
without asking the SSO again until the pilot logs in again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.characters import character_unlink
from accounts.models import Character
from accounts.signals import character_unusable
from accounts.sso import (
    SsoGrantInvalid,
    SsoTokenRejected,
    SsoUnavailable,
    access_token_verify,
    sso_credentials,
    token_request,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

AUTH_FAILURE_STATUSES = (401, 403)


class TokenInvalid(Exception):
    """The character's EVE login no longer works; the pilot must log in with EVE again."""

    def __init__(self, character: Character, message: str) -> None:
        super().__init__(message)
        self.character = character


class TokenUnavailable(Exception):
    """No token right now (SSO down or misbehaving); the login itself is still good."""

    def __init__(self, character: Character, message: str) -> None:
        super().__init__(message)
        self.character = character


# What a successful refresh writes.
_REFRESHED_FIELDS = (
    "name",
    "scopes",
    "access_token",
    "refresh_token",
    "access_token_expires_at",
    "token_refreshed_at",
    "token_error",
)
# A character's whole token state, as copied between two rows of it.
_COPIED_FIELDS = (*_REFRESHED_FIELDS, "needs_relogin")


def _copy_token_state(source: Character, target: Character) -> None:
    for field in _COPIED_FIELDS:
        setattr(target, field, getattr(source, field))


def _relogin_required(character: Character, message: str) -> TokenInvalid:
    character.needs_relogin = True
    character.access_token = ""
    character.refresh_token = ""
    character.access_token_expires_at = None
    character.token_error = message[:300]
    character.save(
        update_fields=[
            "needs_relogin",
            "access_token",
            "refresh_token",
            "access_token_expires_at",
            "token_error",
        ]
    )
    # Apps that keep jobs per character stop them until the pilot logs in again.
    character_unusable.send(sender=Character, character=character, reason="relogin")
    log.warning("character %s needs a new EVE login: %s", character.character_id, message)
    return TokenInvalid(character, f"{character.name} must log in with EVE again: {message}")


def character_relogin_require(*, character: Character, message: str) -> TokenInvalid:
    """ESI refused even a freshly refreshed token (a revoked login): mark the character as
    needing a new EVE login (its jobs stop, the banner shows) and return the error to raise."""
    return _relogin_required(character, message)


def access_token_get(*, character: Character) -> str:
    """An access token valid for at least another minute, refreshed first if needed."""
    if character.needs_relogin:
        raise TokenInvalid(character, f"{character.name} must log in with EVE again")
    if character.access_token_fresh():
        return character.access_token
    return _refresh(character, forced=False, rejected_token=None)


def access_token_refresh(*, character: Character, rejected_token: str | None = None) -> str:
    """Refresh now (e.g. ESI refused ``rejected_token``), unless another worker just did."""
    if character.needs_relogin:
        raise TokenInvalid(character, f"{character.name} must log in with EVE again")
    return _refresh(character, forced=True, rejected_token=rejected_token)


@sensitive_variables("rejected_token", "answer")
def _refresh(character: Character, *, forced: bool, rejected_token: str | None) -> str:
    failure: Exception | None = None
    with transaction.atomic():
        row = Character.objects.select_for_update().filter(pk=character.pk).first()
        if row is None:
            raise TokenInvalid(character, f"{character.name} is no longer linked")
        if row.needs_relogin:
            failure = TokenInvalid(row, f"{row.name} must log in with EVE again")
        elif row.access_token_fresh() and (
            not forced or (rejected_token is not None and row.access_token != rejected_token)
        ):
            pass  # another worker refreshed while this one waited for the lock
        elif not row.refresh_token:
            failure = _relogin_required(row, "no refresh token stored")
        else:
            failure = _refresh_locked(row)
    _copy_token_state(row, character)
    if failure is not None:
        raise failure
    return row.access_token


@sensitive_variables("answer")
def _refresh_locked(row: Character) -> Exception | None:
    """Refresh ``row`` (its lock held); return the exception to raise once the lock is gone."""
    try:
        answer = token_request({"grant_type": "refresh_token", "refresh_token": row.refresh_token})
        identity = access_token_verify(answer["access_token"], client_id=sso_credentials()[0])
    except SsoGrantInvalid as exc:
        return _relogin_required(row, str(exc))
    except (SsoUnavailable, SsoTokenRejected) as exc:
        log.warning("token refresh for character %s failed: %s", row.character_id, exc)
        return TokenUnavailable(row, str(exc))
    if identity.character_id != row.character_id:
        message = f"EVE SSO answered with a token for character {identity.character_id}"
        log.error("token refresh for character %s: %s", row.character_id, message)
        return TokenUnavailable(row, message)
    if identity.owner_hash != row.owner_hash:
        # Sold to another EVE account: the link and its data go.
        character_unlink(character=row, reason="transferred", revoke=False)
        row.needs_relogin = True
        row.access_token = row.refresh_token = ""
        return TokenInvalid(row, f"{row.name} now belongs to another EVE account and was unlinked")
    row.name = identity.name
    row.scopes = identity.scopes
    row.access_token = answer["access_token"]
    # SSO v2 rotates refresh tokens: the old one may already be dead.
    row.refresh_token = answer.get("refresh_token") or row.refresh_token
    row.access_token_expires_at = identity.expires_at
    row.token_refreshed_at = timezone.now()
    row.token_error = ""
    row.save(update_fields=list(_REFRESHED_FIELDS))
    return None


def _auth_failure(exc: Exception) -> bool:
    status = getattr(exc, "status", None)
    if status is None:  # requests.HTTPError and friends keep it on the response
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status in AUTH_FAILURE_STATUSES


def esi_call_with_token(*, character: Character, call: Callable[[str], T]) -> T:
    """Run ``call(access_token)``; on a 401/403 refresh once and retry once.

    Any exception class works, as long as it carries the HTTP status in ``.status``.
    """
    token = access_token_get(character=character)
    try:
        return call(token)
    except Exception as exc:
        if not _auth_failure(exc):
            raise
        log.info("ESI refused character %s's token; refreshing once", character.character_id)
    token = access_token_refresh(character=character, rejected_token=token)
    return call(token)
