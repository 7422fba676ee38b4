"""Properties of the ledger maths that must hold for any trading history, checked by hypothesis."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from market.ledger.profit import (
    JournalEntry,
    LedgerResult,
    OrderVersion,
    ProfitLine,
    Transaction,
    realized_profit,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
TYPES = (34, 35, 36)
CHARACTERS = (90000001, 90000002)
FEE_TYPES = ("transaction_tax", "brokers_fee", "market_escrow", "market_transaction")
ZERO = Decimal("0.00")

examples = settings(max_examples=150, deadline=None)

# Few distinct seconds, so trades and fees often share a moment and every matching rule runs.
moments = st.integers(min_value=0, max_value=3 * 86400).map(
    lambda s: START + timedelta(seconds=s - s % 3600 + s % 4)
)
isk = st.integers(min_value=1, max_value=10_000_000).map(lambda cents: Decimal(cents) / 100)

trade_rows = st.tuples(
    moments,
    st.sampled_from(TYPES),
    st.integers(min_value=1, max_value=500),
    isk,
    st.booleans(),
    st.sampled_from(CHARACTERS),
)


@st.composite
def histories(draw, *, with_fees: bool = True) -> dict:
    rows = draw(st.lists(trade_rows, max_size=40))
    ids = draw(st.permutations(range(1000, 1000 + len(rows))))  # ids need not follow dates
    transactions = [
        Transaction(
            transaction_id=tid,
            date=when,
            type_id=type_id,
            quantity=quantity,
            unit_price=price,
            is_buy=is_buy,
            character_id=character,
        )
        for tid, (when, type_id, quantity, price, is_buy, character) in zip(ids, rows, strict=True)
    ]
    orders = draw(
        st.lists(
            st.builds(
                OrderVersion,
                order_id=st.integers(min_value=1, max_value=6),
                type_id=st.just(34),
                character_id=st.sampled_from(CHARACTERS),
                issued=moments,
                price=isk,
                volume_total=st.integers(min_value=0, max_value=1000),
                is_buy_order=st.booleans(),
            ),
            max_size=8,
        )
    )
    fees = []
    if with_fees:
        references = st.one_of(
            st.none(),
            st.tuples(st.sampled_from(ids or [1]), st.just("market_transaction_id")),
            st.tuples(st.integers(min_value=1, max_value=8), st.just("market_order_id")),
        )
        for jid in draw(
            st.lists(st.integers(min_value=1, max_value=120), unique=True, max_size=30)
        ):
            reference = draw(references)
            fees.append(
                JournalEntry(
                    id=jid,
                    date=draw(moments),
                    ref_type=draw(st.sampled_from(FEE_TYPES)),
                    amount=-draw(isk) if draw(st.integers(0, 9)) else draw(isk),
                    character_id=draw(st.sampled_from(CHARACTERS)),
                    context_id=reference[0] if reference else None,
                    context_id_type=reference[1] if reference else None,
                )
            )
        # Some sales with the journal pair the game writes: the sale's entry, then its tax.
        for n, tx in enumerate(t for t in transactions if not t.is_buy):
            if draw(st.booleans()):
                shared = {"date": tx.date, "character_id": tx.character_id}
                fees.append(
                    JournalEntry(
                        id=5000 + 2 * n,
                        ref_type="market_transaction",
                        amount=tx.quantity * tx.unit_price,
                        context_id=tx.transaction_id,
                        context_id_type="market_transaction_id",
                        **shared,
                    )
                )
                fees.append(
                    JournalEntry(
                        id=5001 + 2 * n, ref_type="transaction_tax", amount=-draw(isk), **shared
                    )
                )
    return {"transactions": transactions, "fees": fees, "orders": orders}


@st.composite
def fully_known_histories(draw) -> dict:
    """Every sale covered by earlier buys; every fee tied to a trade by reference."""
    rows = draw(st.lists(trade_rows, min_size=1, max_size=40))
    rows.sort(key=lambda row: row[0])
    held: dict[int, int] = defaultdict(int)
    transactions, fees = [], []
    for tid, (when, type_id, quantity, price, wants_sell, character) in enumerate(rows, start=1):
        selling = wants_sell and held[type_id] > 0
        if selling:
            quantity = min(quantity, held[type_id])
        held[type_id] += -quantity if selling else quantity
        transactions.append(
            Transaction(
                transaction_id=tid,
                date=when,
                type_id=type_id,
                quantity=quantity,
                unit_price=price,
                is_buy=not selling,
                character_id=character,
            )
        )
        if draw(st.booleans()):
            fees.append(
                JournalEntry(
                    id=tid,
                    date=when,
                    ref_type="transaction_tax" if selling else "brokers_fee",
                    amount=-draw(isk),
                    character_id=character,
                    context_id=tid,
                    context_id_type="market_transaction_id",
                )
            )
    return {"transactions": transactions, "fees": fees}


def line_sum(lines) -> ProfitLine:
    total = ProfitLine()
    for line in lines:
        total.add(line)
    return total


def cash_flow(history: dict) -> Decimal:
    """What the wallet gained from trading: sales in, buys and market fees out."""
    flow = ZERO
    for tx in history["transactions"]:
        flow += (-1 if tx.is_buy else 1) * tx.quantity * tx.unit_price
    for fee in history["fees"]:
        if fee.ref_type in ("transaction_tax", "brokers_fee"):
            flow += fee.amount
    return flow


@examples
@given(histories(), st.sampled_from(["fifo", "average"]))
def test_it_accounts_for_any_valid_history_consistently(history, method):
    result = realized_profit(**history, method=method)

    assert line_sum(result.by_day.values()) == result.totals
    assert line_sum(result.by_character.values()) == result.totals
    by_type = line_sum(result.by_type.values())
    assert by_type.unattributed_fees == ZERO
    assert (
        by_type.realized_profit - result.totals.unattributed_fees == result.totals.realized_profit
    )
    # Splitting fees between items never loses or invents a cent.
    fee_costs = sum(
        (-f.amount for f in history["fees"] if f.ref_type in ("transaction_tax", "brokers_fee")),
        ZERO,
    )
    assert sum((charge.amount for charge in result.fee_charges), ZERO) == fee_costs


@examples
@given(histories(), st.sampled_from(["fifo", "average"]))
def test_it_conserves_quantities(history, method):
    result = realized_profit(**history, method=method)

    for type_id, line in result.by_type.items():
        held = result.inventory.get(type_id)
        assert line.bought_quantity == line.quantity_sold + (held.quantity if held else 0)
    sold = sum(tx.quantity for tx in history["transactions"] if not tx.is_buy)
    assert result.totals.quantity_sold + result.totals.unknown_cost_quantity == sold
    for sale in result.sales:
        assert sale.known_quantity + sale.unknown_quantity == sale.quantity
        assert sale.tax + sale.unknown_tax == sum(
            (c.amount for c in result.fee_charges if c.transaction_id == sale.transaction_id), ZERO
        )


@examples
@given(histories(), st.sampled_from(["fifo", "average"]))
def test_it_balances_profit_inventory_and_cash_for_any_history(history, method):
    result = realized_profit(**history, method=method)
    totals = result.totals

    unknown_net = totals.unknown_cost_revenue - totals.unknown_cost_tax
    assert totals.realized_profit == cash_flow(history) - unknown_net + result.inventory_cost


@examples
@given(fully_known_histories(), st.sampled_from(["fifo", "average"]))
def test_it_balances_profit_and_inventory_against_cash_when_every_cost_is_known(history, method):
    result = realized_profit(**history, method=method)

    assert result.unknown_cost_sales == []
    assert result.unattributed_fees == []
    revenue = sum(
        (t.quantity * t.unit_price for t in history["transactions"] if not t.is_buy), ZERO
    )
    buys = sum((t.quantity * t.unit_price for t in history["transactions"] if t.is_buy), ZERO)
    fees = sum((-f.amount for f in history["fees"]), ZERO)
    assert result.totals.realized_profit == revenue - buys - fees + result.inventory_cost


@examples
@given(histories())
def test_it_gives_fifo_and_average_cost_the_same_total_economics(history):
    fifo = realized_profit(**history, method="fifo")
    average = realized_profit(**history, method="average")

    # Only the timing of profit differs: what is realized plus what is held at cost agrees.
    assert (
        fifo.totals.realized_profit - fifo.inventory_cost
        == average.totals.realized_profit - average.inventory_cost
    )
    assert [s.unknown_quantity for s in fifo.sales] == [s.unknown_quantity for s in average.sales]
    assert {t: i.quantity for t, i in fifo.inventory.items()} == {
        t: i.quantity for t, i in average.inventory.items()
    }


@examples
@given(histories(), st.randoms(use_true_random=False), st.sampled_from(["fifo", "average"]))
def test_it_gives_the_same_result_whatever_order_the_input_comes_in(history, random, method):
    shuffled = {key: random.sample(rows, len(rows)) for key, rows in history.items()}

    assert realized_profit(**shuffled, method=method) == realized_profit(**history, method=method)


@examples
@given(histories(with_fees=False))
def test_it_keeps_the_newest_buys_in_fifo_inventory(history):
    result = realized_profit(**history, method="fifo")

    for type_id, held in result.inventory.items():
        buys = sorted(
            (t for t in history["transactions"] if t.is_buy and t.type_id == type_id),
            key=lambda t: (t.date, t.transaction_id),
        )
        lots = list(held.lots)
        newest = buys[len(buys) - len(lots) :]
        assert [lot.transaction_id for lot in lots] == [b.transaction_id for b in newest]
        assert [lot.unit_cost for lot in lots] == [b.unit_price for b in newest]
        # Only the oldest remaining lot may have been partly sold.
        assert [lot.quantity for lot in lots[1:]] == [b.quantity for b in newest[1:]]
        assert 0 < lots[0].quantity <= newest[0].quantity
        assert held.cost == sum((lot.cost for lot in lots), ZERO)


@examples
@given(histories())
def test_it_reports_every_fee_where_a_page_can_show_it(history):
    result: LedgerResult = realized_profit(**history)

    for charge in result.fee_charges:
        if charge.type_id is None:
            assert charge.matched_by == "unattributed"
        else:
            assert charge.type_id in result.by_type
