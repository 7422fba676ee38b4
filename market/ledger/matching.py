"""Checking the ledger's inputs and matching the journal's fees to items (the rules are in
``market.ledger.profit``'s docstring: "Matching the journal's fees to items")."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from lenny.lib.money import CENT
from market.ledger.records import (
    BROKERS_FEE,
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
    FeeCharge,
    JournalEntry,
    LedgerInputError,
    OrderVersion,
    Transaction,
    _money,
    _require_aware,
    _require_int,
)

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
        if not _first_sighting(seen, tx.transaction_id, tx, where):
            continue
        trades.append(_Trade(tx, price))
    trades.sort(key=lambda trade: (trade.tx.date, trade.tx.transaction_id))
    return trades


def _first_sighting(seen: dict[int, Any], key: int, row: Any, where: str) -> bool:
    """Whether ``row`` is new (and now in ``seen``); False for the same row again.

    ESI's from_id paging repeats a row; the same row twice is harmless, two different rows under
    one id would count one of them wrongly: LedgerInputError.
    """
    earlier = seen.get(key)
    if earlier is None:
        seen[key] = row
        return True
    if earlier == row:
        return False
    raise LedgerInputError(f"{where} appears twice with different contents")


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
        if not _first_sighting(seen, entry.id, entry, where):
            continue
        fees.append(_Fee(entry, cost))
    fees.sort(key=lambda fee: (fee.entry.date, fee.entry.id))
    return fees


def _orders_checked(orders: Iterable[OrderVersion]) -> dict[int, list[OrderVersion]]:
    versions: dict[int, list[OrderVersion]] = defaultdict(list)
    for order in orders:
        if not isinstance(order, OrderVersion):
            raise LedgerInputError(f"expected an OrderVersion, got {type(order).__name__}")
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
    orders: dict[int, list[OrderVersion]],
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
    orders: dict[int, list[OrderVersion]],
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
    def order(cls, order: OrderVersion) -> _Target:
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
