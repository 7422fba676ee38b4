"""A hauler sees what the default view left out, shows it with one click and reads why each row
was hidden, in a real browser."""

import re

import pytest
from playwright.sync_api import expect

from market.queries import caches_clear
from market.tests.factories import AMARR, JITA, book_store, daily_volume, market_type, order

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def trip():
    """Jita to Amarr: Tritanium is a clean haul; nobody trades Mexallon or Nocxium at Amarr;
    Pyerite's best ask at Jita is a 500 ISK order."""
    caches_clear()
    for type_id, name in ((34, "Tritanium"), (35, "Pyerite"), (36, "Mexallon"), (38, "Nocxium")):
        market_type(type_id, name)
    # Before the books: a landing book shares its tops with the daily volumes of that moment.
    daily_volume(AMARR.region_id, 34, "100000")
    daily_volume(AMARR.region_id, 35, "100000")
    book_store(
        JITA.region_id,
        [
            order(34, "5.00", 10_000),
            order(35, "5.00", 100),
            order(35, "5.10", 10_000),
            order(36, "50.00", 1_000),
            order(38, "500.00", 100),
        ],
    )
    book_store(
        AMARR.region_id,
        [
            order(34, "6.00", 5_000, buy=True, hub=AMARR),
            order(35, "6.00", 5_000, buy=True, hub=AMARR),
            order(36, "70.00", 500, buy=True, hub=AMARR),
            order(38, "700.00", 50, buy=True, hub=AMARR),
        ],
    )
    yield
    caches_clear()


def test_hidden_rows_are_counted_and_one_click_shows_them_with_their_reasons(page, trip):
    page.goto(
        f"/market/hauling/?from_station_id={JITA.station_id}&to_station_id={AMARR.station_id}"
    )
    rows = page.locator("#hauling-rows tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Tritanium")
    summary = page.locator("#hauling-flagged")
    expect(summary).to_have_text(
        re.compile(r"3 rows hidden: no volume \(2\), tiny order \(1\)\s+—\s+show them")
    )

    summary.get_by_role("link", name="show them").click()
    # htmx swaps the table in place and the address bar keeps the choice.
    expect(rows).to_have_count(4)
    expect(page).to_have_url(re.compile(r"include_flagged=1"))
    expect(rows.filter(has_text="Mexallon")).to_contain_text("no volume")
    expect(rows.filter(has_text="Nocxium")).to_contain_text("no volume")
    expect(rows.filter(has_text="Pyerite")).to_contain_text("tiny order")
    expect(rows.filter(has_text="Tritanium").locator(".flags")).to_have_count(0)
    expect(summary).to_contain_text("3 flagged rows shown")

    page.reload()  # the URL is the bookmark
    expect(rows).to_have_count(4)
    # Another filter keeps the choice: the flagged rows stay shown.
    page.get_by_label("Route").select_option("secure")
    expect(page).to_have_url(re.compile(r"route=secure"))
    expect(rows).to_have_count(4)

    summary.get_by_role("link", name="hide them").click()
    expect(rows).to_have_count(1)
    expect(page).not_to_have_url(re.compile(r"include_flagged=1"))
    page.get_by_label("Route").select_option("shortest")
    expect(page).to_have_url(re.compile(r"route=shortest"))
    expect(rows).to_have_count(1)
    expect(summary).to_contain_text("3 rows hidden")
