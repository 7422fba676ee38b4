"""The market's part of /healthz: how old each hub's order book is, ESI's traffic, and the
tracked player structures (how many are fetched, backed off after a 403, waiting for a pilot's
login, failing). A structure whose fetch fails for another reason (ESI down, a bad answer) makes
the market ``degraded``; a 403 or a lost login is the pilot's to fix and is only counted."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from market.esi import esi_counters
from market.hubs import HUBS
from market.models import MarketSnapshot, Structure


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
    structures = structures_report(now)
    report: dict[str, Any] = {"hubs": hubs, "esi": esi_counters(), "structures": structures}
    if structures["failing"]:
        report["degraded"] = [
            f"structure {sid}: last fetch failed" for sid in structures["failing_ids"]
        ]
    return report


def structures_report(now) -> dict[str, Any]:
    tracked = list(
        Structure.objects.tracked().values_list("structure_id", "status", "backoff_until")
    )
    failing = [sid for sid, status, _ in tracked if status == Structure.Status.FAILED]
    return {
        "tracked": len(tracked),
        "ok": sum(status == Structure.Status.OK for _, status, _ in tracked),
        "backed_off": sum(until is not None and until > now for _, _, until in tracked),
        "needs_login": sum(status == Structure.Status.TOKEN for _, status, _ in tracked),
        "failing": len(failing),
        "failing_ids": failing[:20],
    }
