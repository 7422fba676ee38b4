"""A pilot's orders in a tracked player structure: the undercut desk compares them with the
structure's own book (ESI serves it apart from the region's), when that book lands; the ledger
names the structure instead of showing its id."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import character_link_replay
from market.ingest import snapshot_store
from market.ledger.models import CharacterOrder, WalletTransaction
from market.ledger.replay import OrderLife, TradingHistory
from market.ledger.sync import character_endpoint_sync
from market.ledger.tests.factories import book_order, snapshot_land
from market.ledger.undercut import orders_undercut_check
from market.models import MarketSnapshot, Structure

pytestmark = pytest.mark.django_db

HOUR = 3600
FORGE = 10000002
TTT = 1028858195912
TTT_NAME = "Perimeter - Tranquility Trading Tower"
PERIMETER = 30000144
TRITANIUM = 34


@pytest.fixture
def pilot_in_perimeter(eve, user):
    """A sell order of tritanium at 5.50 in the Perimeter tower, and one in Jita."""
    replay = eve.state["characters"]
    placed = replay.anchor - 2 * HOUR
    replay.set_history(
        2112625428,
        TradingHistory(
            orders=[
                OrderLife(7101, TRITANIUM, False, 1000, [(placed, 5.50)], location_id=TTT),
                OrderLife(7102, TRITANIUM, False, 1000, [(placed, 5.50)]),
            ]
        ),
    )
    character = character_link_replay(eve, user)
    assert character_endpoint_sync(character=character, endpoint="orders").ok
    return character


@pytest.fixture
def tower(db) -> Structure:
    return Structure.objects.create(
        structure_id=TTT, name=TTT_NAME, solar_system_id=PERIMETER, region_id=FORGE
    )


def at_tower(order_id: int, price: str) -> dict:
    order = book_order(order_id, type_id=TRITANIUM, price=price, location_id=TTT)
    order["system_id"] = PERIMETER
    return order


def tower_land(capture, orders: list[dict], *, at) -> MarketSnapshot:
    with capture(execute=True):
        return snapshot_store(
            region_id=FORGE,
            structure_id=TTT,
            pages=[json.dumps(orders).encode()],
            last_modified=at,
            expires=at + timedelta(minutes=5),
        )


def region_land(capture, orders: list[dict], *, at) -> MarketSnapshot:
    with capture(execute=True):
        return snapshot_land(orders, last_modified=at)


def orders() -> dict[int, CharacterOrder]:
    return {o.order_id: o for o in CharacterOrder.objects.all()}


def test_an_order_in_a_structure_is_compared_with_the_structures_own_book(
    pilot_in_perimeter, tower, django_capture_on_commit_callbacks
):
    at = timezone.now().replace(microsecond=0) - timedelta(minutes=10)
    # The tower's book: the pilot's own 5.50 and a competitor's 5.30.
    tower_land(
        django_capture_on_commit_callbacks, [at_tower(7101, "5.50"), at_tower(1, "5.30")], at=at
    )
    found = orders()
    assert (found[7101].undercut_by, found[7101].market_price) == (Decimal("0.20"), Decimal("5.30"))
    assert found[7101].undercut_since == at
    assert found[7102].market_price is None  # Jita's order waits for Jita's book

    # Jita's book lands, with a 4.00 ask *in the tower* as ESI's region book may list: the tower
    # order keeps its own book's comparison, the Jita order gets Jita's.
    later = at + timedelta(minutes=5)
    region_land(
        django_capture_on_commit_callbacks,
        [
            book_order(2, type_id=TRITANIUM, price="5.45"),
            book_order(7102, type_id=TRITANIUM, price="5.50"),
            at_tower(3, "4.00"),
        ],
        at=later,
    )
    found = orders()
    assert (found[7101].undercut_by, found[7101].market_price) == (Decimal("0.20"), Decimal("5.30"))
    assert found[7101].market_checked_at == at
    assert (found[7102].undercut_by, found[7102].market_price) == (Decimal("0.05"), Decimal("5.45"))

    # The competitor leaves the tower: the pilot's order is the best again.
    tower_land(django_capture_on_commit_callbacks, [at_tower(7101, "5.50")], at=later)
    found = orders()
    assert found[7101].undercut_by is None and found[7101].undercut_since is None
    assert found[7101].market_price == Decimal("5.50")


def test_a_characters_check_compares_each_order_with_its_own_book(
    pilot_in_perimeter, tower, django_capture_on_commit_callbacks
):
    at = timezone.now().replace(microsecond=0) - timedelta(minutes=10)
    snapshot_store(
        region_id=FORGE,
        structure_id=TTT,
        pages=[json.dumps([at_tower(1, "5.10")]).encode()],
        last_modified=at,
        expires=at + timedelta(minutes=5),
    )
    snapshot_land([book_order(2, type_id=TRITANIUM, price="5.40")], last_modified=at)

    report = orders_undercut_check(character=pilot_in_perimeter)

    assert report.checked == 2 and report.undercut == 2
    found = orders()
    assert found[7101].market_price == Decimal("5.10")
    assert found[7102].market_price == Decimal("5.40")


def test_without_a_book_of_its_own_a_structure_order_reads_the_region_book(
    pilot_in_perimeter, django_capture_on_commit_callbacks
):
    # Not tracked: ESI's region book (which may list the structure's orders) is all there is.
    at = timezone.now().replace(microsecond=0) - timedelta(minutes=10)
    region_land(django_capture_on_commit_callbacks, [at_tower(3, "5.25")], at=at)
    assert orders()[7101].undercut_by == Decimal("0.25")


def test_the_ledger_names_the_structure(client, user, pilot_in_perimeter, tower):
    WalletTransaction.objects.create(
        character=pilot_in_perimeter,
        transaction_id=99001,
        date=timezone.now() - timedelta(hours=1),
        type_id=TRITANIUM,
        quantity=10,
        unit_price=Decimal("5.50"),
        is_buy=False,
        location_id=TTT,
    )
    WalletTransaction.objects.create(
        character=pilot_in_perimeter,
        transaction_id=99002,
        date=timezone.now() - timedelta(hours=1),
        type_id=TRITANIUM,
        quantity=10,
        unit_price=Decimal("5.50"),
        is_buy=False,
        location_id=1_040_000_000_001,  # a structure nobody tracks
    )
    client.force_login(user)
    transactions = client.get(reverse("ledger:transactions")).content.decode()
    assert TTT_NAME in transactions and str(TTT) not in transactions
    assert "Structure 1040000000001" in transactions
    open_orders = client.get(reverse("ledger:orders")).content.decode()
    assert TTT_NAME in open_orders

    # Private to another user: still named in this pilot's own ledger.
    Structure.objects.filter(pk=TTT).update(is_private=True, added_by=None)
    assert TTT_NAME in client.get(reverse("ledger:orders")).content.decode()


def test_a_stopped_structures_orders_go_back_to_the_region_book(
    pilot_in_perimeter, tower, django_capture_on_commit_callbacks
):
    at = timezone.now().replace(microsecond=0) - timedelta(minutes=10)
    tower_land(django_capture_on_commit_callbacks, [at_tower(1, "5.30")], at=at)
    assert orders()[7101].market_price == Decimal("5.30")
    tower.is_tracking = False
    tower.save()
    # Its last book stays current but ages: the region's book (listing a 5.45 there) counts.
    region_land(
        django_capture_on_commit_callbacks, [at_tower(3, "5.45")], at=at + timedelta(minutes=5)
    )
    assert orders()[7101].market_price == Decimal("5.45")
