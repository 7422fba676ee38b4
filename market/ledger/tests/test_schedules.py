"""The per-character ledger schedules: arguments django-q2 can read back, the data migration that
repairs the ones stored before issue 11, and the reports of schedules whose runs keep failing.

The whole path (scheduler → broker → worker) is in lenny/tests/test_schedules_real_path.py.
"""

from __future__ import annotations

import importlib
import uuid
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone
from django_q.models import Schedule, Task

from accounts.tests.factories import (
    DEMO_PILOT,
    ORDERS_SCOPE,
    character_link_replay,
)
from lenny.schedules import schedule_kwargs_load
from market.ledger import tasks
from market.ledger.models import LedgerSync
from market.ledger.schedules import (
    SYNC_FAILING_AFTER,
    character_schedules_ensure,
    ledger_schedule_kwargs,
    ledger_sync_failing,
    schedule_prefix,
)
from market.ledger.sync import SYNC_TASK

repair = importlib.import_module("market.migrations.0004_ledger_schedules_repair")

pytestmark = pytest.mark.django_db


def old_kwargs(character_id: int, endpoint: str) -> str:
    """The arguments exactly as ``character_schedules_ensure`` stored them before the fix."""
    return repr(
        {
            "character_id": character_id,
            "endpoint": LedgerSync.Endpoint(endpoint),
            "q_options": {"timeout": 120},
        }
    )


def failed_runs(name: str, count: int, *, error: str, before_minutes: int = 0) -> None:
    """``count`` failed tasks of schedule ``name`` as django-q2's monitor stores them."""
    now = timezone.now() - timedelta(minutes=before_minutes)
    for n in range(count):
        at = now - timedelta(minutes=2 * (count - n))
        Task.objects.create(
            id=uuid.uuid4().hex,
            name=f"run-{n}-{before_minutes}",
            func="market.ledger.tasks.ledger_endpoint_sync",
            group=name,
            started=at,
            stopped=at + timedelta(seconds=1),
            success=False,
            result=f"{error} : Traceback (most recent call last):\n  ...",
        )


def test_each_schedule_stores_arguments_django_q_reads_back_as_plain_values(pilot):
    rows = Schedule.objects.filter(name__startswith=schedule_prefix(pilot))

    assert rows.count() == 5
    for row in rows:
        endpoint = row.name.rsplit(":", 1)[1]
        loaded = schedule_kwargs_load(row.kwargs)
        assert loaded == {
            "character_id": DEMO_PILOT,
            "endpoint": endpoint,
            "q_options": {"timeout": 120},
        }
        assert type(loaded["endpoint"]) is str


def test_the_arguments_refuse_an_unknown_endpoint():
    with pytest.raises(ValueError):
        ledger_schedule_kwargs(character_id=DEMO_PILOT, endpoint="wallet; drop")


def test_ensure_rewrites_unreadable_arguments_and_keeps_an_admins_timing(pilot):
    name = f"{schedule_prefix(pilot)}journal"
    Schedule.objects.filter(name=name).update(kwargs=old_kwargs(DEMO_PILOT, "journal"), minutes=7)
    assert schedule_kwargs_load(Schedule.objects.get(name=name).kwargs) is None

    assert character_schedules_ensure(character=pilot) == []

    row = Schedule.objects.get(name=name)
    assert schedule_kwargs_load(row.kwargs)["endpoint"] == "journal"
    assert row.minutes == 7


def test_the_migration_rewrites_the_schedules_the_old_code_stored(pilot):
    for row in Schedule.objects.filter(name__startswith=schedule_prefix(pilot)):
        endpoint = row.name.rsplit(":", 1)[1]
        Schedule.objects.filter(pk=row.pk).update(kwargs=old_kwargs(DEMO_PILOT, endpoint))
    other = Schedule.objects.create(name="character:7:unknown", func=SYNC_TASK, kwargs="<x>")
    mine = Schedule.objects.create(name="lenny:mine", func="math.floor", kwargs="{'x': 1}")

    repair.ledger_schedules_repair(apps, None)

    rows = Schedule.objects.filter(name__startswith=schedule_prefix(pilot))
    assert {row.name: row.kwargs for row in rows} == {
        row.name: ledger_schedule_kwargs(
            character_id=DEMO_PILOT, endpoint=row.name.rsplit(":", 1)[1]
        )
        for row in rows
    }
    assert Schedule.objects.get(pk=other.pk).kwargs == "<x>"
    assert Schedule.objects.get(pk=mine.pk).kwargs == "{'x': 1}"
    repair.ledger_schedules_repair(apps, None)  # running again changes nothing
    assert all(schedule_kwargs_load(row.kwargs) for row in rows)


def test_the_migration_runs_after_django_q_s_latest_migration():
    loader = MigrationLoader(connection)
    django_q_latest = loader.graph.leaf_nodes("django_q")
    node = ("market", "0004_ledger_schedules_repair")
    assert set(django_q_latest) <= set(loader.graph.node_map[node].parents | {node}) or all(
        leaf in loader.graph.forwards_plan(node) for leaf in django_q_latest
    )
    assert node in loader.applied_migrations


def test_failing_syncs_are_counted_since_the_last_success_with_the_reason(pilot):
    name = f"{schedule_prefix(pilot)}orders"
    LedgerSync.objects.create(
        character=pilot,
        endpoint="orders",
        status=LedgerSync.Status.UPDATED,
        last_success=timezone.now() - timedelta(hours=3),
        last_finished=timezone.now() - timedelta(hours=3),
    )
    failed_runs(name, 2, error="ancient trouble", before_minutes=60 * 5)  # before the success
    failed_runs(name, SYNC_FAILING_AFTER + 1, error="TypeError: missing 2 arguments")

    failing = ledger_sync_failing(characters=[pilot])

    assert len(failing) == 1
    (orders,) = failing
    assert orders.schedule_name == name and orders.failures == SYNC_FAILING_AFTER + 1
    assert orders.reason == "TypeError: missing 2 arguments"
    assert orders.age_text == "3 h"


def test_a_sync_failing_fewer_times_or_for_a_missing_scope_is_not_reported(eve, user):
    pilot = character_link_replay(eve, user, scopes=[ORDERS_SCOPE])
    failed_runs(f"{schedule_prefix(pilot)}orders", SYNC_FAILING_AFTER - 1, error="flaky")
    # The wallet scope is not granted: its old failures are the profile page's business.
    failed_runs(f"{schedule_prefix(pilot)}balance", 5, error="ESI refused the token")

    assert ledger_sync_failing(characters=[pilot]) == []


def test_esi_failures_recorded_by_the_sync_count_and_give_their_message(pilot):
    name = f"{schedule_prefix(pilot)}journal"
    LedgerSync.objects.create(
        character=pilot,
        endpoint="journal",
        status=LedgerSync.Status.FAILED,
        message="ESI answered 503 three times",
        last_finished=timezone.now(),
    )
    for n in range(3):  # tasks that returned normally: the sync recorded a failed outcome
        at = timezone.now() - timedelta(minutes=60 * (3 - n))
        Task.objects.create(
            id=f"ok-{n}",
            name=f"ok-{n}",
            func=SYNC_TASK,
            group=name,
            started=at,
            stopped=at,
            success=True,
            result="journal: failed (ESI answered 503 three times)",
        )

    (journal,) = ledger_sync_failing(characters=[pilot])

    assert journal.failures == 3 and journal.reason == "ESI answered 503 three times"
    assert journal.age_text == ""  # never synced


def test_the_hourly_job_repairs_and_reports_failing_schedules(pilot, caplog):
    name = f"{schedule_prefix(pilot)}balance"
    Schedule.objects.filter(name=name).update(kwargs=old_kwargs(DEMO_PILOT, "balance"))
    failed_runs(name, 4, error="ledger_endpoint_sync() missing 2 required keyword-only arguments")

    summary = tasks.ledger_schedules()

    assert f"{name}: the last 4 syncs failed: ledger_endpoint_sync() missing 2" in summary
    assert schedule_kwargs_load(Schedule.objects.get(name=name).kwargs)["endpoint"] == "balance"
    assert any("ledger schedule failing" in r.getMessage() for r in caplog.records)


def test_the_ledger_page_says_which_data_is_stale_and_why(client, user, pilot, other_user):
    LedgerSync.objects.create(
        character=pilot,
        endpoint="balance",
        status=LedgerSync.Status.FAILED,
        message="<b>ESI</b> said no",  # the newest failure: its reason is the one shown
        last_success=timezone.now() - timedelta(hours=3),
        last_finished=timezone.now(),
    )
    failed_runs(f"{schedule_prefix(pilot)}balance", 4, error="an older crash")
    client.force_login(user)

    page = client.get("/ledger/").content.decode()

    assert (
        "Wallet balance for Lenny Demo Pilot is 3 h old: the last 4 syncs failed: "
        "&lt;b&gt;ESI&lt;/b&gt; said no" in page
    )
    client.force_login(other_user)
    assert "syncs failed" not in client.get("/ledger/").content.decode()


def test_counting_failures_costs_the_same_queries_for_one_character_or_many(
    eve, user, django_assert_num_queries
):
    from accounts.models import Character

    for n in range(3):
        pilot = character_link_replay(eve, user, character_id=90000010 + n, name=f"Pilot {n}")
        failed_runs(f"{schedule_prefix(pilot)}balance", 3, error=f"trouble {n}")

    def loaded(count: int) -> list:
        return list(
            Character.objects.filter(character_id__lt=90000010 + count).prefetch_related(
                "ledger_syncs"
            )
        )

    one, three = loaded(1), loaded(3)
    # One aggregate for every endpoint's count, then one query per failing endpoint's reason.
    with django_assert_num_queries(1 + 1):
        assert len(ledger_sync_failing(characters=one)) == 1
    with django_assert_num_queries(1 + 3):
        failing = ledger_sync_failing(characters=three)
    assert [each.reason for each in failing] == ["trouble 0", "trouble 1", "trouble 2"]
