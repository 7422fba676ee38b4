"""Replay ESI's character routes (under ``/esi``): a pilot's wallet, journal, transactions, orders.

Routes, answered like ESI (``ETag``/304, ``Expires`` and ``Last-Modified`` as HTTP dates, the
error-limit headers, ``X-Pages`` on paged routes, JSON errors):

- ``/characters/{id}/wallet/`` — the balance, a JSON number (cached 120 s);
- ``/characters/{id}/wallet/journal/[?page=]`` — the last 30 days, newest first, paged (3600 s);
- ``/characters/{id}/wallet/transactions/[?from_id=]`` — the last 30 days, newest first, at most
  ``transactions_limit`` an answer; ``from_id`` gives that transaction and older ones (the row
  itself comes back again, as from ESI) (3600 s);
- ``/characters/{id}/orders/`` — open orders (1200 s);
- ``/characters/{id}/orders/history/[?page=]`` — orders closed in the last 90 days (3600 s).

Authentication is real: a ``Bearer`` access token the replay SSO issued (it records them in
``server.state["sso"]["access_tokens"]``). Unknown or expired → 401; a token of another
character, or without the route's scope (``esi-wallet.read_character_wallet.v1`` for the wallet
routes, ``esi-markets.read_character_orders.v1`` for the order routes) → 403.

Every character has a deterministic trading history, seeded by its id, spread from 75 days
before the replay's start to 45 days after it and revealed as the replay's clock passes:
station trading in Jita at prices from the real history the ESI replay uses. Buy orders fill
in parts (their escrow is released as they fill) or are cancelled with a part unfilled; some
buys are instant; sell orders fill in two to six parts, some are repriced once (a new
``issued`` and another broker fee), some are cancelled; and a few sales are of an item never
bought (mined Megacyte: "cost unknown" for the ledger). The journal has what the game writes:
``brokers_fee`` (half of them naming their order, as newer ESI data does), ``market_escrow``,
``market_transaction`` (naming its transaction) and, for a sale, its ``transaction_tax`` with the
next journal id at the same second, all with the running balance. The demo pilot (2112625428)
is one of them.

Knobs, on ``server.state["characters"]`` (a :class:`CharacterReplay`; ``reset()`` restores them):

- ``advance(days=…, seconds=…)`` moves the replay's clock forward: the answers come from later
  (older rows drop out of ESI's 30-day window, newer trades appear); ``clock_offset`` in seconds;
- ``journal_page_size`` (2500), ``transactions_limit`` (2500), ``history_page_size`` (1000);
- ``set_history(character_id, TradingHistory(...))`` serves a hand-made history instead.

Answers are computed as of the start of the route's cache period, so the pages of one paged
answer always agree. ``POST /esi/_replay/characters`` with knobs as JSON sets them from another
process (``{"advance_days": 10}`` too).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import math
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from email.utils import formatdate
from typing import Any

from lenny.replay import ReplayRequest, ReplayResponse, ReplayServer

PREFIX = "/esi"
WALLET_SCOPE = "esi-wallet.read_character_wallet.v1"
ORDERS_SCOPE = "esi-markets.read_character_orders.v1"
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
    return float(Decimal(repr(value)).quantize(Decimal("0.01"), ROUND_HALF_EVEN))


def _iso(epoch: int) -> str:
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
            "issued": _iso(issued),
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


# --- the routes --------------------------------------------------------------------------------


class CharacterReplay:
    """State of the character routes: the clock, the knobs and each character's history."""

    def __init__(self, server: ReplayServer) -> None:
        self.server = server
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            for name, value in DEFAULTS.items():
                setattr(self, name, value)
            # The replay's history is laid out around the moment it (re)started.
            self.anchor = int(time.time()) // 60 * 60
            self._histories: dict[int, TradingHistory] = {}
            self._custom: dict[int, TradingHistory] = {}

    def configure(self, **knobs: Any) -> CharacterReplay:
        unknown = set(knobs) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown character replay knobs: {', '.join(sorted(unknown))}")
        for name, value in knobs.items():
            value = int(value)
            if value < (0 if name == "clock_offset" else 1):
                raise ValueError(f"{name} cannot be {value!r}")
            setattr(self, name, value)
        return self

    def advance(self, *, days: float = 0, seconds: float = 0) -> int:
        """Move the replay's clock forward; returns the new offset in seconds."""
        with self._lock:
            self.clock_offset += int(days * DAY + seconds)
            return self.clock_offset

    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def as_of(self, route: str) -> int:
        """The start of the route's current cache period, on the replay's clock."""
        period = CACHE_SECONDS[route]
        return self.anchor + max(0, (self.now() - self.anchor) // period) * period

    def set_history(self, character_id: int, history: TradingHistory) -> None:
        with self._lock:
            self._custom[character_id] = history

    def history(self, character_id: int) -> TradingHistory:
        with self._lock:
            if character_id in self._custom:
                return self._custom[character_id]
            history = self._histories.get(character_id)
            if history is None:
                history = self._histories[character_id] = trading_history_generate(
                    character_id=character_id,
                    start=self.anchor - PAST_DAYS * DAY,
                    end=self.anchor + FUTURE_DAYS * DAY,
                    prices=self._prices(),
                )
            return history

    def _prices(self) -> dict[int, tuple[float, float]]:
        esi = self.server.state.get("esi")
        if esi is None:
            return {}
        try:
            trading = esi.archive().trading(JITA_REGION)
        except (OSError, ValueError):
            return {}
        return {t.type_id: (t.price, t.half_spread) for t in trading}

    # --- answers -------------------------------------------------------------------------------

    def _limit_headers(self, status: int) -> dict[str, str]:
        # One error limit for every ESI route, as ESI counts them: shared with the market replay.
        esi = self.server.state.get("esi")
        return esi._limit_headers(status) if esi is not None else {}

    def _error(self, status: int, message: str, **extra: Any) -> ReplayResponse:
        headers = {"X-Esi-Request-Id": str(uuid.uuid4()), **self._limit_headers(status)}
        body = json.dumps({"error": message, **extra}, separators=(",", ":")).encode()
        return ReplayResponse(status, body, {"Content-Type": "application/json", **headers})

    def _answer(
        self, req: ReplayRequest, data: Any, *, route: str, pages: int | None = None
    ) -> ReplayResponse:
        body = json.dumps(data, separators=(",", ":")).encode()
        etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
        status = 304 if req.headers.get("If-None-Match") == etag else 200
        as_of = self.as_of(route)
        # Expires is real time: a client's cache must not be fooled by the replay's clock.
        expires = as_of + CACHE_SECONDS[route] - self.clock_offset
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "Cache-Control": "private",
            "ETag": etag,
            "Expires": formatdate(expires, usegmt=True),
            "Last-Modified": formatdate(as_of, usegmt=True),
            "X-Esi-Request-Id": str(uuid.uuid4()),
            **self._limit_headers(status),
        }
        if pages is not None:
            headers["X-Pages"] = str(pages)
        return ReplayResponse(status, b"" if status == 304 else body, headers)

    def _authorized(self, req: ReplayRequest, scope: str) -> int | ReplayResponse:
        """The path's character id when the request's token may read it, else ESI's refusal."""
        character_id = int(req.params["character_id"])
        scheme, _, token = (req.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self._error(401, "authorization not provided")
        issued = self.server.state.get("sso", {}).get("access_tokens", {}).get(token.strip())
        if issued is None:
            return self._error(401, "authentication failure", sso_status=401)
        if issued["expires_at"] < time.time():
            return self._error(401, "token is expired", sso_status=401)
        if issued["character_id"] != character_id:
            return self._error(403, "token not valid for this character")
        if scope not in issued["scopes"]:
            return self._error(403, "token not valid for scope")
        return character_id

    def _page(self, req: ReplayRequest, rows: list, size: int) -> tuple[list, int] | ReplayResponse:
        pages = max(1, math.ceil(len(rows) / size))
        text = req.arg("page") or "1"
        if not text.isdigit() or int(text) < 1:
            return self._error(400, f"page must be a positive integer, not {text!r}")
        page = int(text)
        if page > pages:
            return self._error(404, "Requested page does not exist!")
        return rows[(page - 1) * size : page * size], pages

    def wallet_view(self, req: ReplayRequest) -> ReplayResponse:
        character_id = self._authorized(req, WALLET_SCOPE)
        if isinstance(character_id, ReplayResponse):
            return character_id
        balance = self.history(character_id).balance_at(self.as_of("wallet"))
        return self._answer(req, balance, route="wallet")

    def journal_view(self, req: ReplayRequest) -> ReplayResponse:
        character_id = self._authorized(req, WALLET_SCOPE)
        if isinstance(character_id, ReplayResponse):
            return character_id
        window = self.history(character_id).journal_window(self.as_of("journal"), JOURNAL_DAYS)
        rows = [_public(row) for row in reversed(window)]
        paged = self._page(req, rows, int(self.journal_page_size))
        if isinstance(paged, ReplayResponse):
            return paged
        return self._answer(req, paged[0], route="journal", pages=paged[1])

    def transactions_view(self, req: ReplayRequest) -> ReplayResponse:
        character_id = self._authorized(req, WALLET_SCOPE)
        if isinstance(character_id, ReplayResponse):
            return character_id
        text = req.arg("from_id")
        if text is not None and not text.isdigit():
            return self._error(400, f"from_id must be an integer, not {text!r}")
        history = self.history(character_id)
        window = history.transactions_window(self.as_of("transactions"), JOURNAL_DAYS)
        rows = [
            _public(row)
            for row in reversed(window)
            if text is None or row["transaction_id"] <= int(text)
        ]
        return self._answer(req, rows[: int(self.transactions_limit)], route="transactions")

    def orders_view(self, req: ReplayRequest) -> ReplayResponse:
        character_id = self._authorized(req, ORDERS_SCOPE)
        if isinstance(character_id, ReplayResponse):
            return character_id
        moment = self.as_of("orders")
        rows = [
            order.as_of(moment)
            for order in self.history(character_id).orders
            if order.placed_at <= moment and (order.closed_at is None or order.closed_at > moment)
        ]
        return self._answer(req, rows, route="orders")

    def order_history_view(self, req: ReplayRequest) -> ReplayResponse:
        character_id = self._authorized(req, ORDERS_SCOPE)
        if isinstance(character_id, ReplayResponse):
            return character_id
        moment = self.as_of("order_history")
        closed = [
            order
            for order in self.history(character_id).orders
            if order.closed_at is not None
            and moment - ORDER_HISTORY_DAYS * DAY < order.closed_at <= moment
        ]
        closed.sort(key=lambda order: (order.closed_at, order.order_id), reverse=True)
        rows = [order.as_of(moment) for order in closed]
        paged = self._page(req, rows, int(self.history_page_size))
        if isinstance(paged, ReplayResponse):
            return paged
        return self._answer(req, paged[0], route="order_history", pages=paged[1])

    def state_view(self, req: ReplayRequest) -> ReplayResponse:
        if req.method == "POST":
            data = dict(req.json() or {})
            days = data.pop("advance_days", 0)
            try:
                self.configure(**data)
                self.advance(days=float(days))
            except (TypeError, ValueError) as exc:
                return ReplayResponse.error(400, str(exc))
        return ReplayResponse.json(
            {
                "knobs": {name: getattr(self, name) for name in DEFAULTS},
                "anchor": self.anchor,
                "now": self.now(),
            }
        )


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as ESI sends it: its moment as ``date``, internal keys left out."""
    return {"date": _iso(row["_at"]), **{k: v for k, v in row.items() if not k.startswith("_")}}


def characters_register(server: ReplayServer) -> None:
    replay = CharacterReplay(server)
    server.state["characters"] = replay
    server.on_reset(replay.reset)
    character = rf"{PREFIX}/characters/(?P<character_id>\d+)"
    server.add_route("GET", rf"{character}/wallet/?", replay.wallet_view)
    server.add_route("GET", rf"{character}/wallet/journal/?", replay.journal_view)
    server.add_route("GET", rf"{character}/wallet/transactions/?", replay.transactions_view)
    server.add_route("GET", rf"{character}/orders/?", replay.orders_view)
    server.add_route("GET", rf"{character}/orders/history/?", replay.order_history_view)
    server.add_route("GET", rf"{PREFIX}/_replay/characters", replay.state_view)
    server.add_route("POST", rf"{PREFIX}/_replay/characters", replay.state_view)
