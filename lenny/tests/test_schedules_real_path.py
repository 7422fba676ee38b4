"""Every scheduled job, through the path production takes: the schedule row exactly as Lenny
writes it (``schedules_sync``, ``character_schedules_ensure``) → django-q2's own scheduler →
the broker → django-q2's pusher, worker and monitor → the task's success recorded (django-q2's
``Task`` and Lenny's ``JobRun`` / ``LedgerSync``).

Calling a task function directly skips the step that broke the ledger (django-q2 reading the
stored arguments back), so nothing here calls a job itself. The pusher, worker and monitor are
django-q2's own functions, run in this process one after the other instead of in a cluster's
child processes; the scheduler and the broker (Redis, or the ORM on the embedded default) are
the real ones. Upstreams are the replay servers.
"""

from __future__ import annotations

import pytest
from django_q.models import Schedule, Task

from accounts.tests.factories import DEMO_PILOT, character_link_replay, upstreams_configure
from lenny.models import JobRun
from lenny.schedules import schedules_collect, schedules_sync
from market.hubs import HUBS
from market.ledger.models import LedgerSync
from market.ledger.schedules import character_schedules_ensure
from market.ledger.sync import ENDPOINTS

PERIODIC = [job.name for job in schedules_collect()]
LEDGER = [str(key) for key in ENDPOINTS]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def eve_small_books(upstreams, settings):
    """The replay upstreams with small order books, so a snapshot job takes a blink."""
    server = upstreams_configure(upstreams, settings)
    server.state["esi"].configure(
        history="sample", orders={hub.region_id: 300 for hub in HUBS}, page_size=500
    )
    server.state["sde"].configure(source="sample")  # the SDE jobs need not import it all
    settings.ESI_ROLLOVER_WAIT = 0.05
    settings.ESI_MAX_WAIT = 10
    return server


def schedules_as_production_writes_them(user, eve_small_books) -> None:
    schedules_sync()
    character = character_link_replay(eve_small_books, user)
    character_schedules_ensure(character=character)


def run_schedule(schedule_run, name: str) -> Task:
    task = schedule_run(name)
    assert task.success, f"{name} failed in the worker: {task.result}"
    return task


@pytest.mark.parametrize("job_name", PERIODIC)
def test_each_periodic_job_runs_from_its_schedule_to_a_recorded_success(
    job_name, user, eve_small_books, schedule_run
):
    schedules_as_production_writes_them(user, eve_small_books)

    run_schedule(schedule_run, f"lenny:{job_name}")

    run = JobRun.objects.get(name=job_name)
    assert run.last_success is not None and run.consecutive_failures == 0, run.last_error
    assert run.runs == 1 and run.failures == 0


# Quick, and the embedded default (SQLite, ORM broker) is where a new user first meets them.
@pytest.mark.embedded
@pytest.mark.parametrize("endpoint", LEDGER)
def test_each_ledger_schedule_runs_from_its_schedule_to_a_recorded_sync(
    endpoint, user, eve_small_books, schedule_run
):
    schedules_as_production_writes_them(user, eve_small_books)

    task = run_schedule(schedule_run, f"character:{DEMO_PILOT}:{endpoint}")

    assert task.kwargs == {"character_id": DEMO_PILOT, "endpoint": endpoint}
    state = LedgerSync.objects.get(character__character_id=DEMO_PILOT, endpoint=endpoint)
    assert state.status in (LedgerSync.Status.UPDATED, LedgerSync.Status.UNCHANGED), state.message
    assert state.last_success is not None


@pytest.mark.embedded
def test_a_ledger_schedule_that_keeps_failing_is_reported_then_repaired(
    user, eve_small_books, schedule_run, client, admin_client
):
    """A schedule stored as the code before issue 11 wrote it: every run fails in the worker.
    /healthz turns degraded naming it, the ledger page says the data is stale and why, the hourly
    ``ledger-schedules`` job reports it and rewrites its arguments, and the next run syncs."""
    schedules_as_production_writes_them(user, eve_small_books)
    name = f"character:{DEMO_PILOT}:balance"
    Schedule.objects.filter(name=name).update(
        kwargs=repr(
            {
                "character_id": DEMO_PILOT,
                "endpoint": LedgerSync.Endpoint.BALANCE,
                "q_options": {"timeout": 120},
            }
        )
    )
    public = client.get("/healthz").json()
    assert public["status"] == "degraded"  # django-q2 cannot read those arguments

    for _ in range(3):
        schedule_run(name)
    assert Task.objects.filter(group=name, success=False).count() == 3

    answer = admin_client.get("/healthz")
    assert answer.status_code == 200
    report = answer.json()
    assert report["status"] == "degraded"
    assert any(
        name in reason and "the last 3 syncs failed" in reason and "missing 2 required" in reason
        for reason in report["degraded"]
    ), report["degraded"]
    client.force_login(user)
    page = client.get("/ledger/").content.decode()
    assert "Wallet balance for Lenny Demo Pilot has never synced: the last 3 syncs failed" in page

    run_schedule(schedule_run, "lenny:ledger-schedules")
    summary = Task.objects.get(group="lenny:ledger-schedules").result
    assert f"{name}: the last 3 syncs failed" in summary, summary

    run = Task.objects.filter(group=name).count()
    assert schedule_run(name).success
    assert Task.objects.filter(group=name).count() == run + 1
    assert admin_client.get("/healthz").json()["status"] == "ok"
    assert "syncs failed" not in client.get("/ledger/").content.decode()
