import contextlib
import datetime
from decimal import Decimal

import pytest
from django.core.cache import cache
from django_q.models import Schedule

from lenny.models import JobRun
from lenny.schedules import PeriodicJob, periodic_job, schedules_sync
from market.ledger.models import LedgerSync

LedgerEndpoint = LedgerSync.Endpoint

JOBS = [
    PeriodicJob(name="demo-every-5", func="lenny.tests.test_schedules.noop", minutes=5, timeout=60),
    PeriodicJob(
        name="demo-daily",
        func="lenny.tests.test_schedules.noop",
        cron="5 11 * * *",
        kwargs={"region": 1},
    ),
]


def noop(**kwargs):
    return kwargs


pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def test_syncing_twice_gives_the_same_rows():
    first = schedules_sync(jobs=JOBS)
    rows = list(Schedule.objects.filter(name__startswith="lenny:").values().order_by("name"))
    second = schedules_sync(jobs=JOBS)
    assert sorted(first["created"]) == ["demo-daily", "demo-every-5"]
    assert sorted(second["unchanged"]) == ["demo-daily", "demo-every-5"]
    assert (
        list(Schedule.objects.filter(name__startswith="lenny:").values().order_by("name")) == rows
    )


def test_sync_keeps_the_timing_an_admin_chose_but_updates_the_code():
    schedules_sync(jobs=JOBS)
    Schedule.objects.filter(name="lenny:demo-every-5").update(minutes=15)
    changed = [PeriodicJob(name="demo-every-5", func="lenny.tests.test_schedules.other", minutes=5)]
    report = schedules_sync(jobs=changed)
    row = Schedule.objects.get(name="lenny:demo-every-5")
    assert report["updated"] == ["demo-every-5"] and report["removed"] == ["demo-daily"]
    assert row.minutes == 15 and row.func == "lenny.tests.test_schedules.other"


def test_schedules_carry_a_timeout_below_retry_and_no_catch_up(settings):
    schedules_sync(jobs=JOBS)
    row = Schedule.objects.get(name="lenny:demo-every-5")
    assert "'timeout': 60" in row.kwargs
    assert settings.Q_CLUSTER["catch_up"] is False
    too_slow = [PeriodicJob(name="slow", func="x.y", minutes=1, timeout=10_000)]
    with pytest.raises(ValueError, match="below retry"):
        schedules_sync(jobs=too_slow)


def test_a_running_job_is_not_started_again_and_outcomes_are_recorded():
    calls = []

    @periodic_job("demo-lock")
    def job():
        calls.append(1)
        assert job() == "skipped"  # re-entering while the first run holds the lock
        return "done"

    assert job() == "done"
    assert calls == [1]
    run = JobRun.objects.get(name="demo-lock")
    assert run.last_success is not None and run.runs == 1 and run.healthy
    assert cache.get("job-lock:demo-lock") is None


def test_a_failing_job_records_why_and_releases_its_lock():
    @periodic_job("demo-fail")
    def job():
        raise RuntimeError("upstream said no")

    with pytest.raises(RuntimeError):
        job()
    run = JobRun.objects.get(name="demo-fail")
    assert "upstream said no" in run.last_error and not run.healthy and run.failures == 1
    with pytest.raises(RuntimeError):
        job()  # not "skipped": the lock was released


def test_schedule_arguments_are_stored_as_literals_django_q_reads_back():
    from lenny.schedules import schedule_kwargs_load

    schedules_sync(jobs=JOBS)
    for row in Schedule.objects.filter(name__startswith="lenny:"):
        assert schedule_kwargs_load(row.kwargs) is not None, row.kwargs
    assert schedule_kwargs_load(Schedule.objects.get(name="lenny:demo-daily").kwargs) == {
        "region": 1,
        "q_options": {"timeout": 300},
    }


@pytest.mark.parametrize(
    "value",
    [
        LedgerEndpoint.BALANCE,
        Decimal("1.5"),
        datetime.date(2026, 1, 1),
        {"nested": LedgerEndpoint.JOURNAL},
    ],
)
def test_a_job_whose_arguments_django_q_could_not_read_is_refused(value):
    job = PeriodicJob(name="demo-bad", func="x.y", minutes=5, kwargs={"value": value})

    with pytest.raises(ValueError, match=r"demo-bad.*not plain literals"):
        schedules_sync(jobs=[job])
    assert not Schedule.objects.filter(name="lenny:demo-bad").exists()


@pytest.mark.parametrize(
    ("stored", "loaded"),
    [
        ("", {}),
        (None, {}),
        ("{'a': 1}", {"a": 1}),
        ("a=1, b='x'", {"a": 1, "b": "x"}),  # django-q2's other accepted form
        ("{'endpoint': <Endpoint.BALANCE: 'balance'>}", None),
        ("[1, 2]", None),
        ("__import__('os')", None),
    ],
)
def test_stored_arguments_are_read_as_django_q_reads_them(stored, loaded):
    from lenny.schedules import schedule_kwargs_load

    assert schedule_kwargs_load(stored) == loaded


def test_failures_in_a_row_are_counted_and_a_success_resets_them():
    outcomes = iter([RuntimeError("one"), RuntimeError("two"), None, RuntimeError("three")])

    @periodic_job("demo-streak")
    def job():
        outcome = next(outcomes)
        if outcome:
            raise outcome
        return "ok"

    streak = []
    for _ in range(4):
        with contextlib.suppress(RuntimeError):
            job()
        streak.append(JobRun.objects.get(name="demo-streak").consecutive_failures)
    assert streak == [1, 2, 0, 1]
    assert JobRun.objects.get(name="demo-streak").failures == 3
