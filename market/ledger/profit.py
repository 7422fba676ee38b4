"""The pilot's ledger: realized profit per item from wallet transactions, by FIFO or average cost.

Pure computation: plain dataclasses in (mirroring ESI's wallet transactions, wallet journal and
character orders), plain dataclasses out, ``Decimal`` for ISK. No database, no network.

Accounting rules
================

Money
    ISK is kept to the cent, as in game: prices and journal amounts are rounded half-even to
    0.01 ISK on the way in, and every split of an amount (average cost, a tax shared by several
    sales) hands out whole cents that add up exactly to the amount split.

Order of events
    Transactions are processed by ``(date, transaction_id)``, whatever order they arrive in, so
    the same history always gives the same result.

Inventory
    Every buy forms a lot at its unit price. Lots are pooled per item type across all the
    characters passed in (a pilot buys in Jita on one character and sells in Amarr on another)
    and across stations (hauling is part of trading). Pass one user's characters at a time.

    ``fifo``: a sale consumes the oldest lots first, splitting a lot when it needs only part.
    ``average``: a sale costs ``quantity * pool cost / pool quantity``; selling the whole pool
    costs exactly what is left in it, so no rounding residue survives.

Sales with no known buy ("cost unknown")
    When a sale needs more units than the inventory holds (items from loot, industry, a
    contract or before the history Lenny has), only the missing part is "cost unknown": its
    revenue and its share of the sales tax are reported apart (``unknown_cost_*``) and never
    counted as profit. The known part is costed normally. Inventory never goes negative: a
    later buy starts a fresh lot rather than "covering" the unknown sale.

Realized profit
    ``revenue - cost of sales - sales tax - broker fees`` where revenue and cost cover only
    the units whose cost is known. A sale's profit falls on the day (UTC) and the character of
    the sale; a broker fee falls on the day it was paid and the character that paid it. Fees
    are charged to an item as an expense when paid (not capitalised into lots), because ESI
    never says which fills an order produced. A consequence worth knowing: with every fee
    attributed and no cost-unknown sale,
    ``realized profit = sales revenue - buys cost - fees + inventory at cost``.

Matching the journal's fees to items
    Only ``transaction_tax`` and ``brokers_fee`` are fees here; ``market_transaction`` entries
    are used as links; every other ref type is ignored. A fee costs ``-amount`` (ESI writes
    fees as negative amounts; a positive one is a refund and lowers costs).

    ``transaction_tax`` is written at the same moment as the sale it taxes. It goes to:

    1. the sale named by its ``context_id`` when ``context_id_type`` is
       ``market_transaction_id`` (ESI does not fill it today, esi-issues#1369 asks for it);
    2. else the sale whose ``market_transaction`` journal entry has the id just before the
       tax entry's own id, if that sale is the same character's at the same moment (this is
       how the game writes the pair). The transactions' own ``journal_ref_id`` is not used:
       in live data it does not match any journal id;
    3. else the same character's sales nearest in time within ``FEE_MATCH_WINDOW``, shared by
       their gross value when several happened at that moment (the rate is the same for all).

    ``brokers_fee`` is paid when an order is placed or modified, so it belongs to the order's
    item, not to one transaction. It goes to:

    1. the order named by its ``context_id`` when ``context_id_type`` is ``market_order_id``
       (newer journal rows) and that order is among ``orders``; or the transaction named by a
       ``market_transaction_id`` context;
    2. else the same character's orders whose ``issued`` is nearest the fee's date within
       ``FEE_MATCH_WINDOW`` (placing or modifying an order sets ``issued``, so pass every
       version of an order seen, not only the latest), shared by order value
       (``price * volume_total``) when several were issued at that moment;
    3. else the same character's transactions nearest in time within ``FEE_MATCH_WINDOW`` (an
       order that filled partly at once), shared by gross value.

    A fee that matches nothing is "unattributed": it still lowers the day's, the character's
    and the overall realized profit, but no item's, and is listed so a page can show it.
    Guessing an item from a later, unrelated fill would misstate per-item profit instead.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from lenny.lib.money import isk_store
from market.ledger.matching import (
    _allocate,
    _fees_match,
    _journal_checked,
    _orders_checked,
    _Trade,
    _trades_checked,
)
from market.ledger.records import (
    BROKERS_FEE,
    COST_METHODS,
    FEE_MATCH_WINDOW,
    MARKET_ORDER_ID,
    MARKET_TRANSACTION,
    MARKET_TRANSACTION_ID,
    MATCHED_BY_JOURNAL,
    MATCHED_BY_ORDER_ISSUED,
    MATCHED_BY_REFERENCE,
    MATCHED_BY_TIME,
    MAX_ISK,
    TRANSACTION_TAX,
    UNATTRIBUTED,
    ZERO,
    CostMethod,
    FeeCharge,
    Inventory,
    JournalEntry,
    LedgerInputError,
    LedgerResult,
    Lot,
    OrderVersion,
    ProfitLine,
    Sale,
    Transaction,
    utc_day,
)

__all__ = [
    "BROKERS_FEE",
    "COST_METHODS",
    "FEE_MATCH_WINDOW",
    "MARKET_ORDER_ID",
    "MARKET_TRANSACTION",
    "MARKET_TRANSACTION_ID",
    "MATCHED_BY_JOURNAL",
    "MATCHED_BY_ORDER_ISSUED",
    "MATCHED_BY_REFERENCE",
    "MATCHED_BY_TIME",
    "MAX_ISK",
    "TRANSACTION_TAX",
    "UNATTRIBUTED",
    "ZERO",
    "CostMethod",
    "FeeCharge",
    "Inventory",
    "JournalEntry",
    "LedgerInputError",
    "LedgerResult",
    "Lot",
    "OrderVersion",
    "ProfitLine",
    "Sale",
    "Transaction",
    "realized_profit",
]


# --- the computation ---------------------------------------------------------------------------


def realized_profit(
    *,
    transactions: Iterable[Transaction],
    fees: Iterable[JournalEntry] = (),
    orders: Iterable[OrderVersion] = (),
    method: CostMethod = "fifo",
) -> LedgerResult:
    """Realized profit by item, day and character, inventory at cost, and cost-unknown sales.

    ``fees`` is the wallet journal (any ref types; see the module docstring for which count);
    ``orders`` helps attach broker fees to items. Raises ``LedgerInputError`` naming the row
    and field of any input it cannot account for.
    """
    if method not in COST_METHODS:
        raise LedgerInputError(
            f"unknown cost method {method!r}: choose one of {', '.join(COST_METHODS)}"
        )
    trades = _trades_checked(transactions)
    journal = _journal_checked(fees)
    order_versions = _orders_checked(orders)
    charges = _fees_match(trades=trades, journal=journal, orders=order_versions)

    tax_by_sale: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for charge in charges:
        if charge.transaction_id is not None:
            tax_by_sale[charge.transaction_id] += charge.amount

    # One line per (type, day, character), rolled up into the views at the end, so each event
    # touches one line however many views there are.
    lines: dict[tuple[int | None, date, int], ProfitLine] = defaultdict(ProfitLine)
    book = _FifoBook() if method == "fifo" else _AverageBook()
    sales: list[Sale] = []
    for trade in trades:
        tx = trade.tx
        line = lines[tx.type_id, utc_day(tx.date), tx.character_id]
        if tx.is_buy:
            book.buy(trade)
            line.add_buy(tx.quantity, trade.gross)
            continue
        known, cost = book.sell(tx.type_id, tx.quantity)
        sale = _sale(trade, known, cost, tax_by_sale.get(tx.transaction_id, ZERO))
        sales.append(sale)
        line.add_sale(sale)

    for charge in charges:
        if charge.transaction_id is not None:
            continue  # a sale's tax, already inside its sale
        lines[charge.type_id, utc_day(charge.date), charge.character_id].add_fee(charge)

    totals = ProfitLine()
    by_type: dict[int, ProfitLine] = defaultdict(ProfitLine)
    by_day: dict[date, ProfitLine] = defaultdict(ProfitLine)
    by_character: dict[int, ProfitLine] = defaultdict(ProfitLine)
    for (type_id, day, character_id), line in lines.items():
        totals.add(line)
        if type_id is not None:
            by_type[type_id].add(line)
        by_day[day].add(line)
        by_character[character_id].add(line)

    return LedgerResult(
        method=method,
        totals=totals,
        by_type=dict(sorted(by_type.items())),
        by_day=dict(sorted(by_day.items())),
        by_character=dict(sorted(by_character.items())),
        inventory=book.inventory(),
        sales=sales,
        fee_charges=charges,
    )


def _sale(trade: _Trade, known: int, cost: Decimal, tax: Decimal) -> Sale:
    tx = trade.tx
    unknown = tx.quantity - known
    if unknown:
        tax_known, tax_unknown = _allocate(tax, [Decimal(known), Decimal(unknown)])
    else:
        tax_known, tax_unknown = tax, ZERO
    return Sale(
        transaction_id=tx.transaction_id,
        date=tx.date,
        character_id=tx.character_id,
        type_id=tx.type_id,
        quantity=tx.quantity,
        unit_price=trade.price,
        known_quantity=known,
        cost=cost,
        tax=tax_known,
        unknown_quantity=unknown,
        unknown_tax=tax_unknown,
    )


class _FifoBook:
    """Lots per type, oldest first; each lot is ``[quantity left, unit cost, id, date]``."""

    def __init__(self) -> None:
        self.lots: dict[int, deque[list[Any]]] = defaultdict(deque)

    def buy(self, trade: _Trade) -> None:
        tx = trade.tx
        self.lots[tx.type_id].append([tx.quantity, trade.price, tx.transaction_id, tx.date])

    def sell(self, type_id: int, quantity: int) -> tuple[int, Decimal]:
        """Take up to ``quantity`` units from the oldest lots: (units taken, their cost)."""
        lots = self.lots[type_id]
        needed, cost = quantity, ZERO
        while needed and lots:
            lot = lots[0]
            taken = min(lot[0], needed)
            cost += taken * lot[1]
            needed -= taken
            lot[0] -= taken
            if not lot[0]:
                lots.popleft()
        return quantity - needed, cost

    def inventory(self) -> dict[int, Inventory]:
        return {
            type_id: Inventory(
                type_id=type_id,
                quantity=sum(lot[0] for lot in lots),
                cost=sum((lot[0] * lot[1] for lot in lots), ZERO),
                lots=tuple(Lot(lot[2], lot[3], lot[0], lot[1]) for lot in lots),
            )
            for type_id, lots in sorted(self.lots.items())
            if lots
        }


class _AverageBook:
    """One pool per type: ``[quantity, cost]``."""

    def __init__(self) -> None:
        self.pools: dict[int, list[Any]] = defaultdict(lambda: [0, ZERO])

    def buy(self, trade: _Trade) -> None:
        pool = self.pools[trade.tx.type_id]
        pool[0] += trade.tx.quantity
        pool[1] += trade.gross

    def sell(self, type_id: int, quantity: int) -> tuple[int, Decimal]:
        pool = self.pools[type_id]
        held, held_cost = pool
        if quantity >= held:
            # Emptying the pool takes exactly what is in it: no rounding residue is left behind.
            pool[0], pool[1] = 0, ZERO
            return held, held_cost
        cost = isk_store(held_cost * quantity / held)
        pool[0] -= quantity
        pool[1] -= cost
        return quantity, cost

    def inventory(self) -> dict[int, Inventory]:
        return {
            type_id: Inventory(type_id=type_id, quantity=held, cost=cost)
            for type_id, (held, cost) in sorted(self.pools.items())
            if held
        }
