"""Open pages poll politely: nothing comes back until a new snapshot lands, then the new table,
built from the book tops the warm-up shared when the snapshot landed."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from market import warmup
from market.queries import books as queries_module
from market.queries import caches_clear
from market.tests.factories import AMARR, JITA, book_store, market_type, order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_desk")]

TRITANIUM = 34
HTMX = {"HX-Request": "true"}
# Ten units at 5 and 6 ISK with no volume are flagged (tiny order, no volume): shown on request.
TRADING = "/market/trading/?include_flagged=1"


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
    # Politely: every 30 s, and at once when the tab shows again (lenny.js drops the polls of a
    # hidden tab: a trigger filter would need eval, which the Content-Security-Policy forbids).
    assert trigger == "every 30s, desk-visible from:document"
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
    poll_url, marker, _ = poller(client.get(TRADING))
    book_store(JITA.region_id, [order(TRITANIUM, "5.5", 10, buy=True), order(TRITANIUM, "7", 7)])
    # (The test client's data replaces the URL's own query: the poll's parameters go there.)
    assert "include_flagged=1" in poll_url
    fresh = client.get(
        poll_url,
        {"since": marker, "include_flagged": "1"},
        headers={**HTMX, "HX-Target": "trading-table"},
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


# --- the book tops every worker shares -------------------------------------------------------


def bestprice_reads(queries) -> int:
    return sum("market_bestprice" in query["sql"] for query in queries.captured_queries)


def test_a_landed_snapshot_is_ready_made_for_every_worker(
    client, django_capture_on_commit_callbacks
):
    market_type(TRITANIUM, "Tritanium")
    # The ingest sends snapshot_landed once its transaction commits; the warm-up answers it.
    with django_capture_on_commit_callbacks(execute=True):
        book_store(JITA.region_id, [order(TRITANIUM, "5", 10, buy=True), order(TRITANIUM, "6", 10)])
    caches_clear()  # a web worker that has never seen this snapshot
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"{TRADING}&sort=type_name")
    assert ">5.00<" in response.content.decode() and ">6.00<" in response.content.decode()
    assert bestprice_reads(queries) == 0  # it decoded the shared copy


def test_a_worker_that_reads_the_book_itself_shares_it(client):
    market_type(TRITANIUM, "Tritanium")
    book_store(JITA.region_id, [order(TRITANIUM, "5", 10, buy=True), order(TRITANIUM, "6", 10)])
    with CaptureQueriesContext(connection) as first:
        client.get("/market/trading/")
    assert bestprice_reads(first) == 1  # nothing shared yet (no warm-up in this test)
    caches_clear()  # another worker
    with CaptureQueriesContext(connection) as second:
        client.get("/market/trading/")
    assert bestprice_reads(second) == 0


def test_a_new_snapshot_is_never_served_from_the_old_shared_copy(client):
    market_type(TRITANIUM, "Tritanium")
    book_store(JITA.region_id, [order(TRITANIUM, "5", 10, buy=True), order(TRITANIUM, "6", 10)])
    client.get("/market/trading/")  # shared now
    book_store(JITA.region_id, [order(TRITANIUM, "5.5", 10, buy=True), order(TRITANIUM, "7", 7)])
    caches_clear()
    text = client.get(TRADING).content.decode()
    assert ">5.50<" in text and ">7.00<" in text


def test_the_desk_still_answers_when_the_shared_cache_is_down(client, monkeypatch, caplog):
    market_type(TRITANIUM, "Tritanium")
    book_store(JITA.region_id, [order(TRITANIUM, "5", 10, buy=True), order(TRITANIUM, "6", 10)])

    def down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(queries_module.cache, "get", down)
    monkeypatch.setattr(queries_module.cache, "set", down)
    response = client.get(f"{TRADING}&sort=type_name")
    assert response.status_code == 200
    assert ">5.00<" in response.content.decode()
    assert "could not read the shared book tops of Jita" in caplog.text


def test_a_failed_warm_up_leaves_the_new_snapshot_in_place(
    client, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def broken(station):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(warmup, "book_tops_publish", broken)
    market_type(TRITANIUM, "Tritanium")
    with django_capture_on_commit_callbacks(execute=True):
        book_store(JITA.region_id, [order(TRITANIUM, "5", 10, buy=True), order(TRITANIUM, "6", 10)])
    assert "sharing the book tops of snapshot" in caplog.text
    assert ">5.00<" in client.get(TRADING).content.decode()
