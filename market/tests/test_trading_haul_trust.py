"""Hauling's trust rules as pure maths (``market.trading.haul_trust`` and the trip's shared
plan): counting a flagged row from its first unit agrees with walking it, the rules over a
trip's arrays agree with the Decimal ones, and a flagged type stays out of the trip."""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from market.trading import (
    BookOrder,
    HaulCandidate,
    SideTop,
    SideTops,
    haul_row_unwalked,
    haul_rows_unwalked,
    haul_trust_flags,
    haul_trust_masks,
    hauling_instant,
    hauling_relist,
    hauling_rows,
    mask_flags,
)

# --- counting a flagged row without walking it agrees with the walk ----------------------------

prices = st.decimals(min_value=D("1.00"), max_value=D("200.00"), places=2)


@settings(max_examples=200, deadline=None)
@given(
    asks=st.lists(st.tuples(prices, st.integers(1, 50)), min_size=1, max_size=4),
    bids=st.lists(st.tuples(prices, st.integers(1, 50), st.integers(1, 3)), max_size=4),
    best_ask_b=st.one_of(st.none(), prices),
    budget=st.one_of(st.none(), st.decimals(min_value=0, max_value=500, places=2)),
    cargo=st.one_of(st.none(), st.decimals(min_value=0, max_value=20, places=1)),
    unit_volume=st.sampled_from([D(0), D("0.5"), D(3)]),
    mode=st.sampled_from(["instant", "relist"]),
    cap=st.one_of(st.none(), st.integers(0, 5)),
)
def test_counting_a_flagged_row_agrees_with_walking_it(
    asks, bids, best_ask_b, budget, cargo, unit_volume, mode, cap
):
    sell = sorted((BookOrder(p, v) for p, v in asks), key=lambda o: o.price)
    buy = sorted((BookOrder(p, v, m) for p, v, m in bids), key=lambda o: -o.price)
    first_bid = None
    if buy:
        top = buy[0].price
        at_top = [o for o in buy if o.price == top]
        least = min(min(o.min_volume, o.volume_remain) for o in at_top)
        first_bid = (top, least)
    options = {
        "budget": budget,
        "cargo_m3": cargo,
        "unit_volume": unit_volume,
        "sales_tax": D("0.05"),
        "max_quantity": cap,
    }
    told = haul_row_unwalked(
        mode=mode,
        first_ask=sell[0].price,
        first_bid=first_bid,
        bid_min_volume=first_bid[1] if first_bid else 1,
        best_ask_at_b=best_ask_b,
        budget=budget,
        cargo_m3=cargo,
        unit_volume=unit_volume,
        max_quantity=cap,
        sales_tax=D("0.05"),
        broker_fee=D("0.03"),
    )
    if mode == "instant":
        plan = hauling_instant(sell_orders_at_a=sell, buy_orders_at_b=buy, **options)
    else:
        plan = hauling_relist(
            sell_orders_at_a=sell, best_ask_at_b=best_ask_b, broker_fee=D("0.03"), **options
        )
    if told is not None:
        assert told == (plan is not None)


# --- the pure rows: flags, shares and the trip -------------------------------------------------


def test_a_flagged_type_stays_out_of_the_shared_trip():
    clean = HaulCandidate(1, D(1), [BookOrder(D(10), 100)], [BookOrder(D(12), 100)])
    odd = HaulCandidate(
        2,
        D(1),
        [BookOrder(D(1), 100)],
        [BookOrder(D(12), 100)],
        ask_at_a=SideTop(D(1), 1, D(10)),  # one unit far under the depth price
    )
    found = {
        row.type_id: row
        for row in hauling_rows(
            candidates=[clean, odd],
            mode="instant",
            budget=D(500),
            cargo_m3=None,
            sales_tax=D(0),
            broker_fee=D(0),
            jumps=None,
        )
    }
    # The odd one is far denser, but only the clean one shares the 500 ISK: 50 units.
    assert found[1].quantity == 50 and found[1].flags == []
    assert found[2].flags == ["outlier", "tiny_order"] and found[2].quantity == 100
    assert found[1].trip_profit == found[2].trip_profit == D(100)


# --- the array rules agree with the Decimal ones ----------------------------------------------

cents = st.integers(min_value=1, max_value=10**11)
maybe_cents = st.one_of(st.none(), cents)


def _array(values):
    return np.array([np.nan if v is None else float(v) for v in values])


def _isk(value):
    return None if value is None else D(value).scaleb(-2)


side = st.tuples(cents, st.integers(0, 3), maybe_cents)


@settings(max_examples=150, deadline=None)
@given(
    types=st.lists(
        st.tuples(
            side,
            side,
            st.one_of(st.none(), st.decimals(0, 100, places=2)),
            st.decimals(0, 100, places=2),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    ),
    mode=st.sampled_from(["instant", "relist"]),
    hold_limited=st.booleans(),
)
def test_the_trust_masks_agree_with_the_trust_flags(types, mode, hold_limited):

    masks = haul_trust_masks(
        mode=mode,
        ask_at_a=SideTops(
            _array([t[0][0] for t in types]),
            np.array([t[0][1] for t in types], dtype=float),
            _array([t[0][2] for t in types]),
        ),
        top_at_b=SideTops(
            _array([t[1][0] for t in types]),
            np.array([t[1][1] for t in types], dtype=float),
            _array([t[1][2] for t in types]),
        ),
        station_daily_at_b=_array([t[2] for t in types]),
        region_daily_at_b=_array([t[3] for t in types]),
        volume_known=np.array([t[4] for t in types]),
        hold_limited=hold_limited,
    )
    for (ask, bid, station, region, known), mask in zip(types, masks.tolist(), strict=True):
        assert mask_flags(mask) == haul_trust_flags(
            mode=mode,
            ask_at_a=SideTop(_isk(ask[0]), ask[1], _isk(ask[2])),
            top_at_b=SideTop(_isk(bid[0]), bid[1], _isk(bid[2])),
            station_daily_at_b=station,
            region_daily_at_b=region,
            volume_known=known,
            hold_limited=hold_limited,
        )


@settings(max_examples=150, deadline=None)
@given(
    types=st.lists(
        st.tuples(
            st.integers(1, 20_000),  # A's cheapest ask, cents
            st.one_of(st.none(), st.integers(1, 20_000)),  # B's best bid or ask, cents
            st.integers(1, 3),  # the units a sale into B's best bid must bring
            st.integers(1, 3),  # the smallest min_volume at B's best bid
            st.one_of(st.none(), st.sampled_from([D("0.01"), D("0.5"), D(3), D(7)])),
            st.one_of(st.none(), st.integers(0, 4)),
        ),
        min_size=1,
        max_size=12,
    ),
    mode=st.sampled_from(["instant", "relist"]),
    budget=st.one_of(st.none(), st.sampled_from([D(0), D("1.5"), D(50), D("100.00"), D(10**9)])),
    cargo=st.one_of(st.none(), st.sampled_from([D(0), D("0.5"), D(3), D(60_000)])),
    tax=st.sampled_from([D(0), D("0.036"), D("0.08")]),
)
def test_counting_rows_over_arrays_agrees_with_counting_each(types, mode, budget, cargo, tax):
    told = haul_rows_unwalked(
        mode=mode,
        first_ask=np.array([t[0] for t in types], dtype=float),
        best_at_b=_array([t[1] for t in types]),
        first_bid_least=np.array([t[2] for t in types]),
        bid_min_volume=np.array([t[3] for t in types]),
        budget=budget,
        cargo_m3=cargo,
        unit_volume=_array([t[4] for t in types]),
        max_quantity=np.array([-1 if t[5] is None else t[5] for t in types]),
        sales_tax=tax,
        broker_fee=D("0.03"),
    )
    for (ask, best, least, min_volume, volume, cap), answer in zip(
        types, told.tolist(), strict=True
    ):
        one = haul_row_unwalked(
            mode=mode,
            first_ask=_isk(ask),
            first_bid=None if best is None else (_isk(best), least),
            bid_min_volume=min_volume,
            best_ask_at_b=_isk(best),
            budget=budget,
            cargo_m3=cargo,
            unit_volume=volume,
            max_quantity=cap,
            sales_tax=tax,
            broker_fee=D("0.03"),
        )
        assert answer == (-1 if one is None else int(one))
