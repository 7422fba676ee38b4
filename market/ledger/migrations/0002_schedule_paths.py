"""The ledger's tasks moved from ``market.tasks`` to ``market.ledger.tasks``: django-q2 stores
each schedule's function as a dotted path, so the stored ones are rewritten to the new path (the
per-character sync schedules and the hourly ``ledger-schedules`` job). The paths are copied
here, not imported, so this migration keeps meaning what it meant when later code changes.
"""

from django.db import migrations

MOVED = {
    "market.tasks.ledger_endpoint_sync": "market.ledger.tasks.ledger_endpoint_sync",
    "market.tasks.ledger_schedules": "market.ledger.tasks.ledger_schedules",
}


def _rewrite(apps, paths: dict[str, str]) -> None:
    Schedule = apps.get_model("django_q", "Schedule")
    for old, new in paths.items():
        Schedule.objects.filter(func=old).update(func=new)


def schedule_paths_forward(apps, schema_editor) -> None:
    _rewrite(apps, MOVED)


def schedule_paths_back(apps, schema_editor) -> None:
    _rewrite(apps, {new: old for old, new in MOVED.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0001_initial"),
        # After the market's repair of the schedules stored before issue 11 (it reads them).
        ("market", "0004_ledger_schedules_repair"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.RunPython(schedule_paths_forward, schedule_paths_back, elidable=True),
    ]
