"""Station trading ranked by what a trader can earn a day, and the reasons not to trust a row:
pure maths on hand-made quotes (no database)."""

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.trading import Quote, TradingInputError, station_trading_rows
from market.trading.flags import (
    FLAG_LABELS,
    FLAG_RULES,
    flags_merge,
    has_no_volume,
    hidden_summary,
    is_bait_bid,
    loss_flags,
    side_flags,
    station_flags,
)

pytestmark = pytest.mark.embedded

# Skill-0 rates: 8 % sales tax, 3 % broker fee.
TAX, FEE = D("0.08"), D("0.03")


def rows(quotes, volumes=None, **options):
    options.setdefault("sales_tax", TAX)
    options.setdefault("broker_fee", FEE)
    return station_trading_rows(quotes=quotes, daily_volumes=volumes or {}, **options)


def watched(type_id, bid, ask, *, sold, bought, name="", **sides):
    """A quote at a station whose trades we have watched: ``sold`` units a day into buy orders,
    ``bought`` from sell orders; busy sides unless ``sides`` say otherwise."""
    sides.setdefault("best_bid_volume", 100_000)
    sides.setdefault("best_ask_volume", 100_000)
    return Quote(type_id, D(bid), D(ask), name, sold_daily=D(sold), bought_daily=D(bought), **sides)


# --- achievable daily profit ---------------------------------------------------------------------


def test_achievable_units_are_the_slower_legs_volume_times_the_share():
    # profit = 120 - 100 - 3 - 3.6 - 9.6 = 3.80 a unit.
    [row] = rows([watched(34, "100.00", "120.00", sold=900, bought=600)], {34: D(5000)})
    assert row.station_daily_volume == D(600)  # the slower leg: bought from sell orders
    assert row.volume_basis == "station"
    assert row.achievable_units == D("60.00")  # 10 % of 600
    assert row.achievable_daily_profit == D("228.0000")  # 3.80 x 60
    # The region's figure stays beside it: 3.80 x 5,000.
    assert row.daily_profit == D("19000.00")


def test_the_users_share_and_cap_bound_the_units():
    quote = watched(34, "100.00", "120.00", sold=900, bought=600)
    [shared] = rows([quote], market_share=D("0.25"))
    assert shared.achievable_units == D("150.00")  # 25 % of 600
    [capped] = rows([quote], market_share=D("0.25"), volume_cap=100)
    assert capped.achievable_units == D(100)  # the cap binds below 150
    assert capped.achievable_daily_profit == D("380.00")
    [loose] = rows([quote], market_share=D("0.25"), volume_cap=1000)
    assert loose.achievable_units == D("150.00")  # a cap above the share changes nothing
    [everything] = rows([quote], market_share=D(1))
    assert everything.achievable_units == D(600)


def test_an_unwatched_station_falls_back_to_the_regions_volume_and_says_so():
    [row] = rows([Quote(34, D("100.00"), D("120.00"))], {34: D(250)})
    assert row.station_daily_volume is None  # never a made-up station figure
    assert row.volume_basis == "region"
    assert row.achievable_units == D("25.00")  # 10 % of the region's 250
    assert row.achievable_daily_profit == D("95.0000")


def test_a_watched_station_where_nothing_trades_earns_nothing_there():
    [row] = rows([watched(34, "100.00", "120.00", sold=0, bought=0)], {34: D(250)})
    assert row.station_daily_volume == 0 and row.volume_basis == "station"
    assert row.achievable_daily_profit == 0
    # The region trades it: the row is not "no volume", it just earns nothing here.
    assert row.flags == ()


def test_the_default_order_is_achievable_daily_profit_and_unknowns_sort_last():
    book = [
        watched(1, "100.00", "120.00", sold=100, bought=100),  # 3.80 x 10 = 38
        watched(2, "100.00", "140.00", sold=10, bought=50),  # 21.60 x 1 = 21.60
        watched(3, "100.00", "120.00", sold=1000, bought=2000),  # 3.80 x 100 = 380
        Quote(4, D("100.00"), D("120.00")),  # no station volume, no region volume: 0
    ]
    assert [row.type_id for row in rows(book)] == [3, 1, 2, 4]
    by_station = rows(book, order_by="-station_daily_volume")
    assert [row.type_id for row in by_station] == [3, 1, 2, 4]  # 4's is unknown: last
    by_station_up = rows(book, order_by="station_daily_volume")
    assert [row.type_id for row in by_station_up] == [2, 1, 3, 4]  # last either way


@pytest.mark.parametrize("share", [D(0), D("-0.1"), D("1.01"), "lots", D("NaN")])
def test_a_share_outside_0_to_1_is_refused_by_name(share):
    with pytest.raises(TradingInputError) as error:
        rows([Quote(34, D(1), D(2))], market_share=share)
    assert error.value.param == "market_share"


@given(
    bid=st.decimals(min_value=D("0.01"), max_value=D("1e12"), places=2),
    ask=st.decimals(min_value=D("0.01"), max_value=D("1e12"), places=2),
    sold=st.decimals(min_value=D(0), max_value=D("1e8"), places=2),
    bought=st.decimals(min_value=D(0), max_value=D("1e8"), places=2),
    share=st.decimals(min_value=D("0.0001"), max_value=D(1), places=4),
    cap=st.none() | st.decimals(min_value=D(0), max_value=D("1e7"), places=0),
)
def test_achievable_profit_is_exactly_profit_times_the_bounded_units(
    bid, ask, sold, bought, share, cap
):
    [row] = rows(
        [Quote(1, bid, ask, sold_daily=sold, bought_daily=bought)],
        {},
        volume_cap=cap,
        market_share=share,
    )
    units = min(sold, bought) * share
    if cap is not None:
        units = min(units, cap)
    assert row.achievable_units == units
    assert row.achievable_daily_profit == row.profit * units


# --- flags, one rule at a time -------------------------------------------------------------------


def test_a_bid_whose_min_volume_exceeds_what_the_trader_trades_is_bait():
    # 10 % of 400 = 40 units a day; every buy order at the best bid wants 1,000 at least.
    bait = watched(34, "5000000.00", "6000000.00", sold=400, bought=400, best_bid_min_volume=1000)
    [row] = rows([bait])
    assert row.flags == ("bait_min_volume",)
    # A trader who takes half of a 2,000-a-day market trades 1,000 a day: they can sell into it.
    busy = watched(34, "5000000.00", "6000000.00", sold=2000, bought=2000, best_bid_min_volume=1000)
    assert rows([busy], market_share=D("0.5"))[0].flags == ()
    # Their own cap of 500 a day makes it a bait again.
    assert rows([busy], market_share=D("0.5"), volume_cap=500)[0].flags == ("bait_min_volume",)
    # A min volume under the day's units is an ordinary order.
    ordinary = watched(34, "5000000.00", "6000000.00", sold=400, bought=400, best_bid_min_volume=30)
    assert rows([ordinary])[0].flags == ()


def test_a_one_unit_price_far_from_the_depth_price_is_an_outlier():
    # One unit asked at 1.00 M where the best 5 % of the sell side averages 1.50 M (33 % away);
    # profit = 1.00 M x 0.89 - 0.50 M x 1.03 > 0, so only the outlier speaks.
    one = dict(best_ask_volume=1, depth_ask=D("1500000.00"))
    far = watched(34, "500000.00", "1000000.00", sold=50, bought=50, **one)
    assert rows([far])[0].flags == ("outlier",)
    assert rows([far])[0].depth_price_ask == D("1500000.00")
    # Within 25 % of the depth price, or carried by two units, it is a price like any other.
    near = watched(
        34,
        "500000.00",
        "1000000.00",
        sold=50,
        bought=50,
        best_ask_volume=1,
        depth_ask=D("1200000.00"),
    )
    two = watched(
        34,
        "500000.00",
        "1000000.00",
        sold=50,
        bought=50,
        best_ask_volume=2,
        depth_ask=D("1500000.00"),
    )
    assert rows([near])[0].flags == rows([two])[0].flags == ()
    # Without a depth price (not computed yet) nothing is judged an outlier.
    unknown = watched(34, "500000.00", "1000000.00", sold=50, bought=50, best_ask_volume=1)
    assert rows([unknown])[0].flags == ()


def test_a_best_price_worth_less_than_the_isk_floor_is_a_tiny_order():
    # 3 units asked at 99 ISK: 297 ISK on offer.
    tiny = watched(34, "50.00", "99.00", sold=500, bought=500, best_ask_volume=3)
    assert rows([tiny])[0].flags == ("tiny_order",)
    # 102 units at 99 ISK: 10,098 ISK, over the 10,000 ISK floor.
    enough = watched(34, "50.00", "99.00", sold=500, bought=500, best_ask_volume=102)
    assert rows([enough])[0].flags == ()
    # Units at the best price unknown (None): not judged.
    assert rows([Quote(34, D("50.00"), D("99.00"))], {34: D(5)})[0].flags == ()


def test_no_station_trades_and_no_region_history_is_no_volume():
    unwatched = Quote(34, D("100.00"), D("130.00"))
    assert rows([unwatched])[0].flags == ("no_volume",)
    quiet = watched(34, "100.00", "130.00", sold=0, bought=0)
    assert rows([quiet])[0].flags == ("no_volume",)
    # Either the region's history or trades at the station clear it.
    assert rows([unwatched], {34: D("0.5")})[0].flags == ()
    one_sided = watched(34, "100.00", "130.00", sold=3, bought=0)
    assert rows([one_sided])[0].flags == ()


def test_a_row_that_loses_money_is_flagged_even_at_exactly_zero():
    # 10.20 x 0.89 - 10 x 1.03 = -1.222.
    [loser] = rows([watched(35, "10.00", "10.20", sold=10**6, bought=10**6)])
    assert loser.profit < 0 and loser.flags == ("loss",)
    # ask x (1 - 0.03 - 0.08) = bid x 1.03: 103 x 0.89 is not; with no fees 10 = 10 is.
    [even] = rows(
        [watched(36, "10.00", "10.00", sold=10**6, bought=10**6)], sales_tax=0, broker_fee=0
    )
    assert even.profit == 0 and even.flags == ("loss",)


def test_several_reasons_come_in_the_labels_order():
    # A one-unit 3 ISK bid asking for 50 at least, no volume anywhere, and a loss.
    worst = Quote(
        34,
        D("3.00"),
        D("3.10"),
        best_bid_volume=1,
        best_ask_volume=1,
        best_bid_min_volume=50,
        depth_bid=D("10.00"),
    )
    [row] = rows([worst])
    assert row.flags == ("no_volume", "bait_min_volume", "outlier", "tiny_order", "loss")
    assert list(row.flags) == [code for code in FLAG_LABELS if code in row.flags]


def test_every_code_has_a_label_and_a_rule_for_its_badge():
    assert set(FLAG_RULES) == set(FLAG_LABELS)
    assert "10,000 ISK" in FLAG_RULES["tiny_order"]
    assert "25%" in FLAG_RULES["outlier"]


def test_the_hidden_summary_counts_each_reason_most_common_first():
    flags = [("no_volume",), ("no_volume", "tiny_order"), ("bait_min_volume",), ("no_volume",)]
    assert hidden_summary(flags) == [
        ("no_volume", "no volume", 3),
        ("bait_min_volume", "bait order", 1),
        ("tiny_order", "tiny order", 1),
    ]
    assert hidden_summary([]) == []


PRICES = st.decimals(min_value=D("0.01"), max_value=D("1e10"), places=2)
UNITS = st.none() | st.integers(min_value=0, max_value=10**6)


@given(
    bid=PRICES,
    ask=PRICES,
    bid_units=UNITS,
    ask_units=UNITS,
    depth_bid=st.none() | PRICES,
    depth_ask=st.none() | PRICES,
    min_volume=st.integers(min_value=1, max_value=10**4),
    quantity=st.decimals(min_value=D(0), max_value=D(10**5), places=2),
    station=st.none() | st.decimals(min_value=D(0), max_value=D(100), places=1),
    region=st.decimals(min_value=D(0), max_value=D(100), places=1),
    profit=st.decimals(min_value=D(-100), max_value=D(100), places=2),
)
def test_the_rows_flags_are_the_single_rules_merged(
    bid,
    ask,
    bid_units,
    ask_units,
    depth_bid,
    depth_ask,
    min_volume,
    quantity,
    station,
    region,
    profit,
):
    """``station_flags`` is written out for speed; it must say what the single rules say."""
    expected = flags_merge(
        [] if bid_units is None else side_flags(best=bid, units_at_best=bid_units, depth=depth_bid),
        [] if ask_units is None else side_flags(best=ask, units_at_best=ask_units, depth=depth_ask),
        ["bait_min_volume"] if is_bait_bid(min_volume=min_volume, quantity=quantity) else [],
        ["no_volume"]
        if has_no_volume(station_daily_units=station, region_daily_volume=region)
        else [],
        loss_flags(profit),
    )
    found = station_flags(
        best_bid=bid,
        best_ask=ask,
        bid_units=bid_units,
        ask_units=ask_units,
        depth_bid=depth_bid,
        depth_ask=depth_ask,
        bid_min_volume=min_volume,
        quantity=quantity,
        station_daily_units=station,
        region_daily_volume=region,
        profit=profit,
    )
    assert list(found) == expected
