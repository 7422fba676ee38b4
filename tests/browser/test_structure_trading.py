"""A trader picks the Perimeter tower (a tracked player structure) in station trading's selector in
a real browser: the table is swapped for the tower's own book, the URL says so, and the item
page it links to shows the tower beside the hubs."""

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from market.ingest import snapshot_store
from market.models import Structure
from market.queries import caches_clear
from market.tests.factories import FORGE, JITA, book_store, daily_volume, market_type, order

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

TTT = 1028858195912
TTT_NAME = "Perimeter - Tranquility Trading Tower"
PERIMETER = 30000144


@pytest.fixture
def perimeter():
    """Tritanium at Jita 5.00/6.00; at the tower 4.00/4.60 (its own book)."""
    caches_clear()
    market_type(34, "Tritanium")
    daily_volume(JITA.region_id, 34, "1000000")
    book_store(JITA.region_id, [order(34, "5.00", 100_000, buy=True), order(34, "6.00", 100_000)])
    Structure.objects.create(
        structure_id=TTT, name=TTT_NAME, solar_system_id=PERIMETER, region_id=FORGE
    )
    at = (timezone.now() - timedelta(minutes=2)).replace(microsecond=0)
    tower = [
        order(34, "4.00", 200_000, buy=True, location_id=TTT, system_id=PERIMETER),
        order(34, "4.60", 200_000, location_id=TTT, system_id=PERIMETER),
    ]
    snapshot_store(
        region_id=FORGE,
        structure_id=TTT,
        pages=[json.dumps(tower).encode()],
        last_modified=at,
        expires=at + timedelta(minutes=5),
    )
    caches_clear()
    yield
    caches_clear()


def test_picking_the_tower_in_the_selector_shows_its_own_book(page, perimeter):
    page.goto("/market/trading/?include_flagged=1")
    rows = page.locator("#trading-rows tbody tr")
    tritanium = rows.filter(has_text="Tritanium")
    expect(tritanium).to_contain_text("5.00")

    selector = page.get_by_label("Hub")
    expect(selector.locator("optgroup[label='Player structures'] option")).to_have_text([TTT_NAME])
    selector.select_option(label=TTT_NAME)

    expect(page).to_have_url(re.compile(rf"station_id={TTT}"))
    # The heading and the tab's title, outside the swapped table, name the tower too.
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tranquility Trading Tower")
    expect(page).to_have_title(re.compile(r"Station trading · .*Tranquility Trading Tower"))
    expect(tritanium).to_contain_text("4.00")
    expect(tritanium).to_contain_text("4.60")
    expect(page.locator("#trading-table p.age")).to_contain_text(f"{TTT_NAME}: orders")

    # The item's link keeps the tower: its page shows the tower's book beside the hubs.
    tritanium.get_by_role("link", name="Tritanium").click()
    expect(page).to_have_url(re.compile(rf"/market/types/34/\?station_id={TTT}"))
    expect(page.locator("[data-summary='bid']")).to_have_text("4.00 ISK")
    quotes = page.locator("#hub-quotes")
    expect(quotes.locator(f"[data-structure='{TTT}']")).to_contain_text(TTT_NAME)
    expect(quotes.locator("tr", has_text="Jita")).to_contain_text("5.00")
