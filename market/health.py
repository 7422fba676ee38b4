"""The market's part of /healthz: how old each hub's order book is, ESI's traffic, and the
linked characters' ledger syncs that keep failing (those make /healthz ``degraded``)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from accounts.models import Character
from market.esi import esi_counters
from market.hubs import HUBS
from market.models import MarketSnapshot
from market.wallet import ledger_sync_failing


def report() -> dict[str, Any]:
    now = timezone.now()
    current = {s.region_id: s for s in MarketSnapshot.objects.current()}
    hubs: dict[str, Any] = {}
    for hub in HUBS:
        snapshot = current.get(hub.region_id)
        latest = MarketSnapshot.objects.for_region(hub.region_id).first()
        hubs[hub.key] = {
            "snapshot_age": None if snapshot is None else round(snapshot.age_seconds(now)),
            "orders": None if snapshot is None else snapshot.orders,
            "last_error": latest.error
            if latest is not None and latest.status == MarketSnapshot.Status.FAILED
            else "",
        }
    failing = ledger_sync_failing(
        characters=Character.objects.usable().prefetch_related("ledger_syncs")
    )
    return {
        "hubs": hubs,
        "esi": esi_counters(),
        "ledger_syncs_failing": {each.schedule_name: each.failures for each in failing},
        "degraded": [f"ledger sync {each.summary()}" for each in failing],
    }
