"""The open orders desk: undercut and outbid orders against a known snapshot, since when and by
how much, first on the page, refreshed when a snapshot lands, e-mailed once per episode."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import character_link_replay
from market.ledger.models import CharacterOrder, LedgerPreference
from market.ledger.replay import OrderLife, TradingHistory
from market.ledger.sync import character_endpoint_sync
from market.ledger.tests.factories import book_order, snapshot_land
from market.ledger.undercut import orders_undercut_check, undercut_compare

pytestmark = pytest.mark.django_db

HOUR = 3600
OTHER_STATION = 60003466  # Jita IV - Moon 6: same region, another station


@pytest.fixture
def pilot_in_jita(eve, user):
    """The pilot's open orders in Jita, synced from the replay ESI."""
    replay = eve.state["characters"]
    placed = replay.anchor - 2 * HOUR

    def order(order_id, type_id, price, *, is_buy=False, volume=1000):
        return OrderLife(order_id, type_id, is_buy, volume, [(placed, price)])

    replay.set_history(
        2112625428,
        TradingHistory(
            orders=[
                order(7001, 34, 5.50),  # Tritanium: someone sells at 5.40
                order(7002, 35, 4.00, is_buy=True),  # Pyerite: someone buys at 4.20
                order(7003, 36, 60.00),  # Mexallon: the best ask
                order(7004, 37, 21.00),  # Isogen: beaten only by the pilot's own 7005
                order(7005, 37, 20.00),
            ]
        ),
    )
    character = character_link_replay(eve, user)
    assert character_endpoint_sync(character=character, endpoint="orders").ok
    return character


def market(*, tritanium_ask="5.40", own_isogen=True) -> list[dict]:
    return [
        book_order(1, type_id=34, price=tritanium_ask),
        book_order(2, type_id=34, price="5.60"),
        book_order(3, type_id=34, price="5.00", is_buy=True),
        book_order(4, type_id=34, price="1.00", location_id=OTHER_STATION),  # elsewhere: ignored
        book_order(5, type_id=35, price="4.20", is_buy=True),
        book_order(6, type_id=35, price="3.90", is_buy=True),
        book_order(7, type_id=36, price="61.00"),
        # The book includes the pilot's own orders, as ESI's does.
        book_order(7005, type_id=37, price="20.00"),
        book_order(7004, type_id=37, price="21.00"),
        book_order(7003, type_id=36, price="60.00"),
        *([] if own_isogen else [book_order(8, type_id=37, price="19.50")]),
    ]


def land(django_capture_on_commit_callbacks, orders, *, at: datetime):
    with django_capture_on_commit_callbacks(execute=True):
        return snapshot_land(orders, last_modified=at)


def orders_by_id() -> dict[int, CharacterOrder]:
    return {o.order_id: o for o in CharacterOrder.objects.all()}


@pytest.mark.embedded
def test_the_comparison_takes_the_right_side_of_the_book():
    price = Decimal("5.50")
    assert undercut_compare(
        is_buy_order=False, price=price, best_bid=Decimal(9), best_ask=Decimal("5.40")
    ) == (Decimal("5.40"), Decimal("0.10"))
    assert undercut_compare(
        is_buy_order=True, price=price, best_bid=Decimal("5.60"), best_ask=Decimal(1)
    ) == (Decimal("5.60"), Decimal("0.10"))
    assert undercut_compare(is_buy_order=False, price=price, best_bid=None, best_ask=price) == (
        price,
        None,
    )  # a tie is no undercut
    assert undercut_compare(is_buy_order=True, price=price, best_bid=None, best_ask=None) == (
        None,
        None,
    )


@pytest.mark.embedded
def test_a_landing_snapshot_flags_undercut_and_outbid_orders_with_amount_and_time(
    pilot_in_jita, django_capture_on_commit_callbacks
):
    at = timezone.now().replace(microsecond=0)
    land(django_capture_on_commit_callbacks, market(), at=at)

    orders = orders_by_id()
    assert (orders[7001].undercut_by, orders[7001].market_price) == (
        Decimal("0.10"),
        Decimal("5.40"),
    )
    assert orders[7001].undercut_since == at
    assert (orders[7002].undercut_by, orders[7002].market_price) == (
        Decimal("0.20"),
        Decimal("4.20"),
    )
    assert orders[7003].undercut_since is None and orders[7003].market_price == Decimal("60.00")
    assert orders[7004].undercut_since is None, "the only better price is the pilot's own"
    assert orders[7005].undercut_since is None


def test_since_when_stays_put_while_the_undercut_lasts_and_clears_when_it_ends(
    pilot_in_jita, django_capture_on_commit_callbacks
):
    first = timezone.now().replace(microsecond=0) - timedelta(minutes=10)
    land(django_capture_on_commit_callbacks, market(), at=first)
    land(
        django_capture_on_commit_callbacks,
        market(tritanium_ask="5.30"),
        at=first + timedelta(minutes=5),
    )

    order = CharacterOrder.objects.get(order_id=7001)
    assert order.undercut_since == first and order.undercut_by == Decimal("0.20")

    land(
        django_capture_on_commit_callbacks,
        market(tritanium_ask="5.55"),
        at=first + timedelta(minutes=10),
    )
    order.refresh_from_db()
    assert order.undercut_since is None and order.undercut_by is None
    assert order.market_price == Decimal("5.55")


def test_an_order_changed_after_the_snapshot_waits_for_a_newer_one(
    pilot_in_jita, django_capture_on_commit_callbacks
):
    stale = CharacterOrder.objects.get(order_id=7001).issued - timedelta(minutes=1)

    land(django_capture_on_commit_callbacks, market(), at=stale)

    report = orders_undercut_check(character=pilot_in_jita)
    assert report.waiting == 5 and report.checked == 0
    assert not CharacterOrder.objects.filter(undercut_since__isnull=False).exists()


def test_the_desk_lists_beaten_orders_first_and_says_by_how_much(
    client, user, pilot_in_jita, django_capture_on_commit_callbacks, sde_loaded
):
    land(django_capture_on_commit_callbacks, market(), at=timezone.now().replace(microsecond=0))
    client.force_login(user)

    html = client.get(reverse("ledger:orders")).content.decode()

    rows = [html.index(f'data-order="{order_id}"') for order_id in (7001, 7002, 7003, 7004)]
    assert max(rows[:2]) < min(rows[2:])  # the two beaten orders come first
    assert "Undercut by 0.10" in html and "Outbid by 0.20" in html
    assert "2 of 5 orders undercut or outbid" in html
    assert "Best price" in html


def test_the_desk_swaps_its_table_only_when_a_new_snapshot_landed(
    client, user, pilot_in_jita, django_capture_on_commit_callbacks
):
    at = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    land(django_capture_on_commit_callbacks, market(tritanium_ask="5.60"), at=at)
    client.force_login(user)
    page = client.get(reverse("ledger:orders")).content.decode()
    poll = reverse("ledger:orders_table")
    version = page.split(f"{poll}?version=")[1].split('"')[0]
    htmx = {"HX-Request": "true"}

    assert client.get(poll, {"version": version}, headers=htmx).status_code == 204

    land(django_capture_on_commit_callbacks, market(), at=at + timedelta(minutes=5))
    swapped = client.get(poll, {"version": version}, headers=htmx)
    assert swapped.status_code == 200
    assert "Undercut by 0.10" in swapped.content.decode()
    assert "<html" not in swapped.content.decode()


def test_an_undercut_is_e_mailed_once_per_episode(
    pilot_in_jita, user, django_capture_on_commit_callbacks
):
    LedgerPreference.objects.create(user=user, email_on_undercut=True)
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=30)

    land(django_capture_on_commit_callbacks, market(), at=start)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"]
    assert "2 of your orders were undercut" in message.subject
    assert "undercut by 0.10 ISK" in message.body and "outbid by 0.20 ISK" in message.body
    assert "/ledger/orders/" in message.body

    land(
        django_capture_on_commit_callbacks,
        market(tritanium_ask="5.20"),
        at=start + timedelta(minutes=5),
    )
    assert len(mail.outbox) == 1, "still the same undercut: no second e-mail"

    land(
        django_capture_on_commit_callbacks,
        market(tritanium_ask="5.55"),
        at=start + timedelta(minutes=10),
    )
    land(
        django_capture_on_commit_callbacks,
        market(tritanium_ask="5.45"),
        at=start + timedelta(minutes=15),
    )
    assert len(mail.outbox) == 2, "a new undercut after being the best again"
    assert "Tritanium" in mail.outbox[1].subject or "type 34" in mail.outbox[1].subject


def test_no_e_mail_without_the_option_or_an_address(
    pilot_in_jita, user, django_capture_on_commit_callbacks
):
    land(django_capture_on_commit_callbacks, market(), at=timezone.now().replace(microsecond=0))
    assert mail.outbox == []
    assert not CharacterOrder.objects.filter(undercut_notified_at__isnull=False).exists()

    user.email = ""
    user.save()
    LedgerPreference.objects.create(user=user, email_on_undercut=True)
    orders_undercut_check(character=pilot_in_jita)
    assert mail.outbox == []


def test_a_failed_e_mail_is_tried_again_at_the_next_check(
    pilot_in_jita, user, settings, django_capture_on_commit_callbacks
):
    LedgerPreference.objects.create(user=user, email_on_undercut=True)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 1

    land(django_capture_on_commit_callbacks, market(), at=timezone.now().replace(microsecond=0))
    assert not CharacterOrder.objects.filter(undercut_notified_at__isnull=False).exists()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    orders_undercut_check(character=pilot_in_jita)
    assert len(mail.outbox) == 1


def test_repricing_an_order_starts_a_new_race(
    eve, pilot_in_jita, django_capture_on_commit_callbacks
):
    land(django_capture_on_commit_callbacks, market(), at=timezone.now().replace(microsecond=0))
    replay = eve.state["characters"]
    history = replay.history(pilot_in_jita.character_id)
    history.orders[0].versions.append((replay.anchor + 60, 5.39))  # the pilot answers
    replay.advance(seconds=1300)
    cache.clear()
    character_endpoint_sync(character=pilot_in_jita, endpoint="orders")

    order = CharacterOrder.objects.get(order_id=7001)
    assert order.price == Decimal("5.39")
    assert order.undercut_since is None
    assert order.versions.count() == 2
