"""History that lands after the orders changes the desk's numbers at once, not at the next
snapshot: daily volumes, station trading's count and daily profits, relist hauling."""

from __future__ import annotations

import re

import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from market.ingest import history_fetch
from market.models import MarketSnapshot
from market.tests.factories import AMARR, JITA, book_store, market_type, order

pytestmark = [pytest.mark.django_db, pytest.mark.embedded, pytest.mark.usefixtures("fresh_desk")]

TRITANIUM = 34
TRADING_API = f"/api/market/station-trading?station_id={JITA.station_id}&min_volume=1"
RELIST_API = (
    f"/api/market/hauling?from_station_id={JITA.station_id}&to_station_id={AMARR.station_id}"
    "&mode=relist&sales_tax=0.036&broker_fee=0.015"
)
HTMX = {"HX-Request": "true", "HX-Target": "trading-table"}


@pytest.fixture
def books_without_history(db):
    """Jita and Amarr books for Tritanium, no history yet (as in the demo's first minute)."""
    market_type(TRITANIUM, "Tritanium")
    book_store(
        JITA.region_id,
        [order(TRITANIUM, "5.00", 1_000_000, buy=True), order(TRITANIUM, "6.00", 1_000_000)],
    )
    book_store(
        AMARR.region_id,
        [
            order(TRITANIUM, "8.00", 1_000_000, buy=True, hub=AMARR),
            order(TRITANIUM, "12.00", 1_000_000, hub=AMARR),
        ],
    )


def _poll(response) -> tuple[str, str]:
    node = HTMLParser(response.content.decode()).css_first("[data-poll]")
    marker = re.search(r'"since": "([^"]*)"', node.attributes["hx-vals"]).group(1)
    return node.attributes["hx-get"], marker


def _history_lands(capture, region_ids: list[int]) -> None:
    # The worker's history job, through the replay ESI; its transaction commits here.
    with capture(execute=True):
        for region_id in region_ids:
            outcome = history_fetch(region_id=region_id, type_ids=[TRITANIUM])
            assert outcome.days > 0, outcome.summary()


def test_station_trading_shows_history_that_lands_after_the_orders(
    client, books_without_history, esi, upstreams, django_capture_on_commit_callbacks
):
    before = client.get(TRADING_API).json()
    assert before["count"] == 0  # no daily volume yet: nothing passes min_volume=1
    page = client.get("/market/trading/")
    poll_url, marker = _poll(page)
    snapshots = MarketSnapshot.objects.count()

    _history_lands(django_capture_on_commit_callbacks, [JITA.region_id])

    after = client.get(TRADING_API).json()
    assert MarketSnapshot.objects.count() == snapshots  # no new snapshot came
    assert after["count"] == 1
    [row] = after["results"]
    assert row["has_history"] is True
    assert row["daily_volume"] > 0 and row["daily_profit"] > 0
    # An open page's live refresh gets the new table (not "nothing new"), with the volume.
    fresh = client.get(poll_url, {"since": marker}, headers=HTMX)
    assert fresh.status_code == 200
    cells = [
        node.text(strip=True)
        for node in HTMLParser(fresh.content.decode()).css("#trading-table tbody td")
    ]
    assert f"{round(row['daily_volume']):,}" in " ".join(cells)


def test_relist_hauling_finds_rows_once_the_destination_history_lands(
    client, books_without_history, esi, upstreams, django_capture_on_commit_callbacks
):
    assert client.get(RELIST_API).json()["count"] == 0  # no volume at Amarr: nothing sells

    _history_lands(django_capture_on_commit_callbacks, [JITA.region_id, AMARR.region_id])

    after = client.get(RELIST_API).json()
    assert after["count"] == 1
    assert after["results"][0]["type_id"] == TRITANIUM
    assert after["results"][0]["net_profit"] > 0


def test_without_a_shared_cache_the_desk_still_answers_after_history(
    client,
    books_without_history,
    esi,
    upstreams,
    django_capture_on_commit_callbacks,
    monkeypatch,
    caplog,
):
    from market.queries import caches as queries

    def down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    _history_lands(django_capture_on_commit_callbacks, [JITA.region_id])
    monkeypatch.setattr(queries.cache, "get_many", down)
    monkeypatch.setattr(queries.cache, "get", down)
    monkeypatch.setattr(queries.cache, "set", down)
    response = client.get(TRADING_API)
    assert response.status_code == 200
    assert response.json()["count"] == 1  # read from the database itself
    assert "could not read the history versions" in caplog.text
