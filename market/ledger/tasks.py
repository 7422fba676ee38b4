"""Periodic ledger jobs, and the task every per-character sync schedule runs.

Each linked character has one schedule per wallet/order endpoint (``character:<id>:<endpoint>``,
at ESI's cache interval, default cluster = low priority), created when it is linked; "Refresh
now" queues the same task on the priority cluster. The periodic job below re-creates schedules
that are missing (characters linked before this job existed, an admin's clean-up).
"""

from __future__ import annotations

import logging

from accounts.models import Character
from lenny.schedules import periodic_job
from market.ledger.models import LedgerPreference
from market.ledger.queries import ledger_summary, overview_figures
from market.ledger.schedules import character_schedules_ensure, ledger_sync_failing
from market.ledger.sync import PROFIT_ENDPOINTS, character_endpoint_sync

ledger_log = logging.getLogger("market.ledger")


def ledger_endpoint_sync(*, character_id: int, endpoint: str) -> str:
    """One endpoint of one character (both clusters run this)."""
    character = Character.objects.filter(character_id=character_id).select_related("owner").first()
    if character is None:
        return f"character {character_id} is no longer linked"
    outcome = character_endpoint_sync(character=character, endpoint=endpoint)
    if outcome.new_rows:
        # Compute the owner's profit (new trades) and overview figures (new trades, balances or
        # orders) now, in the worker, so their next page view finds them ready.
        owner = character.owner
        try:
            method = LedgerPreference.for_user(owner).cost_method
            if endpoint in PROFIT_ENDPOINTS:
                ledger_summary(user=owner, method=method)
            overview_figures(user=owner, method=method)
        except Exception:
            ledger_log.exception("ledger figures of user %s not computed", character.owner_id)
    return outcome.summary()


@periodic_job(
    "ledger-schedules",
    minutes=60,
    timeout=120,
    description="per-character wallet and order sync schedules for every linked character",
)
def ledger_schedules() -> str:
    characters = list(Character.objects.usable().prefetch_related("ledger_syncs"))
    created = [
        name for character in characters for name in character_schedules_ensure(character=character)
    ]
    # Schedules that exist but whose runs keep failing are as bad as missing ones: say so.
    failing = ledger_sync_failing(characters=characters)
    for each in failing:
        ledger_log.warning("ledger schedule failing: %s", each.summary())
    parts = [f"{len(created)} character schedules created"] if created else []
    parts += [each.summary() for each in failing]
    return "; ".join(parts) or "all in place"
