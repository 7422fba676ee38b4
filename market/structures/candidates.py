"""Structures a user may want to track, searched by name: ESI's public list of market structures
(``GET /universe/structures/?filter=market``), the structures where the pilot has orders or
transactions (the ledger answers ``structure_candidates_wanted``; ``market`` never reads the
ledger's tables), and those tracked already. Names come from the ``Structure`` rows, else from
``GET /universe/structures/{id}/`` with the pilot's token, remembered a day in the shared cache
(a 403 too: a structure the pilot may not dock at is not asked about again that day). At most
``RESOLVE_BUDGET`` structures are asked about per search, so a search never waits on hundreds
of requests; the next search resolves the next ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.cache import cache
from django.dispatch import Signal

from accounts.models import Character
from accounts.scopes import UNIVERSE_STRUCTURES_SCOPE
from accounts.tokens import TokenInvalid, TokenUnavailable
from market.esi import EsiAuthError, EsiClient, EsiError
from market.models import Structure
from market.structures.fetch import public_market_structure_ids, structure_info_fetch
from market.structures.models import FIRST_STRUCTURE_ID

log = logging.getLogger("market.structures")

# sender=Character, character=…: receivers return the location ids (any: stations are dropped)
# where the character has orders or transactions.
structure_candidates_wanted = Signal()

RESOLVE_BUDGET = 30
NAME_TTL_SECONDS = 24 * 3600
MAX_CANDIDATES = 25
_FORBIDDEN = "\x00forbidden"


@dataclass(frozen=True)
class Candidate:
    structure_id: int
    name: str
    solar_system_id: int | None
    source: str  # "tracked", "your orders", "public"
    tracked: bool = False


def _name_key(structure_id: int, character: Character) -> str:
    # Per character: what ESI tells (or refuses) depends on who asks.
    return f"market:structure-name:v1:{character.character_id}:{structure_id}"


def _ledger_ids(character: Character) -> set[int]:
    ids: set[int] = set()
    for _receiver, answer in structure_candidates_wanted.send(
        sender=Character, character=character
    ):
        ids.update(int(i) for i in answer or () if int(i) >= FIRST_STRUCTURE_ID)
    return ids


def structure_candidates(
    *, character: Character, query: str, client: EsiClient | None = None
) -> tuple[list[Candidate], str]:
    """Candidates whose name contains ``query`` (case-insensitive), and a note for the page
    (what could not be asked). A number is taken as an id, as is."""
    client = client or EsiClient()
    query = query.strip()
    note = ""
    tracked = {s.structure_id: s for s in Structure.objects.filter(is_private=False)}
    mine = _ledger_ids(character)
    try:
        public = set(public_market_structure_ids(client=client))
    except EsiError as exc:
        public, note = set(), f"ESI's public structure list is unavailable ({exc})"
    found: list[Candidate] = []
    budget = RESOLVE_BUDGET if character.has_scope(UNIVERSE_STRUCTURES_SCOPE) else 0
    if not budget:
        note = (
            note or f"{character.name} has not granted {UNIVERSE_STRUCTURES_SCOPE}: names unknown"
        )
    # The pilot's own structures first: they are the likeliest to be wanted.
    for structure_id in [*sorted(mine), *sorted(public - mine)]:
        source = "your orders" if structure_id in mine else "public"
        known = tracked.get(structure_id)
        if known is not None and known.name:
            name, system_id = known.name, known.solar_system_id
        else:
            cached = cache.get(_name_key(structure_id, character))
            if cached is None and budget:
                budget -= 1
                cached = _resolve(structure_id, character, client)
            if cached is None or cached == _FORBIDDEN:
                continue
            name, system_id = cached
        if query.lower() in name.lower():
            found.append(Candidate(structure_id, name, system_id, source, known is not None))
    for structure in tracked.values():
        if structure.structure_id not in mine | public and query.lower() in str(structure).lower():
            found.append(
                Candidate(
                    structure.structure_id,
                    str(structure),
                    structure.solar_system_id,
                    "tracked",
                    True,
                )
            )
    found.sort(key=lambda c: (c.source != "your orders", c.name.lower()))
    return found[:MAX_CANDIDATES], note


def _resolve(structure_id: int, character: Character, client: EsiClient):
    try:
        info = structure_info_fetch(structure_id=structure_id, character=character, client=client)
    except EsiAuthError:
        cache.set(_name_key(structure_id, character), _FORBIDDEN, NAME_TTL_SECONDS)
        return _FORBIDDEN
    except (EsiError, TokenInvalid, TokenUnavailable) as exc:
        log.info("structure %s not resolved for the search: %s", structure_id, exc)
        return None
    value = (info.name, info.solar_system_id)
    cache.set(_name_key(structure_id, character), value, NAME_TTL_SECONDS)
    return value
