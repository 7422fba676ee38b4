"""The stock dashboard: a cell per store on each want row, live rows, "where to buy", store picker."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from stores.adapters import Listing
from stores.availability import CheckState, buy_plan, cover_cost, stock_cell
from stores.models import CheckResult, PreferredStore, Printing, Set
from tests.fixtures import HTMX

pytestmark = pytest.mark.django_db


def listing(price: str, quantity: int | None = 1, **more) -> Listing:
    values = {
        "name": "Mystic Snake",
        "set_name": "Masters 25",
        "set_code": "a25",
        "collector_number": "208",
        "finish": "nonfoil",
        "condition": "NM",
        "language": "en",
        "price": Decimal(price),
        "currency": "GBP",
        "quantity": quantity,
        "url": "https://shop.example/products/mystic-snake",
        "in_stock": quantity is None or quantity > 0,
        **more,
    }
    return Listing(**values)


def answered(store, card, *listings: Listing, pending: bool = False) -> CheckResult:
    return CheckResult.objects.create(
        store=store,
        card=card,
        status="ok",
        listings=[x.as_dict() for x in listings],
        checked_at=timezone.now(),
        queued_at=timezone.now() if pending else None,
    )


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode()).strip()


def cells(html: str, want_id: int) -> list[str]:
    row = re.search(rf'<tr id="want-{want_id}".*?</tr>', html).group(0)
    return [
        re.sub(r"<[^>]+>", "", c).strip()
        for c in re.findall(r'<td class="stock [^"]*"[^>]*>(.*?)</td>', row)
    ]


@pytest.fixture
def shopper(client, user, shops, prefer):
    """Alice, signed in, buying at every replay store."""
    prefer(user, *shops.values())
    client.force_login(user)
    return client


# --- the cells ----------------------------------------------------------------------------------
def test_each_row_shows_the_cheapest_matching_copy_or_why_not_per_store(
    shopper, user, shops, want, card
):
    wanted = want(user, "Mystic Snake", 2, worst_condition="LP")
    snake = card("Mystic Snake")
    answered(
        shops["dice-saloon"],
        snake,
        listing("0.80", quantity=0),  # sold out
        listing("0.50", condition="MP"),  # too played
        listing("1.10", quantity=None),
        listing("1.40", quantity=2, condition="LP", finish="foil"),
    )
    answered(shops["harlequins"], snake, listing("0.90", quantity=0))
    CheckResult.objects.create(store=shops["lvl-up-gaming"], card=snake, queued_at=timezone.now())
    CheckResult.objects.create(
        store=shops["skyward-fire"],
        card=snake,
        status="failed",
        error="the store asks for a captcha",
    )

    html = text(shopper.get("/stores/"))

    headers = re.findall(r'<th scope="col" class="store"[^>]*>([^<]*)</th>', html)
    assert headers == ["Dice Saloon", "Harlequins", "Lvl Up Gaming", "Skyward Fire", "Troll Trader"]
    assert cells(html, wanted.pk) == [
        # The price shown buys the copies shown; the dearer ones say their price.
        "£1.10 NM · 1+ · +2 at £1.40",
        "not in stock",
        "checking…",
        "check failed the store asks for a captcha",
        "not checked yet",
    ]
    assert 'href="https://shop.example/products/mystic-snake"' in html


def test_a_printing_the_set_settles_matches_at_a_store_that_lists_no_numbers(
    shopper, user, shops, want, card
):
    """Crystal Commerce pages never give collector numbers. Masters 25 has one Mystic Snake
    (208): a listing of that set is that printing, so an Arena line's "(A25) 208" finds it.
    Once the catalog knows a second Mystic Snake in the set, the set no longer says which."""
    snake = card("Mystic Snake")
    a25 = Set.objects.get(code="a25")
    wanted = want(user, "Mystic Snake", 1, set=a25, collector_number="208")
    answered(shops["harlequins"], snake, listing("0.25", collector_number=""))

    assert cells(text(shopper.get("/stores/")), wanted.pk)[1] == "£0.25 NM · 1"

    Printing.objects.create(
        scryfall_id=uuid.uuid4(), card=snake, set=a25, collector_number="208s", lang="en"
    )
    assert cells(text(shopper.get("/stores/")), wanted.pk)[1] == "not in stock"


def test_a_cell_counts_the_copies_its_price_buys_and_prices_the_rest(
    shopper, user, shops, want, card
):
    wanted = want(user, "Mystic Snake", 4)
    snake = card("Mystic Snake")
    answered(
        shops["dice-saloon"],
        snake,
        listing("0.40", quantity=1, condition="LP"),
        listing("0.25", quantity=2),
        listing("0.25", quantity=1, set_name="Masters 25", collector_number="208a"),
    )
    answered(
        shops["harlequins"],
        snake,
        *(listing(price, quantity=1) for price in ("0.10", "0.20", "0.30", "0.40", "2.00")),
        listing("1.00", quantity=None),
    )
    html = text(shopper.get("/stores/"))
    dice, harlequins = cells(html, wanted.pk)[:2]
    assert dice == "£0.25 NM · 3 · +1 at £0.40"
    assert harlequins == "£0.10 NM · 1 · +1 at £0.20 · +1 at £0.30 · +3+ more up to £2.00"


@pytest.mark.embedded
def test_price_tiers_group_copies_by_price_cheapest_first():
    from stores.availability import price_tiers

    tiers = price_tiers([listing("0.40", 1), listing("0.25", 2), listing("0.25", None)])
    assert [(t.price, t.copies, t.unsure) for t in tiers] == [
        (Decimal("0.25"), 3, True),
        (Decimal("0.40"), 1, False),
    ]


def test_a_row_polls_only_while_a_check_is_running(shopper, user, shops, want, card):
    wanted = want(user, "Mystic Snake")
    result = answered(shops["harlequins"], card("Mystic Snake"), listing("0.90"), pending=True)
    html = text(shopper.get("/stores/"))
    assert f'hx-get="/stores/wants/{wanted.pk}/" hx-trigger="every 2s"' in html
    assert "rechecking…" in html  # the last answer stays while the new one is on its way
    assert 'hx-trigger="wants-changed from:body, every 2s" data-poll' in html  # STORE_POLL_SECONDS
    # Both rest while the tab is hidden (lenny.js holds back requests from [data-poll]).
    assert re.search(rf'<tr id="want-{wanted.pk}"[^>]*data-pending data-poll>', html)

    CheckResult.objects.filter(pk=result.pk).update(queued_at=None)
    row = text(shopper.get(f"/stores/wants/{wanted.pk}/", **HTMX))
    assert row.startswith(f'<tr id="want-{wanted.pk}" class="want" >') and "every 2s" not in row
    assert "£0.90" in row
    summary = text(shopper.get("/stores/stock/summary", **HTMX))
    assert 'hx-trigger="wants-changed from:body"' in summary and "every 2s" not in summary


def test_a_check_lost_with_its_worker_stops_the_polling(shopper, user, shops, want, card, settings):
    wanted = want(user, "Mystic Snake")
    lost = timezone.now() - timedelta(seconds=settings.STORE_CHECK_LOST_AFTER + 5)
    CheckResult.objects.create(store=shops["harlequins"], card=card("Mystic Snake"), queued_at=lost)
    row = text(shopper.get(f"/stores/wants/{wanted.pk}/", **HTMX))
    assert "every 2s" not in row and "not checked yet" in row


def test_without_stores_the_page_says_where_to_pick_them(client, user, want, catalog):
    want(user, "Mystic Snake")
    client.force_login(user)
    html = text(client.get("/stores/"))
    assert "Pick the stores you buy from" in html and '<td class="stock' not in html


# --- where to buy -------------------------------------------------------------------------------
def test_where_to_buy_picks_the_cheapest_store_that_has_them_all(shopper, user, shops, want, card):
    want(user, "Mystic Snake", 3)
    want(user, "Mox Pearl", 1)
    want(user, "Black Lotus", 2)
    snake, pearl, lotus = card("Mystic Snake"), card("Mox Pearl"), card("Black Lotus")
    answered(shops["harlequins"], snake, listing("1.00", quantity=2))  # cheap, but only 2
    answered(shops["dice-saloon"], snake, listing("1.20", quantity=1), listing("1.30", quantity=5))
    answered(shops["troll-trader"], snake, listing("1.50", quantity=3))
    answered(shops["harlequins"], pearl, listing("9000.00", quantity=1, name="Mox Pearl"))
    answered(shops["dice-saloon"], lotus, listing("12000.00", quantity=1, name="Black Lotus"))

    html = text(shopper.get("/stores/stock/summary", **HTMX))

    assert (
        '<th scope="row">Mystic Snake</th><td class="num">3</td><td>Dice Saloon</td><td class="num">£3.80</td>'
        in html
    )
    assert '<td>Harlequins</td><td class="num">£9,000.00</td>' in html
    assert "no store has 2: Dice Saloon has 1 for £12,000.00" in html
    assert '<strong>Harlequins</strong>: 1 card, 1 copy, <span class="num">£9,000.00</span>' in html
    assert '<strong>Dice Saloon</strong>: 1 card, 3 copies, <span class="num">£3.80</span>' in html


@pytest.mark.embedded
def test_buying_cheapest_first_counts_unknown_stock_as_one_copy():
    offers = [
        listing("2.00", quantity=5),
        listing("1.00", quantity=None),
        listing("1.50", quantity=1),
    ]
    assert cover_cost(offers, 3) == (Decimal("4.50"), 3)
    assert cover_cost(offers, 10) == (Decimal("12.50"), 7)
    plan = buy_plan(
        [
            (1, "Mystic Snake", 3, {"a": offers, "b": [listing("1.40", quantity=3)]}),
            (2, "Mox Pearl", 2, {"a": [listing("5.00", quantity=None)], "b": []}),
        ]
    )
    assert [(p.card_name, p.store, p.total) for p in plan.purchases] == [
        ("Mystic Snake", "b", Decimal("4.20"))
    ]
    assert [(name, partial.store, partial.copies) for _, name, _, partial in plan.uncovered] == [
        ("Mox Pearl", "a", 1)
    ]
    assert [(t.store, t.total, t.cards, t.copies) for t in plan.totals] == [
        ("b", Decimal("4.20"), 1, 3)
    ]


@pytest.mark.embedded
def test_a_cell_never_takes_a_failed_or_pending_check_for_out_of_stock():
    criteria = {"name": "Mystic Snake", "specs": []}
    in_stock = CheckState("ok", [listing("1.00")])
    assert stock_cell(store_id=1, criteria=criteria, state=None).state == "unchecked"
    assert (
        stock_cell(store_id=1, criteria=criteria, state=CheckState("never", pending=True)).state
        == "pending"
    )
    assert (
        stock_cell(store_id=1, criteria=criteria, state=CheckState("failed", error="x")).state
        == "failed"
    )
    assert (
        stock_cell(store_id=1, criteria=criteria, state=CheckState("failed", pending=True)).state
        == "pending"
    )
    assert (
        stock_cell(
            store_id=1, criteria=criteria, state=CheckState("ok", [listing("1.00", 0)])
        ).state
        == "none"
    )
    cell = stock_cell(store_id=1, criteria=criteria, state=in_stock)
    assert (cell.state, cell.best.price, cell.copies) == ("offer", Decimal("1.00"), 1)


# --- whose data ---------------------------------------------------------------------------------
def test_another_users_rows_and_stores_are_not_mine_to_see(
    shopper, user, other_user, shops, want, card
):
    theirs = want(other_user, "Black Lotus")
    PreferredStore.objects.filter(user=user, store=shops["troll-trader"]).delete()
    PreferredStore.objects.create(user=other_user, store=shops["troll-trader"])
    answered(shops["troll-trader"], card("Black Lotus"), listing("12000.00", name="Black Lotus"))

    assert shopper.get(f"/stores/wants/{theirs.pk}/", **HTMX).status_code == 404
    assert (
        shopper.post(f"/stores/wants/{theirs.pk}/amount", {"amount": 3}, **HTMX).status_code == 404
    )
    html = text(shopper.get("/stores/")) + text(shopper.get("/stores/stock/summary"))
    assert "Black Lotus" not in html and "12,000" not in html and "Troll Trader" not in html


# --- picking stores -----------------------------------------------------------------------------
def test_the_account_page_picks_my_stores_and_checks_my_cards_there(
    client, user, other_user, shops, want, django_capture_on_commit_callbacks
):
    want(user, "Mystic Snake")
    PreferredStore.objects.create(user=other_user, store=shops["harlequins"])
    client.force_login(user)
    html = text(client.get("/account/"))
    assert 'id="preferred-stores"' in html and html.count('name="store"') == 5

    with django_capture_on_commit_callbacks() as queued:
        response = client.post(
            "/stores/preferred",
            {"store": [shops["harlequins"].pk, shops["dice-saloon"].pk]},
            **HTMX,
        )
    assert response.status_code == 200 and "Saved." in text(response)
    assert set(PreferredStore.objects.filter(user=user).values_list("store__name", flat=True)) == {
        "Harlequins",
        "Dice Saloon",
    }
    assert len(queued) == 2  # Mystic Snake, at each new store
    assert CheckResult.objects.filter(queued_at__isnull=False).count() == 2

    client.post("/stores/preferred", {"store": [shops["dice-saloon"].pk]})
    assert list(PreferredStore.objects.filter(user=user).values_list("store__name", flat=True)) == [
        "Dice Saloon"
    ]
    # Someone else's choice is theirs.
    assert PreferredStore.objects.filter(user=other_user).count() == 1


def test_the_picker_refuses_what_is_not_a_store(client, user, shops):
    client.force_login(user)
    for hostile in ["1 OR 1=1", "²", "<svg onload=alert()>", "9" * 40]:
        response = client.post("/stores/preferred", {"store": [hostile]})
        assert response.status_code == 400, hostile
        assert response["Content-Type"] == "text/plain; charset=utf-8"  # never read as a page
    inactive = shops["troll-trader"]
    inactive.active = False
    inactive.save()
    response = client.post("/stores/preferred", {"store": [inactive.pk, 999999]}, follow=True)
    assert "no longer checked: it was left out" in text(response)
    response = client.post(
        "/stores/preferred", {"store": [inactive.pk]}, headers={"HX-Request": "true"}
    )
    assert "no longer checked: it was left out" in text(response)
    assert not PreferredStore.objects.filter(user=user).exists()


def test_the_picker_needs_the_csrf_token(user, shops):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post("/stores/preferred", {"store": [shops["harlequins"].pk]}).status_code == 403
    assert not PreferredStore.objects.exists()


def test_check_now_queues_only_my_stale_cards(
    shopper, user, want, django_capture_on_commit_callbacks
):
    want(user, "Mystic Snake")
    with django_capture_on_commit_callbacks():
        response = shopper.post("/stores/stock/check", follow=True)
    assert "Checking at your stores: 5 checks queued" in text(response)  # 1 card at 5 stores
    with django_capture_on_commit_callbacks():
        response = shopper.post("/stores/stock/check", follow=True)
    assert "Every card was checked in the last 30 minutes or is being checked now" in text(response)


def test_check_now_says_what_is_missing_when_there_is_nothing_to_check(client, user, shops):
    client.force_login(user)
    response = client.post("/stores/stock/check", follow=True)
    assert "Pick the stores you buy from first" in text(response)
    PreferredStore.objects.create(user=user, store=shops["harlequins"])
    response = client.post("/stores/stock/check", follow=True)
    assert "Your want list is empty: add a card first." in text(response)


def test_healthz_tells_which_stores_fail(admin_client, shops, card, result_of, upstreams):
    from stores.checks import check_run
    from stores.replay import site_fault

    site_fault(upstreams, "harlequins", "captcha")
    check_run(result_id=result_of(shops["harlequins"], card("Mystic Snake")).pk)
    report = admin_client.get("/healthz").json()["stores"]  # details are for staff
    assert report["stores"]["Harlequins"]["ok"] is False
    assert report["stores"]["Harlequins"]["last_error"].startswith("captcha: ")
    assert report["stores"]["Dice Saloon"]["ok"] is None


# --- spec chips -----------------------------------------------------------------------------------
def test_a_max_price_chip_shows_the_stores_currency(shopper, user, shops, want):
    # The cap is kept in major units (it is compared with store prices as they print them).
    wanted = want(user, "Black Lotus", 1, worst_condition="NM", max_price=Decimal("4500.00"))
    html = text(shopper.get("/stores/"))
    assert "NM only · ≤ £4,500.00" in html and "≤ 4500.00" not in html
    row = text(shopper.get(f"/stores/wants/{wanted.pk}/", **HTMX))
    assert "≤ £4,500.00" in row


def test_without_one_currency_a_max_price_chip_is_a_plain_amount(client, user, shops, want):
    shops["harlequins"].currency = "USD"
    shops["harlequins"].save()
    PreferredStore.objects.create(user=user, store=shops["harlequins"])
    PreferredStore.objects.create(user=user, store=shops["dice-saloon"])
    want(user, "Black Lotus", 1, max_price=Decimal("45"))
    client.force_login(user)
    assert "≤ 45.00" in text(client.get("/stores/"))
