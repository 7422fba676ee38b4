"""The market desk's wide tables fit a laptop (1366 x 768) and a phone (390 x 844) in a real
browser: no page-level sideways scroll; the item, its profit and margin, and the column the
table is sorted by in view without scrolling the table; long names cut short with the whole name
on hover. Screenshots land in $LENNY_SHOTS (if set) for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from market.queries import caches_clear
from market.tests.factories import HUBS_BY_KEY, book_store, daily_volume, market_type, order
from tests.browser.layout import OVERFLOW

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
SHOTS = os.environ.get("LENNY_SHOTS")
LONG_NAME = "Capital Ship Maintenance Bay Extended Logistics Prototype Field Component II"
HUBS = list(HUBS_BY_KEY.values())
# Accounting and Broker Relations at 5: the fixture's 15 % spreads pay at these fees.
SKILLED = "sales_tax=0.036&broker_fee=0.015"


@pytest.fixture
def desk():
    """Thirty costly items (hundreds of millions of ISK, a few dozen units a day: wide numbers)
    at every hub, one with the longest kind of name EVE has; each hub pays more than the one
    before it, so every trip between them has something to haul."""
    caches_clear()
    for n in range(30):
        type_id = 100 + n
        market_type(type_id, LONG_NAME if n == 0 else f"Republic Fleet Item Number {n}")
        # Traded at every hub: hauling's default view leaves out rows nobody trades at their end.
        for hub in HUBS:
            daily_volume(hub.region_id, type_id, "48")
    for step, hub in enumerate(HUBS):
        rows = []
        for n in range(30):
            bid = 100_000_000 + n * 1_000_000 + step * 40_000_000
            rows += [
                order(100 + n, bid, 1000, buy=True, hub=hub),
                order(100 + n, bid * 115 // 100, 1000, hub=hub),
            ]
        book_store(hub.region_id, rows)
    yield
    caches_clear()


def shoot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


# The header cell (and a body cell) of each key column must sit inside the table's visible box.
IN_VIEW = """([table, labels]) => {
  const rows = document.querySelector(table);
  const box = rows.closest(".table-wrap").getBoundingClientRect();
  const heads = [...rows.querySelectorAll("thead th")];
  const out = {};
  for (const label of labels) {
    const i = heads.findIndex((th) => th.textContent.trim().replace(/ [▾▴]$/, "") === label);
    if (i < 0) { out[label] = "missing"; continue; }
    const cell = rows.querySelector("tbody tr").children[i];
    const seen = [heads[i], cell].every((el) => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.left >= box.left - 1 && r.right <= Math.min(box.right, innerWidth) + 1;
    });
    out[label] = seen ? "visible" : "hidden";
  }
  return out;
}"""


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
@pytest.mark.parametrize(
    ("path", "table", "keys"),
    [
        (
            f"/market/trading/?{SKILLED}",
            "#trading-rows",
            ["Item", "Profit / unit", "Margin", "Profit / day"],
        ),
        (
            f"/market/trading/?{SKILLED}&sort=-best_bid",
            "#trading-rows",
            ["Item", "Profit / unit", "Bid"],
        ),
        (
            f"/market/trading/?{SKILLED}&sort=sales_tax",
            "#trading-rows",
            ["Item", "Margin", "Sales tax"],
        ),
        # Every row flagged (at skill-0 fees a 15 % spread loses money): badges in the item cell.
        (
            "/market/trading/?include_flagged=1",
            "#trading-rows",
            ["Item", "Profit / unit", "Margin", "Profit / day"],
        ),
        (
            "/market/hauling/?from_station_id=&to_station_id=",
            "#hauling-rows",
            ["Item", "Net profit"],
        ),
        (
            "/market/hauling/?from_station_id=&to_station_id=&sort=-jumps",
            "#hauling-rows",
            ["Item", "Net profit", "Jumps"],
        ),
        ("/market/hauling/", "#hauling-rows", ["Item", "Net profit", "ROI"]),
    ],
    ids=[
        "trading",
        "trading-by-bid",
        "trading-by-tax",
        "trading-flagged",
        "any-hub",
        "any-hub-by-jumps",
        "one-trip",
    ],
)
def test_desk_tables_fit_with_their_key_columns_in_view(page, desk, viewport, path, table, keys):
    page.set_viewport_size(viewport)
    page.goto(path)
    expect(page.locator(f"{table} tbody tr").first).to_be_visible()
    name = f"{path.split('/')[2]}-{path.split('sort=')[-1] if 'sort=' in path else 'default'}"
    shoot(page, f"{name}-{'any' if 'from_station_id=&' in path else 'one'}-{viewport['width']}")
    assert page.evaluate(OVERFLOW) <= 0
    assert page.evaluate(IN_VIEW, [table, keys]) == dict.fromkeys(keys, "visible")


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_a_long_item_name_is_cut_short_with_the_whole_name_on_hover(page, desk, viewport):
    page.set_viewport_size(viewport)
    page.goto(f"/market/trading/?sort=type_name&{SKILLED}")
    link = page.locator("#trading-rows tbody th a", has_text="Capital Ship")
    expect(link).to_have_attribute("title", LONG_NAME)
    cell = link.locator("xpath=ancestor::th[1]")
    # One line, not a tower of wrapped words pushing the numbers down.
    assert cell.bounding_box()["height"] < 40
    # A flagged row's badges sit beside the name; a phone puts them under it, one line more.
    page.goto("/market/trading/?sort=type_name&include_flagged=1")
    cell = page.locator("#trading-rows tbody th", has_text="Capital Ship")
    expect(cell.locator("mark.flag")).to_have_text(["loses money"])
    assert cell.bounding_box()["height"] < (40 if viewport is LAPTOP else 60)
    page.goto("/market/hauling/?from_station_id=&to_station_id=&sort=type_name")
    expect(page.locator("#hauling-rows tbody th a").first).to_have_attribute("title", LONG_NAME)
    assert page.evaluate(OVERFLOW) <= 0
