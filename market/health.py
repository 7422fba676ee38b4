"""The market's part of /healthz: how old each hub's order book is, and ESI's traffic."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from market.esi import esi_counters
from market.hubs import HUBS
from market.models import MarketSnapshot


def report() -> dict[str, Any]:
    now = timezone.now()
    current = {s.region_id: s for s in MarketSnapshot.objects.current().regions()}
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
    return {"hubs": hubs, "esi": esi_counters()}
