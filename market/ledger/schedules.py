"""The per-character ledger schedules, the syncs that keep failing, and "Refresh now".

Each linked character has one django-q2 schedule per wallet/order endpoint
(``character:<id>:<endpoint>``, at ESI's cache interval, default cluster = low priority),
created when it is linked (``market.ledger.receivers``) and deleted when its login stops working
or it is unlinked; "Refresh now" queues the same task on the priority cluster.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone
from django_q.models import Schedule, Task
from django_q.tasks import async_task

from accounts.models import Character
from lenny.schedules import schedule_kwargs_dump, task_error_summary
from market.ledger.models import LedgerSync
from market.ledger.sync import (
    ENDPOINTS,
    REFRESH_STALE_AFTER,
    SYNC_TASK,
    SYNC_TIMEOUT,
    Endpoint,
    Status,
)


def schedule_prefix(character: Character) -> str:
    """Name prefix of the character's own django-q2 schedules; they stop when its login does."""
    return f"character:{character.character_id}:"


def ledger_schedule_kwargs(*, character_id: int, endpoint: str) -> str:
    """What a ledger schedule stores as its arguments: plain literals only (the endpoint's str
    value, never the ``LedgerSync.Endpoint`` member, whose repr django-q2 cannot read back)."""
    return schedule_kwargs_dump(
        {
            "character_id": int(character_id),
            "endpoint": Endpoint(endpoint).value,
            "q_options": {"timeout": SYNC_TIMEOUT},
        },
        name=f"character:{character_id}:{endpoint}",
    )


def character_schedules_ensure(*, character: Character) -> list[str]:
    """Create the character's missing per-endpoint schedules (default cluster, at ESI's cache
    interval), drop those whose scope is no longer granted, and bring the code-owned fields of
    the others (function, arguments) up to date; return the names created.

    The timing of an existing schedule is left alone: an admin may have retimed it.
    """
    if character.needs_relogin or not character.pk:
        return []
    prefix = schedule_prefix(character)
    wanted = {
        f"{prefix}{spec.key}": spec
        for spec in ENDPOINTS.values()
        if character.has_scope(spec.scope)
    }
    ours = {f"{prefix}{key}" for key in ENDPOINTS}
    Schedule.objects.filter(name__in=ours - wanted.keys()).delete()
    existing = {
        row["name"]: row
        for row in Schedule.objects.filter(name__in=wanted).values("pk", "name", "func", "kwargs")
    }
    now = timezone.now()
    created = []
    for name, spec in wanted.items():
        code_owned = {
            "func": SYNC_TASK,
            "kwargs": ledger_schedule_kwargs(
                character_id=character.character_id, endpoint=spec.key
            ),
        }
        row = existing.get(name)
        if row is not None:
            if any(row[field] != value for field, value in code_owned.items()):
                Schedule.objects.filter(pk=row["pk"]).update(**code_owned)
            continue
        # Spread the characters' first runs over a minute rather than all on the same tick.
        stagger = zlib.crc32(name.encode()) % 60
        Schedule.objects.create(
            name=name,
            schedule_type=Schedule.MINUTES,
            minutes=spec.schedule_minutes,
            repeats=-1,
            next_run=now + timedelta(seconds=stagger),
            **code_owned,
        )
        created.append(name)
    return created


# A character's endpoint whose last this-many runs failed is reported: on the ledger page (its
# data is stale), by /healthz (degraded) and by the hourly ``ledger-schedules`` job.
SYNC_FAILING_AFTER = 3


@dataclass(frozen=True)
class SyncFailing:
    """One character's endpoint whose recent syncs all failed, from stored runs only."""

    character_id: int
    character_name: str
    endpoint: str
    # Runs since the last success (scheduled ones and "Refresh now"), all of them failed.
    failures: int
    last_success: datetime | None
    reason: str
    # When this was worked out: the age of the data is measured from here.
    checked_at: datetime

    @property
    def schedule_name(self) -> str:
        return f"character:{self.character_id}:{self.endpoint}"

    @property
    def label(self) -> str:
        return Endpoint(self.endpoint).label

    @property
    def age_text(self) -> str:
        """How old the stored data is, roughly (``25 min``, ``3 h``, ``2 d``); "" if never."""
        if self.last_success is None:
            return ""
        minutes = max(0, (self.checked_at - self.last_success).total_seconds()) / 60
        if minutes < 90:
            return f"{round(minutes)} min"
        if minutes < 48 * 60:
            return f"{round(minutes / 60)} h"
        return f"{round(minutes / 1440)} d"

    def summary(self) -> str:
        return f"{self.schedule_name}: the last {self.failures} syncs failed: {self.reason}"


def ledger_sync_stale(
    *, user: Any, characters: Iterable[Character] | None = None
) -> list[SyncFailing]:
    """The user's characters' endpoints whose data is stale because their syncs keep failing
    (for the ledger page). ``characters``: the user's, their ``ledger_syncs`` prefetched, when
    the page read them already."""
    if characters is None:
        characters = Character.objects.owned_by(user).usable().prefetch_related("ledger_syncs")
    else:
        characters = [character for character in characters if not character.needs_relogin]
    return ledger_sync_failing(characters=characters)


def ledger_sync_failing(
    *,
    characters: Iterable[Character],
    threshold: int = SYNC_FAILING_AFTER,
    now: datetime | None = None,
) -> list[SyncFailing]:
    """The endpoints of ``characters`` whose last ``threshold`` or more runs all failed.

    A run is a django-q2 task of the endpoint's schedule (its group is the schedule's name) or a
    "Refresh now" task of it; every run since ``LedgerSync.last_success`` failed by definition,
    whether the task raised (then ``LedgerSync`` never heard of it: arguments django-q2 could
    not read, a crash) or ESI's trouble was recorded as a ``failed`` outcome. Runs done outside
    the queue (a management command) count through ``LedgerSync`` alone. A missing scope or a
    login to renew is not a failing sync: the ledger page asks the pilot for those already.
    """
    now = now or timezone.now()
    watched = []  # (character, endpoint key, its LedgerSync or None, its runs' filter)
    for character in characters:
        states = {state.endpoint: state for state in character.ledger_syncs.all()}
        for key in ENDPOINTS:
            if not character.has_scope(ENDPOINTS[key].scope):
                continue
            state = states.get(key)
            if state is not None and state.status in (Status.MISSING_SCOPE, Status.NEEDS_RELOGIN):
                continue
            runs = Q(group=f"{schedule_prefix(character)}{key}") | Q(
                name=f"ledger refresh {character.character_id} {key}"
            )
            if state is not None and state.last_success is not None:
                # ``started`` is when the task was queued: a run that succeeded was queued
                # before the ``last_success`` it wrote, so it does not count here.
                runs &= Q(started__gt=state.last_success)
            watched.append((character, key, state, runs))
    if not watched:
        return []
    # One query counts the runs of every watched endpoint (/healthz asks for all characters).
    counts = Task.objects.aggregate(
        **{f"n{i}": Count("id", filter=runs) for i, (*_, runs) in enumerate(watched)}
    )
    failing = []
    for i, (character, key, state, runs) in enumerate(watched):
        count = counts[f"n{i}"]
        recorded_failure = (
            state is not None and state.status == Status.FAILED and state.last_finished is not None
        )
        if count == 0 and recorded_failure:
            count = 1  # synced outside the queue (``manage.py ledger_sync``)
        if count < threshold:
            continue
        crashed = Task.objects.filter(runs, success=False).only("result", "stopped").first()
        if crashed is not None and (not recorded_failure or crashed.stopped >= state.last_finished):
            reason = task_error_summary(crashed.result) or "no reason recorded"
        elif recorded_failure:
            reason = state.message or "failed"
        else:
            reason = "no reason recorded"
        failing.append(
            SyncFailing(
                character_id=character.character_id,
                character_name=character.name,
                endpoint=str(Endpoint(key).value),
                failures=count,
                last_success=state.last_success if state is not None else None,
                reason=reason,
                checked_at=now,
            )
        )
    return failing


@dataclass
class RefreshProgress:
    total: int
    done: int
    failed: int
    requested_at: datetime | None

    @property
    def pending(self) -> bool:
        return self.done < self.total

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


def ledger_refresh_progress(
    *, user: Any, characters: Iterable[Character] | None = None
) -> RefreshProgress:
    """``characters``: the user's, their ``ledger_syncs`` prefetched, when the page has them."""
    stale_before = timezone.now() - REFRESH_STALE_AFTER
    if characters is None:
        rows = list(
            LedgerSync.objects.filter(
                character__owner=user,
                character__needs_relogin=False,
                refresh_requested_at__gte=stale_before,
            )
        )
    else:
        rows = [
            row
            for character in characters
            if not character.needs_relogin
            for row in character.ledger_syncs.all()
            if row.refresh_requested_at is not None and row.refresh_requested_at >= stale_before
        ]
    finished = [row for row in rows if not row.refresh_pending(stale_before=stale_before)]
    return RefreshProgress(
        total=len(rows),
        done=len(finished),
        failed=sum(1 for row in finished if row.status == Status.FAILED),
        requested_at=max((row.refresh_requested_at for row in rows), default=None),
    )


def ledger_refresh_request(*, user: Any, character: Character | None = None) -> RefreshProgress:
    """Queue every endpoint of the user's usable characters (or one) on the priority cluster.

    A refresh still running is not queued twice: pressing the button again shows its progress.
    """
    progress = ledger_refresh_progress(user=user)
    if progress.pending:
        return progress
    characters = Character.objects.owned_by(user).usable()
    if character is not None:
        characters = characters.filter(pk=character.pk)
    now = timezone.now()
    jobs = []
    for each in characters:
        for spec in ENDPOINTS.values():
            if not each.has_scope(spec.scope):
                continue
            LedgerSync.objects.update_or_create(
                character=each, endpoint=spec.key, defaults={"refresh_requested_at": now}
            )
            # Plain values, as the schedules store them (the Task rows show what ran).
            jobs.append((each.character_id, Endpoint(spec.key).value))
    if jobs:
        for character_id, endpoint in jobs:
            async_task(
                SYNC_TASK,
                character_id=character_id,
                endpoint=endpoint,
                q_options={
                    "cluster": settings.LEDGER_PRIORITY_CLUSTER,
                    "timeout": SYNC_TIMEOUT,
                    "group": f"ledger-refresh-{user.pk}",
                    "task_name": f"ledger refresh {character_id} {endpoint}",
                },
            )
    return ledger_refresh_progress(user=user)


def ledger_refresh_forget(*, user: Any, since: datetime) -> None:
    """Forget the "requested" marks set from ``since`` on (the queue was away and nothing was
    queued), so the page does not wait for jobs that will never run."""
    LedgerSync.objects.filter(character__owner=user, refresh_requested_at__gte=since).update(
        refresh_requested_at=None
    )
