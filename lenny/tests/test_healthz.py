import shutil
import socket
import subprocess
import time

import pytest
from django.utils import timezone

from lenny.models import JobRun

pytestmark = pytest.mark.django_db


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def throwaway_redis():
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    port = _free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    for _ in range(50):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    yield proc, url
    if proc.poll() is None:
        proc.terminate()
        proc.wait(5)


@pytest.mark.embedded
def test_it_reports_ok_with_each_part(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["cache"]["ok"] and body["broker"]["ok"]
    assert "heartbeat_age" in body["cluster"]
    assert r["Cache-Control"].startswith("max-age=0")


@pytest.mark.embedded
def test_it_reports_the_age_of_each_jobs_last_success(client, monkeypatch):
    from lenny import schedules

    job = schedules.PeriodicJob(name="demo-job", func="x.y", minutes=5)
    monkeypatch.setattr(schedules, "schedules_collect", lambda: [job])
    JobRun.objects.create(
        name="demo-job", last_success=timezone.now() - timezone.timedelta(minutes=3)
    )
    body = client.get("/healthz").json()
    assert 170 <= body["jobs"]["demo-job"]["last_success_age"] <= 190
    assert body["jobs"]["demo-job"]["ok"] is True


def test_a_stopped_redis_is_reported_down_with_503(client, settings, throwaway_redis):
    proc, url = throwaway_redis
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    }
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "redis": url}
    settings.Q_CLUSTER.pop("orm", None)
    assert client.get("/healthz").status_code == 200

    proc.terminate()
    proc.wait(5)
    r = client.get("/healthz")
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
