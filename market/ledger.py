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

import bisect
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Literal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

# Seconds-resolution timestamps from two ESI routes for one game event; a little slack covers a
# clock tick between the rows without reaching the next unrelated trade.
FEE_MATCH_WINDOW = timedelta(seconds=2)

# More ISK than exists in New Eden: anything beyond is corrupt input, and keeping amounts below
# it keeps every sum well inside Decimal's 28 digits.
MAX_ISK = Decimal(10) ** 15

CostMethod = Literal["fifo", "average"]
COST_METHODS: dict[str, str] = {"fifo": "First in, first out", "average": "Average cost"}

TRANSACTION_TAX = "transaction_tax"
BROKERS_FEE = "brokers_fee"
MARKET_TRANSACTION = "market_transaction"
MARKET_TRANSACTION_ID = "market_transaction_id"
MARKET_ORDER_ID = "market_order_id"

# How a fee found its item; shown on pages that explain a figure.
MATCHED_BY_REFERENCE = "reference"
MATCHED_BY_JOURNAL = "journal"
MATCHED_BY_ORDER_ISSUED = "order_issued"
MATCHED_BY_TIME = "time"
UNATTRIBUTED = "unattributed"


class LedgerInputError(ValueError):
    """Input the ledger cannot account for; the message names the row and the field."""


# --- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Transaction:
    """One row of ``/characters/{character_id}/wallet/transactions/``, plus whose wallet it is."""

    transaction_id: int
    date: datetime
    type_id: int
    quantity: int
    unit_price: Decimal
    is_buy: bool
    location_id: int | None = None
    journal_ref_id: int | None = None
    client_id: int | None = None
    character_id: int

    @classmethod
    def from_esi(cls, row: Mapping[str, Any], *, character_id: int) -> Transaction:
        where = f"transaction {row.get('transaction_id')!r}"
        return cls(
            transaction_id=_esi_int(row, "transaction_id", where),
            date=_esi_datetime(row, "date", where),
            type_id=_esi_int(row, "type_id", where),
            quantity=_esi_int(row, "quantity", where),
            unit_price=_money(row.get("unit_price"), f"{where}, field unit_price"),
            is_buy=bool(row.get("is_buy", False)),
            location_id=_esi_int(row, "location_id", where, required=False),
            journal_ref_id=_esi_int(row, "journal_ref_id", where, required=False),
            client_id=_esi_int(row, "client_id", where, required=False),
            character_id=character_id,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalEntry:
    """One row of ``/characters/{character_id}/wallet/journal/``, plus whose wallet it is."""

    id: int
    date: datetime
    ref_type: str
    amount: Decimal
    character_id: int
    context_id: int | None = None
    context_id_type: str | None = None
    description: str = ""
    first_party_id: int | None = None

    @classmethod
    def from_esi(cls, row: Mapping[str, Any], *, character_id: int) -> JournalEntry:
        where = f"journal entry {row.get('id')!r}"
        return cls(
            id=_esi_int(row, "id", where),
            date=_esi_datetime(row, "date", where),
            ref_type=str(row.get("ref_type") or ""),
            amount=_money(row.get("amount", 0), f"{where}, field amount"),
            character_id=character_id,
            context_id=_esi_int(row, "context_id", where, required=False),
            context_id_type=row.get("context_id_type"),
            description=str(row.get("description") or ""),
            first_party_id=_esi_int(row, "first_party_id", where, required=False),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CharacterOrder:
    """One version of an order from ``/characters/{id}/orders/`` or ``/orders/history/``.

    ``issued`` changes when the order is modified, and each modification costs a broker fee, so
    the ledger matches fees best when given every version of an order that sync has seen.
    """

    order_id: int
    type_id: int
    character_id: int
    issued: datetime
    price: Decimal
    volume_total: int
    is_buy_order: bool = False
    location_id: int | None = None

    @classmethod
    def from_esi(cls, row: Mapping[str, Any], *, character_id: int) -> CharacterOrder:
        where = f"order {row.get('order_id')!r}"
        return cls(
            order_id=_esi_int(row, "order_id", where),
            type_id=_esi_int(row, "type_id", where),
            character_id=character_id,
            issued=_esi_datetime(row, "issued", where),
            price=_money(row.get("price"), f"{where}, field price"),
            volume_total=_esi_int(row, "volume_total", where),
            # ESI leaves is_buy_order out of sell orders.
            is_buy_order=bool(row.get("is_buy_order", False)),
            location_id=_esi_int(row, "location_id", where, required=False),
        )


# --- outputs -----------------------------------------------------------------------------------


@dataclass(slots=True)
class ProfitLine:
    """Totals for one item type, one day, one character, or everything."""

    bought_quantity: int = 0
    bought_cost: Decimal = ZERO
    quantity_sold: int = 0  # units whose cost is known
    revenue: Decimal = ZERO  # gross proceeds of those units
    cost_of_sales: Decimal = ZERO
    sales_tax: Decimal = ZERO  # transaction tax on those units
    broker_fees: Decimal = ZERO
    unattributed_fees: Decimal = ZERO  # never set on an item's line
    unknown_cost_quantity: int = 0
    unknown_cost_revenue: Decimal = ZERO
    unknown_cost_tax: Decimal = ZERO

    @property
    def fees(self) -> Decimal:
        return self.sales_tax + self.broker_fees + self.unattributed_fees

    @property
    def all_broker_fees(self) -> Decimal:
        """Broker fees charged to an item and those matched to none, to the cent."""
        return self.broker_fees + self.unattributed_fees

    @property
    def realized_profit(self) -> Decimal:
        return self.revenue - self.cost_of_sales - self.fees

    def add(self, other: ProfitLine) -> None:
        self.bought_quantity += other.bought_quantity
        self.bought_cost += other.bought_cost
        self.quantity_sold += other.quantity_sold
        self.revenue += other.revenue
        self.cost_of_sales += other.cost_of_sales
        self.sales_tax += other.sales_tax
        self.broker_fees += other.broker_fees
        self.unattributed_fees += other.unattributed_fees
        self.unknown_cost_quantity += other.unknown_cost_quantity
        self.unknown_cost_revenue += other.unknown_cost_revenue
        self.unknown_cost_tax += other.unknown_cost_tax


@dataclass(frozen=True, slots=True)
class Lot:
    """What is left of one buy (FIFO only)."""

    transaction_id: int
    date: datetime
    quantity: int
    unit_cost: Decimal

    @property
    def cost(self) -> Decimal:
        return self.quantity * self.unit_cost


@dataclass(frozen=True, slots=True)
class Inventory:
    """Units of one type bought and not yet sold, at cost."""

    type_id: int
    quantity: int
    cost: Decimal
    lots: tuple[Lot, ...] = ()  # oldest first; empty under average cost

    @property
    def unit_cost(self) -> Decimal:
        return (self.cost / self.quantity).quantize(CENT, ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Sale:
    """One sell transaction, costed. ``unknown_quantity`` units had no known buy."""

    transaction_id: int
    date: datetime
    character_id: int
    type_id: int
    quantity: int
    unit_price: Decimal
    known_quantity: int
    cost: Decimal  # of the known units
    tax: Decimal  # on the known units
    unknown_quantity: int
    unknown_tax: Decimal

    @property
    def revenue(self) -> Decimal:
        return self.known_quantity * self.unit_price

    @property
    def unknown_revenue(self) -> Decimal:
        return self.unknown_quantity * self.unit_price

    @property
    def profit(self) -> Decimal:
        """Profit on the known units; broker fees are charged to the item, not to a sale."""
        return self.revenue - self.cost - self.tax

    @property
    def cost_unknown(self) -> bool:
        return self.unknown_quantity > 0


@dataclass(frozen=True, slots=True)
class FeeCharge:
    """A fee (or its share) and where it was charged. ``type_id`` is None when unattributed."""

    journal_id: int
    ref_type: str
    date: datetime
    character_id: int
    amount: Decimal  # cost in ISK: positive for a fee, negative for a refund
    type_id: int | None
    transaction_id: int | None  # the sale a tax was charged to
    order_id: int | None
    matched_by: str


@dataclass(slots=True)
class LedgerResult:
    method: str
    totals: ProfitLine
    by_type: dict[int, ProfitLine]  # sorted by type id
    by_day: dict[date, ProfitLine]  # sorted by UTC day
    by_character: dict[int, ProfitLine]  # sorted by character id
    inventory: dict[int, Inventory]  # types with units left, sorted by type id
    sales: list[Sale]  # in processing order
    fee_charges: list[FeeCharge] = field(default_factory=list)

    @property
    def unattributed_fees(self) -> list[FeeCharge]:
        return [charge for charge in self.fee_charges if charge.type_id is None]

    @property
    def unknown_cost_sales(self) -> list[Sale]:
        return [sale for sale in self.sales if sale.cost_unknown]

    @property
    def inventory_cost(self) -> Decimal:
        return sum((position.cost for position in self.inventory.values()), ZERO)


# --- the computation ---------------------------------------------------------------------------


def fifo_profit(
    *,
    transactions: Iterable[Transaction],
    fees: Iterable[JournalEntry] = (),
    orders: Iterable[CharacterOrder] = (),
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
        line = lines[tx.type_id, _utc_day(tx.date), tx.character_id]
        if tx.is_buy:
            book.buy(trade)
            line.bought_quantity += tx.quantity
            line.bought_cost += trade.gross
            continue
        known, cost = book.sell(tx.type_id, tx.quantity)
        sale = _sale(trade, known, cost, tax_by_sale.get(tx.transaction_id, ZERO))
        sales.append(sale)
        line.quantity_sold += sale.known_quantity
        line.revenue += sale.revenue
        line.cost_of_sales += sale.cost
        line.sales_tax += sale.tax
        line.unknown_cost_quantity += sale.unknown_quantity
        line.unknown_cost_revenue += sale.unknown_revenue
        line.unknown_cost_tax += sale.unknown_tax

    for charge in charges:
        if charge.transaction_id is not None:
            continue  # a sale's tax, already inside its sale
        line = lines[charge.type_id, _utc_day(charge.date), charge.character_id]
        if charge.type_id is None:
            line.unattributed_fees += charge.amount
        else:
            line.broker_fees += charge.amount

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
        cost = (held_cost * quantity / held).quantize(CENT, ROUND_HALF_EVEN)
        pool[0] -= quantity
        pool[1] -= cost
        return quantity, cost

    def inventory(self) -> dict[int, Inventory]:
        return {
            type_id: Inventory(type_id=type_id, quantity=held, cost=cost)
            for type_id, (held, cost) in sorted(self.pools.items())
            if held
        }


# --- fee matching ------------------------------------------------------------------------------


class _Timeline:
    """Things of one character in time order, to find the nearest ones to a moment."""

    def __init__(self, items: Sequence[tuple[datetime, Any]]) -> None:
        self.times = [when for when, _ in items]
        self.items = [item for _, item in items]

    def nearest(self, when: datetime, window: timedelta) -> list[Any]:
        start = bisect.bisect_left(self.times, when - window)
        end = bisect.bisect_right(self.times, when + window)
        if start == end:
            return []
        best = min(abs(self.times[i] - when) for i in range(start, end))
        return [self.items[i] for i in range(start, end) if abs(self.times[i] - when) == best]


def _timelines(items: Iterable[tuple[int, datetime, Any, Any]]) -> dict[int, _Timeline]:
    """Per character, ``(character_id, when, tie_break, item)`` in time order, ties by tie_break.

    The tie-break makes shared fees split the same way whatever order the input came in.
    """
    per_character: dict[int, list[tuple[datetime, Any, Any]]] = defaultdict(list)
    for character_id, when, tie_break, item in items:
        per_character[character_id].append((when, tie_break, item))
    return {
        character_id: _Timeline(
            [(when, item) for when, _, item in sorted(entries, key=lambda e: (e[0], e[1]))]
        )
        for character_id, entries in per_character.items()
    }


def _fees_match(
    *,
    trades: list[_Trade],
    journal: list[_Fee],
    orders: dict[int, list[CharacterOrder]],
) -> list[FeeCharge]:
    by_id = {trade.tx.transaction_id: trade for trade in trades}
    sells = _timelines(
        (t.tx.character_id, t.tx.date, t.tx.transaction_id, t) for t in trades if not t.tx.is_buy
    )
    everything = _timelines((t.tx.character_id, t.tx.date, t.tx.transaction_id, t) for t in trades)
    order_versions = _timelines(
        (
            order.character_id,
            order.issued,
            (
                order.order_id,
                order.price,
                order.volume_total,
                order.is_buy_order,
                order.location_id or 0,
            ),
            order,
        )
        for versions in orders.values()
        for order in versions
    )
    # The journal's own record of each sale, to pair a tax with the entry written just before it.
    sale_by_journal_id = {
        fee.entry.id: by_id[fee.entry.context_id]
        for fee in journal
        if fee.entry.ref_type == MARKET_TRANSACTION
        and fee.entry.context_id_type == MARKET_TRANSACTION_ID
        and fee.entry.context_id in by_id
    }

    charges: list[FeeCharge] = []
    for fee in journal:
        entry = fee.entry
        if entry.ref_type == TRANSACTION_TAX:
            charges.extend(_tax_charges(fee, by_id, sale_by_journal_id, sells))
        elif entry.ref_type == BROKERS_FEE:
            charges.extend(_broker_fee_charges(fee, by_id, orders, order_versions, everything))
    return charges


def _tax_charges(
    fee: _Fee,
    by_id: dict[int, _Trade],
    sale_by_journal_id: dict[int, _Trade],
    sells: dict[int, _Timeline],
) -> list[FeeCharge]:
    entry = fee.entry
    if entry.context_id_type == MARKET_TRANSACTION_ID:
        sale = by_id.get(entry.context_id)
        if sale is not None and not sale.tx.is_buy:
            return _charged(fee, [_Target.sale(sale)], MATCHED_BY_REFERENCE)
    sale = sale_by_journal_id.get(entry.id - 1)
    if (
        sale is not None
        and not sale.tx.is_buy
        and sale.tx.character_id == entry.character_id
        and abs(sale.tx.date - entry.date) <= FEE_MATCH_WINDOW
    ):
        return _charged(fee, [_Target.sale(sale)], MATCHED_BY_JOURNAL)
    nearby = _nearest(sells, entry)
    if nearby:
        return _charged(fee, [_Target.sale(sale) for sale in nearby], MATCHED_BY_TIME)
    return _charged(fee, [_NOWHERE], UNATTRIBUTED)


def _broker_fee_charges(
    fee: _Fee,
    by_id: dict[int, _Trade],
    orders: dict[int, list[CharacterOrder]],
    order_versions: dict[int, _Timeline],
    everything: dict[int, _Timeline],
) -> list[FeeCharge]:
    entry = fee.entry
    if entry.context_id_type == MARKET_ORDER_ID and entry.context_id in orders:
        order = orders[entry.context_id][0]
        return _charged(fee, [_Target.order(order)], MATCHED_BY_REFERENCE)
    if entry.context_id_type == MARKET_TRANSACTION_ID and entry.context_id in by_id:
        trade = by_id[entry.context_id]
        return _charged(fee, [_Target.trade(trade)], MATCHED_BY_REFERENCE)
    issued = _nearest(order_versions, entry)
    if issued:
        return _charged(fee, [_Target.order(order) for order in issued], MATCHED_BY_ORDER_ISSUED)
    nearby = _nearest(everything, entry)
    if nearby:
        return _charged(fee, [_Target.trade(trade) for trade in nearby], MATCHED_BY_TIME)
    return _charged(fee, [_NOWHERE], UNATTRIBUTED)


def _nearest(timelines: dict[int, _Timeline], entry: JournalEntry) -> list[Any]:
    timeline = timelines.get(entry.character_id)
    return timeline.nearest(entry.date, FEE_MATCH_WINDOW) if timeline else []


@dataclass(frozen=True, slots=True)
class _Target:
    """Where (a share of) a fee goes, and its weight when several share one fee."""

    type_id: int | None  # None: no item, the fee stays unattributed
    weight: Decimal
    transaction_id: int | None = None  # set for a sale, when the fee is its tax
    order_id: int | None = None

    @classmethod
    def sale(cls, trade: _Trade) -> _Target:
        return cls(trade.tx.type_id, trade.gross, transaction_id=trade.tx.transaction_id)

    @classmethod
    def trade(cls, trade: _Trade) -> _Target:
        return cls(trade.tx.type_id, trade.gross)

    @classmethod
    def order(cls, order: CharacterOrder) -> _Target:
        return cls(order.type_id, order.price * order.volume_total, order_id=order.order_id)


_NOWHERE = _Target(None, Decimal(1))


def _charged(fee: _Fee, targets: Sequence[_Target], matched_by: str) -> list[FeeCharge]:
    """The fee's charges: one per target, shared by weight."""
    entry = fee.entry
    shares = _allocate(fee.cost, [target.weight for target in targets])
    return [
        FeeCharge(
            journal_id=entry.id,
            ref_type=entry.ref_type,
            date=entry.date,
            character_id=entry.character_id,
            amount=share,
            type_id=target.type_id,
            transaction_id=target.transaction_id,
            order_id=target.order_id,
            matched_by=matched_by,
        )
        for target, share in zip(targets, shares, strict=True)
        # An order of no value gets no share; a fee of nothing still shows where it went.
        if share or not fee.cost
    ]


def _allocate(amount: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split ``amount`` in whole cents by ``weights``; the parts add up exactly to ``amount``.

    Largest remainder first, ties to the earlier weight, so the split is deterministic. With no
    positive weight the amount is split evenly.
    """
    if len(weights) < 2:
        return [amount] * len(weights)
    cents = int((amount / CENT).to_integral_value())
    if not cents:
        return [ZERO] * len(weights)
    if sum(weights) <= 0 or any(weight < 0 for weight in weights):
        weights = [Decimal(1)] * len(weights)
    total_weight = sum(weights)
    sign, cents = (-1 if cents < 0 else 1), abs(cents)
    exact = [cents * weight / total_weight for weight in weights]
    parts = [int(share) for share in exact]  # floor: shares are non-negative
    left = cents - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (parts[i] - exact[i], i))
    for i in by_remainder[:left]:
        parts[i] += 1
    return [Decimal(sign * part) * CENT for part in parts]


# --- input checks ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Trade:
    tx: Transaction
    price: Decimal  # unit_price to the cent

    @property
    def gross(self) -> Decimal:
        return self.price * self.tx.quantity


@dataclass(frozen=True, slots=True)
class _Fee:
    entry: JournalEntry
    cost: Decimal  # -amount, to the cent


def _trades_checked(transactions: Iterable[Transaction]) -> list[_Trade]:
    seen: dict[int, Transaction] = {}
    trades: list[_Trade] = []
    for tx in transactions:
        if not isinstance(tx, Transaction):
            raise LedgerInputError(f"expected a Transaction, got {type(tx).__name__}")
        where = f"transaction {tx.transaction_id!r}"
        _require_int(tx.transaction_id, f"{where}, field transaction_id")
        _require_int(tx.type_id, f"{where}, field type_id")
        _require_int(tx.character_id, f"{where}, field character_id")
        _require_int(tx.quantity, f"{where}, field quantity")
        if tx.quantity <= 0:
            raise LedgerInputError(f"{where}, field quantity: must be positive, got {tx.quantity}")
        if not isinstance(tx.is_buy, bool):
            raise LedgerInputError(f"{where}, field is_buy: must be true or false")
        _require_aware(tx.date, f"{where}, field date")
        price = _money(tx.unit_price, f"{where}, field unit_price")
        if price < 0:
            raise LedgerInputError(f"{where}, field unit_price: must not be negative, got {price}")
        if price * tx.quantity > MAX_ISK:
            raise LedgerInputError(
                f"{where}: quantity * unit_price is more than {MAX_ISK:,} ISK; not a real trade"
            )
        earlier = seen.get(tx.transaction_id)
        if earlier is not None:
            # ESI's from_id paging repeats a row; the same row twice is harmless, two different
            # rows under one id would count one of them wrongly.
            if earlier == tx:
                continue
            raise LedgerInputError(f"{where} appears twice with different contents")
        seen[tx.transaction_id] = tx
        trades.append(_Trade(tx, price))
    trades.sort(key=lambda trade: (trade.tx.date, trade.tx.transaction_id))
    return trades


def _journal_checked(entries: Iterable[JournalEntry]) -> list[_Fee]:
    seen: dict[int, JournalEntry] = {}
    fees: list[_Fee] = []
    for entry in entries:
        if not isinstance(entry, JournalEntry):
            raise LedgerInputError(f"expected a JournalEntry, got {type(entry).__name__}")
        where = f"journal entry {entry.id!r}"
        _require_int(entry.id, f"{where}, field id")
        _require_int(entry.character_id, f"{where}, field character_id")
        _require_aware(entry.date, f"{where}, field date")
        if entry.context_id is not None:
            _require_int(entry.context_id, f"{where}, field context_id")
        cost = -_money(entry.amount, f"{where}, field amount")
        earlier = seen.get(entry.id)
        if earlier is not None:
            if earlier == entry:
                continue
            raise LedgerInputError(f"{where} appears twice with different contents")
        seen[entry.id] = entry
        fees.append(_Fee(entry, cost))
    fees.sort(key=lambda fee: (fee.entry.date, fee.entry.id))
    return fees


def _orders_checked(orders: Iterable[CharacterOrder]) -> dict[int, list[CharacterOrder]]:
    versions: dict[int, list[CharacterOrder]] = defaultdict(list)
    for order in orders:
        if not isinstance(order, CharacterOrder):
            raise LedgerInputError(f"expected a CharacterOrder, got {type(order).__name__}")
        where = f"order {order.order_id!r}"
        _require_int(order.order_id, f"{where}, field order_id")
        _require_int(order.type_id, f"{where}, field type_id")
        _require_int(order.character_id, f"{where}, field character_id")
        _require_int(order.volume_total, f"{where}, field volume_total")
        _require_aware(order.issued, f"{where}, field issued")
        price = _money(order.price, f"{where}, field price")
        if order.volume_total < 0:
            raise LedgerInputError(f"{where}, field volume_total: must not be negative")
        if price != order.price or not isinstance(order.price, Decimal):
            order = replace(order, price=price)
        known = versions[order.order_id]
        if known and known[0].type_id != order.type_id:
            raise LedgerInputError(f"{where} appears with two different type ids")
        if order not in known:
            known.append(order)
    return dict(versions)


def _require_int(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LedgerInputError(f"{where}: must be a whole number, got {value!r}")


def _require_aware(value: Any, where: str) -> None:
    if not isinstance(value, datetime):
        raise LedgerInputError(f"{where}: must be a datetime, got {value!r}")
    if value.utcoffset() is None:
        raise LedgerInputError(f"{where}: must carry a time zone (ESI dates are UTC)")


def _money(value: Any, where: str) -> Decimal:
    """ISK to the cent. Floats (ESI's JSON numbers) go through their shortest repr."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise LedgerInputError(f"{where}: must be an amount of ISK, got {value!r}")
    try:
        amount = (
            value
            if isinstance(value, Decimal)
            else Decimal(repr(value) if isinstance(value, float) else value)
        )
    except InvalidOperation:
        raise LedgerInputError(f"{where}: not an amount of ISK: {value!r}") from None
    if not amount.is_finite() or abs(amount) > MAX_ISK:
        raise LedgerInputError(
            f"{where}: must be a finite amount of at most {MAX_ISK:,} ISK either way, got {value!r}"
        )
    return amount.quantize(CENT, ROUND_HALF_EVEN)


def _esi_int(row: Mapping[str, Any], name: str, where: str, *, required: bool = True) -> Any:
    value = row.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise LedgerInputError(f"{where}, field {name}: must be a whole number, got {value!r}")
    return value


def _esi_datetime(row: Mapping[str, Any], name: str, where: str) -> datetime:
    value = row.get(name)
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise LedgerInputError(
            f"{where}, field {name}: not an ISO 8601 date, got {value!r}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _utc_day(when: datetime) -> date:
    return when.astimezone(UTC).date()
