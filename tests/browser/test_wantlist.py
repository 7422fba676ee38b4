from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from stores.catalog import catalog_import
from stores.models import Card, PreferredStore, StockAlert, Store, WantedCard
from stores.wants import wanted_card_merge
from tests.browser.layout import OVERFLOW

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

SAMPLES = Path(__file__).resolve().parents[2] / "stores" / "replay" / "data" / "scryfall"


@pytest.fixture
def alice_page(page, live_server, client, user):
    for name in ("cards-sample.jsonl", "power9.jsonl"):
        catalog_import(path=SAMPLES / name, progress=False)
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )
    page.goto("/stores/")
    # Set on the window: a page reload would lose it.
    page.evaluate("window.noReload = true")
    return page


def test_a_card_is_added_through_the_autocomplete_and_its_amount_edited_inline(alice_page, user):
    page = alice_page
    expect(page.get_by_text("You are not tracking any cards yet")).to_be_visible()
    page.get_by_label("Card", exact=True).press_sequentially("myst", delay=40)
    page.locator(".autocomplete [role=option]", has_text="Mystic Snake").click()
    expect(page.get_by_label("Card", exact=True)).to_have_value("Mystic Snake")
    expect(page.locator(".autocomplete ul.suggestions")).to_have_count(0)
    page.get_by_label("Amount", exact=True).fill("3")
    page.get_by_role("button", name="Add", exact=True).click()

    row = page.locator("#want-rows tr.want", has_text="Mystic Snake")
    expect(row.get_by_label("Amount of Mystic Snake")).to_have_value("3")
    expect(page.get_by_text("Added 3 copies of Mystic Snake.")).to_be_visible()
    expect(page.locator("#want-empty")).to_have_count(0)
    expect(page.get_by_label("Card", exact=True)).to_have_value("")

    amount = row.get_by_label("Amount of Mystic Snake")
    with page.expect_response("**/amount"):
        amount.fill("5")
        amount.press("Tab")
    expect(
        page.locator("#want-rows tr.want", has_text="Mystic Snake").get_by_label(
            "Amount of Mystic Snake"
        )
    ).to_have_value("5")
    assert WantedCard.objects.get(owner=user).amount == 5
    assert page.evaluate("window.noReload") is True


def test_the_keyboard_picks_a_suggestion_and_a_typo_offers_did_you_mean(alice_page, user):
    page = alice_page
    card = page.get_by_label("Card", exact=True)
    card.press_sequentially("black lo", delay=40)
    expect(page.locator(".autocomplete [role=option]").first).to_have_text("Black Lotus")
    card.press("ArrowDown")
    card.press("Enter")
    expect(card).to_have_value("Black Lotus")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#want-rows tr.want", has_text="Black Lotus")).to_be_visible()

    page.get_by_label("Card", exact=True).fill("Mystc Snake")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("No card named “Mystc Snake” in the catalog.")).to_be_visible()
    page.get_by_role("button", name="Mystic Snake").click()
    expect(page.locator("#want-rows tr.want", has_text="Mystic Snake")).to_be_visible()

    page.get_by_role("button", name="Remove Black Lotus").click()
    expect(page.locator("#want-rows tr.want", has_text="Black Lotus")).to_have_count(0)
    assert sorted(WantedCard.objects.filter(owner=user).values_list("card__name", flat=True)) == [
        "Mystic Snake"
    ]
    assert page.evaluate("window.noReload") is True


def test_the_suggestions_follow_every_keystroke_not_only_the_first_list(alice_page, user):
    """The want form swaps itself whole (outerHTML): the suggestions' box must not inherit that,
    or the first list replaces the box and every later keystroke has nowhere to go."""
    page = alice_page
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    card = page.get_by_label("Card", exact=True)
    options = page.locator(".autocomplete [role=option]")
    card.press_sequentially("mox", delay=40)
    expect(options.first).to_contain_text("Mox")
    first_list = options.all_text_contents()

    card.press_sequentially(" j", delay=40)
    expect(options.first).to_have_text("Mox Jet")
    expect(options).not_to_have_count(len(first_list))  # a new list, not the first one frozen

    card.press("Escape")
    card.fill("")
    card.press_sequentially("black lo", delay=40)
    expect(options.first).to_have_text("Black Lotus")
    assert errors == []


def _want(user, name: str, amount: int) -> None:
    card = Card.objects.filter(name=name).first()
    wanted_card_merge(owner=user, card=card, amount=amount)


def test_an_edit_after_the_session_ended_goes_to_the_login_page_not_into_the_row(alice_page, user):
    _want(user, "Mystic Snake", 1)
    page = alice_page
    page.reload()
    page.context.clear_cookies(name=settings.SESSION_COOKIE_NAME)  # logged out elsewhere

    amount = page.get_by_label("Amount of Mystic Snake")
    amount.fill("2")
    amount.press("Tab")

    page.wait_for_url("**/accounts/login/?next=%2Fstores%2F")
    expect(page.locator("h1")).to_have_count(1)
    assert WantedCard.objects.get(owner=user).amount == 1


def test_a_refused_edit_says_nothing_was_saved(alice_page, user):
    _want(user, "Mystic Snake", 1)
    page = alice_page
    page.reload()
    page.context.clear_cookies(name=settings.CSRF_COOKIE_NAME)  # the CSRF secret rotated

    amount = page.get_by_label("Amount of Mystic Snake")
    amount.fill("2")
    amount.press("Tab")

    notice = page.locator("#request-failed[role=alert]")
    expect(notice).to_contain_text("nothing was saved. Reload the page")
    assert WantedCard.objects.get(owner=user).amount == 1
    page.reload()
    amount = page.get_by_label("Amount of Mystic Snake")
    with page.expect_response("**/amount"):
        amount.fill("3")
        amount.press("Tab")
    expect(page.locator("#request-failed")).to_have_count(0)
    assert WantedCard.objects.get(owner=user).amount == 3


def test_the_want_list_pages_fit_a_phone_screen(alice_page, user):
    page = alice_page
    store = Store.objects.create(
        name="The Longest Named Card Shop In The Whole County",
        platform="shopify",
        base_url="https://shop.example",
        city="Llanfairpwllgwyngyll",
    )
    PreferredStore.objects.create(user=user, store=store)
    name = "Turntimber Symbiosis // Turntimber, Serpentine Wood"
    wanted, _ = wanted_card_merge(owner=user, card=Card.objects.get(name=name), amount=2)
    StockAlert.objects.create(
        user=user, wanted=wanted, store=store, kind="restock", message=f"{name} is back",
        price="2.40", currency="GBP", set_name="Zendikar Rising", quantity=3,
    )  # fmt: skip
    page.set_viewport_size({"width": 390, "height": 844})
    for url in ("/stores/", "/stores/alerts/", "/stores/wants/import", "/account/"):
        page.goto(url)
        # Wide tables scroll inside their own box; the page itself never scrolls sideways.
        assert page.evaluate(OVERFLOW) <= 0, url
    page.goto("/stores/")
    expect(page.get_by_label("Card", exact=True)).to_be_in_viewport()
    expect(page.get_by_role("button", name="Add", exact=True)).to_be_in_viewport()
