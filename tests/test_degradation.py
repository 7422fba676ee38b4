"""Pages answer while Redis is down; a database outage is a styled 503; error pages stand alone."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest
from django.core.cache import cache, caches
from django.test import Client

from lenny.cache import DegradingRedisCache, cache_errors_raised, cache_errors_tolerated

pytestmark = pytest.mark.django_db


@pytest.fixture
def cache_and_broker_redis_that_dies(settings, throwaway_redis):
    """Lenny on a throwaway redis-server (cache and broker), and a way to stop it."""
    url = throwaway_redis.url
    settings.CACHES = {
        "default": {
            "BACKEND": "lenny.cache.DegradingRedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 3.0},
        }
    }
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "redis": url}
    settings.Q_CLUSTER.pop("orm", None)
    return throwaway_redis.stop


PAGES = ["/", "/market/", "/market/trading/", "/market/hauling/", "/accounts/login/"]
SIGNED_IN_PAGES = ["/", "/market/", "/market/trading/", "/stores/", "/account/", "/ledger/"]


def test_pages_and_login_work_while_redis_is_down(
    cache_and_broker_redis_that_dies, user, caplog, monkeypatch
):
    # The warning is said once per process every 30 s: an earlier test's outage may have said it.
    monkeypatch.setattr(DegradingRedisCache, "last_warning_at", 0.0)
    client = Client(raise_request_exception=False)
    assert client.get("/").status_code == 200
    assert cache.get("anything") is None  # the cache is really the throwaway Redis
    cache.set("probe", 1)
    assert cache.get("probe") == 1

    cache_and_broker_redis_that_dies()
    with caplog.at_level(logging.WARNING, logger="lenny.cache"):
        for path in PAGES:
            r = client.get(path)
            assert r.status_code == 200, (path, r.status_code)

        # allauth's login rate limit lives in the cache: the login still works without it.
        r = client.post("/accounts/login/", {"login": "alice", "password": "correct horse 9"})
        assert r.status_code == 302, r.content[:500]
        assert client.session["_auth_user_id"] == str(user.pk)
        for path in SIGNED_IN_PAGES:
            assert client.get(path).status_code == 200, path
    assert any("cache unavailable" in m for m in caplog.messages)

    health = client.get("/healthz")
    assert health.status_code == 503
    body = health.json()
    # Signed-in non-staff callers get each part's one-word state; staff get the details.
    states = body.get("components") or {k: "ok" if body[k]["ok"] else "down" for k in body}
    assert body["status"] == "down"
    assert states["cache"] == "down" and states["database"] == "ok"


def test_outside_a_web_request_the_outage_is_raised_for_the_job_to_record(
    cache_and_broker_redis_that_dies,
):
    import redis

    assert isinstance(caches["default"], DegradingRedisCache)
    cache_and_broker_redis_that_dies()
    # Workers run outside any request: they must see the failure, not carry on without locks.
    with pytest.raises(redis.ConnectionError):
        cache.add("lenny:job-lock", "token", 60)
    with pytest.raises(redis.ConnectionError):
        cache.get("lenny:esi-limits")
    # In a request the outage is a miss, unless a probe asks to see it.
    with cache_errors_tolerated():
        assert cache.get("lenny:esi-limits", "fallback") == "fallback"
        assert cache.add("lenny:lock", 1) is True
        with cache_errors_raised(), pytest.raises(redis.ConnectionError):
            cache.get("lenny:esi-limits")


def test_the_cache_keeps_one_redis_client_and_reconnects_when_redis_comes_back(
    settings, throwaway_redis, monkeypatch
):
    import redis

    settings.CACHES = {
        "default": {
            "BACKEND": "lenny.cache.DegradingRedisCache",
            "LOCATION": throwaway_redis.url,
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 3.0},
        }
    }
    built = []
    original = redis.Redis.__init__

    def counted(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counted)
    cache.set("lenny:kept", 1)
    for n in range(50):
        cache.incr("lenny:kept")
        assert cache.get("lenny:kept") == n + 2
    # One client for a hundred calls: Django's own builds one per call (190 µs of CPU each).
    assert len(built) == 1

    throwaway_redis.stop()
    with pytest.raises(redis.ConnectionError):
        cache.get("lenny:kept")
    throwaway_redis.start()
    built.clear()  # the fixture's own client, pinging until it is up
    # Redis came back empty: the same client reconnects, with nothing of the old data.
    assert cache.get("lenny:kept") is None
    cache.set("lenny:kept", "again")
    assert cache.get("lenny:kept") == "again"
    assert not built


# --- Error pages: styled, and standing alone ------------------------------------------------


def test_the_404_page_is_styled_and_reads_no_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        r = client.get("/market/no-such-thing/")
    assert r.status_code == 404
    html = r.content.decode()
    assert "Page not found" in html and "/market/no-such-thing/" in html
    assert '<link rel="icon"' in html and "<style" in html


def test_the_500_page_is_styled_and_reads_no_database(rf, django_assert_num_queries):
    from lenny.views import server_error

    with django_assert_num_queries(0):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            r = server_error(rf.get("/market/"))
    assert r.status_code == 500
    assert b"Something went wrong" in r.content and b"boom" not in r.content


def test_a_database_error_anywhere_is_a_503_to_retry(rf):
    from django.db import InterfaceError, OperationalError

    from lenny.views import server_error

    for error in (OperationalError("connection refused"), InterfaceError("connection closed")):
        try:
            raise error
        except Exception:
            r = server_error(rf.get("/ledger/"))
        assert r.status_code == 503 and r["Retry-After"] == "15"
        assert b"The database is unavailable, retrying" in r.content
        assert b"connection refused" not in r.content and b"closed" not in r.content


def test_a_task_queue_outage_on_a_page_is_a_503_to_retry(rf):
    import redis

    from lenny.views import server_error

    try:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379")
    except redis.ConnectionError:
        r = server_error(rf.post("/stores/stock/check"))
    assert r.status_code == 503 and r["Retry-After"] == "15"
    assert b"The task queue is unavailable, retrying" in r.content
    assert b"6379" not in r.content


def test_the_favicon_is_served_and_linked_from_every_page(client):
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r["Content-Type"] == "image/x-icon"
    home = client.get("/").content.decode()
    assert 'rel="icon" href="/static/favicon.svg"' in home
    assert client.get("/static/favicon.svg").status_code == 200


# --- Small: admin names, settings aliases ---------------------------------------------------


def test_the_admin_lists_each_app_under_its_own_name(admin_client):
    html = admin_client.get("/admin/").content.decode()
    captions = re.findall(r'<a href="/admin/[a-z_]+/" class="section"[^>]*>([^<]+)</a>', html)
    assert captions, html[:500]
    assert len(captions) == len(set(captions)), captions
    assert "EVE pilots" in captions


@pytest.mark.embedded
def test_the_original_specs_eve_variable_names_work_as_aliases():
    code = (
        "from django.conf import settings; "
        "print(settings.EVE_SSO_CLIENT_ID, settings.EVE_SSO_SECRET, "
        "settings.SOCIALACCOUNT_PROVIDERS['eveonline_v2']['APPS'][0]['client_id'])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVE_SSO_", "EVE_CLIENT_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="lenny.settings",
        EVE_CLIENT_ID="spec-client",
        EVE_CLIENT_SECRET="spec-secret",
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.split() == ["spec-client", "spec-secret", "spec-client"], out.stderr
    # The documented names win when both are set.
    env["EVE_SSO_CLIENT_ID"] = "documented"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.split()[0] == "documented", out.stderr


@pytest.fixture
def redis_that_hangs(settings):
    """A "Redis" that accepts connections and never answers: the worst kind of outage. Yields
    the list of connections it accepted."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    settings.CACHES = {
        "default": {
            "BACKEND": "lenny.cache.DegradingRedisCache",
            "LOCATION": f"redis://127.0.0.1:{listener.getsockname()[1]}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    yield accepted
    listener.close()
    for conn in accepted:
        conn.close()


def test_a_hanging_redis_costs_one_timeout_not_one_per_cache_call(redis_that_hangs, user):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    started = time.monotonic()
    for path in ["/", "/market/", "/market/trading/", "/stores/", "/ledger/", "/account/"]:
        assert client.get(path).status_code == 200, path
    # One wait of 0.5 s, then Redis is skipped for a few seconds. Without the skip every cache
    # call waited its own timeout (measured: 8 connections on these six pages, 0.5 s each).
    assert len(redis_that_hangs) <= 2
    assert time.monotonic() - started < 5


def test_the_production_cache_gives_up_on_redis_quickly(settings):
    if not settings.REDIS_URL:
        pytest.skip("the embedded default has no Redis")
    default = settings.CACHES["default"]
    assert default["BACKEND"] == "lenny.cache.DegradingRedisCache"
    assert default["OPTIONS"]["socket_connect_timeout"] <= 1
    assert default["OPTIONS"]["socket_timeout"] <= 3
