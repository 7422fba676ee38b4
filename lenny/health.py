"""What /healthz reports: the services Lenny cannot work without, and how fresh its jobs are."""

from __future__ import annotations

import time
from importlib import import_module
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from django.utils.module_loading import module_has_submodule


def _timed(check) -> dict[str, Any]:
    started = time.monotonic()
    try:
        detail = check() or {}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1), **detail}


def _database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"engine": connection.vendor}


def _cache() -> dict[str, Any]:
    key = "healthz:probe"
    cache.set(key, "1", 10)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return what was just stored")
    return {"backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]}


def _broker() -> dict[str, Any]:
    redis_url = settings.Q_CLUSTER.get("redis")
    if not redis_url:
        _database()
        return {"kind": "orm"}
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return {"kind": "redis"}


def _cluster() -> dict[str, Any]:
    from django_q.status import Stat

    stats = Stat.get_all()
    if not stats:
        return {"running": False, "heartbeat_age": None}
    newest = max(s.timestamp for s in stats)
    return {
        "running": True,
        "clusters": len(stats),
        "heartbeat_age": round((timezone.now() - newest).total_seconds(), 1),
    }


def _jobs() -> dict[str, Any]:
    from lenny.models import JobRun
    from lenny.schedules import schedules_collect

    runs = {run.name: run for run in JobRun.objects.all()}
    report = {}
    for job in schedules_collect():
        run = runs.get(job.name)
        age = run.success_age() if run else None
        report[job.name] = {
            "last_success_age": None if age is None else round(age),
            "ok": run.healthy if run else None,
            "last_error": run.last_error if run and not run.healthy else "",
        }
    return report


def health_report() -> tuple[bool, dict[str, Any]]:
    """Return (healthy, report). Healthy means the database, the cache and the broker answer."""
    report: dict[str, Any] = {
        "database": _timed(_database),
        "cache": _timed(_cache),
        "broker": _timed(_broker),
    }
    healthy = all(report[k]["ok"] for k in ("database", "cache", "broker"))
    report["cluster"] = _timed(_cluster) if report["broker"]["ok"] else {"ok": False}
    report["jobs"] = _jobs() if report["database"]["ok"] else {}
    # Apps add their own counters (ESI traffic, store health) through ``<app>.health.report()``.
    for app in apps.get_app_configs():
        if app.name != "lenny" and module_has_submodule(app.module, "health"):
            module = import_module(f"{app.name}.health")
            report[app.label] = _timed(module.report)
    report["status"] = "ok" if healthy else "down"
    return healthy, report
