"""Each web process makes the desk's views ready for a new snapshot before anyone asks
(``market.prewarm``): the default station trading of every hub, and what traders there looked
at lately with their own fees and filters; in gunicorn, from a thread of each worker.

"Priced" below counts how often the station-trading maths and the hauling planner run: what a
trader's request must not pay for after the pre-warm has run.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection

import market.queries.hauling_plans as hauling_plans
import market.queries.trading as trading_queries
from accounts.models import TradingProfile
from lenny.management.commands.run import web_command_build
from market.prewarm import DeskPrewarm
from market.queries.caches import _Memo, _recent, region_book
from market.tests.factories import AMARR, JITA, book_store, daily_volume, market_type, order
from tests.fixtures import free_port, http_get, server_env, shared_database_url, web_server

pytestmark = pytest.mark.usefixtures("fresh_desk")

TRITANIUM, MEGACYTE = 34, 40
STATION_API = f"/api/market/station-trading?station_id={JITA.station_id}"
HAULING_API = (
    f"/api/market/hauling?from_station_id={JITA.station_id}&to_station_id={AMARR.station_id}"
)


@pytest.fixture
def priced(monkeypatch) -> dict[str, int]:
    """How many times each costly step ran."""
    counts = {"station trading": 0, "hauling": 0}

    def counting(name, real):
        def run(*args, **kwargs):
            counts[name] += 1
            return real(*args, **kwargs)

        return run

    monkeypatch.setattr(
        trading_queries,
        "station_trading_rows",
        counting("station trading", trading_queries.station_trading_rows),
    )
    monkeypatch.setattr(
        hauling_plans, "hauling_rows", counting("hauling", hauling_plans.hauling_rows)
    )
    return counts


def jita_book(bid: str = "5.00", ask: str = "6.00") -> None:
    book_store(
        JITA.region_id,
        [
            order(TRITANIUM, bid, 100_000, buy=True),
            order(TRITANIUM, ask, 100_000),
            order(MEGACYTE, "1000", 1000, buy=True),
            order(MEGACYTE, "1300", 1000),
        ],
    )


@pytest.fixture
def books(db):
    market_type(TRITANIUM, "Tritanium")
    market_type(MEGACYTE, "Megacyte")
    daily_volume(JITA.region_id, TRITANIUM, "100000")
    daily_volume(JITA.region_id, MEGACYTE, "1000")
    daily_volume(AMARR.region_id, TRITANIUM, "100000")
    jita_book()
    book_store(AMARR.region_id, [order(TRITANIUM, "7.00", 50_000, buy=True, hub=AMARR)])


def best_bid(response, type_id: int) -> float:
    assert response.status_code == 200, response.content
    return next(row for row in response.json()["results"] if row["type_id"] == type_id)["best_bid"]


@pytest.mark.django_db
def test_each_hubs_default_view_is_priced_before_anyone_asks(client, books, priced):
    prewarm = DeskPrewarm()
    assert sorted(prewarm.round()) == [region_book(JITA.region_id), region_book(AMARR.region_id)]
    made = priced["station trading"]
    assert made == 2  # Jita and Amarr, the hubs with a book

    assert best_bid(client.get(STATION_API), TRITANIUM) == 5.0
    assert client.get("/market/trading/").status_code == 200
    assert priced["station trading"] == made  # both answered from what the thread made

    # Nothing moved: the next round makes nothing.
    assert prewarm.round() == []
    assert priced["station trading"] == made

    # A new Jita snapshot: only Jita is made again, and the first request reads it ready.
    jita_book(bid="5.10")
    assert prewarm.round() == [region_book(JITA.region_id)]
    made = priced["station trading"]
    assert best_bid(client.get(STATION_API), TRITANIUM) == 5.1
    assert priced["station trading"] == made


@pytest.mark.django_db
def test_what_a_trader_looked_at_is_made_again_with_their_fees_and_filters(
    client, books, priced, user
):
    TradingProfile.objects.create(
        user=user, accounting_level=5, broker_relations_level=5, market_share=Decimal("0.25")
    )
    client.force_login(user)
    query = f"{STATION_API}&min_margin=0.1&sort=-margin"
    before = client.get(query)
    prewarm = DeskPrewarm()
    prewarm.round()

    jita_book(bid="5.05")
    prewarm.round()
    made = priced["station trading"]
    after = client.get(query)
    assert best_bid(after, TRITANIUM) == 5.05
    assert priced["station trading"] == made
    assert after.json()["market_share"] == before.json()["market_share"] == 0.25


@pytest.mark.django_db
def test_a_hauling_plan_a_trader_asked_for_is_planned_again_for_the_new_book(client, books, priced):
    first = client.get(HAULING_API)
    assert [row["type_id"] for row in first.json()["results"]] == [TRITANIUM]
    prewarm = DeskPrewarm()
    prewarm.round()

    jita_book(ask="5.50")  # cheaper at Jita: the haul earns more
    prewarm.round()
    planned = priced["hauling"]
    again = client.get(HAULING_API).json()["results"]
    assert priced["hauling"] == planned
    assert again[0]["net_profit"] > first.json()["results"][0]["net_profit"]


@pytest.mark.django_db
def test_a_view_that_fails_to_be_made_leaves_the_others_and_waits_for_a_request(
    client, books, priced, caplog
):
    def broken() -> None:
        raise RuntimeError("a view that cannot be made")

    _recent.note("broken", [region_book(JITA.region_id)], broken)
    with caplog.at_level(logging.ERROR, logger="market.desk"):
        DeskPrewarm().round()
    assert "preparing a desk view for the new snapshot failed" in caplog.text
    made = priced["station trading"]
    assert made == 2
    assert best_bid(client.get(STATION_API), TRITANIUM) == 5.0
    assert priced["station trading"] == made


def test_threads_asking_for_one_key_wait_for_one_build():
    memo = _Memo(size=4, ttl=60)
    builds = []
    started = threading.Event()

    def build() -> str:
        builds.append(1)
        started.set()
        time.sleep(0.2)
        return "priced"

    answers = []
    threads = [
        threading.Thread(target=lambda: answers.append(memo.get("jita", build))) for _ in range(4)
    ]
    threads[0].start()
    started.wait(5)
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert answers == ["priced"] * 4
    assert len(builds) == 1


def test_a_build_that_fails_lets_the_waiting_threads_try_themselves():
    memo = _Memo(size=4, ttl=60)
    started, release = threading.Event(), threading.Event()

    def failing() -> str:
        started.set()
        release.wait(5)
        raise RuntimeError("database away")

    errors, answers = [], []

    def leader() -> None:
        try:
            memo.get("jita", failing)
        except RuntimeError as error:
            errors.append(str(error))

    first = threading.Thread(target=leader)
    first.start()
    started.wait(5)
    second = threading.Thread(target=lambda: answers.append(memo.get("jita", lambda: "mine")))
    second.start()
    release.set()
    first.join(5)
    second.join(5)
    assert errors == ["database away"] and answers == ["mine"]


def database_sessions() -> str:
    """What every session on the test database is doing (what a stuck worker waits for)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state, wait_event_type, wait_event, pg_blocking_pids(pid), "
            "left(query, 200) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return "\n".join(" | ".join(map(str, row)) for row in cursor.fetchall())


@pytest.mark.django_db(transaction=True)
def test_gunicorn_workers_prepare_each_new_snapshot_on_their_own(books, tmp_path):
    port = free_port()
    env = server_env(tmp_path, DATABASE_URL=shared_database_url())
    log = tmp_path / "web.log"
    argv = web_command_build(bind=f"127.0.0.1:{port}", workers=1)

    def prepared_lines() -> list[str]:
        return [line for line in log.read_text().splitlines() if "desk views prepared" in line]

    def wait_for(lines: int) -> list[str]:
        # Generous: a loaded CI machine boots gunicorn and imports the project slowly.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = prepared_lines()
            if len(found) >= lines:
                return found
            time.sleep(0.2)
        pytest.fail(
            f"the worker prepared nothing:\n{log.read_text()[-3000:]}\n"
            f"database sessions:\n{database_sessions()}"
        )

    with web_server(argv, port, env, log) as base:
        first = wait_for(1)
        assert str(JITA.region_id) in first[0] and str(AMARR.region_id) in first[0]
        jita_book(bid="5.20")
        second = wait_for(2)[1]
        assert f"regions={JITA.region_id} " in second
        status, _, body = http_get(base + STATION_API + "&include_flagged=1")
        assert status == 200
        rows = {row["type_id"]: row for row in json.loads(body)["results"]}
        assert rows[TRITANIUM]["best_bid"] == 5.2
    assert "Traceback" not in log.read_text()
