"""Station liquidity inferred from consecutive snapshots, through the real ingest: hand-made pairs
of books stored with ``snapshot_store``, then the StationTradeDay and ObservedDay rows read back.

The rules are in ``market.ingest.liquidity``; each test is one of them, with its figures worked
out by hand. Snapshot P is at 12:00:00 UTC yesterday, C at 12:05:00 (unless a test says otherwise).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.core.cache import cache
from django.utils import timezone

from market.ingest import snapshot_fetch, snapshot_store
from market.ingest.background import background_wait
from market.ingest.liquidity import state_load
from market.ingest.liquidity.state import state_from_database
from market.models import BestPrice, MarketSnapshot, ObservedDay, StationTradeDay
from market.tests.factories import AMARR, DOMAIN, FORGE, JITA, iso

# Yesterday noon: within the days the ingest keeps, whenever the tests run.
P = (
    (timezone.now() - timedelta(days=1))
    .astimezone(UTC)
    .replace(hour=12, minute=0, second=0, microsecond=0)
)
C = P + timedelta(minutes=5)
DAY = P.date()
TRITANIUM = 34
PYERITE = 35


def o(
    order_id: int,
    price: str,
    remain: int,
    *,
    buy: bool = False,
    total: int | None = None,
    issued: datetime = P - timedelta(days=1),
    duration: int = 90,
    type_id: int = TRITANIUM,
    location_id: int = JITA.station_id,
    min_volume: int = 1,
) -> dict:
    """One order as ESI sends it (Jita 4-4 and Tritanium unless told otherwise)."""
    return {
        "order_id": order_id,
        "type_id": type_id,
        "location_id": location_id,
        "system_id": JITA.system_id,
        "is_buy_order": buy,
        "price": float(price),
        "volume_remain": remain,
        "volume_total": total if total is not None else max(remain, 1),
        "min_volume": min_volume,
        "range": "region",
        "duration": duration,
        "issued": iso(issued),
    }


def store(orders: list[dict], at: datetime = P, *, region_id: int = FORGE) -> MarketSnapshot:
    return snapshot_store(
        region_id=region_id,
        pages=[json.dumps(orders).encode()],
        last_modified=at,
        expires=at + timedelta(minutes=5),
    )


def pair(before: list[dict], after: list[dict], **kwargs) -> MarketSnapshot:
    store(before, P, **kwargs)
    return store(after, C, **kwargs)


def day(type_id: int = TRITANIUM, location_id: int = JITA.station_id) -> StationTradeDay:
    return StationTradeDay.objects.get(location_id=location_id, type_id=type_id, date=DAY)


def figures(row: StationTradeDay) -> dict:
    return {
        "sold": row.sold_to_buy_orders,
        "bought": row.bought_from_sell_orders,
        "probable_sold": row.probable_sold,
        "probable_bought": row.probable_bought,
        "isk": row.isk,
        "probable_isk": row.probable_isk,
        "bid_reprices": row.bid_reprices,
        "ask_reprices": row.ask_reprices,
    }


QUIET = {
    "sold": 0,
    "bought": 0,
    "probable_sold": 0,
    "probable_bought": 0,
    "isk": Decimal("0.00"),
    "probable_isk": Decimal("0.00"),
    "bid_reprices": 0,
    "ask_reprices": 0,
}


# --- the rules ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.embedded
def test_partial_fills_on_both_sides_are_certain_trades_at_the_previous_price():
    pair(
        [o(1, "4.00", 1000, buy=True), o(2, "5.00", 50)],
        [o(1, "4.00", 700, buy=True), o(2, "5.00", 20)],
    )

    # 300 sold into the bid (1,200.00 ISK) and 30 bought from the ask (150.00 ISK).
    assert figures(day()) == {**QUIET, "sold": 300, "bought": 30, "isk": Decimal("1350.00")}
    observed = ObservedDay.objects.get(region_id=FORGE, date=DAY)
    assert (observed.observed_seconds, observed.pairs) == (300, 1)
    assert day().region_id == FORGE


@pytest.mark.django_db
@pytest.mark.embedded
def test_a_repriced_order_is_competition_on_its_side_and_its_fill_counts_at_the_old_price():
    pair(
        [o(1, "4.00", 100, buy=True), o(2, "5.00", 50), o(3, "5.10", 10)],
        # Order 1 outbids by a tick; order 2 undercuts by a tick and lost 10 units too.
        [o(1, "4.01", 100, buy=True), o(2, "4.99", 40), o(3, "5.10", 10)],
    )

    assert figures(day()) == {
        **QUIET,
        "bought": 10,
        "isk": Decimal("50.00"),  # at 5.00, the price it traded at
        "bid_reprices": 1,
        "ask_reprices": 1,
    }


@pytest.mark.django_db
@pytest.mark.embedded
def test_a_vanished_order_at_the_best_price_probably_traded_and_one_below_was_cancelled():
    pair(
        [
            o(1, "5.00", 25),  # the best ask: gone before it expired
            o(2, "5.50", 40),  # behind it: kept
            o(3, "4.00", 10, buy=True),  # the best bid, kept
            o(4, "3.50", 70, buy=True),  # below the best bid: gone, cancelled
        ],
        [o(2, "5.50", 40), o(3, "4.00", 10, buy=True)],
    )

    assert figures(day()) == {
        **QUIET,
        "probable_bought": 25,
        "probable_isk": Decimal("125.00"),
    }
    assert day().probable_units == 25


@pytest.mark.django_db
@pytest.mark.embedded
def test_a_vanished_order_past_its_expiry_traded_nothing():
    # A 1-day order issued at 12:03 the day before expires at 12:03, before C (12:05).
    expired = o(1, "5.00", 25, duration=1, issued=P - timedelta(days=1) + timedelta(minutes=3))
    still_running = o(2, "6.00", 5, duration=1, issued=P - timedelta(hours=23))

    pair([expired, still_running], [still_running])

    assert not StationTradeDay.objects.exists()
    assert ObservedDay.objects.get(region_id=FORGE, date=DAY).observed_seconds == 300


@pytest.mark.django_db
@pytest.mark.embedded
def test_a_new_order_issued_since_the_last_snapshot_and_partly_filled_traded_the_difference():
    pair(
        [o(1, "6.00", 5)],
        [
            o(1, "6.00", 5),
            # Issued at 12:02 with 100 units, 60 left: 40 bought at 5.10.
            o(2, "5.10", 60, total=100, issued=P + timedelta(minutes=2)),
            # Shown for the first time but issued before P: its fills happened unseen.
            o(3, "5.20", 10, total=50, issued=P - timedelta(minutes=1)),
        ],
    )

    assert figures(day()) == {**QUIET, "bought": 40, "isk": Decimal("204.00")}


@pytest.mark.django_db
@pytest.mark.embedded
def test_snapshots_more_than_an_hour_apart_are_unobserved_time_not_a_time_without_trades():
    store([o(1, "4.00", 1000, buy=True)], P)
    store([o(1, "4.00", 700, buy=True)], P + timedelta(hours=1, seconds=1))

    assert not StationTradeDay.objects.exists()
    assert not ObservedDay.objects.exists()


@pytest.mark.django_db
@pytest.mark.embedded
def test_each_pair_adds_to_the_day_of_its_newer_snapshot():
    store([o(1, "4.00", 1000, buy=True)], P)
    store([o(1, "4.00", 900, buy=True)], C)
    store([o(1, "4.00", 850, buy=True)], C + timedelta(minutes=10))

    assert day().sold_to_buy_orders == 150 and day().isk == Decimal("600.00")
    observed = ObservedDay.objects.get(region_id=FORGE, date=DAY)
    assert (observed.observed_seconds, observed.pairs) == (900, 2)


@pytest.mark.django_db
@pytest.mark.embedded
def test_a_superseded_snapshot_writes_no_trades():
    store([o(1, "4.00", 1000, buy=True)], C)
    # An older book landing late (a slow run) is dropped, and tells nothing either.
    late = store([o(1, "4.00", 1, buy=True)], P)

    assert late.status == MarketSnapshot.Status.SUPERSEDED
    assert not StationTradeDay.objects.exists() and not ObservedDay.objects.exists()


@pytest.mark.django_db
@pytest.mark.embedded
def test_only_orders_at_a_station_or_structure_count():
    structure = 1_035_466_617_946
    pair(
        [o(1, "4.00", 10, buy=True, location_id=structure), o(2, "4.00", 10, location_id=30000142)],
        [o(1, "4.00", 4, buy=True, location_id=structure), o(2, "4.00", 3, location_id=30000142)],
    )

    assert figures(day(location_id=structure)) == {**QUIET, "sold": 6, "isk": Decimal("24.00")}
    assert StationTradeDay.objects.count() == 1  # not the "order" in a solar system


@pytest.mark.django_db
@pytest.mark.embedded
def test_types_and_stations_are_counted_apart():
    pair(
        [o(1, "4.00", 10, buy=True), o(2, "9.00", 10, type_id=PYERITE), o(3, "4.00", 10,
         location_id=AMARR.station_id)],
        [o(1, "4.00", 9, buy=True), o(2, "9.00", 8, type_id=PYERITE), o(3, "4.00", 7,
         location_id=AMARR.station_id)],
    )  # fmt: skip

    assert day().sold_to_buy_orders == 1
    assert day(PYERITE).bought_from_sell_orders == 2
    assert day(location_id=AMARR.station_id).bought_from_sell_orders == 3


@pytest.mark.django_db
@pytest.mark.embedded
def test_figures_older_than_35_days_are_pruned_by_the_next_ingest():
    StationTradeDay.objects.create(
        region_id=FORGE, location_id=JITA.station_id, type_id=PYERITE, date=date(2020, 1, 1)
    )
    ObservedDay.objects.create(region_id=FORGE, date=date(2020, 1, 1), observed_seconds=60)
    StationTradeDay.objects.create(
        region_id=DOMAIN, location_id=AMARR.station_id, type_id=PYERITE, date=date(2020, 1, 1)
    )

    store([o(1, "4.00", 10)], P)

    assert not StationTradeDay.objects.filter(region_id=FORGE).exists()
    assert not ObservedDay.objects.exists()
    assert StationTradeDay.objects.filter(region_id=DOMAIN).exists()  # another region's job


# --- the previous snapshot's state: from the cache, or from the database ----------------------


@pytest.mark.django_db
@pytest.mark.embedded
def test_the_state_read_back_from_the_database_is_the_one_kept_in_the_cache():
    snapshot = store(
        [
            o(1, "4.00", 100, buy=True),
            o(2, "4.00", 5, buy=True, issued=datetime(2026, 11, 1, 3, 4, 5, tzinfo=UTC)),
            o(3, "5.00", 50, duration=1),
            o(4, "6.25", 7, location_id=AMARR.station_id, type_id=PYERITE),
        ]
    )

    background_wait()  # kept by the book-tops thread once the snapshot landed
    kept, read = state_load(snapshot), state_from_database(snapshot)

    assert kept is not None and kept.at == int(P.timestamp())
    for name in ("order_id", "location_id", "type_id", "is_buy_order", "cents",
                 "volume_remain", "expires", "at_best"):  # fmt: skip
        assert np.array_equal(getattr(kept, name), getattr(read, name)), name
    assert read.at_best.tolist() == [True, True, True, True]
    assert read.cents.tolist() == [400, 400, 500, 625]


@pytest.mark.django_db
@pytest.mark.embedded
def test_a_snapshot_that_did_not_land_keeps_no_state_for_the_next_ingest():
    current = store([o(1, "4.00", 1000, buy=True)], C)
    late = store([o(1, "4.00", 1, buy=True)], P)  # older: superseded on arrival

    background_wait()
    assert late.status == MarketSnapshot.Status.SUPERSEDED
    assert state_load(late) is None
    assert state_load(current) is not None


@pytest.mark.django_db
@pytest.mark.embedded
def test_without_the_cached_state_the_database_gives_the_same_trades():
    def books(at: datetime) -> tuple[list[dict], list[dict]]:
        before = [
            o(1, "4.00", 1000, buy=True),
            o(2, "5.00", 25),
            o(3, "5.50", 40),
            o(4, "3.00", 5, buy=True),
        ]
        new = o(5, "5.10", 6, total=9, issued=at + timedelta(minutes=1))
        return before, [o(1, "4.01", 700, buy=True), o(3, "5.40", 30), new]

    before, after = books(P)
    pair(before, after)  # the state of P from the cache
    with_cache = figures(day())
    StationTradeDay.objects.all().delete()
    later = P + timedelta(hours=3)
    before, after = books(later)
    store(before, later)
    background_wait()
    cache.clear()  # flushed, or the first run after a deploy
    store(after, later + timedelta(minutes=5))

    assert figures(day()) == with_cache
    assert with_cache == {
        **QUIET,
        "sold": 300,
        "bought": 13,  # 10 of order 3 at 5.50, 3 of the new order 5 at 5.10
        "isk": Decimal("1200.00") + Decimal("55.00") + Decimal("15.30"),
        "probable_bought": 25,
        "probable_isk": Decimal("125.00"),
        "bid_reprices": 1,
        "ask_reprices": 1,
    }


# --- depth prices and min volume in the book tops ------------------------------------------------


@pytest.mark.django_db
@pytest.mark.embedded
def test_depth_prices_average_the_best_five_percent_counting_the_last_order_in_part():
    store(
        [
            # Asks: 100 units; 5 % is 5: 2 at 5.00 and 3 of the 98 at 6.00 → 28.00 / 5 = 5.60.
            o(1, "5.00", 2),
            o(2, "6.00", 98),
            # Bids: 30 units; 5 % is 1.5: 1 at 4.00 and half a unit at 3.00 → 5.50 / 1.5 = 3.666…
            o(3, "4.00", 1, buy=True),
            o(4, "3.00", 29, buy=True),
            # Pyerite: 19 asks, under one unit in 5 %: one unit counts, the best price.
            o(5, "9.99", 4, type_id=PYERITE),
            o(6, "12.00", 15, type_id=PYERITE),
        ]
    )

    top = BestPrice.objects.current(region_id=FORGE).get(type_id=TRITANIUM)
    assert (top.depth_ask, top.depth_bid) == (Decimal("5.60"), Decimal("3.67"))
    pyerite = BestPrice.objects.current(region_id=FORGE).get(type_id=PYERITE)
    assert (pyerite.depth_ask, pyerite.depth_bid) == (Decimal("9.99"), None)


@pytest.mark.django_db
@pytest.mark.embedded
def test_depth_prices_round_half_to_even_at_the_cent():
    store(
        [
            # 40 units, 5 % = 2: 1 at 1.01 and 1 at 1.02 → 1.015 → 1.02 (even cent) …
            o(1, "1.01", 1),
            o(2, "1.02", 39),
            # … and 1 at 1.02, 1 at 1.03 → 1.025 → 1.02 (even cent again).
            o(3, "1.02", 1, type_id=PYERITE),
            o(4, "1.03", 39, type_id=PYERITE),
        ]
    )

    depth = dict(BestPrice.objects.current(region_id=FORGE).values_list("type_id", "depth_ask"))
    assert depth == {TRITANIUM: Decimal("1.02"), PYERITE: Decimal("1.02")}


@pytest.mark.django_db
@pytest.mark.embedded
def test_best_bid_min_volume_is_the_smallest_among_the_orders_at_the_best_bid():
    store(
        [
            o(1, "4.00", 100, buy=True, min_volume=50),
            o(2, "4.00", 100, buy=True, min_volume=20),
            o(3, "3.99", 100, buy=True, min_volume=1),  # below the best bid: does not count
            o(4, "5.00", 10),
            o(5, "9.00", 10, type_id=PYERITE),  # no bids
        ]
    )

    tops = dict(
        BestPrice.objects.current(region_id=FORGE).values_list("type_id", "best_bid_min_volume")
    )
    assert tops == {TRITANIUM: 20, PYERITE: 1}


# --- end to end: the replay's book moves, the ingest sees trades ------------------------------


@pytest.mark.django_db
@pytest.mark.embedded
def test_the_replays_next_snapshot_shows_fills_reprices_and_vanished_orders(esi, upstreams):
    esi.backdate(FORGE, 600)
    first = snapshot_fetch(region_id=FORGE).snapshot
    esi.advance(FORGE)
    second = snapshot_fetch(region_id=FORGE).snapshot

    assert (second.last_modified - first.last_modified).total_seconds() == 300
    days = StationTradeDay.objects.filter(region_id=FORGE)
    totals = {
        name: sum(getattr(row, name) for row in days)
        for name in (
            "sold_to_buy_orders",
            "bought_from_sell_orders",
            "probable_bought",
            "bid_reprices",
            "ask_reprices",
        )
    }
    assert all(value > 0 for value in totals.values()), totals
    assert days.filter(location_id=JITA.station_id).exists()
    observed = ObservedDay.objects.get(region_id=FORGE)
    assert (observed.observed_seconds, observed.pairs, observed.date) == (
        300,
        1,
        second.last_modified.astimezone(UTC).date(),
    )
