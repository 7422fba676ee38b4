"""Station trading maths and EVE's price grid, on hand-computed books."""

import time
from dataclasses import dataclass
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.trading import (
    STATION_TRADING_COLUMNS,
    Quote,
    TradingInputError,
    price_tick,
    price_undercut,
    station_quotes,
    station_trading_rows,
)

# Skill-0 rates: 8 % sales tax, 3 % broker fee.
TAX = D("0.08")
FEE = D("0.03")


def rows(quotes, volumes=None, **options):
    options.setdefault("sales_tax", TAX)
    options.setdefault("broker_fee", FEE)
    return station_trading_rows(quotes=quotes, daily_volumes=volumes or {}, **options)


# --- formulas ------------------------------------------------------------------------------------


@pytest.mark.embedded
def test_it_computes_fees_tax_profit_and_margin_per_unit():
    [row] = rows([Quote(34, D("100.00"), D("120.00"), "Tritanium")], {34: D(250)})
    assert row.type_id == 34 and row.type_name == "Tritanium"
    assert (row.best_bid, row.best_ask) == (D("100.00"), D("120.00"))
    assert row.broker_fee_bid == D("3.00")  # 3 % of the bid
    assert row.broker_fee_ask == D("3.60")  # 3 % of the ask
    assert row.sales_tax == D("9.60")  # 8 % of the ask
    assert row.profit == D("3.80")  # 120 - 100 - 3 - 3.6 - 9.6
    assert row.margin == D("0.038")  # 3.80 / 100
    assert row.daily_volume == D(250)
    assert row.daily_profit == D("950.00")  # 3.80 * 250


@pytest.mark.embedded
def test_it_uses_the_traders_own_rates():
    [row] = rows(
        [Quote(1, D("1000000.00"), D("1100000.00"))],
        {1: D(12)},
        sales_tax=D("0.036"),
        broker_fee=D("0.0135"),
    )
    assert row.broker_fee_bid == D("13500")
    assert row.broker_fee_ask == D("14850")
    assert row.sales_tax == D("39600")
    assert row.profit == D("32050")  # 100 000 - 13 500 - 14 850 - 39 600
    assert row.margin == D("0.03205")
    assert row.daily_profit == D("384600")


def test_zero_rates_leave_the_spread_as_profit():
    [row] = rows([Quote(1, D("10.00"), D("10.50"))], sales_tax=0, broker_fee=0)
    assert row.profit == D("0.50") and row.margin == D("0.05")


def test_the_volume_cap_limits_daily_profit_only_when_it_binds():
    quotes = [Quote(34, D("100.00"), D("120.00"))]
    assert rows(quotes, {34: D(250)}, volume_cap=100)[0].daily_profit == D("380.00")
    assert rows(quotes, {34: D(250)}, volume_cap=1000)[0].daily_profit == D("950.00")
    assert rows(quotes, {34: D("12.5")}, volume_cap=D(0))[0].daily_profit == 0


def test_a_type_without_history_trades_zero_a_day():
    [row] = rows([Quote(34, D("100.00"), D("120.00"))])
    assert row.daily_volume == 0 and row.daily_profit == 0 and row.profit == D("3.80")


def test_a_fractional_average_volume_is_kept():
    [row] = rows([Quote(34, D("100.00"), D("120.00"))], {34: D("33.4")})
    assert row.daily_profit == D("126.920")  # 3.80 * 33.4


@pytest.mark.embedded
def test_it_lists_only_types_with_both_a_bid_and_an_ask():
    quotes = [
        Quote(1, D("5.00"), None),
        Quote(2, None, D("6.00")),
        Quote(3, None, None),
        Quote(4, D("5.00"), D("6.00")),
    ]
    assert [row.type_id for row in rows(quotes)] == [4]


def test_a_crossed_book_shows_a_loss_and_a_profit_filter_drops_it():
    crossed = [Quote(1, D("130.00"), D("120.00"))]
    [row] = rows(crossed)
    assert row.profit == D("-27.10")  # 120 - 130 - 3.9 - 3.6 - 9.6
    assert str(row.daily_profit) == "0"  # not "-0.0000" in a table or JSON
    assert row.margin < 0
    assert rows(crossed, min_profit=0) == []


def test_nothing_in_gives_nothing_out():
    assert rows([]) == []
    assert rows(iter([])) == []


def test_huge_prices_stay_exact():
    [row] = rows([Quote(1, D("98765432109.87"), D("123456789012.34"))], {1: D(1_000_000)})
    expected = (
        D("123456789012.34")
        - D("98765432109.87")
        - FEE * D("98765432109.87")
        - FEE * D("123456789012.34")
        - TAX * D("123456789012.34")
    )
    assert row.profit == expected
    assert row.daily_profit == expected * 1_000_000


# --- filters and sorting -------------------------------------------------------------------------

BOOK = [
    Quote(34, D("100.00"), D("120.00"), "Tritanium"),  # profit 3.80, margin 0.038
    Quote(35, D("10.00"), D("11.50"), "Pyerite"),  # 11.5 - 10 - 0.3 - 0.345 - 0.92 = -0.065
    # 1 000 000 - 300 000 - 330 000 - 880 000 = -510 000: a loss at skill-0 rates
    Quote(36, D("10000000.00"), D("11000000.00"), "Mexallon"),
    Quote(37, D("100000.00"), D("140000.00"), "Isogen"),  # 40 000 - 3 000 - 4 200 - 11 200
]
VOLUMES = {34: D(250), 35: D(10_000), 36: D(3), 37: D(40)}


def profits():
    return {row.type_id: row for row in rows(BOOK, VOLUMES)}


def test_each_filter_is_inclusive_and_they_combine():
    every = profits()
    assert every[35].profit == D("-0.065") and every[35].margin == D("-0.0065")
    assert every[36].profit == D("-510000") and every[36].margin == D("-0.051")
    assert every[37].profit == D("21600") and every[37].margin == D("0.216")

    assert {r.type_id for r in rows(BOOK, VOLUMES, min_margin=D("0.038"))} == {34, 37}
    assert {r.type_id for r in rows(BOOK, VOLUMES, min_margin=D("0.2"))} == {37}
    assert {r.type_id for r in rows(BOOK, VOLUMES, min_daily_volume=250)} == {34, 35}
    assert {r.type_id for r in rows(BOOK, VOLUMES, min_profit=D("3.80"))} == {34, 37}
    # max_price bounds the dearer leg: Tritanium's ask is 120.00
    assert {r.type_id for r in rows(BOOK, VOLUMES, max_price=D("120.00"))} == {34, 35}
    assert {r.type_id for r in rows(BOOK, VOLUMES, max_price=D("119.99"))} == {35}
    assert {r.type_id for r in rows(BOOK, VOLUMES, type_ids={35, 36})} == {35, 36}
    combined = rows(BOOK, VOLUMES, min_profit=0, min_daily_volume=100, max_price=D("1000"))
    assert [r.type_id for r in combined] == [34]


def test_rows_come_by_daily_profit_and_sort_by_any_column():
    # daily profit: 34 = 950, 35 = -650, 36 = -1 530 000, 37 = 864 000
    assert [r.type_id for r in rows(BOOK, VOLUMES)] == [37, 34, 35, 36]
    assert [r.type_id for r in rows(BOOK, VOLUMES, order_by="margin")] == [36, 35, 34, 37]
    assert [r.type_id for r in rows(BOOK, VOLUMES, order_by="type_name")] == [37, 36, 35, 34]
    assert [r.type_id for r in rows(BOOK, VOLUMES, order_by="-best_bid")] == [36, 37, 34, 35]
    for column in STATION_TRADING_COLUMNS:
        assert len(rows(BOOK, VOLUMES, order_by=column)) == 4


def test_ties_sort_by_type_id_in_both_directions():
    same = [Quote(9, D("1.00"), D("2.00")), Quote(3, D("1.00"), D("2.00"))]
    assert [r.type_id for r in rows(same, order_by="profit")] == [3, 9]
    assert [r.type_id for r in rows(same, order_by="-profit")] == [3, 9]


@pytest.mark.parametrize("order_by", ["volume", "-", "profit; drop table", "__class__"])
def test_an_unknown_sort_column_is_named(order_by):
    with pytest.raises(TradingInputError) as error:
        rows(BOOK, VOLUMES, order_by=order_by)
    assert error.value.param == "sort" and "daily_profit" in str(error.value)


# --- hostile input -------------------------------------------------------------------------------


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("sales_tax", D("1")),
        ("sales_tax", D("-0.01")),
        ("sales_tax", "8%"),
        ("sales_tax", D("NaN")),
        ("broker_fee", float("inf")),
        ("broker_fee", True),
        ("broker_fee", None),
        ("volume_cap", -1),
        ("min_daily_volume", "-5"),
        ("max_price", "a lot"),
        ("min_margin", "Infinity"),
        ("min_profit", [1]),
    ],
)
def test_a_bad_parameter_is_refused_by_name(param, value):
    with pytest.raises(TradingInputError) as error:
        rows(BOOK, VOLUMES, **{param: value})
    assert error.value.param == param
    assert str(error.value).startswith(f"{param}: ")


def test_rates_and_limits_may_come_as_text_or_floats_from_a_form():
    from_strings = rows(BOOK, VOLUMES, sales_tax="0.08", broker_fee=" 0.03 ", min_profit="0")
    from_floats = rows(BOOK, VOLUMES, sales_tax=0.08, broker_fee=0.03, min_profit=0.0)
    assert from_strings == from_floats == rows(BOOK, VOLUMES, min_profit=0)


def test_non_positive_prices_are_ignored_rather_than_divided_by():
    assert rows([Quote(1, D("0"), D("5.00")), Quote(2, D("-1"), D("5.00"))]) == []


# --- quotes from raw orders ----------------------------------------------------------------------


@dataclass
class Order:
    type_id: int
    location_id: int
    is_buy_order: bool
    price: D


JITA_4_4 = 60003760
PERIMETER_TTT = 1028858195912  # a citadel in the same system: not the station's market


@pytest.mark.embedded
def test_quotes_count_only_orders_located_at_the_station():
    orders = [
        Order(34, JITA_4_4, True, D("4.95")),
        Order(34, JITA_4_4, True, D("5.01")),
        Order(34, PERIMETER_TTT, True, D("5.50")),  # a better bid, but elsewhere
        Order(34, JITA_4_4, False, D("5.40")),
        Order(34, JITA_4_4, False, D("5.35")),
        Order(34, PERIMETER_TTT, False, D("5.02")),
        Order(35, JITA_4_4, True, D("10.00")),
        Order(36, PERIMETER_TTT, False, D("60.00")),
    ]
    quotes = station_quotes(orders=orders, location_id=JITA_4_4, type_names={34: "Tritanium"})
    assert quotes == [
        Quote(34, D("5.01"), D("5.35"), "Tritanium"),
        Quote(35, D("10.00"), None, ""),
    ]
    assert [r.type_id for r in rows(quotes)] == [34]


def test_no_orders_at_the_station_give_no_quotes():
    assert station_quotes(orders=[Order(34, 1, True, D(1))], location_id=2) == []


# --- EVE's price grid ----------------------------------------------------------------------------


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("price", "tick"),
    [
        ("1234567", "1000"),
        ("12.34", "0.01"),
        ("1.05", "0.01"),
        ("0.01", "0.01"),
        ("150", "0.1"),
        ("999.9", "0.1"),
        ("1000", "1"),
        ("9999", "1"),
        ("10000", "10"),
        ("123456789012.34", "100000000"),
    ],
)
def test_the_tick_is_the_fourth_significant_digit_but_at_least_a_cent(price, tick):
    assert price_tick(D(price)) == D(tick)


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("price", "undercut"),
    [
        ("150.00", "149.90"),
        ("1234000", "1233000"),
        ("12.34", "12.33"),
        ("1000", "999.90"),  # a lower decade has a finer grid: 999.9, not 999
        ("100", "99.99"),
        ("10", "9.99"),
        ("0.02", "0.01"),
        ("1234567.89", "1234000"),  # an order older than the 4-digit rule: the grid point below
        ("1000.50", "1000"),
    ],
)
def test_undercutting_gives_the_highest_valid_price_below(price, undercut):
    assert price_undercut(D(price)) == D(undercut)


def test_nothing_undercuts_the_smallest_price():
    assert price_undercut(D("0.01")) is None


@pytest.mark.parametrize("price", [D(0), D("-5"), "cheap", D("NaN")])
def test_a_tick_needs_a_positive_price(price):
    with pytest.raises(TradingInputError) as error:
        price_tick(price)
    assert error.value.param == "price"


def _on_grid(price: D) -> bool:
    return price % price_tick(price) == 0


@given(st.decimals(min_value=D("0.02"), max_value=D("1e13"), places=2))
def test_an_undercut_is_on_the_grid_and_nothing_valid_lies_between(price):
    below = price_undercut(price)
    assert below is not None and below < price
    assert _on_grid(below)
    # The next grid point above the undercut is the price itself or above it.
    assert below + price_tick(below) >= price


@given(
    bid=st.decimals(min_value=D("0.01"), max_value=D("1e12"), places=2),
    ask=st.decimals(min_value=D("0.01"), max_value=D("1e12"), places=2),
    tax=st.decimals(min_value=D(0), max_value=D("0.08"), places=4),
    fee=st.decimals(min_value=D(0), max_value=D("0.05"), places=4),
    volume=st.decimals(min_value=D(0), max_value=D("1e9"), places=1),
)
def test_profit_is_the_spread_less_exactly_the_fees_and_tax(bid, ask, tax, fee, volume):
    [row] = rows([Quote(1, bid, ask)], {1: volume}, sales_tax=tax, broker_fee=fee)
    assert row.profit == ask * (1 - fee - tax) - bid * (1 + fee)
    assert row.profit + row.broker_fee_bid + row.broker_fee_ask + row.sales_tax == ask - bid
    assert abs(row.margin * bid - row.profit) <= abs(row.profit) * D("1e-25") + D("1e-20")
    assert row.daily_profit == row.profit * volume


def test_a_whole_hub_of_types_is_quick():
    quotes = [
        Quote(type_id, D(1000 + type_id % 997), D(1100 + type_id % 991), f"Type {type_id}")
        for type_id in range(20_000)
    ]
    volumes = {type_id: D(type_id % 500) for type_id in range(20_000)}
    started = time.perf_counter()
    result = rows(quotes, volumes, min_profit=0)
    assert time.perf_counter() - started < 2.0  # ~60 ms on a laptop; generous for a busy CI box
    assert result and all(r.profit >= 0 for r in result)


def test_book_tops_from_the_desk_serve_as_quotes():
    from market.queries import BookTop

    tops = [
        BookTop(34, "Tritanium", None, D("0.01"), D("100.00"), D("120.00"), D(0)),
        BookTop(35, "Pyerite", None, D("0.01"), None, D(1), D(0)),
    ]
    [row] = rows(tops)
    assert row.type_id == 34 and row.type_name == "Tritanium" and row.profit == D("3.80")
