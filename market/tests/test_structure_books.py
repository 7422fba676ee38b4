"""A player structure's book through the region pipeline: its own snapshot beside the region's,
its own book tops and station liquidity (compared with its own previous snapshot, watched on its
own clock), and nothing of it in the region desk's reads."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from market.ingest import snapshot_store
from market.models import (
    BestPrice,
    MarketSnapshot,
    ObservedDay,
    Order,
    StationTradeDay,
    Structure,
    StructureObservedDay,
)
from market.queries.books import station_book
from market.queries.liquidity import station_liquidity
from market.queries.stations import StationRef
from market.structures.queries import (
    location_get,
    market_locations,
    structure_current_snapshot,
    structure_ref,
)
from market.tests.factories import FORGE, JITA
from market.tests.test_liquidity import DAY, TRITANIUM, C, P, o

TTT = 1028858195912  # Perimeter - Tranquility Trading Tower
PERIMETER = 30000144


def at_ttt(order_id: int, price: str, remain: int, **kwargs) -> dict:
    order = o(order_id, price, remain, location_id=TTT, **kwargs)
    order["system_id"] = PERIMETER
    return order


def store(orders: list[dict], at, *, structure_id: int = 0) -> MarketSnapshot:
    return snapshot_store(
        region_id=FORGE,
        structure_id=structure_id,
        pages=[json.dumps(orders).encode()],
        last_modified=at,
        expires=at + timedelta(minutes=5),
    )


def tracked(**kwargs) -> Structure:
    return Structure.objects.create(
        structure_id=TTT,
        name="Perimeter - Tranquility Trading Tower",
        solar_system_id=PERIMETER,
        region_id=FORGE,
        **kwargs,
    )


@pytest.mark.django_db
@pytest.mark.embedded
def test_a_structure_book_is_current_beside_its_regions_and_the_region_reads_stay_the_region():
    tracked()
    region = store([o(1, "5.00", 100)], P)
    structure = store([at_ttt(9, "4.50", 40)], P, structure_id=TTT)

    assert region.is_current and structure.is_current
    assert structure.region_id == FORGE and structure.structure_id == TTT
    assert MarketSnapshot.objects.current_ids() == {FORGE: region.id}
    assert MarketSnapshot.objects.structure_current_ids() == {TTT: structure.id}
    assert set(Order.objects.current(region_id=FORGE).values_list("order_id", flat=True)) == {1}
    assert set(
        Order.objects.current_of_structure(structure_id=TTT).values_list("order_id", flat=True)
    ) == {9}
    top = BestPrice.objects.current_of_structure(structure_id=TTT).get()
    assert (top.location_id, top.region_id, top.best_ask) == (TTT, FORGE, Decimal("4.50"))
    assert structure_current_snapshot(TTT) == structure

    # A new region book leaves the structure's current, and the other way round.
    region2 = store([o(2, "5.10", 100)], C)
    assert structure_current_snapshot(TTT).pk == structure.pk
    structure2 = store([at_ttt(10, "4.40", 40)], C, structure_id=TTT)
    assert MarketSnapshot.objects.current_ids() == {FORGE: region2.id}
    assert structure_current_snapshot(TTT).pk == structure2.pk


@pytest.mark.django_db
@pytest.mark.embedded
def test_a_structures_book_tops_are_read_from_its_own_snapshot():
    structure = tracked()
    # The region's book lists the (public) structure's orders too, at other prices.
    store([o(1, "5.00", 100), at_ttt(2, "9.99", 5)], P)
    store([at_ttt(9, "4.50", 40), at_ttt(11, "4.00", 10, buy=True)], P, structure_id=TTT)

    book = station_book(structure_ref(structure))

    assert book.snapshot_id == structure_current_snapshot(TTT).id
    top = book.tops[TRITANIUM]
    assert (top.best_bid, top.best_ask) == (Decimal("4.00"), Decimal("4.50"))
    jita = station_book(StationRef(JITA.station_id, JITA.name, JITA.system_id, FORGE, "The Forge"))
    assert jita.tops[TRITANIUM].best_ask == Decimal("5.00")


@pytest.mark.django_db
@pytest.mark.embedded
def test_a_structures_trades_come_from_its_own_previous_snapshot_and_its_own_watched_time():
    structure = tracked()
    # The region is watched too; its book lists the structure's orders, which must not count
    # twice now that the structure has a book of its own.
    store([o(1, "5.00", 100), at_ttt(2, "4.50", 40)], P)
    store([o(1, "5.00", 100), at_ttt(2, "4.50", 10)], C)
    store([at_ttt(2, "4.50", 40)], P, structure_id=TTT)
    store([at_ttt(2, "4.50", 25)], C + timedelta(minutes=1), structure_id=TTT)

    row = StationTradeDay.objects.get(location_id=TTT, type_id=TRITANIUM, date=DAY)
    assert row.bought_from_sell_orders == 15  # the structure's own pair, not the region's 30
    assert row.region_id == FORGE
    watched = StructureObservedDay.objects.get(structure_id=TTT, date=DAY)
    assert (watched.observed_seconds, watched.pairs) == (360, 1)
    assert ObservedDay.objects.get(region_id=FORGE, date=DAY).observed_seconds == 300

    # Its daily figures are over its own 6 watched minutes: below an hour, unknown.
    assert station_liquidity(location_id=TTT, region_id=FORGE, today=DAY) is None
    StructureObservedDay.objects.filter(structure_id=TTT).update(observed_seconds=3 * 3600)
    found = station_liquidity(location_id=TTT, region_id=FORGE, today=DAY)
    assert found[TRITANIUM].bought_daily == Decimal("120.00")  # 15 units in 3 h = 120 a day
    assert structure.pk == TTT


@pytest.mark.django_db
@pytest.mark.embedded
def test_market_locations_are_the_hubs_and_the_structures_the_user_may_see():
    users = get_user_model().objects
    owner = users.create_user("owner", password="x")
    stranger = users.create_user("stranger", password="x")
    tracked(added_by=owner)
    Structure.objects.create(
        structure_id=TTT + 1,
        name="Hidden keepstar",
        solar_system_id=PERIMETER,
        region_id=FORGE,
        added_by=owner,
        is_private=True,
    )
    Structure.objects.create(
        structure_id=TTT + 2,
        name="Stopped",
        region_id=FORGE,
        solar_system_id=PERIMETER,
        is_tracking=False,
    )

    def names(user) -> list[str]:
        return [ref.name for ref in market_locations(user) if ref.is_structure]

    assert names(owner) == ["Hidden keepstar", "Perimeter - Tranquility Trading Tower"]
    assert names(stranger) == ["Perimeter - Tranquility Trading Tower"]
    assert names(None) == ["Perimeter - Tranquility Trading Tower"]
    assert len(market_locations(stranger)) == 6  # the five hubs first
    assert location_get(TTT + 1, user=stranger) is None
    assert location_get(TTT + 1, user=owner).is_structure
    assert location_get(JITA.station_id, user=stranger).name == JITA.name
    ref = location_get(TTT, user=stranger)
    assert (ref.system_id, ref.region_id, ref.book_structure_id) == (PERIMETER, FORGE, TTT)
