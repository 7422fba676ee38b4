"""The want list at a laptop's 1366 px and a phone's 390 px, in Chromium: no page-level sideways
scrolling, the card and its best price always in view, long errors wrapped with the full text
on hover. Screenshots go to $LENNY_SCREENSHOTS when it is set (to look at them)."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from stores.catalog import catalog_import
from stores.models import Card, CheckResult, PreferredStore, Store, WantedCard
from stores.replay import SITES
from stores.tests.factories import SCRYFALL
from stores.wants import wanted_card_merge
from tests.browser.layout import OVERFLOW

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

LONG_ERROR = (
    "Harlequins: redirected to another host: https://cdn.example-games-shop.com/"
    "search-results-moved-permanently/" + "x" * 180 + "?q=Turntimber+Symbiosis&session=abc"
)


def _listing(price: str, quantity: int, condition: str = "NM") -> dict:
    return {
        "name": "Mystic Snake", "set_name": "Masters 25", "set_code": "a25",
        "collector_number": "208", "finish": "nonfoil", "condition": condition,
        "language": "en", "price": price, "currency": "GBP", "quantity": quantity,
        "url": "https://shop.example/products/mystic-snake", "in_stock": quantity > 0,
    }  # fmt: skip


@pytest.fixture
def dashboard(page, live_server, client, user):
    for name in ("cards-sample.jsonl", "power9.jsonl"):
        catalog_import(path=SCRYFALL / name, progress=False)
    stores = [
        Store.objects.create(
            name=site.name, platform=site.platform, base_url=f"https://{slug}.example"
        )
        for slug, site in SITES.items()
    ]
    for store in stores:
        PreferredStore.objects.create(user=user, store=store)
    now = timezone.now()
    for name, amount in [
        ("Turntimber Symbiosis // Turntimber, Serpentine Wood", 2),
        ("Mystic Snake", 4),
        ("Black Lotus", 1),
    ]:
        wanted, _ = wanted_card_merge(owner=user, card=Card.objects.get(name=name), amount=amount)
        for store in stores:
            if store.name == "Harlequins":
                CheckResult.objects.create(
                    store=store, card=wanted.card, status="failed", error=LONG_ERROR
                )
            else:
                CheckResult.objects.create(
                    store=store, card=wanted.card, status="ok", checked_at=now,
                    listings=[_listing("0.25", 3), _listing("0.40", 1, "LP")],
                )  # fmt: skip
    lotus = WantedCard.objects.get(owner=user, card__name="Black Lotus")
    lotus.spec_add(worst_condition="NM", max_price=Decimal("4500.00"))
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )
    return page


def _shot(page, name: str) -> None:
    folder = os.environ.get("LENNY_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.mark.parametrize(
    "width,height", [(1366, 768), (390, 844)], ids=["laptop-1366", "phone-390"]
)
def test_the_dashboard_fits_and_keeps_the_card_and_best_price_in_view(dashboard, width, height):
    page = dashboard
    page.set_viewport_size({"width": width, "height": height})
    page.goto("/stores/")
    _shot(page, f"stores-dashboard-{width}")
    assert page.evaluate(OVERFLOW) <= 0
    if width >= 1366:
        # A laptop shows all five stores without scrolling the table.
        wrap = page.locator(".table-wrap:has(table.want-list)")
        assert wrap.evaluate("el => el.scrollWidth - el.clientWidth") <= 0

    row = page.locator("#want-rows tr.want", has_text="Mystic Snake")
    card = row.locator("th[scope=row]")
    best = row.locator("td.best")
    for key in (card, best):
        box = key.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, key
    assert "£0.25" in best.inner_text() and "Dice Saloon" in best.inner_text()

    # A long error wraps inside its cell (the full text is on hover), never widening the page.
    failed = page.locator("td.stock.failed").first
    assert failed.locator("[title]").first.get_attribute("title") == LONG_ERROR
    assert failed.bounding_box()["width"] <= 260


def test_the_import_preview_fits_a_phone(dashboard):
    page = dashboard
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/stores/wants/import?demo=1")
    page.get_by_role("button", name="Preview").click()
    page.wait_for_selector("#preview-title")
    _shot(page, "stores-import-preview-390")
    assert page.evaluate(OVERFLOW) <= 0
