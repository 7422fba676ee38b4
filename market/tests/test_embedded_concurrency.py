"""The embedded default (SQLite, the ORM broker) keeps serving while a large order book loads.

The Forge's 400k orders take a while to store on SQLite. Meanwhile pages are read over real HTTP,
the live refresh polls, a pilot opens the ledger and django-q enqueues and pulls tasks: none of
it may fail with "database is locked" or wait behind the ingest for more than a moment, and no
reader may see a half-loaded book.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

import pytest
import requests
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django_q.brokers import get_broker
from django_q.tasks import async_task
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from market.ingest import snapshot_fetch
from market.models import Order
from market.tests.factories import FORGE, SDE_SAMPLE

pytestmark = [pytest.mark.embedded, pytest.mark.django_db(transaction=True)]

# Big enough that storing it in one go holds SQLite's write lock for many seconds.
BOOK_ORDERS = 150_000
# The longest any request or write may wait while the book loads ("about a second", with
# head room for a busy test machine).
MAX_WAIT = 2.0
TRITANIUM = 34
HTMX = {"HX-Request": "true", "HX-Target": "trading-table"}


@dataclass
class Probe:
    timings: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def timed(self, name: str, action) -> None:
        started = time.monotonic()
        try:
            problem = action()
        except Exception as exc:  # every failure is a finding, whatever its kind
            problem = f"{type(exc).__name__}: {exc}"
        self.timings.setdefault(name, []).append(time.monotonic() - started)
        if problem:
            self.errors.append(f"{name}: {problem}")

    def slowest(self) -> tuple[str, float]:
        return max(((name, max(times)) for name, times in self.timings.items()), key=lambda x: x[1])


def _poll_marker(base: str) -> str:
    page = requests.get(f"{base}/market/trading/", timeout=30)
    node = HTMLParser(page.text).css_first("[data-poll]")
    return re.search(r'"since": "([^"]*)"', node.attributes["hx-vals"]).group(1)


@pytest.fixture
def pilot_session(django_user_model) -> str:
    user = django_user_model.objects.create_user("pilot", password="a-long-enough-password")
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def test_pages_and_tasks_answer_while_a_large_book_loads(live_server, esi, pilot_session):
    if connection.vendor != "sqlite":
        pytest.skip("the embedded default's SQLite behaviour")
    call_command("import_sde", str(SDE_SAMPLE), verbosity=0)
    esi.configure(orders={FORGE: BOOK_ORDERS}, page_size=1000)
    snapshot_fetch(region_id=FORGE, force=True)
    old_count = Order.objects.current(region_id=FORGE).count()
    esi.roll_over(FORGE)
    esi.snapshot(FORGE)  # the replay builds the next book now, not while the test times it
    base = live_server.url
    marker = _poll_marker(base)
    cookies = {"sessionid": pilot_session}

    def page(path: str, *, headers=None, ok=(200,), **kwargs) -> str | None:
        response = requests.get(f"{base}{path}", headers=headers, timeout=60, **kwargs)
        if response.status_code not in ok:
            return f"{response.status_code} {response.text[:200]!r}"
        return None

    def task_round_trip() -> str | None:
        async_task("math.floor", 1.5)
        broker = get_broker()
        pulled = broker.dequeue()
        if not pulled:
            return "the queued task could not be pulled"
        for task_id, _ in pulled:
            broker.acknowledge(task_id)
        return None

    counts: set[int] = set()

    def book_seen() -> str | None:
        # One statement chooses the snapshot and counts its orders: old book or new, never half.
        counts.add(Order.objects.current(region_id=FORGE).count())
        return None

    outcome: dict[str, object] = {}

    def ingest() -> None:
        try:
            outcome["result"] = snapshot_fetch(region_id=FORGE, force=True)
        except Exception as exc:
            outcome["error"] = exc
        finally:
            connection.close()

    probe = Probe()
    loader = threading.Thread(target=ingest, name="ingest")
    started = time.monotonic()
    loader.start()
    rounds = 0
    while loader.is_alive():
        rounds += 1
        probe.timed("market home", lambda: page("/market/"))
        probe.timed("station trading", lambda: page("/market/trading/"))
        probe.timed(
            "live refresh",
            lambda: page("/market/trading/", headers=HTMX, params={"since": marker}, ok=(200, 204)),
        )
        probe.timed("item page", lambda: page(f"/market/types/{TRITANIUM}/"))
        probe.timed("ledger", lambda: page("/ledger/", cookies=cookies))
        probe.timed("healthz", lambda: page("/healthz", ok=(200, 503)))
        probe.timed("task queue", task_round_trip)
        probe.timed("book", book_seen)
    loader.join()
    ingest_seconds = time.monotonic() - started

    assert "error" not in outcome, outcome["error"]
    assert outcome["result"].status == "stored"
    new_count = Order.objects.current(region_id=FORGE).count()
    assert probe.errors == [], probe.errors[:10]
    name, seconds = probe.slowest()
    assert seconds <= MAX_WAIT, f"{name} waited {seconds:.1f} s while the book loaded"
    assert rounds >= 3, f"the ingest took {ingest_seconds:.1f} s: too short to prove anything"
    assert counts <= {old_count, new_count}, (counts, old_count, new_count)
