"""A trader opens station trading in a real browser: the rows it does not trust are hidden and
counted per reason; one click shows them, each with its reasons; the filters keep that choice."""

import re

import pytest
from playwright.sync_api import expect

from market.queries import caches_clear
from market.tests.factories import JITA, book_store, daily_volume, market_type, order

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def jita():
    """Tritanium pays; Pyerite loses money; Isogen's three orders are tiny and nothing trades
    it; Mexallon's one-unit orders are tiny too. Skill-0 fees: profit = 0.89 ask - 1.03 bid."""
    caches_clear()
    for type_id, name in [(34, "Tritanium"), (35, "Pyerite"), (36, "Mexallon"), (37, "Isogen")]:
        market_type(type_id, name)
    # History first: the snapshot's warm-up shares the book tops with their daily volumes.
    for type_id in (34, 35, 36):
        daily_volume(JITA.region_id, type_id, "1000")
    book_store(
        JITA.region_id,
        [
            order(34, "5.00", 100_000, buy=True),
            order(34, "6.00", 100_000),
            order(35, "10.00", 100_000, buy=True),
            order(35, "10.20", 100_000),
            order(36, "50.00", 1, buy=True),
            order(36, "70.00", 1),
            order(37, "100.00", 3, buy=True),
            order(37, "130.00", 3),
        ],
    )
    caches_clear()
    yield
    caches_clear()


def test_hidden_rows_are_counted_and_shown_with_their_reasons_on_request(page, jita):
    page.goto("/market/trading/")
    rows = page.locator("#trading-rows tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Tritanium")
    summary = page.locator("#flag-summary")
    expect(summary).to_have_text(
        re.compile(
            r"3 rows hidden: tiny order \(2\), loses money \(1\), no volume \(1\) — show them"
        )
    )

    summary.get_by_role("link", name="show them").click()
    expect(rows).to_have_count(4)
    expect(page).to_have_url(re.compile(r"include_flagged=1"))
    expect(summary).to_contain_text("3 flagged rows shown, each with its reasons")
    isogen = rows.filter(has_text="Isogen")
    expect(isogen.locator("mark.flag")).to_have_text(["no volume", "tiny order"])
    expect(isogen.locator("mark.flag").last).to_have_attribute(
        "title", re.compile("worth less than 10,000 ISK")
    )
    pyerite = rows.filter(has_text="Pyerite")
    expect(pyerite.locator("mark.flag")).to_have_text(["loses money"])
    expect(rows.filter(has_text="Tritanium").locator("mark.flag")).to_have_count(0)

    # A filter swaps the table in place and keeps showing the flagged rows that match it.
    page.get_by_label("Min margin").fill("0.2")
    page.get_by_label("Min margin").press("Enter")
    expect(page).to_have_url(re.compile(r"min_margin=0\.2"))
    expect(rows).to_have_count(1)  # Mexallon's 21.6 %: Isogen makes 12.7 %, Tritanium 3.8 %
    expect(rows.first).to_contain_text("Mexallon")
    expect(rows.first.locator("mark.flag")).to_have_text(["tiny order"])
    expect(page).to_have_url(re.compile(r"include_flagged=1"))

    summary.get_by_role("link", name="hide them").click()
    expect(page.locator("#trading-table")).to_contain_text(
        "Every type at Jita that matches is flagged"
    )
    expect(page).not_to_have_url(re.compile(r"include_flagged=1"))


def test_the_rules_behind_the_flags_are_one_click_away(page, jita):
    page.goto("/market/trading/")
    rules = page.locator("details.flag-rules")
    rules.locator("summary").click()
    expect(rules.locator("dt")).to_have_text(
        ["no volume", "bait order", "outlier price", "tiny order", "loses money"]
    )
    expect(rules).to_contain_text("minimum quantity above what you would trade a day")
