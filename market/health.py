"""The market's part of /healthz: how old each hub's order book is, ESI's traffic, the type ids
on the market ESI has not named yet (``market.universe``), and the tracked player structures
(how many are fetched, backed off after a 403, waiting for a pilot's login, failing). A
structure whose fetch fails for another reason (ESI down, a bad answer) makes the market
``degraded``; a 403 or a lost login is the pilot's to fix and is only counted."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Min
from django.utils import timezone

from market.esi import esi_counters
from market.hubs import HUBS
from market.models import MarketSnapshot, Structure, UnresolvedType


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
    types, degraded = _unresolved_types(now)
    structures = structures_report(now)
    degraded += [f"structure {sid}: last fetch failed" for sid in structures["failing_ids"]]
    return {
        "hubs": hubs,
        "esi": esi_counters(),
        "types": types,
        "structures": structures,
        "degraded": degraded,
    }


def structures_report(now: datetime) -> dict[str, Any]:
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


# ESI's /universe routes failing this long for a type is no blip: the desk shows "Type N" for it.
TYPES_FAILING_DEGRADED = timedelta(hours=24)


def _unresolved_types(now: datetime) -> tuple[dict[str, Any], list[str]]:
    """How many types on the market ESI answered 404 for (``unknown_to_esi``: shown as
    "Type N (unknown to ESI)", nothing to fix) and how many it failed to resolve (``failing``:
    retried with backoff), with the oldest failure; degraded when one has failed for a day."""
    counts = dict(
        UnresolvedType.objects.values("reason").annotate(n=Count("pk")).values_list("reason", "n")
    )
    oldest = UnresolvedType.objects.filter(reason=UnresolvedType.Reason.FAILED).aggregate(
        oldest=Min("first_failed_at")
    )["oldest"]
    failing = counts.get(UnresolvedType.Reason.FAILED, 0)
    degraded = []
    if oldest is not None and now - oldest >= TYPES_FAILING_DEGRADED:
        degraded.append(
            f"{failing} type{'s' if failing != 1 else ''} ESI has failed to name since "
            f"{oldest:%Y-%m-%d %H:%M} UTC"
        )
    return {
        "unknown_to_esi": counts.get(UnresolvedType.Reason.NOT_FOUND, 0),
        "failing": failing,
        "failing_since": None if oldest is None else oldest.isoformat(),
    }, degraded
