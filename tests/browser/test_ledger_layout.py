"""The ledger's pages fit a laptop (1366x768) and a phone (390x844) in a real browser: no
page-level sideways scroll, the item and its profit in view, long names cut short with the whole
name on hover; ages that keep counting; the orders page's e-mail hint beside, not over, its
toggle. Screenshots land in $LENNY_SHOTS (if set) for a person to look at."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.tests.factories import character_link_replay, upstreams_configure
from market.ledger.models import WalletTransaction
from market.ledger.sync import character_sync
from market.ledger.tests.factories import book_order, sde_sample_load, snapshot_land
from market.ledger.undercut import orders_undercut_check
from market.models import Type
from tests.browser.layout import OVERFLOW

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
SHOTS = os.environ.get("LENNY_SHOTS")
LONG_NAME = "Capital Ship Maintenance Bay Extended Logistics Prototype Field Component II"


@pytest.fixture
def demo_pilot(upstreams, settings, user):
    """The replay's demo pilot: a month of station trading in a dozen items (one renamed to the
    longest kind of name EVE has), synced through the replay ESI."""
    upstreams_configure(upstreams, settings)
    sde_sample_load()
    character = character_link_replay(upstreams, user)
    assert all(outcome.ok for outcome in character_sync(character=character))
    traded = (
        WalletTransaction.objects.filter(character=character, is_buy=True)
        .values_list("type_id", flat=True)
        .first()
    )
    Type.objects.filter(pk=traded).update(name=LONG_NAME)
    snapshot_land(
        [book_order(1, type_id=34, price="1.00")],
        last_modified=timezone.now().replace(microsecond=0) - timedelta(minutes=3),
    )
    orders_undercut_check(character=character)
    return character


def log_in(page, viewport) -> None:
    page.set_viewport_size(viewport)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct horse 9")
    page.get_by_role("button", name="Sign In").click()


def shoot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png")  # what fits the screen
        page.screenshot(path=f"{SHOTS}/{name}-full.png", full_page=True)


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1366", "390"])
def test_profit_by_item_fits_with_the_item_and_its_profit_in_view(page, demo_pilot, viewport):
    log_in(page, viewport)
    page.goto("/ledger/profit/?period=all")
    table = page.locator("#profit-by-item")
    expect(table).to_be_visible()
    shoot(page, f"profit-{viewport['width']}")
    if SHOTS:
        wrap = page.locator(".table-wrap", has=table)
        wrap.screenshot(path=f"{SHOTS}/profit-by-item-{viewport['width']}.png")

    assert page.evaluate(OVERFLOW) <= 0
    row = table.locator("tbody tr", has_text=LONG_NAME[:20]).first
    name = row.locator("th[scope=row] a")
    assert name.get_attribute("title") == LONG_NAME  # the whole name on hover
    width = viewport["width"]
    for cell in (name, row.locator("[data-profit]")):
        box = cell.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, box
    # Cut short with an ellipsis, not wrapped over several lines or pushed out of the table.
    assert name.evaluate("e => e.scrollWidth > e.clientWidth")
    assert name.evaluate("e => getComputedStyle(e).textOverflow") == "ellipsis"


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1366", "390"])
@pytest.mark.parametrize("path", ["/ledger/", "/ledger/transactions/", "/ledger/orders/"])
def test_the_other_ledger_pages_fit(page, demo_pilot, viewport, path):
    log_in(page, viewport)
    page.goto(path)
    expect(page.get_by_role("navigation", name="Ledger")).to_be_visible()
    shoot(page, f"{path.strip('/').replace('/', '-')}-{viewport['width']}")

    assert page.evaluate(OVERFLOW) <= 0


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1366", "390"])
def test_the_e_mail_hint_sits_apart_from_the_toggle_label(page, demo_pilot, user, viewport):
    user.email = ""
    user.save(update_fields=["email"])
    log_in(page, viewport)
    page.goto("/ledger/orders/")
    toggle = page.get_by_role("switch", name=re.compile("E-mail me"))
    hint = page.get_by_text(re.compile("no e-mail address"))
    expect(hint).to_be_visible()
    shoot(page, f"orders-hint-{viewport['width']}")

    label = page.locator("label", has=toggle).bounding_box()
    box = hint.bounding_box()
    overlap_x = min(label["x"] + label["width"], box["x"] + box["width"]) - max(
        label["x"], box["x"]
    )
    overlap_y = min(label["y"] + label["height"], box["y"] + box["height"]) - max(
        label["y"], box["y"]
    )
    assert overlap_x <= 0 or overlap_y <= 0, (label, box)
    assert page.evaluate(OVERFLOW) <= 0


def test_the_order_book_age_keeps_counting_between_table_swaps(page, demo_pilot):
    page.clock.install()
    log_in(page, LAPTOP)
    page.goto("/ledger/orders/")
    age = page.locator("#ledger-orders time[data-ago]").first
    expect(age).to_have_text("3 min ago")

    page.clock.fast_forward("05:00")  # the table's poll answers 204: nothing changed

    expect(age).to_have_text(re.compile(r"^(8|9) min ago$"))
