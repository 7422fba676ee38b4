"""The stores' part of /healthz: which stores answer, and which have been failing."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from stores.models import CheckResult, Store


def report() -> dict[str, Any]:
    now = timezone.now()
    stores: dict[str, Any] = {}
    for store in Store.objects.filter(active=True).select_related("health"):
        health = store.health_or_blank
        stores[store.name] = {
            "ok": not health.failing if health.last_success_at or health.failing else None,
            "last_success_age": round((now - health.last_success_at).total_seconds())
            if health.last_success_at
            else None,
            "consecutive_failures": health.consecutive_failures,
            "last_error": f"{health.last_failure_kind}: {health.last_failure}"[:300]
            if health.failing
            else "",
        }
    return {"stores": stores, "checks_pending": CheckResult.objects.pending(now=now).count()}
