"""Restock and price alerts: one in-app alert and one e-mail per change, never one per check."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from stores.alerts import alert_email
from stores.checks import check_run
from stores.models import StockAlert
from stores.replay import site_fault
from stores.tests.factories import offer

pytestmark = pytest.mark.django_db


@pytest.fixture
def recheck(shops, result_of, card, django_capture_on_commit_callbacks):
    """recheck(slug, card name): ask the store again now, as the next scheduled check would."""

    def run(slug: str, name: str = "Mystic Snake"):
        with django_capture_on_commit_callbacks(execute=True):
            return check_run(result_id=result_of(shops[slug], card(name)).pk, refresh=True)

    return run


@pytest.fixture
def alice_wants_snakes(user, shops, prefer, want):
    prefer(user, shops["harlequins"], shops["dice-saloon"])
    return want(user, "Mystic Snake", 2)


def test_a_restock_raises_one_alert_and_one_email_not_one_per_check(
    alice_wants_snakes, stock, recheck, mailoutbox, user
):
    stock("harlequins", "Mystic Snake", offer(price="0.95", quantity=0))
    recheck("harlequins")
    assert StockAlert.objects.count() == 0  # out of stock: nothing to say

    stock("harlequins", "Mystic Snake", offer(price="0.95", quantity=3, condition="LP"))
    assert recheck("harlequins").alerts == 1
    recheck("harlequins")
    recheck("harlequins")

    alert = StockAlert.objects.get()
    assert alert.user == user and alert.kind == "restock"
    assert alert.message == (
        "Mystic Snake is back in stock at Harlequins: £0.95, Lightly Played (Masters 25)"
    )
    assert (alert.price, alert.quantity, alert.condition) == (Decimal("0.95"), 3, "LP")
    assert alert.url.startswith("http://127.0.0.1:") and "/stores/harlequins/catalog/" in alert.url
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["alice@example.com"]
    assert mail.subject == f"Lenny: {alert.message}"
    assert "3 in stock" in mail.body and alert.url in mail.body and "/stores/" in mail.body
    assert alert_email(alert_id=alert.pk) is False  # sent once, even if asked again
    assert len(mailoutbox) == 1


def test_it_alerts_again_only_after_the_card_went_away(alice_wants_snakes, stock, recheck):
    for quantity in (0, 1, 1, 0, 0, 2):
        stock("dice-saloon", "Mystic Snake", offer(price="1.20", quantity=quantity))
        recheck("dice-saloon")
    assert StockAlert.objects.count() == 2


def test_dropping_under_the_max_price_is_a_price_alert(user, shops, prefer, want, stock, recheck):
    prefer(user, shops["troll-trader"])
    want(user, "Mystic Snake", max_price=Decimal("1.00"))
    stock("troll-trader", "Mystic Snake", offer(price="1.40", quantity=2))
    recheck("troll-trader")
    stock("troll-trader", "Mystic Snake", offer(price="1.25", quantity=2))
    recheck("troll-trader")
    assert StockAlert.objects.count() == 0  # in stock, but over the max price

    stock("troll-trader", "Mystic Snake", offer(price="0.90", quantity=2))
    recheck("troll-trader")
    alert = StockAlert.objects.get()
    assert alert.kind == "price" and "dropped under your max price" in alert.message


def test_a_copy_the_want_does_not_accept_raises_nothing(user, shops, prefer, want, stock, recheck):
    prefer(user, shops["harlequins"])
    want(user, "Mystic Snake", finish="foil", worst_condition="NM")
    stock("harlequins", "Mystic Snake", offer(quantity=0))
    recheck("harlequins")
    stock(
        "harlequins",
        "Mystic Snake",
        offer(quantity=2),  # not foil
        offer(quantity=1, finish="foil", condition="MP"),  # foil, too played
        offer("Masters 25 Art Series", "", "", quantity=5, extra="Art Card"),
    )
    recheck("harlequins")
    assert StockAlert.objects.count() == 0
    stock("harlequins", "Mystic Snake", offer(quantity=1, finish="foil", condition="NM"))
    recheck("harlequins")
    assert StockAlert.objects.get().finish == "foil"


def test_the_first_answer_after_adding_a_card_is_not_news(
    alice_wants_snakes, stock, recheck, user, want
):
    pearl = offer("Limited Edition Alpha", "lea", "263", price="9000", quantity=0)
    stock("harlequins", "Mox Pearl", pearl)
    recheck("harlequins", "Mox Pearl")  # someone else's card, checked before Alice wanted it
    want(user, "Mox Pearl")
    stock("harlequins", "Mox Pearl", {**pearl, "quantity": 1})
    recheck("harlequins", "Mox Pearl")
    assert StockAlert.objects.count() == 0  # what she sees when she adds it, not a change

    for quantity in (0, 1):
        stock("harlequins", "Mox Pearl", {**pearl, "quantity": quantity})
        recheck("harlequins", "Mox Pearl")
    assert StockAlert.objects.get().wanted.card.name == "Mox Pearl"


def test_a_failed_check_in_between_is_not_a_restock(alice_wants_snakes, stock, recheck, upstreams):
    stock("harlequins", "Mystic Snake", offer(quantity=2))
    recheck("harlequins")
    site_fault(upstreams, "harlequins", "layout", times=1)
    assert recheck("harlequins").status == "failed"
    assert recheck("harlequins").status == "ok"
    assert StockAlert.objects.count() == 0


def test_only_people_who_buy_at_the_store_hear_about_it(
    alice_wants_snakes, other_user, want, stock, recheck, mailoutbox
):
    want(other_user, "Mystic Snake")  # wants it too, but buys elsewhere
    stock("harlequins", "Mystic Snake", offer(quantity=0))
    recheck("harlequins")
    stock("harlequins", "Mystic Snake", offer(quantity=1))
    recheck("harlequins")
    assert [a.user.username for a in StockAlert.objects.all()] == ["alice"]


def test_someone_without_an_email_address_gets_the_alert_in_the_app(
    other_user, shops, prefer, want, stock, recheck, mailoutbox
):
    prefer(other_user, shops["harlequins"])
    want(other_user, "Mystic Snake")
    stock("harlequins", "Mystic Snake", offer(quantity=0))
    recheck("harlequins")
    stock("harlequins", "Mystic Snake", offer(quantity=1))
    recheck("harlequins")
    alert = StockAlert.objects.get()
    assert alert.user == other_user and alert.emailed_at is None
    assert mailoutbox == []


# --- the alerts page ----------------------------------------------------------------------------
def make_alert(owner, wanted, store, message: str, **copy) -> StockAlert:
    return StockAlert.objects.create(
        user=owner,
        wanted=wanted,
        store=store,
        kind="restock",
        message=message,
        price=Decimal("2.00"),
        currency="GBP",
        **copy,
    )


def test_the_alerts_page_lists_mine_and_marks_them_read(client, user, other_user, shops, want):
    mine = make_alert(
        user,
        want(user, "Mox Pearl"),
        shops["harlequins"],
        "Mox Pearl is back in stock",
        condition="LP",
        finish="foil",
        set_name="Alpha",
        quantity=3,
        url="https://shop.example/mox-pearl",
    )
    make_alert(
        other_user, want(other_user, "Mox Jet"), shops["harlequins"], "Mox Jet is back in stock"
    )
    client.force_login(user)

    page = re.sub(r"\s+", " ", client.get("/stores/alerts/").content.decode())
    assert "Mox Pearl" in page and "Mox Jet" not in page
    row = re.search(r'<tr class="alert restock unread".*?</tr>', page).group()
    assert '<strong>Mox Pearl</strong> <span class="good">new</span>' in row
    assert "back in stock at Harlequins" in row and "Lightly Played · foil" in row
    assert "Alpha · 3 in stock" in row
    assert '<a href="https://shop.example/mox-pearl" target="_blank"' in row and "£2.00" in row
    assert "(1 new)" in client.get("/stores/").content.decode()

    # "Mark all as read" swaps the list in place.
    response = client.post("/stores/alerts/read", headers={"HX-Request": "true"})
    swapped = response.content.decode()
    assert response.status_code == 200 and swapped.lstrip().startswith('<section id="alert-list">')
    assert "Mox Pearl" in swapped and "unread" not in swapped and "<html" not in swapped
    mine.refresh_from_db()
    assert mine.read_at is not None
    assert StockAlert.objects.filter(read_at=None).count() == 1  # the other user's
    page = client.get("/stores/alerts/").content.decode()
    assert "unread" not in page and "(1 new)" not in client.get("/stores/").content.decode()
    assert client.post("/stores/alerts/read")["Location"] == "/stores/alerts/"  # without htmx


def test_what_a_store_page_said_stays_text_on_the_alerts_page(client, user, shops, want):
    make_alert(
        user,
        want(user, "Mox Pearl"),
        shops["harlequins"],
        "Mox Pearl <script>alert(1)</script>",
        set_name="<img src=x onerror=alert(1)>",
    )
    client.force_login(user)
    page = client.get("/stores/alerts/").content.decode()
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
