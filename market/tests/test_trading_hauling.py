"""Hauling maths on hand-computed books: the instant walk, relisting, min_volume, many types."""

import random
import time
from dataclasses import replace
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.trading import (
    HAULING_COLUMNS,
    BookOrder,
    Fill,
    HaulCandidate,
    TradingInputError,
    hauling_instant,
    hauling_may_pay,
    hauling_relist,
    hauling_rows,
)

# A's sell book and B's buy book for one type; with 5 % sales tax a bid nets 95 % of its price:
# 130 -> 123.50, 125 -> 118.75, 110 -> 104.50.
ASKS_A = [BookOrder(D("100.00"), 10), BookOrder(D("105.00"), 20), BookOrder(D("120.00"), 50)]
BIDS_B = [BookOrder(D("130.00"), 15), BookOrder(D("125.00"), 10), BookOrder(D("110.00"), 100)]
TAX = D("0.05")


def instant(asks=ASKS_A, bids=BIDS_B, **options):
    options = {"budget": None, "cargo_m3": None, "unit_volume": D(1), "sales_tax": TAX} | options
    return hauling_instant(sell_orders_at_a=asks, buy_orders_at_b=bids, **options)


def relist(asks=ASKS_A, best_ask=D("150.00"), **options):
    options = {
        "budget": None,
        "cargo_m3": None,
        "unit_volume": D(1),
        "sales_tax": TAX,
        "broker_fee": D("0.03"),
    } | options
    return hauling_relist(sell_orders_at_a=asks, best_ask_at_b=best_ask, **options)


# --- instant -------------------------------------------------------------------------------------


@pytest.mark.embedded
def test_the_instant_walk_crosses_levels_until_a_unit_stops_paying():
    plan = instant(unit_volume=D("2.5"))
    # 10 @ 100 -> 130 (+23.50 each), 5 @ 105 -> 130 (+18.50), 10 @ 105 -> 125 (+13.75);
    # the next pair, 105 -> 110, nets 104.50 for a 105 unit: a loss, so the walk stops.
    assert plan.mode == "instant"
    assert plan.quantity == 25
    assert plan.buys == (Fill(D("100.00"), 10), Fill(D("105.00"), 15))
    assert plan.sells == (Fill(D("130.00"), 15), Fill(D("125.00"), 10))
    assert plan.buy_cost == D("2575.00")
    assert plan.sell_revenue == D("3200.00")
    assert plan.broker_fees == 0
    assert plan.sales_tax == D("160")
    assert plan.fees_and_tax == D("160")
    assert plan.net_profit == D("465")  # 235 + 92.50 + 137.50
    assert plan.roi == D("465") / D("2575")
    assert plan.volume_m3 == D("62.5")


def test_the_budget_cuts_the_walk_mid_level():
    plan = instant(budget=D("2000"))
    # 10 @ 100 = 1000, then 1000 buys 9 @ 105 (945), 55 ISK left over
    assert plan.quantity == 19
    assert plan.buys == (Fill(D("100.00"), 10), Fill(D("105.00"), 9))
    assert plan.sells == (Fill(D("130.00"), 15), Fill(D("125.00"), 4))
    assert plan.buy_cost == D("1945.00")
    assert plan.sell_revenue == D("2450.00")
    assert plan.sales_tax == D("122.5")
    assert plan.net_profit == D("382.5")


def test_the_cargo_hold_cuts_the_walk_in_whole_units():
    plan = instant(cargo_m3=D("50.9"), unit_volume=D("2.5"))  # room for 20.36 -> 20 units
    assert plan.quantity == 20
    assert plan.buys == (Fill(D("100.00"), 10), Fill(D("105.00"), 10))
    assert plan.sells == (Fill(D("130.00"), 15), Fill(D("125.00"), 5))
    assert plan.buy_cost == D("2050.00")
    assert plan.sell_revenue == D("2575.00")
    assert plan.net_profit == D("396.25")
    assert plan.volume_m3 == D("50.0")


def test_cargo_from_a_float_is_not_shortchanged_by_binary_rounding():
    # 0.3 / 0.1 in floats is 2.9999999999999996: the hold must still take 3 units.
    plan = instant(cargo_m3=0.3, unit_volume=0.1)
    assert plan.quantity == 3
    assert plan.net_profit == D("70.5")  # 3 * 130 * 0.95 - 300


def test_max_quantity_caps_the_units():
    plan = instant(max_quantity=12)
    assert plan.buys == (Fill(D("100.00"), 10), Fill(D("105.00"), 2))
    assert plan.net_profit == D("272")  # 12 * 123.50 - 1210


def test_an_item_without_volume_ignores_the_hold():
    assert instant(cargo_m3=D(0), unit_volume=D(0)).quantity == 25


@pytest.mark.parametrize(
    "options",
    [
        {"budget": D(0)},
        {"budget": D("99.99")},  # not even one unit at 100
        {"cargo_m3": D(0)},
        {"cargo_m3": D("0.99")},  # less than one unit
        {"max_quantity": 0},
    ],
)
def test_no_money_or_no_room_means_no_plan(options):
    assert instant(**options) is None


def test_empty_books_mean_no_plan():
    assert instant(asks=[]) is None
    assert instant(bids=[]) is None
    assert instant(asks=[BookOrder(D(1), 0)]) is None  # an order with nothing left


def test_a_book_that_does_not_pay_means_no_plan():
    # 95 -> 100 nets exactly 0 after tax: no unit earns anything.
    assert instant(asks=[BookOrder(D("95.00"), 10)], bids=[BookOrder(D("100.00"), 10)]) is None
    # B's best bid is below A's cheapest ask.
    assert instant(asks=[BookOrder(D("200.00"), 10)]) is None


def test_the_order_books_may_come_in_any_order():
    shuffled_asks, shuffled_bids = ASKS_A[::-1], [BIDS_B[1], BIDS_B[2], BIDS_B[0]]
    assert instant(asks=shuffled_asks, bids=shuffled_bids) == instant()


def test_huge_volumes_are_walked_by_level_not_by_unit():
    asks = [BookOrder(D("0.01"), 2_000_000_000), BookOrder(D("999999999999.99"), 2_000_000_000)]
    bids = [BookOrder(D("0.03"), 2_147_483_647)]
    started = time.perf_counter()
    plan = instant(asks=asks, bids=bids, sales_tax=0, unit_volume=D("0.01"))
    assert time.perf_counter() - started < 0.1
    assert plan.quantity == 2_000_000_000
    assert plan.net_profit == D("40000000.00")
    assert plan.volume_m3 == D("20000000.00")


# --- min_volume ----------------------------------------------------------------------------------

MIN_ASKS = [BookOrder(D("100.00"), 10), BookOrder(D("105.00"), 20)]
MIN_BIDS = [BookOrder(D("130.00"), 50, min_volume=30), BookOrder(D("125.00"), 10)]


@pytest.mark.embedded
def test_a_buy_order_gets_at_least_its_min_volume_gathered_across_levels():
    plan = instant(asks=MIN_ASKS, bids=MIN_BIDS)
    assert plan.sells == (Fill(D("130.00"), 30),)
    assert plan.buy_cost == D("3100.00")
    assert plan.net_profit == D("605")  # 30 * 123.50 - 3100


def test_a_buy_order_whose_min_volume_we_cannot_reach_is_skipped():
    plan = instant(asks=MIN_ASKS, bids=MIN_BIDS, budget=D("2000"))  # 19 units at most
    assert plan.sells == (Fill(D("125.00"), 10),)
    assert plan.buys == (Fill(D("100.00"), 10),)
    assert plan.net_profit == D("187.5")  # 10 * 118.75 - 1000


def test_min_volume_counts_the_units_the_hold_can_take():
    assert instant(asks=MIN_ASKS, bids=MIN_BIDS, cargo_m3=D(29)).sells == (Fill(D("125.00"), 10),)
    assert instant(asks=MIN_ASKS, bids=MIN_BIDS, cargo_m3=D(30)).sells == (Fill(D("130.00"), 30),)


def test_min_volume_counts_only_units_that_would_earn_something():
    # 30 units exist, but the 20 at 125 would net 123.50: not worth selling at 130.
    asks = [BookOrder(D("100.00"), 10), BookOrder(D("125.00"), 20)]
    assert instant(asks=asks, bids=[BookOrder(D("130.00"), 50, min_volume=30)]) is None


def test_the_last_units_of_an_order_may_be_filled_below_its_min_volume():
    bids = [BookOrder(D("130.00"), 5, min_volume=30)]  # only 5 left to fill
    plan = instant(asks=MIN_ASKS, bids=bids)
    assert plan.sells == (Fill(D("130.00"), 5),) and plan.quantity == 5


def test_a_missing_or_zero_min_volume_means_one():
    class Order:
        def __init__(self, price, volume_remain, min_volume=None):
            self.price, self.volume_remain = price, volume_remain
            if min_volume is not None:
                self.min_volume = min_volume

    plan = instant(asks=[Order(D(1), 3)], bids=[Order(D(2), 1, 0), Order(D(2), 2)])
    assert plan.quantity == 3


# --- relist --------------------------------------------------------------------------------------


@pytest.mark.embedded
def test_relisting_undercuts_bs_best_ask_and_pays_fees_and_tax():
    plan = relist()
    # 150.00 - one tick (0.10) = 149.90, netting 149.90 * (1 - 0.05 - 0.03) = 137.908: every
    # ask in A's book is cheaper, so all 80 units.
    assert plan.mode == "relist"
    assert plan.sells == (Fill(D("149.90"), 80),)
    assert plan.buys == (Fill(D("100.00"), 10), Fill(D("105.00"), 20), Fill(D("120.00"), 50))
    assert plan.buy_cost == D("9100.00")
    assert plan.sell_revenue == D("11992.00")
    assert plan.broker_fees == D("359.76")
    assert plan.sales_tax == D("599.60")
    assert plan.net_profit == D("1932.64")


def test_relisting_stops_at_the_first_ask_that_does_not_pay():
    plan = relist(best_ask=D("121.00"))  # 120.90 * 0.92 = 111.228: the 120s do not pay
    assert plan.sells == (Fill(D("120.90"), 30),)
    assert plan.buy_cost == D("3100.00")
    assert plan.net_profit == D("236.84")  # 3627 - 3100 - 290.16


def test_relisting_honours_max_quantity_budget_and_cargo():
    assert relist(max_quantity=25).net_profit == D("872.70")  # 3747.50 - 2575 - 299.80
    assert relist(budget=D("1000")).quantity == 10
    assert relist(cargo_m3=D(7), unit_volume=D("0.5")).quantity == 14


def test_relisting_needs_an_ask_to_undercut():
    assert relist(best_ask=None) is None
    assert relist(best_ask=D("0.01")) is None  # nothing is cheaper than 0.01 ISK
    with pytest.raises(TradingInputError) as error:
        relist(best_ask=D(0))
    assert error.value.param == "best_ask_at_b"


def test_relisting_into_a_market_below_our_buy_price_means_no_plan():
    assert relist(best_ask=D("100.00")) is None
    assert relist(asks=[]) is None


# --- hostile input -------------------------------------------------------------------------------


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("budget", D(-1)),
        ("budget", "lots"),
        ("cargo_m3", D("-0.5")),
        ("cargo_m3", float("nan")),
        ("unit_volume", D(-1)),
        ("unit_volume", None),
        ("sales_tax", D("1.2")),
        ("max_quantity", -3),
        ("max_quantity", 2.5),
    ],
)
def test_a_bad_parameter_is_refused_by_name(param, value):
    with pytest.raises(TradingInputError) as error:
        instant(**{param: value})
    assert error.value.param == param


def test_a_broken_order_is_refused_not_traded():
    with pytest.raises(TradingInputError) as error:
        instant(asks=[BookOrder(D(0), 5)])
    assert error.value.param == "sell_orders_at_a"
    with pytest.raises(TradingInputError) as error:
        instant(bids=[BookOrder(D(5), -5)])
    assert error.value.param == "buy_orders_at_b"


# --- many types on one trip ----------------------------------------------------------------------

RICH = HaulCandidate(
    type_id=1,
    type_name="Dear and small",
    unit_volume=D(1),
    sell_orders_at_a=[BookOrder(D("100.00"), 10)],
    buy_orders_at_b=[BookOrder(D("150.00"), 10)],
)  # +50 a unit for 100 ISK and 1 m3
CHEAP = HaulCandidate(
    type_id=2,
    type_name="Cheap and bulky",
    unit_volume=D(10),
    sell_orders_at_a=[BookOrder(D("10.00"), 10)],
    buy_orders_at_b=[BookOrder(D("20.00"), 10)],
)  # +10 a unit for 10 ISK and 10 m3


def haul_rows(candidates=(RICH, CHEAP), **options):
    options = {
        "mode": "instant",
        "budget": None,
        "cargo_m3": None,
        "sales_tax": 0,
        "broker_fee": 0,
        "jumps": 10,
    } | options
    return hauling_rows(candidates=candidates, **options)


def quantities(rows):
    return {row.type_id: row.quantity for row in rows}


@pytest.mark.embedded
def test_a_shared_budget_goes_to_the_most_profit_per_isk_first():
    # Per ISK, CHEAP earns 1.0 and RICH 0.5: all 10 CHEAP (100 ISK), then 4 RICH with the rest.
    rows = haul_rows(budget=D(500))
    assert quantities(rows) == {1: 4, 2: 10}
    assert [row.type_id for row in rows] == [1, 2]  # by net profit: 200, then 100
    assert sum(row.buy_cost for row in rows) == D(500)
    assert rows[0].net_profit == D(200) and rows[0].profit_per_jump == D(20)


def test_a_shared_hold_goes_to_the_most_profit_per_m3_first():
    # Per m3, RICH earns 50 and CHEAP 1: all 10 RICH (10 m3), then 4 CHEAP in the 40 m3 left.
    rows = haul_rows(cargo_m3=D(50))
    assert quantities(rows) == {1: 10, 2: 4}
    assert sum(row.volume_m3 for row in rows) == D(50)


def test_the_scarcer_resource_decides_the_density():
    # Budget 500 and hold 50: one unit of either uses a fifth of one of them; RICH pays 50 for
    # it, CHEAP 10, so RICH takes the whole budget.
    assert quantities(haul_rows(budget=D(500), cargo_m3=D(50))) == {1: 5}


def test_independent_allocation_gives_every_type_the_whole_budget():
    rows = haul_rows(budget=D(500), allocation="independent")
    assert quantities(rows) == {1: 5, 2: 10}


def test_without_limits_sharing_changes_nothing():
    # Only the trip's total differs: independent rows do not add up to one trip.
    shared = haul_rows()
    assert {row.trip_profit for row in shared} == {D(600)}
    assert [replace(row, trip_profit=None) for row in shared] == haul_rows(allocation="independent")
    assert quantities(haul_rows()) == {1: 10, 2: 10}


def test_rows_carry_every_column_and_their_plan():
    [row, _] = haul_rows(sales_tax=D("0.05"))
    assert row.type_id == 1 and row.type_name == "Dear and small"
    assert row.quantity == 10
    assert row.buy_cost == D("1000.00")
    assert row.sell_revenue == D("1500.00")
    assert row.fees_and_tax == D("75")
    assert row.net_profit == D("425")
    assert row.roi == D("0.425")
    assert row.volume_m3 == D(10)
    assert row.jumps == 10 and row.profit_per_jump == D("42.5")
    assert row.plan.sells == (Fill(D("150.00"), 10),)
    assert all(hasattr(row, column) for column in HAULING_COLUMNS)


def test_profit_per_jump_is_empty_for_a_same_system_or_unknown_route():
    assert {row.profit_per_jump for row in haul_rows(jumps=0)} == {None}
    assert {row.profit_per_jump for row in haul_rows(jumps=None)} == {None}


def test_rows_sort_by_any_column_and_refuse_unknown_ones():
    assert [r.type_id for r in haul_rows(order_by="-roi")] == [2, 1]  # 100 % vs 50 %
    assert [r.type_id for r in haul_rows(order_by="volume_m3")] == [1, 2]
    with pytest.raises(TradingInputError) as error:
        haul_rows(order_by="-profit")
    assert error.value.param == "sort"


def test_a_type_that_does_not_pay_gets_no_row():
    loss = HaulCandidate(3, D(1), [BookOrder(D(10), 5)], [BookOrder(D(9), 5)])
    empty = HaulCandidate(4, D(1), [], [])
    assert quantities(haul_rows(candidates=[RICH, loss, empty])) == {1: 10}
    assert haul_rows(candidates=[]) == []


def test_relist_mode_reads_bs_best_ask():
    candidate = HaulCandidate(
        type_id=5, unit_volume=D(1), sell_orders_at_a=ASKS_A, best_ask_at_b=D("150.00")
    )
    [row] = haul_rows(
        candidates=[candidate], mode="relist", sales_tax=TAX, broker_fee=D("0.03"), jumps=5
    )
    assert row.net_profit == D("1932.64")
    assert row.fees_and_tax == D("959.36")
    assert row.profit_per_jump == D("386.528")


def test_a_candidates_own_max_quantity_is_kept_when_sharing():
    capped = HaulCandidate(
        type_id=6,
        unit_volume=D(1),
        sell_orders_at_a=ASKS_A,
        best_ask_at_b=D("150.00"),
        max_quantity=25,
    )
    [row] = haul_rows(candidates=[capped], mode="relist", budget=D(10**9))
    assert row.quantity == 25


def test_sharing_replans_a_type_so_min_volume_still_holds():
    # Type 7 alone would sell 30 into the min-30 order; after the dense type 8 takes 1000 of the
    # 3000 budget it is allotted 19 units, too few for that order: it is re-planned to sell 10
    # into the next order instead, and leaves the rest of its share unspent.
    picky = HaulCandidate(7, D(1), MIN_ASKS, MIN_BIDS)
    dense = HaulCandidate(8, D(1), [BookOrder(D(10), 100)], [BookOrder(D(20), 100)])
    rows = {row.type_id: row for row in haul_rows(candidates=[picky, dense], budget=D(3000))}
    assert rows[8].quantity == 100
    assert rows[7].plan.sells == (Fill(D("125.00"), 10),)
    assert rows[7].net_profit == D("250")
    assert rows[7].buy_cost + rows[8].buy_cost <= D(3000)


@pytest.mark.parametrize(
    ("param", "options"),
    [
        ("mode", {"mode": "teleport"}),
        ("allocation", {"allocation": "fair"}),
        ("jumps", {"jumps": -1}),
        ("budget", {"budget": D(-5)}),
        ("sales_tax", {"sales_tax": "abc"}),
        ("broker_fee", {"broker_fee": D(1)}),
    ],
)
def test_many_types_refuse_a_bad_parameter_by_name(param, options):
    with pytest.raises(TradingInputError) as error:
        haul_rows(**options)
    assert error.value.param == param


def test_a_broken_candidate_is_named_by_its_type():
    broken = HaulCandidate(9, D(1), [BookOrder(D(-1), 5)], [])
    with pytest.raises(TradingInputError, match="type 9"):
        haul_rows(candidates=[broken])
    with pytest.raises(TradingInputError) as error:
        haul_rows(candidates=[HaulCandidate(10, D(-1), [], [])])
    assert error.value.param == "unit_volume"


def test_thousands_of_types_are_quick():
    rng = random.Random(5)
    candidates = []
    for type_id in range(3000):
        base = D(rng.randint(100, 1_000_000)) / 100
        asks = [BookOrder(base + D(n) / 10, rng.randint(1, 500)) for n in range(20)]
        bids = [BookOrder(base * D("1.05") - D(n) / 10, rng.randint(1, 500)) for n in range(20)]
        candidates.append(HaulCandidate(type_id, D(rng.choice([1, 5, 10])), asks, bids))
    started = time.perf_counter()
    rows = haul_rows(candidates=candidates, budget=D(500_000_000), cargo_m3=D(60_000))
    assert time.perf_counter() - started < 5.0  # ~0.3 s on a laptop; generous for a busy box
    assert rows and sum(row.buy_cost for row in rows) <= D(500_000_000)


# --- properties ----------------------------------------------------------------------------------

prices = st.integers(min_value=1, max_value=20_000).map(lambda cents: D(cents) / 100)
asks_strategy = st.lists(
    st.builds(BookOrder, prices, st.integers(min_value=0, max_value=40)), max_size=8
)
bids_strategy = st.lists(
    st.builds(
        BookOrder,
        prices,
        st.integers(min_value=0, max_value=40),
        st.integers(min_value=1, max_value=50),
    ),
    max_size=8,
    unique_by=lambda order: order.price,
)
limits = {
    "budget": st.none() | st.decimals(min_value=0, max_value=50_000, places=2),
    "cargo_m3": st.none() | st.decimals(min_value=0, max_value=500, places=1),
    "unit_volume": st.sampled_from([D(0), D("0.01"), D("0.5"), D(1), D("2.5"), D(10)]),
    "sales_tax": st.decimals(min_value=0, max_value=D("0.08"), places=4),
    "max_quantity": st.none() | st.integers(min_value=0, max_value=200),
}


def check_plan(plan, *, budget, cargo_m3, unit_volume, max_quantity, fee_rate, tax_rate):
    if plan is None:
        return
    assert plan.quantity > 0
    assert sum(fill.quantity for fill in plan.buys) == plan.quantity
    assert sum(fill.quantity for fill in plan.sells) == plan.quantity
    assert budget is None or plan.buy_cost <= budget
    assert cargo_m3 is None or plan.volume_m3 <= cargo_m3
    assert max_quantity is None or plan.quantity <= max_quantity
    assert plan.volume_m3 == unit_volume * plan.quantity
    assert plan.buy_cost == sum(fill.price * fill.quantity for fill in plan.buys)
    assert plan.sell_revenue == sum(fill.price * fill.quantity for fill in plan.sells)
    assert plan.sales_tax == tax_rate * plan.sell_revenue
    assert plan.broker_fees == fee_rate * plan.sell_revenue
    assert plan.net_profit == plan.sell_revenue - plan.buy_cost - plan.fees_and_tax
    assert plan.net_profit > 0


@settings(max_examples=300, deadline=None)
@given(asks=asks_strategy, bids=bids_strategy, **limits)
def test_an_instant_plan_keeps_every_limit_and_adds_up(
    asks, bids, budget, cargo_m3, unit_volume, sales_tax, max_quantity
):
    plan = instant(
        asks=asks,
        bids=bids,
        budget=budget,
        cargo_m3=cargo_m3,
        unit_volume=unit_volume,
        sales_tax=sales_tax,
        max_quantity=max_quantity,
    )
    check_plan(
        plan,
        budget=budget,
        cargo_m3=cargo_m3,
        unit_volume=unit_volume,
        max_quantity=max_quantity,
        fee_rate=0,
        tax_rate=sales_tax,
    )
    if plan is None:
        return
    for sale in plan.sells:
        [order] = [bid for bid in bids if bid.price == sale.price]
        assert sale.quantity <= order.volume_remain
        assert sale.quantity >= min(order.min_volume, order.volume_remain)
        # Every unit of the plan earns something: even the dearest one bought.
        assert sale.price * (1 - sales_tax) > max(fill.price for fill in plan.buys)


def unit_by_unit(asks, bids, *, budget, units, keep):
    """The instant walk spelled out one unit at a time (all min_volume 1)."""
    ask_units = sorted(order.price for order in asks for _ in range(order.volume_remain))
    bid_units = sorted(order.price for order in bids for _ in range(order.volume_remain))[::-1]
    cost = revenue = D(0)
    quantity = 0
    for ask, bid in zip(ask_units, bid_units, strict=False):
        if ask >= bid * keep or (units is not None and quantity == units):
            break
        if budget is not None and cost + ask > budget:
            break
        quantity, cost, revenue = quantity + 1, cost + ask, revenue + bid
    return quantity, cost, revenue


@settings(max_examples=300, deadline=None)
@given(
    asks=asks_strategy,
    bids=st.lists(st.builds(BookOrder, prices, st.integers(0, 40)), max_size=8),
    **limits,
)
def test_the_instant_walk_matches_the_walk_unit_by_unit(
    asks, bids, budget, cargo_m3, unit_volume, sales_tax, max_quantity
):
    plan = instant(
        asks=asks,
        bids=bids,
        budget=budget,
        cargo_m3=cargo_m3,
        unit_volume=unit_volume,
        sales_tax=sales_tax,
        max_quantity=max_quantity,
    )
    caps = [max_quantity] if max_quantity is not None else []
    if cargo_m3 is not None and unit_volume:
        caps.append(int(cargo_m3 // unit_volume))
    expected = unit_by_unit(
        asks, bids, budget=budget, units=min(caps) if caps else None, keep=1 - sales_tax
    )
    got = (0, D(0), D(0)) if plan is None else (plan.quantity, plan.buy_cost, plan.sell_revenue)
    assert got == expected


@settings(max_examples=200, deadline=None)
@given(
    asks=asks_strategy,
    best_ask=st.none() | prices,
    fee=st.decimals(min_value=0, max_value=D("0.05"), places=4),
    **limits,
)
def test_a_relist_plan_keeps_every_limit_and_adds_up(
    asks, best_ask, fee, budget, cargo_m3, unit_volume, sales_tax, max_quantity
):
    plan = relist(
        asks=asks,
        best_ask=best_ask,
        budget=budget,
        cargo_m3=cargo_m3,
        unit_volume=unit_volume,
        sales_tax=sales_tax,
        broker_fee=fee,
        max_quantity=max_quantity,
    )
    check_plan(
        plan,
        budget=budget,
        cargo_m3=cargo_m3,
        unit_volume=unit_volume,
        max_quantity=max_quantity,
        fee_rate=fee,
        tax_rate=sales_tax,
    )
    if plan is not None:
        [sale] = plan.sells
        assert sale.price < best_ask


@settings(max_examples=150, deadline=None)
@given(
    books=st.lists(st.tuples(asks_strategy, bids_strategy), min_size=1, max_size=6),
    unit_volumes=st.lists(st.sampled_from([D(0), D("0.5"), D(3)]), min_size=6, max_size=6),
    budget=limits["budget"],
    cargo_m3=limits["cargo_m3"],
    sales_tax=limits["sales_tax"],
)
def test_a_shared_trip_never_exceeds_the_budget_or_the_hold(
    books, unit_volumes, budget, cargo_m3, sales_tax
):
    candidates = [
        HaulCandidate(type_id, unit_volumes[type_id], asks, bids)
        for type_id, (asks, bids) in enumerate(books)
    ]
    shared = haul_rows(candidates=candidates, budget=budget, cargo_m3=cargo_m3, sales_tax=sales_tax)
    assert budget is None or sum(row.buy_cost for row in shared) <= budget
    assert cargo_m3 is None or sum(row.volume_m3 for row in shared) <= cargo_m3
    independent = {
        row.type_id: row
        for row in haul_rows(
            candidates=candidates,
            budget=budget,
            cargo_m3=cargo_m3,
            sales_tax=sales_tax,
            allocation="independent",
        )
    }
    for row in shared:
        assert row.net_profit > 0
        assert row.net_profit == row.sell_revenue - row.buy_cost - row.fees_and_tax
        # Sharing never gives a type more than it would take alone.
        assert row.quantity <= independent[row.type_id].quantity


def test_the_best_prices_tell_which_types_are_worth_loading_books_for():
    def may_pay(**prices):
        return hauling_may_pay(sales_tax=TAX, broker_fee=D("0.03"), **prices)

    # 100 < 130 * 0.95 = 123.50; 124 is not
    assert may_pay(mode="instant", best_ask_at_a=D(100), best_bid_at_b=D(130))
    assert not may_pay(mode="instant", best_ask_at_a=D("123.50"), best_bid_at_b=D(130))
    assert not may_pay(mode="instant", best_ask_at_a=D(100), best_bid_at_b=None)
    assert not may_pay(mode="instant", best_ask_at_a=None, best_bid_at_b=D(130))
    # 149.90 * 0.92 = 137.908
    assert may_pay(mode="relist", best_ask_at_a=D("137.90"), best_ask_at_b=D(150))
    assert not may_pay(mode="relist", best_ask_at_a=D("137.91"), best_ask_at_b=D(150))
    assert not may_pay(mode="relist", best_ask_at_a=D("0.01"), best_ask_at_b=D("0.01"))
    with pytest.raises(TradingInputError):
        may_pay(mode="both", best_ask_at_a=D(1))


@settings(max_examples=200, deadline=None)
@given(asks=asks_strategy, bids=bids_strategy, sales_tax=limits["sales_tax"])
def test_a_type_the_best_prices_rule_out_never_has_a_plan(asks, bids, sales_tax):
    live_asks = [order.price for order in asks if order.volume_remain]
    live_bids = [order.price for order in bids if order.volume_remain]
    may = hauling_may_pay(
        mode="instant",
        best_ask_at_a=min(live_asks, default=None),
        best_bid_at_b=max(live_bids, default=None),
        sales_tax=sales_tax,
    )
    if not may:
        assert instant(asks=asks, bids=bids, sales_tax=sales_tax) is None


def test_prices_straight_from_json_are_read_exactly():
    asks = [BookOrder(100.1, 10), BookOrder("100.2", 5)]
    bids = [BookOrder(200, 15)]
    plan = instant(asks=asks, bids=bids, sales_tax=0)
    assert plan.buy_cost == D("1502.0")  # 10 * 100.1 + 5 * 100.2, no binary noise
    with pytest.raises(TradingInputError) as error:
        instant(asks=[BookOrder(None, 1)])
    assert error.value.param == "sell_orders_at_a"
