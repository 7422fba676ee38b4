"""The ledger maths on hand-made trading histories, each small enough to check on paper."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from market.ledger.profit import (
    JournalEntry,
    LedgerInputError,
    OrderVersion,
    Transaction,
    realized_profit,
)

PILOT = 90000001
ALT = 90000002
TRITANIUM = 34
PYERITE = 35
JITA = 60003760

D = Decimal


def at(day: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, second, tzinfo=UTC)


def buy(tid, when, qty, price, *, type_id=TRITANIUM, character=PILOT) -> Transaction:
    return Transaction(
        transaction_id=tid,
        date=when,
        type_id=type_id,
        quantity=qty,
        unit_price=D(price),
        is_buy=True,
        location_id=JITA,
        character_id=character,
    )


def sell(tid, when, qty, price, *, type_id=TRITANIUM, character=PILOT) -> Transaction:
    return Transaction(
        transaction_id=tid,
        date=when,
        type_id=type_id,
        quantity=qty,
        unit_price=D(price),
        is_buy=False,
        location_id=JITA,
        character_id=character,
    )


def entry(jid, when, ref_type, amount, *, character=PILOT, context=None, context_type=None):
    return JournalEntry(
        id=jid,
        date=when,
        ref_type=ref_type,
        amount=D(amount),
        character_id=character,
        context_id=context,
        context_id_type=context_type,
    )


def tax(jid, when, amount, *, sale=None, character=PILOT) -> JournalEntry:
    if sale is None:
        return entry(jid, when, "transaction_tax", amount, character=character)
    return entry(
        jid,
        when,
        "transaction_tax",
        amount,
        character=character,
        context=sale,
        context_type="market_transaction_id",
    )


def broker_fee(jid, when, amount, *, order=None, character=PILOT) -> JournalEntry:
    if order is None:
        return entry(jid, when, "brokers_fee", amount, character=character)
    return entry(
        jid,
        when,
        "brokers_fee",
        amount,
        character=character,
        context=order,
        context_type="market_order_id",
    )


def order(oid, issued, *, price, volume, type_id=TRITANIUM, is_buy=False, character=PILOT):
    return OrderVersion(
        order_id=oid,
        type_id=type_id,
        character_id=character,
        issued=issued,
        price=D(price),
        volume_total=volume,
        is_buy_order=is_buy,
        location_id=JITA,
    )


# --- FIFO --------------------------------------------------------------------------------------


@pytest.mark.embedded
def test_it_sells_the_oldest_lot_first():
    result = realized_profit(
        transactions=[
            buy(1, at(1), 10, "5.00"),
            buy(2, at(2), 10, "7.00"),
            sell(3, at(3), 10, "9.00"),
        ]
    )

    assert result.by_type[TRITANIUM].cost_of_sales == D("50.00")
    assert result.by_type[TRITANIUM].realized_profit == D("40.00")
    left = result.inventory[TRITANIUM]
    assert (left.quantity, left.cost, left.unit_cost) == (10, D("70.00"), D("7.00"))
    assert [lot.transaction_id for lot in left.lots] == [2]


def test_it_splits_a_lot_when_a_sale_needs_only_part_of_it():
    result = realized_profit(
        transactions=[
            buy(1, at(1), 10, "5.00"),
            sell(2, at(2), 4, "8.00"),
            sell(3, at(3), 4, "9.00"),
        ]
    )

    assert [sale.profit for sale in result.sales] == [D("12.00"), D("16.00")]
    assert result.totals.realized_profit == D("28.00")
    (lot,) = result.inventory[TRITANIUM].lots
    assert (lot.transaction_id, lot.quantity, lot.unit_cost) == (1, 2, D("5.00"))


def test_it_costs_one_sale_across_several_earlier_buys():
    result = realized_profit(
        transactions=[
            buy(1, at(1), 5, "10.00"),
            buy(2, at(2), 5, "12.00"),
            buy(3, at(3), 5, "14.00"),
            sell(4, at(4), 12, "20.00"),
        ]
    )

    (sale,) = result.sales
    assert (sale.known_quantity, sale.cost, sale.revenue) == (12, D("138.00"), D("240.00"))
    assert sale.profit == D("102.00")
    assert result.inventory[TRITANIUM].quantity == 3
    assert result.inventory[TRITANIUM].cost == D("42.00")


def test_it_reports_only_the_units_beyond_known_inventory_as_cost_unknown():
    result = realized_profit(transactions=[buy(1, at(1), 5, "10.00"), sell(2, at(2), 8, "20.00")])

    (sale,) = result.sales
    assert sale.cost_unknown
    assert (sale.known_quantity, sale.unknown_quantity) == (5, 3)
    line = result.by_type[TRITANIUM]
    assert line.realized_profit == D("50.00")  # not 110: the 3 unknown units are no profit
    assert (line.unknown_cost_quantity, line.unknown_cost_revenue) == (3, D("60.00"))
    assert result.unknown_cost_sales == [sale]
    assert TRITANIUM not in result.inventory


@pytest.mark.embedded
def test_it_never_shows_a_sale_with_no_known_buy_as_profit():
    result = realized_profit(transactions=[sell(1, at(1), 100, "4.50")])

    assert result.totals.realized_profit == D("0.00")
    assert result.totals.revenue == D("0.00")
    assert result.totals.unknown_cost_revenue == D("450.00")
    assert result.inventory == {}


def test_it_starts_a_fresh_lot_after_a_cost_unknown_sale_instead_of_covering_it():
    result = realized_profit(
        transactions=[
            sell(1, at(1), 5, "11.00"),
            buy(2, at(2), 5, "10.00"),
            sell(3, at(3), 5, "12.00"),
        ]
    )

    assert [sale.unknown_quantity for sale in result.sales] == [5, 0]
    assert result.sales[1].profit == D("10.00")
    assert result.inventory == {}


def test_it_orders_trades_by_date_then_transaction_id_whatever_order_they_arrive_in():
    moment = at(5)
    trades = [
        buy(20, moment, 10, "5.00"),
        sell(10, moment, 10, "6.00"),  # same second, lower id: the sale came first
        buy(5, at(4), 2, "1.00"),
    ]

    forward = realized_profit(transactions=trades)
    backward = realized_profit(transactions=list(reversed(trades)))

    assert forward == backward
    (sale,) = forward.sales
    assert (sale.known_quantity, sale.unknown_quantity) == (2, 8)
    assert forward.inventory[TRITANIUM].quantity == 10


def test_it_keeps_inventory_per_type():
    result = realized_profit(
        transactions=[
            buy(1, at(1), 10, "5.00", type_id=TRITANIUM),
            buy(2, at(1), 10, "50.00", type_id=PYERITE),
            sell(3, at(2), 10, "60.00", type_id=PYERITE),
            sell(4, at(2), 15, "6.00", type_id=TRITANIUM),
        ]
    )

    assert result.by_type[PYERITE].realized_profit == D("100.00")
    assert result.by_type[TRITANIUM].realized_profit == D("10.00")
    assert result.by_type[TRITANIUM].unknown_cost_quantity == 5
    assert list(result.by_type) == [TRITANIUM, PYERITE]


# --- average cost ------------------------------------------------------------------------------


@pytest.mark.embedded
def test_it_costs_sales_at_the_average_of_what_is_held_when_asked_to():
    trades = [buy(1, at(1), 10, "5.00"), buy(2, at(2), 10, "7.00"), sell(3, at(3), 10, "9.00")]

    result = realized_profit(transactions=trades, method="average")

    assert result.method == "average"
    assert result.by_type[TRITANIUM].cost_of_sales == D("60.00")
    assert result.by_type[TRITANIUM].realized_profit == D("30.00")
    left = result.inventory[TRITANIUM]
    assert (left.quantity, left.cost, left.lots) == (10, D("60.00"), ())


def test_it_keeps_average_cost_exact_to_the_cent_when_it_does_not_divide():
    trades = [
        buy(1, at(1), 1, "3.33"),
        buy(2, at(1), 1, "3.33"),
        buy(3, at(1), 1, "3.34"),
        sell(4, at(2), 1, "5.00"),
        sell(5, at(3), 1, "5.00"),
        sell(6, at(4), 1, "5.00"),
    ]

    result = realized_profit(transactions=trades, method="average")

    assert [sale.cost for sale in result.sales] == [D("3.33"), D("3.34"), D("3.33")]
    assert result.totals.cost_of_sales == D("10.00")
    assert result.inventory == {}


def test_it_applies_the_cost_unknown_rule_under_average_cost_too():
    trades = [buy(1, at(1), 4, "10.00"), buy(2, at(1), 4, "20.00"), sell(3, at(2), 10, "30.00")]

    result = realized_profit(transactions=trades, method="average")

    (sale,) = result.sales
    assert (sale.known_quantity, sale.cost, sale.unknown_quantity) == (8, D("120.00"), 2)
    assert result.totals.realized_profit == D("120.00")
    assert result.totals.unknown_cost_revenue == D("60.00")


def test_it_refuses_an_unknown_cost_method():
    with pytest.raises(LedgerInputError, match="unknown cost method 'lifo'"):
        realized_profit(transactions=[], method="lifo")


# --- days and characters -----------------------------------------------------------------------


def test_it_books_profit_on_the_day_and_character_of_the_sale():
    trades = [
        buy(1, at(1), 10, "5.00", character=PILOT),
        sell(2, at(2), 4, "8.00", character=ALT),  # hauled to the alt and sold there
        sell(3, at(3), 6, "9.00", character=PILOT),
    ]

    result = realized_profit(transactions=trades)

    assert {day: line.realized_profit for day, line in result.by_day.items()} == {
        date(2026, 1, 1): D("0.00"),
        date(2026, 1, 2): D("12.00"),
        date(2026, 1, 3): D("24.00"),
    }
    assert result.by_day[date(2026, 1, 1)].bought_cost == D("50.00")
    assert {c: line.realized_profit for c, line in result.by_character.items()} == {
        PILOT: D("24.00"),
        ALT: D("12.00"),
    }


def test_it_counts_days_in_utc():
    new_york = timezone(timedelta(hours=-5))
    late_evening = datetime(2026, 1, 2, 21, 30, tzinfo=new_york)  # 02:30 UTC on the 3rd

    result = realized_profit(
        transactions=[buy(1, at(1), 1, "1.00"), sell(2, late_evening, 1, "3.00")]
    )

    assert result.by_day[date(2026, 1, 3)].realized_profit == D("2.00")


# --- fees --------------------------------------------------------------------------------------


def test_it_charges_a_transaction_tax_to_the_sale_it_references():
    result = realized_profit(
        transactions=[buy(1, at(1), 10, "100.00"), sell(2, at(2), 10, "150.00")],
        fees=[tax(500, at(2), "-54.00", sale=2)],
    )

    (sale,) = result.sales
    assert (sale.tax, sale.profit) == (D("54.00"), D("446.00"))
    assert result.by_type[TRITANIUM].sales_tax == D("54.00")
    assert result.fee_charges[0].matched_by == "reference"


def test_it_pairs_a_tax_with_the_market_transaction_entry_written_just_before_it():
    moment = at(2, 9, 15, 7)
    trades = [
        buy(1, at(1), 10, "100.00", type_id=TRITANIUM),
        buy(2, at(1), 10, "100.00", type_id=PYERITE),
        # Two sales in the same second: time alone could not tell their taxes apart.
        sell(3, moment, 10, "150.00", type_id=TRITANIUM),
        sell(4, moment, 10, "110.00", type_id=PYERITE),
    ]
    journal = [
        entry(
            700,
            moment,
            "market_transaction",
            "1500.00",
            context=3,
            context_type="market_transaction_id",
        ),
        tax(701, moment, "-50.63"),
        entry(
            702,
            moment,
            "market_transaction",
            "1100.00",
            context=4,
            context_type="market_transaction_id",
        ),
        tax(703, moment, "-37.13"),
    ]

    result = realized_profit(transactions=trades, fees=journal)

    assert result.by_type[TRITANIUM].sales_tax == D("50.63")
    assert result.by_type[PYERITE].sales_tax == D("37.13")
    assert {charge.matched_by for charge in result.fee_charges} == {"journal"}


def test_it_matches_a_tax_without_reference_to_the_same_characters_sale_at_that_moment():
    trades = [
        buy(1, at(1), 10, "100.00"),
        sell(2, at(2, 10, 0, 0), 10, "150.00"),
        sell(3, at(2, 10, 30, 0), 5, "160.00", type_id=PYERITE),
    ]
    journal = [
        tax(800, at(2, 10, 0, 1), "-54.00"),  # a tick later than the sale
        tax(801, at(2, 10, 0, 0), "-9.99", character=ALT),  # the alt sold nothing then
    ]

    result = realized_profit(transactions=trades, fees=journal)

    assert result.sales[0].tax == D("54.00")
    assert result.sales[1].unknown_tax == D("0.00")
    assert [(c.journal_id, c.matched_by) for c in result.fee_charges] == [
        (801, "unattributed"),
        (800, "time"),
    ]


def test_it_shares_a_tax_between_sales_of_the_same_moment_by_their_value():
    moment = at(2)
    trades = [
        buy(1, at(1), 10, "50.00", type_id=TRITANIUM),
        buy(2, at(1), 10, "50.00", type_id=PYERITE),
        sell(3, moment, 10, "100.00", type_id=TRITANIUM),  # 1000 ISK
        sell(4, moment, 10, "300.00", type_id=PYERITE),  # 3000 ISK
    ]

    result = realized_profit(transactions=trades, fees=[tax(900, moment, "-80.01")])

    assert result.by_type[TRITANIUM].sales_tax == D("20.00")
    assert result.by_type[PYERITE].sales_tax == D("60.01")
    assert result.totals.sales_tax == D("80.01")


def test_it_splits_the_tax_of_a_partly_cost_unknown_sale_between_its_parts():
    result = realized_profit(
        transactions=[buy(1, at(1), 5, "8.00"), sell(2, at(2), 10, "10.00")],
        fees=[tax(910, at(2), "-4.00", sale=2)],
    )

    (sale,) = result.sales
    assert (sale.tax, sale.unknown_tax) == (D("2.00"), D("2.00"))
    assert result.totals.realized_profit == D("8.00")  # 50 - 40 - 2
    assert result.totals.unknown_cost_tax == D("2.00")


def test_it_leaves_a_tax_far_from_any_sale_unattributed():
    result = realized_profit(
        transactions=[buy(1, at(1), 1, "1.00"), sell(2, at(2, 12), 1, "3.00")],
        fees=[tax(920, at(2, 13), "-0.10")],
    )

    assert result.sales[0].tax == D("0.00")
    assert result.by_type[TRITANIUM].realized_profit == D("2.00")
    assert result.totals.unattributed_fees == D("0.10")
    assert result.totals.realized_profit == D("1.90")


def test_it_charges_a_broker_fee_to_the_type_of_the_order_it_references():
    trades = [buy(1, at(1), 10, "5.00"), sell(2, at(5), 10, "8.00")]
    orders = [order(4242, at(3), price="8.00", volume=10)]

    result = realized_profit(
        transactions=trades, fees=[broker_fee(930, at(3), "-2.40", order=4242)], orders=orders
    )

    assert result.by_type[TRITANIUM].broker_fees == D("2.40")
    assert result.by_type[TRITANIUM].realized_profit == D("27.60")
    # Paid when the order was placed, so it lands on that day, not on the day of the sale.
    assert result.by_day[date(2026, 1, 3)].realized_profit == D("-2.40")
    (charge,) = result.fee_charges
    assert (charge.order_id, charge.matched_by) == (4242, "reference")


def test_it_charges_a_broker_fee_to_the_order_issued_at_that_moment():
    placed, modified = at(3, 8), at(4, 8, 30)
    orders = [
        order(51, placed, price="8.00", volume=10),
        order(51, modified, price="7.90", volume=10),  # a later version of the same order
        order(52, modified, price="90.00", volume=1, type_id=PYERITE, character=ALT),
    ]
    journal = [
        broker_fee(940, placed, "-2.40"),
        broker_fee(941, modified + timedelta(seconds=1), "-1.00"),
    ]

    result = realized_profit(transactions=[], fees=journal, orders=orders)

    assert result.by_type[TRITANIUM].broker_fees == D("3.40")
    assert PYERITE not in result.by_type  # the alt's order, not this pilot's
    assert {charge.matched_by for charge in result.fee_charges} == {"order_issued"}


def test_it_shares_a_broker_fee_between_orders_issued_together_by_their_value():
    moment = at(3, 8)
    orders = [
        order(61, moment, price="10.00", volume=10),  # 100 ISK
        order(62, moment, price="100.00", volume=3, type_id=PYERITE),  # 300 ISK
        order(63, moment, price="100.00", volume=0, type_id=36),  # nothing to place
    ]
    fee = broker_fee(945, moment, "-4.01")

    result = realized_profit(transactions=[], fees=[fee], orders=orders)

    assert result.by_type[TRITANIUM].broker_fees == D("1.00")
    assert result.by_type[PYERITE].broker_fees == D("3.01")
    assert 36 not in result.by_type
    assert result == realized_profit(transactions=[], fees=[fee], orders=orders[::-1])


def test_it_charges_a_broker_fee_to_a_trade_at_that_moment_when_no_order_is_known():
    result = realized_profit(
        transactions=[buy(1, at(1, 9), 3, "100.00", type_id=PYERITE)],
        fees=[broker_fee(950, at(1, 9), "-4.50")],
    )

    assert result.by_type[PYERITE].broker_fees == D("4.50")
    assert result.fee_charges[0].matched_by == "time"


def test_it_keeps_an_unmatched_broker_fee_out_of_every_item_but_in_the_totals():
    result = realized_profit(
        transactions=[buy(1, at(1), 10, "5.00"), sell(2, at(2), 10, "8.00")],
        fees=[broker_fee(960, at(3), "-7.00")],
    )

    assert result.by_type[TRITANIUM].realized_profit == D("30.00")
    assert result.totals.realized_profit == D("23.00")
    assert result.by_day[date(2026, 1, 3)].unattributed_fees == D("7.00")
    assert result.by_character[PILOT].realized_profit == D("23.00")
    (charge,) = result.unattributed_fees
    assert (charge.journal_id, charge.type_id, charge.amount) == (960, None, D("7.00"))


def test_it_treats_a_positive_fee_amount_as_a_refund():
    result = realized_profit(
        transactions=[buy(1, at(1), 1, "10.00"), sell(2, at(2), 1, "10.00")],
        fees=[tax(970, at(2), "1.00", sale=2)],
    )

    assert result.totals.sales_tax == D("-1.00")
    assert result.totals.realized_profit == D("1.00")


def test_it_ignores_journal_entries_that_are_not_market_fees():
    journal = [
        entry(
            980, at(2), "market_escrow", "-1000.00", context=1, context_type="market_transaction_id"
        ),
        entry(981, at(2), "bounty_prizes", "250000.00"),
        entry(
            982,
            at(2),
            "market_transaction",
            "80.00",
            context=2,
            context_type="market_transaction_id",
        ),
    ]

    result = realized_profit(
        transactions=[buy(1, at(1), 10, "5.00"), sell(2, at(2), 10, "8.00")], fees=journal
    )

    assert result.fee_charges == []
    assert result.totals.realized_profit == D("30.00")


@pytest.mark.parametrize("method", ["fifo", "average"])
def test_it_accounts_for_a_whole_trading_round_with_fees(method):
    """A buy order placed, filled in three parts, the items relisted, modified, sold in two parts."""
    trades = [
        buy(101, at(1, 10, 0, 5), 40, "4.00"),
        buy(102, at(1, 11), 35, "4.00"),
        buy(103, at(1, 14), 25, "4.10"),  # the order was modified up to 4.10 first
        sell(104, at(3, 9), 60, "5.50"),
        sell(105, at(4, 16), 50, "5.40"),  # 10 more than known: a leftover from older stock
    ]
    orders = [
        order(1, at(1, 10), price="4.00", volume=100, is_buy=True),
        order(1, at(1, 13), price="4.10", volume=100, is_buy=True),
        order(2, at(2, 18), price="5.50", volume=110),
        order(2, at(4, 15), price="5.40", volume=110),
    ]
    journal = [
        broker_fee(1001, at(1, 10), "-12.00", order=1),
        broker_fee(1002, at(1, 13), "-1.23"),  # older journal rows carry no order reference
        broker_fee(1003, at(2, 18), "-18.15", order=2),
        entry(
            1004,
            at(3, 9),
            "market_transaction",
            "330.00",
            context=104,
            context_type="market_transaction_id",
        ),
        tax(1005, at(3, 9), "-11.14"),
        broker_fee(1006, at(4, 15), "-1.78"),
        tax(1007, at(4, 16), "-9.11"),
    ]

    result = realized_profit(transactions=trades, fees=journal, orders=orders, method=method)

    cost_of_100 = D("402.50")  # 75 at 4.00 and 25 at 4.10
    line = result.by_type[TRITANIUM]
    assert line.bought_cost == cost_of_100
    assert (line.quantity_sold, line.unknown_cost_quantity) == (100, 10)
    assert line.cost_of_sales == cost_of_100
    assert line.revenue == D("330.00") + 40 * D("5.40")
    assert line.broker_fees == D("33.16")
    # The second sale is 40 known units of 50: 4/5 of its 9.11 tax is a cost of profit.
    assert line.sales_tax == D("11.14") + D("7.29")
    assert line.realized_profit == D("546.00") - cost_of_100 - D("33.16") - D("18.43")
    assert line.unknown_cost_revenue == D("54.00")
    assert line.unknown_cost_tax == D("1.82")
    assert result.inventory == {}
    assert result.unattributed_fees == []
    assert [d.day for d in result.by_day] == [1, 2, 3, 4]


# --- hostile and broken input ------------------------------------------------------------------


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"quantity": 0}, "transaction 7, field quantity: must be positive"),
        ({"quantity": -3}, "transaction 7, field quantity: must be positive"),
        ({"quantity": 2.5}, "transaction 7, field quantity: must be a whole number"),
        ({"quantity": True}, "transaction 7, field quantity: must be a whole number"),
        ({"unit_price": D("-1")}, "transaction 7, field unit_price: must not be negative"),
        ({"unit_price": D("NaN")}, "transaction 7, field unit_price: must be a finite amount"),
        ({"unit_price": D("Infinity")}, "transaction 7, field unit_price: must be a finite amount"),
        ({"unit_price": "cheap"}, "transaction 7, field unit_price: not an amount of ISK"),
        ({"unit_price": None}, "transaction 7, field unit_price: must be an amount of ISK"),
        ({"unit_price": D("1e20")}, "transaction 7, field unit_price: must be a finite amount"),
        (
            {"quantity": 10**9, "unit_price": D("10000000")},
            "transaction 7: quantity \\* unit_price",
        ),
        ({"date": datetime(2026, 1, 1, 12)}, "transaction 7, field date: must carry a time zone"),
        ({"date": "2026-01-01"}, "transaction 7, field date: must be a datetime"),
        ({"type_id": "34"}, "transaction 7, field type_id: must be a whole number"),
        ({"is_buy": "yes"}, "transaction 7, field is_buy: must be true or false"),
    ],
)
def test_it_rejects_a_broken_transaction_naming_it_and_the_field(changes, message):
    fields = {
        "transaction_id": 7,
        "date": at(1),
        "type_id": TRITANIUM,
        "quantity": 1,
        "unit_price": D("1.00"),
        "is_buy": True,
        "character_id": PILOT,
    } | changes

    with pytest.raises(LedgerInputError, match=message):
        realized_profit(transactions=[Transaction(**fields)])


def test_it_counts_the_row_that_from_id_paging_repeats_only_once():
    repeated = sell(2, at(2), 10, "8.00")

    result = realized_profit(transactions=[buy(1, at(1), 10, "5.00"), repeated, repeated])

    assert len(result.sales) == 1
    assert result.totals.realized_profit == D("30.00")


def test_it_refuses_two_different_transactions_under_one_id():
    with pytest.raises(
        LedgerInputError, match="transaction 1 appears twice with different contents"
    ):
        realized_profit(transactions=[buy(1, at(1), 10, "5.00"), buy(1, at(1), 11, "5.00")])


def test_it_refuses_two_different_journal_entries_under_one_id():
    journal = [tax(5, at(1), "-1.00"), tax(5, at(1), "-2.00")]

    with pytest.raises(LedgerInputError, match="journal entry 5 appears twice"):
        realized_profit(transactions=[], fees=journal)


@pytest.mark.parametrize(
    ("fee", "message"),
    [
        (entry(6, datetime(2026, 1, 1), "brokers_fee", "-1.00"), "journal entry 6, field date"),
        (entry(6, at(1), "brokers_fee", D("sNaN")), "journal entry 6, field amount"),
        (
            entry(6, at(1), "brokers_fee", "-1.00", context="x", context_type="market_order_id"),
            "journal entry 6, field context_id",
        ),
    ],
)
def test_it_rejects_a_broken_journal_entry_naming_it_and_the_field(fee, message):
    with pytest.raises(LedgerInputError, match=message):
        realized_profit(transactions=[], fees=[fee])


def test_it_rejects_an_order_whose_type_changes_between_versions():
    orders = [
        order(9, at(1), price="1.00", volume=1),
        order(9, at(2), price="1.00", volume=1, type_id=PYERITE),
    ]

    with pytest.raises(LedgerInputError, match="order 9 appears with two different type ids"):
        realized_profit(transactions=[], orders=orders)


def test_it_rejects_something_that_is_not_a_transaction():
    with pytest.raises(LedgerInputError, match="expected a Transaction, got dict"):
        realized_profit(transactions=[{"transaction_id": 1}])


# --- ESI rows ----------------------------------------------------------------------------------


@pytest.mark.embedded
def test_it_reads_esi_rows_with_float_prices_into_exact_isk():
    transaction = Transaction.from_esi(
        {
            "client_id": 2112625428,
            "date": "2026-01-02T15:09:46Z",
            "is_buy": False,
            "is_personal": True,
            "journal_ref_id": 15613447213,
            "location_id": 60003760,
            "quantity": 3,
            "transaction_id": 5310346012,
            "type_id": 34,
            "unit_price": 5.01,
        },
        character_id=PILOT,
    )
    journal = JournalEntry.from_esi(
        {
            "amount": -0.68,
            "balance": 9521557812.1564,
            "date": "2026-01-02T15:09:46Z",
            "description": "Market transaction tax",
            "first_party_id": PILOT,
            "id": 15613447215,
            "ref_type": "transaction_tax",
            "second_party_id": 1000132,
        },
        character_id=PILOT,
    )
    sell_order = OrderVersion.from_esi(
        {
            "duration": 90,
            "issued": "2026-01-01T10:00:00Z",
            "location_id": 60003760,
            "order_id": 6734239591,
            "price": 5.01,
            "range": "region",
            "region_id": 10000002,
            "type_id": 34,
            "volume_remain": 0,
            "volume_total": 3,
        },
        character_id=PILOT,
    )

    assert transaction.unit_price == D("5.01")
    assert transaction.date == datetime(2026, 1, 2, 15, 9, 46, tzinfo=UTC)
    assert (journal.amount, journal.context_id) == (D("-0.68"), None)
    assert (sell_order.is_buy_order, sell_order.price) == (False, D("5.01"))
    result = realized_profit(transactions=[transaction], fees=[journal], orders=[sell_order])
    assert result.sales[0].unknown_tax == D("0.68")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"transaction_id": 1, "date": "yesterday"},
            "transaction 1, field date: not an ISO 8601 date",
        ),
        ({"transaction_id": "1"}, "transaction '1', field transaction_id: must be a whole number"),
        (
            {"transaction_id": 1, "date": "2026-01-02T15:09:46Z", "type_id": 34, "quantity": 1},
            "transaction 1, field unit_price: must be an amount of ISK",
        ),
        (
            {
                "transaction_id": 1,
                "date": "2026-01-02T15:09:46Z",
                "type_id": 34,
                "quantity": 1,
                "unit_price": float("nan"),
            },
            "transaction 1, field unit_price: must be a finite amount",
        ),
    ],
)
def test_it_names_the_field_of_a_broken_esi_row(row, message):
    with pytest.raises(LedgerInputError, match=message):
        Transaction.from_esi(row, character_id=PILOT)


# --- scale -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["fifo", "average"])
def test_it_accounts_for_a_hundred_thousand_transactions_in_seconds(method):
    start = at(1, 0)
    trades = []
    journal = []
    for i in range(100_000):
        when = start + timedelta(minutes=i)
        type_id = 1000 + i % 500
        if i % 3 == 2:
            trades.append(sell(i, when, 7, "12.00", type_id=type_id))
            journal.append(tax(10_000_000 + i, when, "-3.02"))
        else:
            trades.append(buy(i, when, 5, "10.00", type_id=type_id))
            journal.append(broker_fee(10_000_000 + i, when, "-1.50"))

    began = time.perf_counter()
    result = realized_profit(transactions=trades, fees=journal, method=method)
    elapsed = time.perf_counter() - began

    assert len(result.sales) == 33_333
    assert result.unattributed_fees == []
    # Linear work is well under a second or two here; quadratic would take minutes.
    assert elapsed < 20, f"{elapsed:.1f}s for 100k transactions"
