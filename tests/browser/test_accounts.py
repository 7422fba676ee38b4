"""A pilot logs in with EVE Online in a real browser, through the replay SSO, and manages characters."""

import re

import pytest
from playwright.sync_api import expect

from accounts.replay import DEMO_CHARACTER
from tests.browser.layout import OVERFLOW

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_a_pilot_logs_in_with_eve_and_manages_characters(page, eve_sso):
    page.goto("/accounts/login/")
    page.get_by_role("button", name="Log in with EVE Online").click()

    # Replay SSO approves at once and sends the browser back; Lenny signs the pilot up.
    page.wait_for_url(re.compile(r"/$"))
    main_nav = page.get_by_role("navigation", name="Main")
    main_nav.get_by_role("link", name="Account (lenny_demo_pilot)").click()
    page.wait_for_url("**/account/")
    expect(page.get_by_role("link", name="Lenny Demo Pilot")).to_be_visible()
    portrait = page.get_by_alt_text("Portrait of Lenny Demo Pilot")
    expect(portrait).to_be_visible()
    assert portrait.evaluate("img => img.complete && img.naturalWidth > 0")
    expect(page.get_by_text("esi-wallet.read_character_wallet.v1")).to_be_visible()

    eve_sso.state["sso"]["next_character"] = {"character_id": 90000001, "name": "Second Pilot"}
    page.get_by_role("button", name="Link another character").click()
    page.wait_for_url("**/account/")
    expect(page.get_by_role("link", name="Second Pilot")).to_be_visible()

    page.get_by_label("Accounting").select_option("5")
    page.get_by_label("Broker Relations").select_option("5")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()  # swapped in by htmx
    expect(page.locator('[data-fee="sales-tax"]')).to_have_text("3.6%")
    expect(page.locator('[data-fee="broker-fee"]')).to_have_text("1.5%")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("row", name=re.compile("Second Pilot")).get_by_role(
        "button", name="Unlink"
    ).click()
    expect(page.get_by_text("Second Pilot is unlinked")).to_be_visible()
    expect(page.get_by_role("link", name="Second Pilot")).to_have_count(0)
    expect(page.get_by_role("link", name="Lenny Demo Pilot")).to_be_visible()


def test_a_forged_token_is_refused_in_the_browser(page, eve_sso):
    eve_sso.state["sso"]["claims_override"] = {"aud": ["someone-else", "EVE Online"]}
    page.goto("/accounts/login/")
    page.get_by_role("button", name="Log in with EVE Online").click()
    expect(page.get_by_role("heading", name="EVE login failed")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("issued to another application")
    expect(page.get_by_role("link", name="Log in", exact=True)).to_be_visible()


def test_the_account_pages_fit_a_phone_screen(page, eve_sso):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/accounts/login/")
    page.get_by_role("button", name="Log in with EVE Online").click()
    page.wait_for_url(re.compile(r"/$"))
    character = f"/account/characters/{DEMO_CHARACTER['character_id']}/"
    for url in ("/account/", character, "/accounts/password/set/"):
        page.goto(url)
        # Wide tables scroll inside their own box; the page itself never scrolls sideways.
        assert page.evaluate(OVERFLOW) <= 0, url
    page.goto("/account/")
    portrait = page.get_by_alt_text("Portrait of Lenny Demo Pilot")
    assert portrait.bounding_box()["width"] == 48  # not squeezed out of its table cell
    page.goto(character)
    expect(page.get_by_text("esi-markets.read_character_orders.v1")).to_be_in_viewport()
