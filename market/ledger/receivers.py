"""How the ledger reacts to the other apps: connected in ``LedgerConfig.ready()`` so they are
connected in every process (web and workers).

- a region's new order snapshot (``market.models.snapshot_landed``): compare the open orders
  there with it (``undercut``);
- a character linked through EVE SSO (``accounts.signals.character_linked``): create its
  per-endpoint sync schedules;
- a user searching for a player structure to track
  (``market.structures.candidates.structure_candidates_wanted``): the structures where the
  character has orders or transactions;
- a character whose login stopped working or that is unlinked (``character_unusable``,
  ``character_unlinked``): delete its schedules. The ledger owns them; accounts only announces.
"""

from __future__ import annotations

import logging
from typing import Any

from django_q.models import Schedule

from accounts.models import Character
from accounts.signals import character_linked, character_unlinked, character_unusable
from market.ledger.schedules import character_schedules_ensure, schedule_prefix
from market.ledger.undercut import orders_undercut_check
from market.models import MarketSnapshot, snapshot_landed
from market.structures.candidates import structure_candidates_wanted

ledger_log = logging.getLogger("market.ledger")


def open_orders_check(sender: Any, snapshot: MarketSnapshot, **kwargs: Any) -> None:
    try:
        if snapshot.structure_id:
            # A structure's own book: the orders in that structure.
            orders_undercut_check(structure_id=snapshot.structure_id)
        else:
            orders_undercut_check(region_id=snapshot.region_id)
    except Exception:
        # The snapshot is in whatever happens here; the next one checks again.
        ledger_log.exception("undercut check after snapshot %s failed", snapshot.pk)


def structure_candidates_answer(sender: Any, character: Character, **kwargs: Any) -> set[int]:
    from market.ledger.models import CharacterOrder, WalletTransaction
    from market.structures.models import FIRST_STRUCTURE_ID

    ids: set[int] = set()
    for model in (CharacterOrder, WalletTransaction):
        ids.update(
            model.objects.filter(character=character, location_id__gte=FIRST_STRUCTURE_ID)
            .values_list("location_id", flat=True)
            .distinct()
        )
    return ids


def character_schedules_create(sender: Any, character: Character, **kwargs: Any) -> None:
    character_schedules_ensure(character=character)


def character_schedules_delete(sender: Any, character: Character, **kwargs: Any) -> None:
    Schedule.objects.filter(name__startswith=schedule_prefix(character)).delete()


def receivers_connect() -> None:
    """Called once from ``LedgerConfig.ready()``."""
    snapshot_landed.connect(open_orders_check, dispatch_uid="market.ledger.undercut_check")
    character_linked.connect(character_schedules_create, dispatch_uid="market.ledger.schedules")
    structure_candidates_wanted.connect(
        structure_candidates_answer, dispatch_uid="market.ledger.structure_candidates"
    )
    character_unusable.connect(
        character_schedules_delete, dispatch_uid="market.ledger.schedules_stop_unusable"
    )
    character_unlinked.connect(
        character_schedules_delete, dispatch_uid="market.ledger.schedules_stop_unlinked"
    )
