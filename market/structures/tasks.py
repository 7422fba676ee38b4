"""The task each structure's schedule runs. The hourly job that keeps the schedules in step with
the tracked structures is ``market.tasks.structure_schedules`` (periodic jobs are declared in
an app's ``tasks`` module)."""

from __future__ import annotations

from market.models import Structure
from market.structures.fetch import structure_fetch


def structure_fetch_task(*, structure_id: int) -> str:
    """One fetch of one structure's book (``structure:<id>`` schedules run this)."""
    structure = Structure.objects.select_related("character").filter(pk=structure_id).first()
    if structure is None:
        return f"structure {structure_id} is no longer tracked"
    outcome = structure_fetch(structure=structure)
    return f"{structure}: {outcome.status} {outcome.message}".strip()
