"""A tracked structure's book and names from ESI, with its character's token.

Routes (ESI swagger, esi.evetech.net/latest/swagger.json): ``GET /markets/structures/{id}/``
(paged like a region's book; scope ``esi-markets.structure_markets.v1``), ``GET
/universe/structures/{id}/`` (``esi-universe.read_structures.v1``), ``GET
/universe/structures/?filter=market`` (public). All through the shared ``EsiClient`` and its
Redis-shared limits.

The token rules (``structure_token_call``):

- a **401** refreshes the token (``accounts.tokens``) and retries once; a second 401 means the
  login was revoked: the character is marked as needing a new EVE login (``character_unusable``,
  the banner) and the structure's status says so;
- a **403** (no docking or market access, or the scope not granted) is not retried: fetching
  with that character stops for ``FORBIDDEN_BACKOFF`` (12 h, ``backoff_until``), the reason is
  kept for the structure's page, and no request for it goes to ESI before then. Another user
  may take the structure over with a character that has access (``structure_take_over``).

The book goes through the region pipeline (``market.ingest.snapshots.book_fetch``): its own
snapshot, the atomic swap, and a failed fetch keeps the previous book.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from django.utils import timezone

from accounts.models import Character
from accounts.scopes import STRUCTURE_MARKETS_SCOPE
from accounts.tokens import (
    TokenInvalid,
    TokenUnavailable,
    access_token_get,
    access_token_refresh,
    character_relogin_require,
)
from market.esi import EsiAuthError, EsiClient, EsiError
from market.ingest.snapshots import SnapshotError, book_fetch
from market.models import Structure
from market.structures.models import FORBIDDEN_BACKOFF

log = logging.getLogger("market.structures")

T = TypeVar("T")

ORDERS_PATH = "/markets/structures/{structure_id}/"
INFO_PATH = "/universe/structures/{structure_id}/"
PUBLIC_PATH = "/universe/structures/"


def _auth_cause(exc: BaseException) -> EsiAuthError | None:
    """The EsiAuthError behind ``exc`` (a SnapshotError wraps the client's)."""
    while exc is not None:
        if isinstance(exc, EsiAuthError):
            return exc
        exc = exc.__cause__
    return None


def structure_token_call(*, character: Character, call: Callable[[str], T]) -> T:
    """``call(access_token)`` with the 401 rule of the module docstring; a 403 is raised."""
    token = access_token_get(character=character)
    try:
        return call(token)
    except (EsiError, SnapshotError) as exc:
        refused = _auth_cause(exc)
        if refused is None or refused.status != 401:
            raise
        log.info("ESI refused character %s's token (401); refreshing once", character.character_id)
    token = access_token_refresh(character=character, rejected_token=token)
    try:
        return call(token)
    except (EsiError, SnapshotError) as exc:
        refused = _auth_cause(exc)
        if refused is not None and refused.status == 401:
            raise character_relogin_require(
                character=character, message="ESI refused a freshly refreshed token (401)"
            ) from exc
        raise


@dataclass(frozen=True)
class StructureInfo:
    structure_id: int
    name: str
    solar_system_id: int
    owner_corporation_id: int | None
    type_id: int | None


def structure_info_fetch(
    *, structure_id: int, character: Character, client: EsiClient | None = None
) -> StructureInfo:
    """Name, system, owner and type of a structure the character may dock at (raises
    EsiAuthError 403 otherwise, TokenInvalid/TokenUnavailable without a usable token)."""
    client = client or EsiClient()
    result = structure_token_call(
        character=character,
        call=lambda token: client.get(
            INFO_PATH.format(structure_id=int(structure_id)), token=token, conditional=False
        ),
    )
    data = result.data if isinstance(result.data, dict) else {}
    try:
        return StructureInfo(
            structure_id=int(structure_id),
            name=str(data["name"])[:200],
            solar_system_id=int(data["solar_system_id"]),
            owner_corporation_id=int(data["owner_id"]) if data.get("owner_id") else None,
            type_id=int(data["type_id"]) if data.get("type_id") else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise EsiError(f"ESI's structure {structure_id} answer is malformed: {exc}") from exc


def public_market_structure_ids(*, client: EsiClient | None = None) -> list[int]:
    """ESI's public list of structures with a market (no token needed)."""
    result = (client or EsiClient()).get(PUBLIC_PATH, params={"filter": "market"})
    return [int(i) for i in result.data or [] if isinstance(i, int)]


@dataclass(frozen=True)
class StructureFetchOutcome:
    structure_id: int
    # stored / fresh / unchanged (as SnapshotOutcome), or skipped / backed_off / forbidden /
    # token / failed.
    status: str
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("stored", "fresh", "unchanged", "superseded")


def _record(structure: Structure, now: datetime, **fields) -> None:
    fields["last_attempt_at"] = now
    for name, value in fields.items():
        setattr(structure, name, value)
    Structure.objects.filter(pk=structure.pk).update(**fields)


def structure_fetch(
    *,
    structure: Structure,
    client: EsiClient | None = None,
    force: bool = False,
    now: datetime | None = None,
) -> StructureFetchOutcome:
    """Fetch the structure's book with its character's token, by the module docstring's rules,
    and record the outcome on the structure (status, reason, back-off, last fetch)."""
    now = now or timezone.now()
    sid = structure.structure_id
    if not structure.is_tracking:
        return StructureFetchOutcome(sid, "skipped", "not tracked")
    if structure.is_backed_off(now):
        # Not a single request before the back-off ends.
        return StructureFetchOutcome(
            sid, "backed_off", f"no request before {structure.backoff_until:%Y-%m-%d %H:%M} UTC"
        )
    character = structure.character
    if character is None or character.needs_relogin:
        message = (
            "no character fetches it: take it over with one of yours"
            if character is None
            else f"{character.name} must log in with EVE again"
        )
        _record(structure, now, status=Structure.Status.TOKEN, last_error=message)
        return StructureFetchOutcome(sid, "token", message)
    if not character.has_scope(STRUCTURE_MARKETS_SCOPE):
        message = f"{character.name} has not granted {STRUCTURE_MARKETS_SCOPE}: grant access"
        _record(structure, now, status=Structure.Status.TOKEN, last_error=message)
        return StructureFetchOutcome(sid, "token", message)
    client = client or EsiClient()
    try:
        if structure.region_id is None:
            structure_resolve(structure=structure, client=client)
        outcome = structure_token_call(
            character=character,
            call=lambda token: book_fetch(
                region_id=structure.region_id,
                structure_id=sid,
                path=ORDERS_PATH.format(structure_id=sid),
                token=token,
                force=force,
                client=client,
            ),
        )
    except TokenInvalid as exc:
        _record(structure, now, status=Structure.Status.TOKEN, last_error=str(exc))
        return StructureFetchOutcome(sid, "token", str(exc))
    except TokenUnavailable as exc:
        message = f"no token from EVE SSO right now: {exc}"
        _record(structure, now, status=Structure.Status.FAILED, last_error=message)
        return StructureFetchOutcome(sid, "failed", message)
    except (EsiError, SnapshotError) as exc:
        refused = _auth_cause(exc)
        if refused is not None and refused.status == 403:
            until = now + FORBIDDEN_BACKOFF
            message = (
                f"ESI answered 403 for {character.name} ({refused}): no docking or market "
                f"access. Fetching with {character.name} stops until {until:%Y-%m-%d %H:%M} UTC."
            )
            _record(
                structure,
                now,
                status=Structure.Status.FORBIDDEN,
                last_error=message,
                backoff_until=until,
            )
            log.warning("structure %s: %s", sid, message)
            return StructureFetchOutcome(sid, "forbidden", message)
        _record(structure, now, status=Structure.Status.FAILED, last_error=str(exc)[:2000])
        return StructureFetchOutcome(sid, "failed", str(exc))
    _record(
        structure,
        now,
        status=Structure.Status.OK,
        last_error="",
        backoff_until=None,
        last_fetched_at=timezone.now(),
    )
    return StructureFetchOutcome(sid, outcome.status, outcome.summary())


def structure_resolve(*, structure: Structure, client: EsiClient | None = None) -> Structure:
    """Fill the structure's name, system, region, owner and type from ESI (its character's
    token, ``esi-universe.read_structures.v1``)."""
    character = structure.character
    if character is None:
        raise ValueError(f"structure {structure.structure_id} has no character to ask ESI with")
    info = structure_info_fetch(
        structure_id=structure.structure_id, character=character, client=client
    )
    structure.name = info.name
    structure.solar_system_id = info.solar_system_id
    structure.owner_corporation_id = info.owner_corporation_id
    structure.type_id = info.type_id
    structure.region_id = None
    structure.region_derive()
    if structure.region_id is None:
        raise EsiError(f"solar system {info.solar_system_id} is not in the imported SDE")
    structure.save()
    return structure
