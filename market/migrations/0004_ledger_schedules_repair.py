"""Rewrite the per-character ledger schedules stored before issue 11 into arguments django-q2 reads.

``character_schedules_ensure`` used to store ``repr()`` of a dict holding a ``LedgerSync.Endpoint``
member (``<Endpoint.BALANCE: 'balance'>``). django-q2 parses schedule kwargs with
``ast.literal_eval``; that fails on the enum's repr, so every run called the task without
arguments and failed. The schedule's name (``character:<id>:<endpoint>``) holds both arguments,
so the kwargs are rebuilt from it. The values are copied here, not imported, so this migration
keeps meaning what it meant when later code changes.

The task is found by its function's name, wherever it lives: it was ``market.tasks``' when this
migration was written and has moved with the ledger since (the ledger app's own migration
rewrites the stored path after this one has run).
"""

import ast
import re

from django.db import migrations

SYNC_TASK_NAME = ".ledger_endpoint_sync"
SYNC_TIMEOUT = 120
ENDPOINTS = ("balance", "journal", "transactions", "orders", "order_history")
NAME = re.compile(r"^character:(?P<character_id>[0-9]+):(?P<endpoint>[a-z_]+)$")


def _parses(kwargs: str) -> bool:
    try:
        return isinstance(ast.literal_eval(kwargs), dict)
    except (SyntaxError, ValueError):
        return False


def ledger_schedules_repair(apps, schema_editor) -> None:
    Schedule = apps.get_model("django_q", "Schedule")
    for schedule in Schedule.objects.filter(
        name__startswith="character:", func__endswith=SYNC_TASK_NAME
    ):
        match = NAME.match(schedule.name)
        if match is None or match["endpoint"] not in ENDPOINTS:
            continue
        wanted = repr(
            {
                "character_id": int(match["character_id"]),
                "endpoint": match["endpoint"],
                "q_options": {"timeout": SYNC_TIMEOUT},
            }
        )
        if schedule.kwargs != wanted:
            Schedule.objects.filter(pk=schedule.pk).update(kwargs=wanted)


class Migration(migrations.Migration):
    dependencies = [
        ("market", "0003_ledger"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.RunPython(ledger_schedules_repair, migrations.RunPython.noop, elidable=True),
    ]
