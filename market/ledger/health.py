"""The ledger's part of /healthz: the linked characters' syncs that keep failing (those make
/healthz ``degraded``)."""

from __future__ import annotations

from typing import Any

from accounts.models import Character
from market.ledger.schedules import ledger_sync_failing


def report() -> dict[str, Any]:
    failing = ledger_sync_failing(
        characters=Character.objects.usable().prefetch_related("ledger_syncs")
    )
    return {
        "ledger_syncs_failing": {each.schedule_name: each.failures for each in failing},
        "degraded": [f"ledger sync {each.summary()}" for each in failing],
    }
