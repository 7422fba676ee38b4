"""Periodic jobs: declared in code by each app, synced into django-q2's Schedule table.

Each app declares its jobs in its ``tasks`` module, once: ``@periodic_job(name, minutes=… or
cron=…)`` on the task function names the job, sets its schedule and wraps each run in a lock and a
``JobRun`` record; the function's dotted path is the schedule's ``func``. ``schedules_sync`` creates the
missing ones and keeps the code-owned fields (function, arguments, timeout) current, but never
touches the timing or an admin's decision to pause a job, so curating schedules in the admin
survives restarts and deploys.
"""

from __future__ import annotations

import ast
import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import module_has_submodule
from django_q.models import Schedule

from lenny.models import JobRun

log = logging.getLogger(__name__)

SCHEDULE_PREFIX = "lenny:"


@dataclass(frozen=True)
class PeriodicJob:
    """One periodic job. ``minutes`` or ``cron`` sets when it runs."""

    name: str
    func: str
    minutes: int | None = None
    cron: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    # Seconds; must stay below Q_CLUSTER["retry"] so a slow run is never started twice.
    timeout: int = 300
    cluster: str | None = None
    description: str = ""

    @property
    def schedule_name(self) -> str:
        return SCHEDULE_PREFIX + self.name


def schedule_kwargs_dump(kwargs: dict[str, Any], *, name: str) -> str:
    """``kwargs`` as the text a ``Schedule.kwargs`` holds, refusing what django-q2 cannot read back.

    The scheduler parses the stored text with ``ast.literal_eval`` and, when that fails, calls the
    task with no arguments at all: an enum member, a Decimal or a datetime in ``kwargs`` would
    make every run fail. Plain str/int/float/bool/None, lists and dicts of them round-trip.
    """
    text = repr(kwargs)
    try:
        parsed = ast.literal_eval(text)
    except (SyntaxError, ValueError):
        parsed = None
    if parsed != kwargs or repr(parsed) != text:
        raise ValueError(f"schedule {name}: arguments {text} are not plain literals")
    return text


def schedule_kwargs_load(text: str | None) -> dict[str, Any] | None:
    """The arguments django-q2's scheduler reads from a stored ``Schedule.kwargs``, the same two
    ways it tries (a dict literal, then ``a=1, b=2``); ``None`` where it would fall back to
    calling the task with no arguments."""
    if not text:
        return {}
    try:
        parsed = ast.literal_eval(text)
        return parsed if isinstance(parsed, dict) else None
    except (SyntaxError, ValueError):
        pass
    try:
        call = ast.parse(f"f({text})").body[0].value  # type: ignore[attr-defined]
        if call.args:
            return None
        return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    except (SyntaxError, ValueError, AttributeError):
        return None


def task_error_summary(result: Any) -> str:
    """The first line of what django-q2 stores for a failed task (``"<error> : <traceback>"``)
    or of a job's recorded error, at most 200 characters; "" for nothing."""
    text = str(result or "").split(" : Traceback", 1)[0].strip()
    return text.splitlines()[0][:200] if text else ""


def schedules_collect() -> list[PeriodicJob]:
    """Every job declared with ``@periodic_job(..., minutes=/cron=)`` in an app's ``tasks``."""
    jobs: list[PeriodicJob] = []
    for app in apps.get_app_configs():
        if module_has_submodule(app.module, "tasks"):
            module = import_module(f"{app.name}.tasks")
            jobs.extend(
                value.periodic
                for value in vars(module).values()
                if isinstance(getattr(value, "periodic", None), PeriodicJob)
                and value.__module__ == module.__name__
            )
    names = [job.name for job in jobs]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise ValueError(f"periodic job names declared twice: {sorted(duplicated)}")
    return jobs


def schedules_sync(*, jobs: Iterable[PeriodicJob] | None = None) -> dict[str, list[str]]:
    """Create or update the django-q2 schedules for ``jobs``; return what changed."""
    jobs = list(schedules_collect() if jobs is None else jobs)
    retry = settings.Q_CLUSTER.get("retry", 0)
    report: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": [], "removed": []}
    for job in jobs:
        if retry and job.timeout >= retry:
            raise ValueError(f"job {job.name}: timeout {job.timeout}s must be below retry {retry}s")
        code_owned = {
            "func": job.func,
            "kwargs": schedule_kwargs_dump(
                {**job.kwargs, "q_options": {"timeout": job.timeout}}, name=job.name
            ),
            "cluster": job.cluster,
        }
        existing = Schedule.objects.filter(name=job.schedule_name).first()
        if existing is None:
            timing = (
                {"schedule_type": Schedule.CRON, "cron": job.cron}
                if job.cron
                else {"schedule_type": Schedule.MINUTES, "minutes": job.minutes or 60}
            )
            Schedule.objects.create(
                name=job.schedule_name, repeats=-1, next_run=timezone.now(), **timing, **code_owned
            )
            report["created"].append(job.name)
        elif any(getattr(existing, k) != v for k, v in code_owned.items()):
            Schedule.objects.filter(pk=existing.pk).update(**code_owned)
            report["updated"].append(job.name)
        else:
            report["unchanged"].append(job.name)
    declared = {job.schedule_name for job in jobs}
    stale = Schedule.objects.filter(name__startswith=SCHEDULE_PREFIX).exclude(name__in=declared)
    report["removed"] = sorted(
        n.removeprefix(SCHEDULE_PREFIX) for n in stale.values_list("name", flat=True)
    )
    stale.delete()
    return report


def sync_after_migrate(**kwargs: Any) -> None:
    """post_migrate hook: `migrate` leaves the schedules in step with the code."""
    if "django_q_schedule" not in connection.introspection.table_names():
        return
    schedules_sync()


class JobAlreadyRunning(Exception):
    pass


def periodic_job(
    name: str,
    *,
    minutes: int | None = None,
    cron: str | None = None,
    timeout: int = 300,
    cluster: str | None = None,
    description: str = "",
    lock_seconds: int = 900,
) -> Callable:
    """Declare the periodic job ``name`` on its task function, and run it under a cross-worker
    lock, recording its outcome in ``JobRun``.

    With ``minutes`` or ``cron`` the job is scheduled (``schedules_sync`` keeps a django-q2
    schedule for it, calling this function); without, it is a job queued by other code that
    still gets the lock and the record. A run that finds the lock held returns ``"skipped"`` at
    once: a slow run of a job never overlaps the next one. The lock expires by itself after
    ``lock_seconds`` in case a worker dies holding it.
    """

    def decorator(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            lock_key = f"job-lock:{name}"
            token = uuid.uuid4().hex
            if not cache.add(lock_key, token, timeout=lock_seconds):
                log.info("job %s skipped: previous run still going", name)
                return "skipped"
            started = time.monotonic()
            JobRun.objects.update_or_create(name=name, defaults={"last_started": timezone.now()})
            try:
                result = func(*args, **kwargs)
            except Exception as exc:
                JobRun.objects.filter(name=name).update(
                    last_failure=timezone.now(),
                    last_error=f"{type(exc).__name__}: {exc}"[:2000],
                    last_duration=time.monotonic() - started,
                    runs=F("runs") + 1,
                    failures=F("failures") + 1,
                    consecutive_failures=F("consecutive_failures") + 1,
                )
                raise
            else:
                JobRun.objects.filter(name=name).update(
                    last_success=timezone.now(),
                    last_duration=time.monotonic() - started,
                    runs=F("runs") + 1,
                    consecutive_failures=0,
                )
                return result
            finally:
                # With Redis gone this would raise and hide the job's own error; the lock
                # expires by itself after lock_seconds.
                try:
                    if cache.get(lock_key) == token:
                        cache.delete(lock_key)
                except Exception:
                    log.warning("job %s: lock not released (cache unavailable)", name)

        wrapper.job_name = name  # type: ignore[attr-defined]
        if minutes is not None or cron is not None:
            wrapper.periodic = PeriodicJob(  # type: ignore[attr-defined]
                name=name,
                func=f"{func.__module__}.{func.__qualname__}",
                minutes=minutes,
                cron=cron,
                timeout=timeout,
                cluster=cluster,
                description=description,
            )
        return wrapper

    return decorator
