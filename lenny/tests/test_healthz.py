import pytest
from django.utils import timezone

from lenny import health, schedules
from lenny.models import JobRun

pytestmark = pytest.mark.django_db


@pytest.mark.embedded
def test_it_reports_ok_with_each_part(admin_client):
    r = admin_client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["cache"]["ok"] and body["broker"]["ok"]
    assert "heartbeat_age" in body["cluster"]
    assert r["Cache-Control"].startswith("max-age=0")


@pytest.mark.embedded
def test_it_reports_the_age_of_each_jobs_last_success(admin_client, monkeypatch):
    job = schedules.PeriodicJob(name="demo-job", func="x.y", minutes=5)
    monkeypatch.setattr(health, "schedules_collect", lambda: [job])
    JobRun.objects.create(
        name="demo-job", last_success=timezone.now() - timezone.timedelta(minutes=3)
    )
    body = admin_client.get("/healthz").json()
    assert 170 <= body["jobs"]["demo-job"]["last_success_age"] <= 190
    assert body["jobs"]["demo-job"]["ok"] is True


def test_a_stopped_redis_is_reported_down_with_503(admin_client, client, settings, throwaway_redis):
    url = throwaway_redis.url
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    }
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "redis": url}
    settings.Q_CLUSTER.pop("orm", None)
    assert client.get("/healthz").status_code == 200

    throwaway_redis.stop()
    anonymous = client.get("/healthz")
    assert anonymous.status_code == 503
    assert anonymous.json() == {
        "status": "down",
        "components": anonymous.json()["components"],
    }
    assert anonymous.json()["components"]["cache"] == "down"
    # No error text: it named the host and port Redis listens on.
    assert "Connection" not in anonymous.content.decode()
    assert url.rsplit(":", 1)[1].split("/")[0] not in anonymous.content.decode()
    r = admin_client.get("/healthz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "down"
    assert body["cache"]["ok"] is False and "Connection" in body["cache"]["error"]
    assert body["broker"]["ok"] is False
    assert body["database"]["ok"] is True


def test_the_admin_shows_the_same_report(admin_client):
    r = admin_client.get("/admin/lenny/jobrun/health/")
    assert r.status_code == 200
    assert b"Health: ok" in r.content and b"database" in r.content


# --- who sees what --------------------------------------------------------------------------


@pytest.fixture
def failing_job(monkeypatch):
    """A declared job that failed three times in a row, through Lenny's own job wrapper."""
    job = schedules.PeriodicJob(name="demo-failing", func="x.y", minutes=5)
    monkeypatch.setattr(health, "schedules_collect", lambda: [job])

    @schedules.periodic_job("demo-failing")
    def run():
        raise RuntimeError("db.internal:5432 refused the connection")

    for _ in range(3):
        with pytest.raises(RuntimeError):
            run()
    return job


@pytest.mark.embedded
def test_anonymous_callers_get_the_status_and_part_names_only(client, failing_job, user):
    from accounts.models import Character

    Character.objects.create(owner=user, character_id=1, name="Counted", scopes=[])
    r = client.get("/healthz")

    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"status", "components"}
    assert body["status"] == "degraded"
    assert {"database", "cache", "broker", "cluster", "jobs", "accounts"} <= set(body["components"])
    assert body["components"]["jobs"] == "degraded"
    assert set(body["components"].values()) <= {"ok", "degraded", "down", "failing", "stopped"}
    text = r.content.decode()
    for secret in ("db.internal", "5432", "RuntimeError", "demo-failing", "characters"):
        assert secret not in text


@pytest.mark.embedded
def test_a_job_failing_three_times_in_a_row_makes_health_degraded_naming_it(
    admin_client, failing_job
):
    r = admin_client.get("/healthz")

    assert r.status_code == 200  # the essentials answer: degraded is not down
    body = r.json()
    assert body["status"] == "degraded"
    assert body["degraded"] == [
        "job demo-failing: the last 3 runs failed: RuntimeError: db.internal:5432 refused "
        "the connection"
    ]
    assert body["jobs"]["demo-failing"]["ok"] is False
    assert body["jobs"]["demo-failing"]["consecutive_failures"] == 3


@pytest.mark.embedded
def test_one_success_clears_the_failures(admin_client, failing_job):
    from lenny.schedules import periodic_job

    periodic_job("demo-failing")(lambda: "fine")()

    body = admin_client.get("/healthz").json()
    assert body["status"] == "ok" and body["degraded"] == []
    assert JobRun.objects.get(name="demo-failing").consecutive_failures == 0


@pytest.mark.embedded
def test_a_job_that_runs_without_succeeding_for_three_intervals_is_degraded(
    admin_client, monkeypatch
):
    from django_q.models import Schedule

    job = schedules.PeriodicJob(name="demo-hung", func="x.y", minutes=5)
    monkeypatch.setattr(health, "schedules_collect", lambda: [job])
    schedules.schedules_sync(jobs=[job])
    now = timezone.now()
    # Runs killed on timeout record neither a success nor a failure.
    JobRun.objects.create(
        name="demo-hung",
        runs=4,
        last_success=now - timezone.timedelta(minutes=16),
        last_started=now - timezone.timedelta(minutes=1),
    )
    body = admin_client.get("/healthz").json()
    assert body["status"] == "degraded"
    assert body["degraded"][0].startswith("job demo-hung: no success for 0.3 h")

    # Retimed by an admin to every 10 minutes: 16 minutes is less than three intervals.
    Schedule.objects.filter(name="lenny:demo-hung").update(minutes=10)
    assert admin_client.get("/healthz").json()["status"] == "ok"


@pytest.mark.embedded
def test_tasks_that_fail_before_lennys_wrapper_runs_count_too(admin_client, monkeypatch):
    import uuid

    from django_q.models import Task

    job = schedules.PeriodicJob(name="demo-gone", func="lenny.nowhere.job", minutes=5)
    monkeypatch.setattr(health, "schedules_collect", lambda: [job])
    for n in range(3):
        Task.objects.create(
            id=uuid.uuid4().hex,
            name=f"gone-{n}",
            func=job.func,
            group=job.schedule_name,
            started=timezone.now(),
            stopped=timezone.now() + timezone.timedelta(seconds=n),
            success=False,
            result="Function lenny.nowhere.job is not defined : Traceback ...",
        )
    body = admin_client.get("/healthz").json()
    assert body["degraded"] == [
        "job demo-gone: the last 3 tasks failed: Function lenny.nowhere.job is not defined"
    ]


@pytest.mark.embedded
def test_a_schedule_django_q_cannot_read_makes_health_degraded(admin_client):
    from django_q.models import Schedule

    Schedule.objects.create(
        name="character:1:balance", func="x.y", kwargs="{'endpoint': <Endpoint.BALANCE: 'x'>}"
    )
    body = admin_client.get("/healthz").json()
    assert body["status"] == "degraded"
    assert "schedule character:1:balance: arguments django-q2 cannot read" in body["degraded"]


@pytest.mark.embedded
def test_the_healthz_token_unlocks_the_details(client, settings, failing_job):
    settings.HEALTHZ_TOKEN = "s3cret-token-for-the-monitor"

    full = client.get(
        "/healthz", headers={"Authorization": "Bearer s3cret-token-for-the-monitor"}
    ).json()
    assert full["jobs"]["demo-failing"]["consecutive_failures"] == 3

    for wrong in ("Bearer s3cret-token", "Bearer ", "Basic s3cret-token-for-the-monitor", ""):
        body = client.get("/healthz", headers={"Authorization": wrong}).json()
        assert set(body) == {"status", "components"}, wrong


@pytest.mark.embedded
def test_no_token_configured_means_no_bearer_gets_details(client, settings):
    settings.HEALTHZ_TOKEN = ""
    body = client.get("/healthz", headers={"Authorization": "Bearer "}).json()
    assert set(body) == {"status", "components"}


@pytest.mark.embedded
def test_a_logged_in_non_staff_user_gets_the_public_view(client, user):
    client.force_login(user)
    assert set(client.get("/healthz").json()) == {"status", "components"}


@pytest.mark.embedded
def test_job_durations_show_as_rounded_seconds(admin_client, monkeypatch):
    job = schedules.PeriodicJob(name="demo-slow", func="x.y", minutes=5)
    monkeypatch.setattr(health, "schedules_collect", lambda: [job])
    JobRun.objects.create(name="demo-slow", last_duration=18.257075909000378, runs=1)

    listing = admin_client.get("/admin/lenny/jobrun/").content.decode()
    health_page = admin_client.get("/admin/lenny/jobrun/health/").content.decode()

    assert "18.3 s" in listing and "18.257" not in listing
    assert "18.3 s" in health_page and "18.257" not in health_page


def test_durations_format_for_people():
    from lenny.models import duration_format

    assert duration_format(None) == "—"
    assert duration_format(0.04) == "0.0 s"
    assert duration_format(18.257075909000378) == "18.3 s"
    assert duration_format(125.4) == "2 min 5 s"
