"""A pilot's deterministic trading history for the character routes' replay (see the package
docstring): seeded by the character id, laid out in time, revealed as the replay's clock passes."""

from __future__ import annotations

import bisect
import itertools
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

from lenny.lib.money import isk_store

PREFIX = "/esi"
DAY = 86_400
HOUR = 3_600
JOURNAL_DAYS = 30  # ESI serves a month of journal and transactions …
ORDER_HISTORY_DAYS = 90  # … and three of closed orders
PAST_DAYS = 75
FUTURE_DAYS = 45
CACHE_SECONDS = {
    "wallet": 120,
    "journal": 3600,
    "transactions": 3600,
    "orders": 1200,
    "order_history": 3600,
}
DEFAULTS: dict[str, int] = {
    "clock_offset": 0,
    "journal_page_size": 2500,
    "transactions_limit": 2500,
    "history_page_size": 1000,
}

JITA_REGION, JITA_STATION = 10000002, 60003760
# (type id, price when the history lacks it): minerals and PLEX, traded in Jita.
TRADED_TYPES = ((34, 9.23), (35, 7.76), (36, 68.7), (37, 21.13), (38, 359.0), (39, 609.6))
PLEX = (44992, 3_074_000.0)
MINED_TYPE = (40, 451.0)  # Megacyte: sold, never bought
START_BALANCE = 2_500_000_000.0
BROKER_FEE = 0.015
SALES_TAX = 0.036
RELIST_FEE_SHARE = 0.5  # a price change costs a part of the full broker fee


def _cents(value: float) -> float:
    return float(isk_store(value))


def iso_utc(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# --- a pilot's history -------------------------------------------------------------------------


@dataclass
class OrderLife:
    """One market order from placement to close: its versions and its fills."""

    order_id: int
    type_id: int
    is_buy_order: bool
    volume_total: int
    versions: list[tuple[int, float]]  # (issued, price), oldest first
    fills: list[tuple[int, int]] = field(default_factory=list)  # (when, quantity)
    closed_at: int | None = None  # None: still open at the end of the history
    close_state: str = "expired"  # or "cancelled"
    region_id: int = JITA_REGION
    location_id: int = JITA_STATION
    duration: int = 90
    range: str = "station"

    @property
    def placed_at(self) -> int:
        return self.versions[0][0]

    def as_of(self, moment: int) -> dict[str, Any]:
        issued, price = next(v for v in reversed(self.versions) if v[0] <= moment)
        filled = sum(quantity for at, quantity in self.fills if at <= moment)
        remain = self.volume_total - filled
        row: dict[str, Any] = {
            "duration": self.duration,
            "is_corporation": False,
            "issued": iso_utc(issued),
            "location_id": self.location_id,
            "order_id": self.order_id,
            "price": price,
            "range": self.range,
            "region_id": self.region_id,
            "type_id": self.type_id,
            "volume_remain": remain,
            "volume_total": self.volume_total,
        }
        if self.is_buy_order:
            # ESI leaves is_buy_order out of sell orders; buy orders carry escrow and min volume.
            row.update(is_buy_order=True, escrow=_cents(remain * price), min_volume=1)
        if self.closed_at is not None and self.closed_at <= moment:
            row["state"] = self.close_state
        return row


@dataclass
class TradingHistory:
    """What the replay serves for one character. Rows carry ``_at`` (epoch seconds)."""

    start_balance: float = START_BALANCE
    journal: list[dict[str, Any]] = field(default_factory=list)  # ids ascending
    transactions: list[dict[str, Any]] = field(default_factory=list)  # ids ascending
    orders: list[OrderLife] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._journal_times = [row["_at"] for row in self.journal]
        self._tx_times = [row["_at"] for row in self.transactions]

    def balance_at(self, moment: int) -> float:
        i = bisect.bisect_right(self._journal_times, moment)
        return self.journal[i - 1]["balance"] if i else self.start_balance

    def journal_window(self, moment: int, days: int) -> list[dict[str, Any]]:
        start = bisect.bisect_right(self._journal_times, moment - days * DAY)
        end = bisect.bisect_right(self._journal_times, moment)
        return self.journal[start:end]

    def transactions_window(self, moment: int, days: int) -> list[dict[str, Any]]:
        start = bisect.bisect_right(self._tx_times, moment - days * DAY)
        end = bisect.bisect_right(self._tx_times, moment)
        return self.transactions[start:end]


class _HistoryWriter:
    """Collects one pilot's events, then numbers them the way ESI does."""

    def __init__(self, character_id: int, rng: random.Random) -> None:
        self.character_id = character_id
        self.rng = rng
        self.journal: list[tuple[int, int, dict[str, Any]]] = []
        self.transactions: list[tuple[int, int, dict[str, Any], dict[str, Any]]] = []
        self.orders: list[OrderLife] = []
        self.seq = 0
        self.next_order_id = 6_000_000_000 + (character_id % 9973) * 100_000

    def _entry(self, at: int, ref_type: str, amount: float, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        row = {"ref_type": ref_type, "amount": _cents(amount), **fields}
        self.journal.append((at, self.seq, row))
        return row

    def order(self, type_id: int, *, is_buy: bool, quantity: int, at: int, price: float):
        order = OrderLife(self.next_order_id, type_id, is_buy, quantity, [(at, price)])
        self.next_order_id += self.rng.randint(3, 400)
        self.orders.append(order)
        self.broker_fee(order, at, quantity * price * BROKER_FEE)
        return order

    def broker_fee(self, order: OrderLife, at: int, fee: float) -> None:
        # Newer journal rows name the order; older ones leave the ledger to match by time.
        context = (
            {"context_id": order.order_id, "context_id_type": "market_order_id"}
            if self.rng.random() < 0.5
            else {}
        )
        self._entry(
            at,
            "brokers_fee",
            -fee,
            description="Market order commission",
            first_party_id=self.character_id,
            second_party_id=1000035,  # Caldari Navy, Jita 4-4's owner
            **context,
        )

    def trade(self, at: int, type_id: int, quantity: int, price: float, *, is_buy: bool) -> None:
        """A transaction with its journal row (and, for a sale, its tax right after it)."""
        client_id = 90_000_000 + self.rng.randint(0, 9_999_999)
        gross = _cents(quantity * price)
        tx = {
            "client_id": client_id,
            "is_buy": is_buy,
            "is_personal": True,
            "location_id": JITA_STATION,
            "quantity": quantity,
            "type_id": type_id,
            "unit_price": price,
        }
        buyer, seller = (self.character_id, client_id) if is_buy else (client_id, self.character_id)
        journal_row = self._entry(
            at,
            "market_transaction",
            -gross if is_buy else gross,
            description=f"Market: {buyer} bought stuff from {seller}",
            first_party_id=buyer,
            second_party_id=seller,
            context_id_type="market_transaction_id",
        )
        self.seq += 1
        self.transactions.append((at, self.seq, tx, journal_row))
        if not is_buy:
            self._entry(
                at,
                "transaction_tax",
                -gross * SALES_TAX,
                description="Transaction tax",
                first_party_id=self.character_id,
                second_party_id=1000132,  # SCC
            )

    def escrow(self, at: int, amount: float) -> None:
        self._entry(
            at,
            "market_escrow",
            amount,
            description="Market escrow",
            first_party_id=self.character_id,
        )

    def finish(self, start_balance: float) -> TradingHistory:
        id_rng = random.Random(self.character_id ^ 0x5EED)
        transactions = []
        tx_id = 5_400_000_000 + (self.character_id % 9973) * 10_000
        for at, _, tx, journal_row in sorted(self.transactions, key=lambda t: (t[0], t[1])):
            tx_id += id_rng.randint(1, 3000)
            tx["transaction_id"] = tx_id
            journal_row["context_id"] = tx_id
            transactions.append({"_at": at, **tx})
        journal = []
        journal_id = 19_000_000_000 + (self.character_id % 9973) * 10_000
        balance = start_balance
        for at, _, row in sorted(self.journal, key=lambda e: (e[0], e[1])):
            # The game writes a sale's tax right after the sale: the next reference id.
            journal_id += 1 if row["ref_type"] == "transaction_tax" else id_rng.randint(2, 5000)
            balance = _cents(balance + row["amount"])
            journal.append({"_at": at, "id": journal_id, "balance": balance, **row})
        journal_ids = {
            row["context_id"]: row["id"]
            for row in journal
            if row["ref_type"] == "market_transaction"
        }
        for tx in transactions:
            tx["journal_ref_id"] = journal_ids.get(tx["transaction_id"])
        return TradingHistory(
            start_balance=start_balance,
            journal=journal,
            transactions=transactions,
            orders=sorted(self.orders, key=lambda o: o.order_id),
        )


def trading_history_generate(
    *,
    character_id: int,
    start: int,
    end: int,
    prices: dict[int, tuple[float, float]] | None = None,
) -> TradingHistory:
    """A station trader's history from ``start`` to ``end`` (epoch seconds), the same for the
    same arguments. ``prices``: {type_id: (average price, half spread)} from the real history."""
    rng = random.Random(character_id)
    prices = prices or {}
    writer = _HistoryWriter(character_id, rng)
    traded = [*TRADED_TYPES, PLEX]
    t = start + rng.randint(0, 6 * HOUR)
    while t < end:
        if rng.random() < 0.08:
            _mined_sale(writer, rng, t, prices)
        else:
            _trade_cycle(writer, rng, t, *rng.choice(traded), prices)
        t += rng.randint(4 * HOUR, 10 * HOUR)
    return writer.finish(START_BALANCE)


def _market(type_id: int, fallback: float, prices: dict) -> tuple[float, float]:
    return prices.get(type_id, (fallback, 0.02))


def _price(value: float) -> float:
    """A price as the game allows it: four significant digits, at least a cent."""
    if value <= 0:
        return 0.01
    digits = 3 - math.floor(math.log10(value))
    return max(0.01, round(value, min(2, digits)))


def _split(rng: random.Random, quantity: int, parts: int) -> list[int]:
    parts = max(1, min(parts, quantity))
    cuts = sorted(rng.sample(range(1, quantity), parts - 1)) if parts > 1 else []
    bounds = [0, *cuts, quantity]
    return [b - a for a, b in itertools.pairwise(bounds)]


def _trade_cycle(
    writer: _HistoryWriter, rng: random.Random, t: int, type_id: int, fallback: float, prices: dict
) -> None:
    average, half_spread = _market(type_id, fallback, prices)
    average *= 1 + rng.uniform(-0.03, 0.03)
    quantity = max(1, int(rng.uniform(40e6, 160e6) / average))
    buy_price = _price(average * rng.uniform(0.91, 0.97))
    if rng.random() < 0.75:
        order = writer.order(type_id, is_buy=True, quantity=quantity, at=t, price=buy_price)
        writer.escrow(t, -quantity * buy_price)
        parts = _split(rng, quantity, rng.randint(1, 4))
        cancelled = len(parts) > 1 and rng.random() < 0.15
        filled_parts = parts[:-1] if cancelled else parts
        at = t
        for part in filled_parts:
            at += rng.randint(HOUR, 20 * HOUR)
            order.fills.append((at, part))
            writer.trade(at, type_id, part, buy_price, is_buy=True)
            writer.escrow(at, part * buy_price)  # paid out of the escrow
        order.closed_at = at + (rng.randint(HOUR, 6 * HOUR) if cancelled else 0)
        if cancelled:
            order.close_state = "cancelled"
            writer.escrow(order.closed_at, parts[-1] * buy_price)
        bought, ready = sum(filled_parts), order.closed_at
    else:
        bought, ready = quantity, t
        for part in _split(rng, quantity, rng.randint(1, 2)):
            writer.trade(t, type_id, part, buy_price, is_buy=True)
    _sell(writer, rng, ready + rng.randint(HOUR, 8 * HOUR), type_id, bought, average, half_spread)


def _mined_sale(writer: _HistoryWriter, rng: random.Random, t: int, prices: dict) -> None:
    type_id, fallback = MINED_TYPE
    average, half_spread = _market(type_id, fallback, prices)
    quantity = max(1, int(rng.uniform(5e6, 30e6) / average))
    _sell(writer, rng, t, type_id, quantity, average, half_spread)


def _sell(
    writer: _HistoryWriter,
    rng: random.Random,
    t: int,
    type_id: int,
    quantity: int,
    average: float,
    half_spread: float,
) -> None:
    if rng.random() < 0.3:
        # Priced to be the best ask; the others sit higher and get undercut.
        price = _price(average * (1 + half_spread) * rng.uniform(0.985, 0.998))
    else:
        price = _price(average * rng.uniform(1.0, 1.09))
    order = writer.order(type_id, is_buy=False, quantity=quantity, at=t, price=price)
    parts = _split(rng, quantity, rng.randint(2, 6))
    cancelled = rng.random() < 0.12
    reprice_after = rng.randint(1, len(parts) - 1) if len(parts) > 1 and rng.random() < 0.35 else 0
    at = t
    for i, part in enumerate(parts[:-1] if cancelled else parts):
        at += rng.randint(2 * HOUR, 30 * HOUR)
        if reprice_after and i == reprice_after:
            price = _price(price * rng.uniform(0.96, 0.99))
            order.versions.append((at, price))
            remain = quantity - sum(q for _, q in order.fills)
            writer.broker_fee(order, at, remain * price * BROKER_FEE * RELIST_FEE_SHARE)
            at += rng.randint(HOUR, 6 * HOUR)
        order.fills.append((at, part))
        writer.trade(at, type_id, part, price, is_buy=False)
    order.closed_at = at + (rng.randint(HOUR, 12 * HOUR) if cancelled else 0)
    if cancelled:
        order.close_state = "cancelled"
