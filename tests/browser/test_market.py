"""A trader filters the station-trading table in a real browser and opens an item's chart."""

import re

import pytest
from playwright.sync_api import expect

from market.models import MarketGroup
from market.queries import caches_clear
from market.tests.factories import JITA, book_store, daily_volume, history, market_type, order

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def jita():
    caches_clear()
    minerals = MarketGroup.objects.create(id=1857, name="Minerals")
    market_type(34, "Tritanium", group=minerals)
    market_type(35, "Pyerite", group=minerals)
    market_type(37, "Isogen", group=minerals)
    book_store(
        JITA.region_id,
        [
            order(34, "5.00", 1000, buy=True),
            order(34, "6.00", 800),
            order(35, "10.00", 100, buy=True),
            order(35, "10.20", 100),
            order(37, "100.00", 10, buy=True),
            order(37, "130.00", 10),
        ],
    )
    daily_volume(JITA.region_id, 34, "1000")
    history(JITA.region_id, 37, 120)
    yield
    caches_clear()


def test_a_trader_filters_the_table_and_opens_an_items_chart(page, jita):
    # The small book's orders are tiny (and two of the three lose money or have no volume):
    # flagged rows, shown on request; the filter form keeps the request.
    page.goto("/market/trading/?include_flagged=1")
    rows = page.locator("#trading-rows tbody tr")
    expect(rows).to_have_count(3)
    asked: list[str] = []
    page.on(
        "request", lambda request: "min_margin=0.1" in request.url and asked.append(request.url)
    )
    console_errors: list[str] = []
    page.on(
        "console", lambda message: message.type == "error" and console_errors.append(message.text)
    )

    page.get_by_label("Min margin").fill("0.1")
    page.get_by_label("Min margin").press("Enter")
    # htmx swaps the table in place and puts the filter in the address bar.
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Isogen")
    expect(page).to_have_url(re.compile(r"min_margin=0\.1"))
    # Enter fires the field's "change" and the form's "submit": one request, none aborted.
    page.wait_for_load_state("networkidle")
    assert len(asked) == 1, asked
    assert console_errors == []

    page.get_by_role("link", name="Margin").click()
    expect(page).to_have_url(re.compile(r"sort=-margin"))
    page.reload()  # the URL is the bookmark: the filter survives a reload
    expect(page.get_by_label("Min margin")).to_have_value("0.1")
    expect(rows).to_have_count(1)

    page.get_by_role("link", name="Isogen").click()
    page.wait_for_url(re.compile(r"/market/types/37/"))
    expect(page.get_by_role("heading", name="Isogen", level=1)).to_be_visible()
    chart = page.locator("[data-history-chart] .uplot canvas")
    expect(chart.first).to_be_visible()
    assert chart.first.bounding_box()["width"] > 300
    expect(page.locator("figcaption")).to_contain_text("90 days with trades")

    page.get_by_role("link", name="30 days").click()
    expect(page.locator("figcaption")).to_contain_text("30 days with trades")
    expect(page.locator("[data-history-chart] .uplot canvas").first).to_be_visible()
    expect(page).to_have_url(re.compile(r"days=30"))


def test_a_bad_filter_is_named_and_its_field_marked_after_a_swap(page, jita):
    page.goto("/market/trading/?include_flagged=1")
    margin = page.get_by_label("Min margin")
    margin.fill("abc")
    margin.press("Enter")

    expect(page.locator("#trading-table [role=alert]")).to_contain_text(
        "min_margin: enter a number"
    )
    expect(margin).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Min daily volume")).not_to_have_attribute("aria-invalid", "true")

    margin.fill("0.1")
    margin.press("Enter")
    expect(page.locator("#trading-rows tbody tr")).to_have_count(1)
    expect(margin).not_to_have_attribute("aria-invalid", "true")


def test_an_open_table_polls_only_while_its_tab_is_visible(page, jita):
    page.clock.install()
    polls: list[str] = []
    page.on("request", lambda request: "since=" in request.url and polls.append(request.url))
    page.goto("/market/trading/?sort=type_name&include_flagged=1")
    rows = page.locator("#trading-rows tbody tr")
    expect(rows.first).to_contain_text("Isogen")

    with page.expect_response(lambda response: "since=" in response.url) as first:
        page.clock.run_for("00:31")
    assert first.value.status == 204  # nothing new: nothing swapped
    assert len(polls) == 1

    page.evaluate(
        """() => {
            Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true});
            document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    page.clock.run_for("02:00")
    page.evaluate("() => new Promise(requestAnimationFrame)")  # let any request start
    assert len(polls) == 1  # four polls' worth of time, none sent while hidden

    # A new book lands while the tab is hidden; coming back asks at once and swaps it in.
    book_store(JITA.region_id, [order(37, "101.00", 10, buy=True), order(37, "140.00", 10)])
    with page.expect_response(lambda response: "since=" in response.url) as back:
        page.evaluate(
            """() => {
                Object.defineProperty(document, "visibilityState", {value: "visible", configurable: true});
                document.dispatchEvent(new Event("visibilitychange"));
            }"""
        )
    assert back.value.status == 200
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("140.00")
