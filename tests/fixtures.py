"""Fixtures shared by every app's tests: replay upstreams, the EVE pilot and character linking,
the HTMX client helper, a clean cache, a real browser.

The plain data builders these stand on are in each app's ``tests/factories.py``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache

from accounts.models import Character
from accounts.replay import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from accounts.tests.factories import ALL_SCOPES, character_link_replay, upstreams_configure
from lenny.replay import ReplayServer, replay_server_build, upstream_settings
from market.esi.limits import EsiLimits
from market.ingest.background import background_wait
from market.ledger.sync import character_sync
from market.ledger.tests.factories import sde_sample_load, trading_history_hand_made

ROOT = Path(__file__).resolve().parent.parent
# Small real captures copied into the repo; the big originals stay in ../shared/fixtures.
DATA = ROOT / "tests" / "data"
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The test client's keyword arguments for a request as htmx sends it: ``client.get(url, **HTMX)``.
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _plain_static_files(settings) -> None:
    # The manifest storage needs `collectstatic`; tests render templates straight from static/.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    cache.clear()
    # What this process learnt of ESI's error limit goes with the shared count.
    EsiLimits.answered_forget()
    yield


@pytest.fixture(autouse=True)
def _landings_done() -> Iterator[None]:
    """What the test's ingests handed to the background threads (``market.ingest.background``:
    the ``snapshot_landed`` receivers, the tidy-up) is done before its database is flushed:
    otherwise it runs on in the next test, against that test's data (a desk warm-up then reads
    a flushed book and logs types=0, a tidy-up detaches partitions under the next fixture)."""
    yield
    background_wait()


@pytest.fixture(scope="session")
def replay_server() -> Iterator[ReplayServer]:
    server = replay_server_build().start()
    yield server
    server.stop()


@pytest.fixture
def upstreams(replay_server: ReplayServer, settings) -> ReplayServer:
    """The replay upstreams, with a clean request log and no faults, and Lenny pointed at them."""
    replay_server.reset()
    for name, value in upstream_settings(replay_server.base_url).items():
        setattr(settings, name, value)
    return replay_server


# --- EVE: the replay SSO and ESI as Lenny's upstreams, and a linked pilot ---------------------


@pytest.fixture
def eve_sso(upstreams, settings):
    """The replay upstreams, with the replay SSO configured as Lenny's EVE application."""
    settings.SOCIALACCOUNT_PROVIDERS = {
        "eveonline_v2": {
            "SCOPE": ALL_SCOPES,
            "APPS": [
                {"name": "EVE Online", "client_id": DEMO_CLIENT_ID, "secret": DEMO_CLIENT_SECRET}
            ],
        }
    }
    return upstreams


@pytest.fixture
def sso(eve_sso) -> dict[str, Any]:
    """The replay SSO's knobs (``server.state["sso"]``)."""
    return eve_sso.state["sso"]


@pytest.fixture
def make_character(eve_sso) -> Callable[..., Character]:
    """Link a character to ``owner`` as a finished SSO login would (real tokens from the replay)."""

    def make(owner, **kwargs: Any) -> Character:
        return character_link_replay(eve_sso, owner, **kwargs)

    return make


@pytest.fixture
def eve(upstreams, settings) -> ReplayServer:
    """The replay upstreams as Lenny's EVE: the SSO's demo client, ESI on the small real history
    sample, retries in a blink (``upstreams_configure``)."""
    return upstreams_configure(upstreams, settings)


@pytest.fixture
def pilot(eve, user) -> Character:
    """The replay's demo pilot linked to ``user``, nothing synced yet."""
    return character_link_replay(eve, user)


@pytest.fixture
def hand_made(eve, pilot) -> Character:
    """The pilot with the hand-made history (775.60 ISK realized, FIFO), synced through the
    replay ESI."""
    replay = eve.state["characters"]
    replay.set_history(pilot.character_id, trading_history_hand_made(replay.anchor))
    outcomes = character_sync(character=pilot)
    assert all(o.ok for o in outcomes), [o.summary() for o in outcomes]
    return pilot


@pytest.fixture
def sde_loaded(db) -> None:
    """The repo's small SDE slice (item and station names) imported, for the market and the
    ledger alike."""
    sde_sample_load()


# --- a real browser -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed")
    # Playwright's sync API runs an event loop in this thread; the ORM must still be usable here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "correct horse 9")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("mallory", "", "battery staple 7")


def schedule_only_due(name: str) -> None:
    """Make ``name`` the one schedule due now; the others wait an hour."""
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import Schedule

    Schedule.objects.update(next_run=timezone.now() + timedelta(hours=1))
    updated = Schedule.objects.filter(name=name).update(
        next_run=timezone.now() - timedelta(seconds=1)
    )
    assert updated == 1, f"no schedule named {name}"


def queue_work(broker) -> int:
    """Be the cluster for what is queued: django-q2's pusher takes the tasks off the broker, its
    worker runs them and its monitor saves each outcome and acknowledges it. They run here one
    after the other instead of in a cluster's child processes; returns how many were pulled."""
    import multiprocessing
    import queue
    import threading

    from django_q.monitor import monitor
    from django_q.pusher import pusher
    from django_q.worker import worker

    tasks: queue.Queue = queue.Queue()
    results: queue.Queue = queue.Queue()
    once = threading.Event()
    once.set()  # the pusher pulls once per call
    while broker.queue_size():
        pusher(tasks, once, broker)
    pulled = tasks.qsize()
    tasks.put("STOP")
    worker(tasks, results, multiprocessing.Value("f", -1))
    results.put("STOP")
    monitor(results, broker)
    return pulled


@pytest.fixture
def q_broker():
    """django-q2's configured broker (Redis, or the ORM on the embedded default), emptied."""
    from django_q.brokers import get_broker

    broker = get_broker()
    broker.purge_queue()
    yield broker
    broker.purge_queue()


@pytest.fixture
def schedule_run(transactional_db, q_broker):
    """``schedule_run("lenny:<job>")``: one run of a schedule as production does it, the row as
    ``schedules_sync`` wrote it → django-q2's scheduler → the broker → django-q2's pusher,
    worker and monitor → the saved ``Task``, returned (successful or not)."""
    from django_q.models import Task
    from django_q.scheduler import scheduler

    from lenny.schedules import schedules_sync

    schedules_sync()

    def run(name: str) -> Task:
        schedule_only_due(name)
        scheduler(broker=q_broker)
        assert queue_work(q_broker) == 1, f"{name} was not queued"
        return Task.objects.filter(group=name).latest("stopped")

    return run


def free_port() -> int:
    """A loopback port nobody listens on right now (for a throwaway server, or a dead address)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayRedis:
    """A redis-server of the test's own, so stopping it hurts no other test."""

    def __init__(self) -> None:
        self.url = f"redis://127.0.0.1:{free_port()}/0"
        self.start()

    def start(self) -> None:
        """Start it (again, on the same port: a Redis that comes back)."""
        import redis

        port = self.url.rsplit(":", 1)[1].split("/")[0]
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(50):
            try:
                redis.Redis.from_url(self.url).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = ThrowawayRedis()
    yield server
    server.stop()


def page_polled_until(client, path: str, text: str, *, seconds: float = 10) -> str:
    """GET ``path`` every 0.1 s until it contains ``text`` (or time runs out); the last body."""
    deadline = time.monotonic() + seconds
    seen = ""
    while time.monotonic() < deadline and text not in seen:
        seen = client.get(path).content.decode()
        time.sleep(0.1)
    return seen


class Background:
    """``with Background(work) as errors:`` runs ``work`` in a thread (with its own database
    connection) while the block reads pages; leaving the block waits for it, and whatever it
    raised is in ``errors`` for the test to assert on."""

    def __init__(self, work) -> None:
        self.work = work
        self.errors: list[BaseException] = []

    def _run(self) -> None:
        from django.db import connection

        try:
            self.work()
        except BaseException as exc:  # reported by the test's assertion
            self.errors.append(exc)
        finally:
            connection.close()

    def __enter__(self) -> list[BaseException]:
        import threading

        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        return self.errors

    def __exit__(self, *exc_info) -> None:
        self.thread.join()


def api_bad_parameter(response, parameter: str, *fragments: str) -> None:
    """The JSON API's 400 for a bad query parameter: it names the parameter, and its error says
    each of ``fragments``."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["parameter"] == parameter
    for fragment in fragments:
        assert fragment in body["error"]


# --- a web server subprocess, over a real socket ---------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def http_get(url: str) -> tuple[int, dict[str, str], bytes]:
    """GET over a real socket: (status, headers, body), an HTTP error status included."""
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def shared_database_url() -> str:
    """The test database as a URL a server subprocess can use (PostgreSQL only)."""
    db = django_settings.DATABASES["default"]
    if not db["ENGINE"].endswith("postgresql"):
        pytest.skip("needs PostgreSQL (the server subprocess must share the test database)")
    host = db.get("HOST") or "127.0.0.1"
    return f"postgres://{db.get('USER') or 'root'}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"


@contextmanager
def web_server(argv: list[str], port: int, env: dict[str, str], log: Path) -> Iterator[str]:
    """Run ``argv`` (gunicorn as `manage.py run` starts it, or runserver) until it listens on
    ``port``; yields its base URL, its output going to ``log``; stopped on exit."""
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            for _ in range(150):
                if proc.poll() is not None:
                    pytest.fail(f"the server exited: {log.read_text()[-2000:]}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            proc.wait(15)


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This environment for a server subprocess: the embedded default unless ``extra`` says
    otherwise, its data under ``tmp_path``, DEBUG off."""
    env = {
        k: v
        for k, v in os.environ.items()
        # LOG_LEVEL too: tests read the servers' INFO lines, whatever this process was given.
        if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "LOG_LEVEL")
    }
    env.update(LENNY_DATA_DIR=str(tmp_path / "data"), DEBUG="0", **extra)
    return env
