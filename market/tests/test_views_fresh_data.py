"""Open pages poll politely: nothing comes back until a new snapshot lands, then the new table."""

from __future__ import annotations

import re

import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from market.queries import caches_clear
from market.tests.desk_data import AMARR, JITA, book_store, market_type, order

pytestmark = pytest.mark.django_db

TRITANIUM = 34
HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def _fresh_desk():
    caches_clear()


def poller(response) -> tuple[str, str, str]:
    """(url, marker, trigger) of the element that polls for a fresh table."""
    node = HTMLParser(response.content.decode()).css_first("[data-poll]")
    marker = re.search(r'"since": "([^"]*)"', node.attributes["hx-vals"]).group(1)
    return node.attributes["hx-get"], marker, node.attributes["hx-trigger"]


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("/market/trading/?min_margin=0", "trading-table"),
        (f"/market/types/{TRITANIUM}/", "type-live"),
        ("/market/hauling/?sales_tax=0.1", "hauling-table"),
        ("/market/", "data-age"),
    ],
)
def test_a_poll_gets_nothing_until_a_new_snapshot_lands(client, url, target):
    market_type(TRITANIUM, "Tritanium")
    book_store(JITA.region_id, [order(TRITANIUM, "5", 10, buy=True), order(TRITANIUM, "6", 10)])
    book_store(AMARR.region_id, [order(TRITANIUM, "9", 10, buy=True, hub=AMARR)])
    poll_url, marker, trigger = poller(client.get(url))
    # Politely: every 30 s, and only while the tab is visible.
    assert trigger == "every 30s [document.visibilityState === 'visible']"
    headers = {**HTMX, "HX-Target": target}
    unchanged = client.get(poll_url, {"since": marker}, headers=headers)
    assert unchanged.status_code == 204
    assert unchanged.content == b""

    book_store(JITA.region_id, [order(TRITANIUM, "5.5", 10, buy=True), order(TRITANIUM, "5.9", 7)])
    fresh = client.get(poll_url, {"since": marker}, headers=headers)
    assert fresh.status_code == 200
    assert f'id="{target}"' in fresh.content.decode()
    assert "<html" not in fresh.content.decode()
    _, new_marker, _ = poller(fresh)
    assert new_marker != marker
    assert client.get(poll_url, {"since": new_marker}, headers=headers).status_code == 204


@pytest.mark.embedded
def test_the_fresh_table_has_the_new_prices(client):
    market_type(TRITANIUM, "Tritanium")
    book_store(JITA.region_id, [order(TRITANIUM, "5", 10, buy=True), order(TRITANIUM, "6", 10)])
    poll_url, marker, _ = poller(client.get("/market/trading/"))
    book_store(JITA.region_id, [order(TRITANIUM, "5.5", 10, buy=True), order(TRITANIUM, "7", 7)])
    fresh = client.get(
        poll_url, {"since": marker}, headers={**HTMX, "HX-Target": "trading-table"}
    ).content.decode()
    assert ">5.50<" in fresh and ">7.00<" in fresh


def test_the_poll_keeps_the_tables_filters_and_sort(client):
    book_store(JITA.region_id, [order(TRITANIUM, "5", 10, buy=True), order(TRITANIUM, "6", 10)])
    poll_url, _, _ = poller(client.get("/market/trading/?min_volume=0&sort=-margin&page=1"))
    assert "min_volume=0" in poll_url and "sort=-margin" in poll_url
    assert "since" not in poll_url


def test_a_stale_marker_from_a_plain_request_still_gets_the_whole_page(client):
    book_store(JITA.region_id, [order(TRITANIUM, "5", 10, buy=True), order(TRITANIUM, "6", 10)])
    _, marker, _ = poller(client.get("/market/trading/"))
    response = client.get("/market/trading/", {"since": marker})
    assert response.status_code == 200
    assert "<html" in response.content.decode()


def test_a_page_opened_before_the_first_snapshot_gets_it_when_it_lands(client):
    empty = client.get("/market/trading/")
    assert "No order book for The Forge yet" in empty.content.decode()
    poll_url, marker, _ = poller(empty)
    headers = {**HTMX, "HX-Target": "trading-table"}
    assert client.get(poll_url, {"since": marker}, headers=headers).status_code == 204
    book_store(JITA.region_id, [order(TRITANIUM, "5", 10, buy=True), order(TRITANIUM, "6", 10)])
    fresh = client.get(poll_url, {"since": marker}, headers=headers)
    assert fresh.status_code == 200
    assert "No order book" not in fresh.content.decode()
