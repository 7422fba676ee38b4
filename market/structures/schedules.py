"""One django-q2 schedule per tracked structure (``structure:<id>``), every
``fetch_interval_minutes`` (default 5), running ``market.structures.tasks.structure_fetch_task``
on the default cluster, as the ledger's per-character schedules do. Its stored arguments are
plain literals (``schedule_kwargs_dump``), which django-q2's scheduler reads back.
"""

from __future__ import annotations

import zlib
from datetime import timedelta

from django.utils import timezone
from django_q.models import Schedule

from lenny.schedules import schedule_kwargs_dump
from market.models import Structure

FETCH_TASK = "market.structures.tasks.structure_fetch_task"
FETCH_TIMEOUT = 240


def schedule_name(structure_id: int) -> str:
    return f"structure:{int(structure_id)}"


def structure_schedule_kwargs(*, structure_id: int) -> str:
    return schedule_kwargs_dump(
        {"structure_id": int(structure_id), "q_options": {"timeout": FETCH_TIMEOUT}},
        name=schedule_name(structure_id),
    )


def structure_schedule_ensure(*, structure: Structure, retime: bool = False) -> Schedule:
    """Create the structure's schedule, or bring its code-owned fields up to date; its timing
    is left alone unless ``retime`` (the admin retimed the structure)."""
    name = schedule_name(structure.structure_id)
    code_owned = {
        "func": FETCH_TASK,
        "kwargs": structure_schedule_kwargs(structure_id=structure.structure_id),
    }
    schedule = Schedule.objects.filter(name=name).first()
    if schedule is None:
        stagger = zlib.crc32(name.encode()) % 60  # not every structure on the same tick
        return Schedule.objects.create(
            name=name,
            schedule_type=Schedule.MINUTES,
            minutes=structure.fetch_interval_minutes,
            repeats=-1,
            next_run=timezone.now() + timedelta(seconds=stagger),
            **code_owned,
        )
    changed = {k: v for k, v in code_owned.items() if getattr(schedule, k) != v}
    if retime and schedule.minutes != structure.fetch_interval_minutes:
        changed["minutes"] = structure.fetch_interval_minutes
    if changed:
        Schedule.objects.filter(pk=schedule.pk).update(**changed)
        for key, value in changed.items():
            setattr(schedule, key, value)
    return schedule


def structure_schedule_drop(*, structure: Structure) -> None:
    Schedule.objects.filter(name=schedule_name(structure.structure_id)).delete()


def structure_schedules_ensure() -> list[str]:
    """Every tracked structure has its schedule, no stopped one has; returns names created."""
    tracked = list(Structure.objects.tracked())
    existing = set(
        Schedule.objects.filter(name__startswith="structure:").values_list("name", flat=True)
    )
    wanted = {schedule_name(s.structure_id): s for s in tracked}
    Schedule.objects.filter(name__in=existing - wanted.keys()).delete()
    created = []
    for name, structure in wanted.items():
        if name not in existing:
            structure_schedule_ensure(structure=structure)
            created.append(name)
    return created
