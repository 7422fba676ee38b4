"""What /healthz reports: the services Lenny cannot work without, and how fresh its jobs are."""

from __future__ import annotations

import time
from datetime import datetime
from importlib import import_module
from typing import Any

import redis
from croniter import croniter
from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from django.utils.module_loading import module_has_submodule
from django_q.models import Schedule, Task
from django_q.status import Stat

from lenny.cache import cache_errors_raised
from lenny.models import JobRun
from lenny.schedules import schedule_kwargs_load, schedules_collect, task_error_summary


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
    # Pages treat a Redis outage as a cache miss; the probe must see the real error instead.
    with cache_errors_raised():
        cache.set(key, "1", 10)
        stored = cache.get(key)
    if stored != "1":
        raise RuntimeError("cache did not return what was just stored")
    return {"backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]}


def _broker() -> dict[str, Any]:
    redis_url = settings.Q_CLUSTER.get("redis")
    if not redis_url:
        _database()
        return {"kind": "orm"}
    client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return {"kind": "redis"}


def _cluster() -> dict[str, Any]:
    stats = Stat.get_all()
    if not stats:
        return {"running": False, "heartbeat_age": None}
    newest = max(s.timestamp for s in stats)
    return {
        "running": True,
        "clusters": len(stats),
        "heartbeat_age": round((timezone.now() - newest).total_seconds(), 1),
    }


# A job is failing after this many failed runs in a row, or when it has run but not succeeded
# within this many of its intervals (a run killed on timeout records neither outcome).
JOB_FAILING_RUNS = 3
JOB_FAILING_INTERVALS = 3
ESSENTIAL = ("database", "cache", "broker")


def _interval_end(schedule: Any, start: datetime, intervals: int) -> datetime | None:
    """When the ``intervals``-th run after ``start`` was due, from the stored (admin-retimable)
    schedule; ``None`` for a schedule without a repeating interval."""
    if schedule is None or schedule.schedule_type == schedule.ONCE:
        return None
    if schedule.schedule_type == schedule.CRON:
        runs = croniter(schedule.cron, start)
        for _ in range(intervals):
            due = runs.get_next(datetime)
        return due
    due = start
    for _ in range(intervals):
        due = schedule.calculate_next_run(due)
    return due


def job_failing(
    *, run: Any, schedule: Any, recent_tasks: list[tuple[bool, str]], now: datetime
) -> str:
    """Why a periodic job counts as failing, or ``""``.

    ``run`` is its ``JobRun`` (or None), ``schedule`` its django-q2 ``Schedule`` (or None),
    ``recent_tasks`` its newest django-q2 tasks as (success, result), newest first: a task that
    failed before Lenny's wrapper ran (the function could not be imported, arguments the
    scheduler could not read) shows only there.
    """
    if run is not None and run.consecutive_failures >= JOB_FAILING_RUNS:
        return (
            f"the last {run.consecutive_failures} runs failed: {task_error_summary(run.last_error)}"
        )
    tail = recent_tasks[:JOB_FAILING_RUNS]
    if len(tail) == JOB_FAILING_RUNS and not any(success for success, _ in tail):
        return f"the last {JOB_FAILING_RUNS} tasks failed: {task_error_summary(str(tail[0][1]))}"
    if run is not None and run.last_success and run.last_started:
        due = _interval_end(schedule, run.last_success, JOB_FAILING_INTERVALS)
        if due is not None and due < now and run.last_started > run.last_success:
            hours = (now - run.last_success).total_seconds() / 3600
            return (
                f"no success for {hours:.1f} h ({JOB_FAILING_INTERVALS} intervals) although "
                "it has run since"
            )
    return ""


def _jobs(now: datetime) -> dict[str, Any]:
    runs = {run.name: run for run in JobRun.objects.all()}
    jobs = schedules_collect()
    schedules = {
        s.name: s for s in Schedule.objects.filter(name__in=[j.schedule_name for j in jobs])
    }
    report = {}
    for job in jobs:
        run = runs.get(job.name)
        age = run.success_age() if run else None
        recent = list(
            Task.objects.filter(group=job.schedule_name)
            .order_by("-stopped")
            .values_list("success", "result")[:JOB_FAILING_RUNS]
        )
        failing = job_failing(
            run=run, schedule=schedules.get(job.schedule_name), recent_tasks=recent, now=now
        )
        report[job.name] = {
            "last_success_age": None if age is None else round(age),
            "ok": (run.healthy and not failing) if run else (False if failing else None),
            "failing": failing,
            "consecutive_failures": run.consecutive_failures if run else 0,
            "last_duration": run.duration_text if run else None,
            "last_error": run.last_error if run and not run.healthy else "",
        }
    return report


def _schedules() -> dict[str, Any]:
    """Schedules whose stored arguments django-q2 cannot read: it would call their task with
    none, and every run would fail."""
    unreadable = sorted(
        name or str(pk)
        for pk, name, kwargs in Schedule.objects.exclude(repeats=0).values_list(
            "pk", "name", "kwargs"
        )
        if schedule_kwargs_load(kwargs) is None
    )
    return {"unreadable_arguments": unreadable}


def _degraded(report: dict[str, Any]) -> list[str]:
    """What keeps working but not as it should, each naming its job, schedule or part."""
    reasons = [
        f"job {name}: {job['failing']}"
        for name, job in report.get("jobs", {}).items()
        if job.get("failing")
    ]
    reasons += [
        f"schedule {name}: arguments django-q2 cannot read"
        for name in report.get("schedules", {}).get("unreadable_arguments", [])
    ]
    # Apps name their own degraded parts (``ledger``: syncs that keep failing).
    for name, part in report.items():
        if isinstance(part, dict) and part.get("degraded"):
            reasons += [f"{name}: {reason}" for reason in part["degraded"]]
    return reasons


def health_report() -> tuple[bool, dict[str, Any]]:
    """Return (healthy, report). Healthy means the database, the cache and the broker answer;
    ``status`` is ``down`` when one does not, ``degraded`` when a job keeps failing, else ``ok``.
    """
    now = timezone.now()
    report: dict[str, Any] = {
        "database": _timed(_database),
        "cache": _timed(_cache),
        "broker": _timed(_broker),
    }
    healthy = all(report[k]["ok"] for k in ESSENTIAL)
    report["cluster"] = _timed(_cluster) if report["broker"]["ok"] else {"ok": False}
    if report["database"]["ok"]:
        report["jobs"] = _jobs(now)
        report["schedules"] = _timed(_schedules)
    else:
        report["jobs"] = {}
    # Apps add their own counters (ESI traffic, store health) through ``<app>.health.report()``.
    for app in apps.get_app_configs():
        if app.name != "lenny" and module_has_submodule(app.module, "health"):
            module = import_module(f"{app.name}.health")
            report[app.label] = _timed(module.report)
    report["degraded"] = _degraded(report)
    report["status"] = "down" if not healthy else "degraded" if report["degraded"] else "ok"
    return healthy, report


def _part_status(name: str, part: Any) -> str:
    if name == "jobs":
        return "degraded" if any(job.get("failing") for job in part.values()) else "ok"
    if not isinstance(part, dict):
        return "ok"
    if not part.get("ok", True):
        return "down" if name in ESSENTIAL else "failing"
    if name == "cluster" and not part.get("running"):
        return "stopped"
    if part.get("degraded") or (name == "schedules" and part.get("unreadable_arguments")):
        return "degraded"
    return "ok"


def health_public(report: dict[str, Any]) -> dict[str, Any]:
    """What anyone may see: the overall status and each part's one-word state. No error text,
    hosts, job errors or counts: those are for staff and for callers holding HEALTHZ_TOKEN."""
    return {
        "status": report["status"],
        "components": {
            name: _part_status(name, part)
            for name, part in report.items()
            if name not in ("status", "degraded")
        },
    }
