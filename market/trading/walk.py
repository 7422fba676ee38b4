"""One type's haul (buy at hub A, carry, sell at hub B): the walks through the order books.

Instant: take A's sell orders cheapest first and sell straight into B's buy orders dearest
first. Taking an existing order pays no broker fee; selling pays sales tax. A unit bought at
``ask`` and sold at ``bid`` earns ``bid * (1 - sales_tax) - ask``. The walk goes level by
level and stops at the first unit that would not earn anything, or when the budget, the cargo
hold or ``max_quantity`` runs out. A buy order's ``min_volume`` is the least one sale into
it may be, capped by what the order still wants (EVE lets you fill the last units of an
order below its minimum); an order we cannot give that many profitable units is skipped.

Relist: buy the same way, then sell at B one tick under B's best ask (``price_undercut``),
paying broker fee and sales tax on the sale: a unit earns
``relist_price * (1 - sales_tax - broker_fee) - ask``. Nothing in the order books limits how
many units the market at B absorbs, so pass ``max_quantity`` (e.g. B's daily volume) to keep
the plan realistic.

Cargo counts whole units: ``floor(cargo_m3 / unit_volume)`` in exact decimals (pass the
packaged volume for ships). ``None`` budget or cargo means unlimited.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any, Literal, NamedTuple, Protocol

from market.trading.core import (
    _MONEY,
    ONE,
    ZERO,
    TradingInputError,
    _count,
    _decimal,
    _limit,
    _rate,
    _ratio,
    price_undercut,
)

HaulMode = Literal["instant", "relist"]
HAUL_MODES: tuple[str, ...] = ("instant", "relist")


class BookEntry(Protocol):
    """One order of a book: ``market.models.Order`` fits, and so does ``BookOrder``.

    Buy orders may also carry ``min_volume`` (read with a default of 1).
    """

    price: Decimal
    volume_remain: int


@dataclass(slots=True)
class BookOrder:
    price: Decimal
    volume_remain: int
    min_volume: int = 1


@dataclass(slots=True)
class Fill:
    """Units traded with one order (or, for a relist, at the one relist price)."""

    price: Decimal
    quantity: int


@dataclass(slots=True)
class HaulPlan:
    mode: str
    quantity: int
    buy_cost: Decimal
    sell_revenue: Decimal
    broker_fees: Decimal
    sales_tax: Decimal
    volume_m3: Decimal
    # The walk's steps: ``buys`` and ``sells`` are made from them when asked for (a page shows
    # the fills of a few rows out of thousands).
    steps: tuple[_Step, ...]

    @property
    def buys(self) -> tuple[Fill, ...]:
        # The walk only ever moves up A's book, so steps come in ask order already.
        return _fills(self.steps, index="ask_index", price="ask_price")

    @property
    def sells(self) -> tuple[Fill, ...]:
        return _fills(self.steps, index="sell_index", price="sell_price")

    @property
    def fees_and_tax(self) -> Decimal:
        return self.broker_fees + self.sales_tax

    @property
    def net_profit(self) -> Decimal:
        with localcontext(_MONEY):
            return self.sell_revenue - self.buy_cost - self.broker_fees - self.sales_tax

    @property
    def roi(self) -> Decimal:
        return _ratio(self.net_profit, self.buy_cost)


class _Step(NamedTuple):
    """Units bought from one ask level and sold at one price; the unit of the walk."""

    ask_index: int
    sell_index: int
    ask_price: Decimal
    sell_price: Decimal
    quantity: int
    unit_profit: Decimal


class AskLevels(tuple):
    """Sell orders already as the walk reads them: (price, volume) with positive prices and
    volumes, cheapest first (a caller that built them so, e.g. from a checked book, skips the
    checks of a list of orders)."""

    __slots__ = ()


class BidLevels(tuple):
    """Buy orders already as the walk reads them: (price, volume, least units one sale must
    bring, from 1 to the volume), dearest first."""

    __slots__ = ()


def _asks(orders: Iterable[BookEntry], *, param: str) -> Sequence[tuple[Decimal, int]]:
    """Sell orders as (price, volume), cheapest first; empty orders dropped, bad ones refused."""
    if isinstance(orders, AskLevels):
        return orders
    book = []
    for order in orders:
        price, volume = order.price, order.volume_remain
        if not isinstance(price, Decimal):
            price = _decimal(price, param=param)
        if price <= 0:
            raise TradingInputError(param, f"an order has a non-positive price: {price}")
        if volume < 0:
            raise TradingInputError(param, f"an order has a negative volume: {volume}")
        if volume:
            book.append((price, volume))
    book.sort(key=lambda level: level[0])
    return book


def _bids(orders: Iterable[BookEntry], *, param: str) -> Sequence[tuple[Decimal, int, int]]:
    """Buy orders as (price, volume, least units one sale must bring), dearest first."""
    if isinstance(orders, BidLevels):
        return orders
    book = []
    for order in orders:
        price, volume = order.price, order.volume_remain
        if not isinstance(price, Decimal):
            price = _decimal(price, param=param)
        if price <= 0:
            raise TradingInputError(param, f"an order has a non-positive price: {price}")
        if volume < 0:
            raise TradingInputError(param, f"an order has a negative volume: {volume}")
        if volume:
            least = getattr(order, "min_volume", 1) or 1
            if least < 1:
                least = 1
            elif least > volume:
                least = volume
            book.append((price, volume, least))
    book.sort(key=lambda level: level[0], reverse=True)
    return book


def _units_cap(
    *, cargo: Decimal | None, unit_volume: Decimal, max_quantity: int | None
) -> int | None:
    caps = []
    if cargo is not None and unit_volume > 0:
        caps.append(int(cargo // unit_volume))
    if max_quantity is not None:
        caps.append(max_quantity)
    return min(caps) if caps else None


def _affordable(
    budget_left: Decimal | None, units_left: int | None, price: Decimal, want: int
) -> int:
    """``want`` cut down to what the money and the room left allow at ``price``."""
    if units_left is not None and units_left < want:
        want = units_left
    if budget_left is not None:
        can_pay = int(budget_left // price)
        if can_pay < want:
            want = can_pay
    return want


def _deliverable(
    asks: Sequence[tuple[Decimal, int]],
    index: int,
    ask_left: int,
    *,
    below: Decimal,
    budget_left: Decimal | None,
    units_left: int | None,
    enough: int,
) -> int:
    """How many units (up to ``enough``) the walk could still buy for less than ``below`` each."""
    total = 0
    while index < len(asks) and total < enough:
        price = asks[index][0]
        if price >= below:
            break
        taken = _affordable(
            budget_left, None if units_left is None else units_left - total, price, ask_left
        )
        if taken <= 0:
            break
        total += taken
        if budget_left is not None:
            budget_left -= price * taken
        if taken < ask_left:
            break
        index += 1
        ask_left = asks[index][1] if index < len(asks) else 0
    return total


def _instant_steps(
    asks: Sequence[tuple[Decimal, int]],
    bids: Sequence[tuple[Decimal, int, int]],
    *,
    keep: Decimal,
    budget: Decimal | None,
    units_cap: int | None,
) -> list[_Step]:
    steps: list[_Step] = []
    if not asks or units_cap == 0:
        return steps
    index, ask_left = 0, asks[0][1]
    budget_left, units_left = budget, units_cap
    for bid_index, (bid_price, bid_volume, least) in enumerate(bids):
        net = bid_price * keep
        if index >= len(asks) or asks[index][0] >= net:
            break
        if least > 1:
            could = _deliverable(
                asks,
                index,
                ask_left,
                below=net,
                budget_left=budget_left,
                units_left=units_left,
                enough=least,
            )
            if could < least:
                continue
        wanted = bid_volume
        while wanted and index < len(asks):
            ask_price = asks[index][0]
            if ask_price >= net:
                break
            taken = _affordable(budget_left, units_left, ask_price, min(wanted, ask_left))
            if taken <= 0:
                # Out of money or room: every later ask is at least as dear and as bulky.
                return steps
            steps.append(_Step(index, bid_index, ask_price, bid_price, taken, net - ask_price))
            wanted -= taken
            ask_left -= taken
            if units_left is not None:
                units_left -= taken
            if budget_left is not None:
                budget_left -= ask_price * taken
            if not ask_left:
                index += 1
                ask_left = asks[index][1] if index < len(asks) else 0
    return steps


def _relist_steps(
    asks: Sequence[tuple[Decimal, int]],
    *,
    relist_price: Decimal,
    keep: Decimal,
    budget: Decimal | None,
    units_cap: int | None,
) -> list[_Step]:
    steps: list[_Step] = []
    net = relist_price * keep
    budget_left, units_left = budget, units_cap
    for index, (ask_price, volume) in enumerate(asks):
        if ask_price >= net:
            break
        taken = _affordable(budget_left, units_left, ask_price, volume)
        if taken <= 0:
            break
        steps.append(_Step(index, 0, ask_price, relist_price, taken, net - ask_price))
        if units_left is not None:
            units_left -= taken
        if budget_left is not None:
            budget_left -= ask_price * taken
    return steps


def _fills(steps: Sequence[_Step], *, index: str, price: str) -> tuple[Fill, ...]:
    fills: list[Fill] = []
    last = None
    for step in steps:
        if fills and getattr(step, index) == last:
            fills[-1] = Fill(fills[-1].price, fills[-1].quantity + step.quantity)
        else:
            fills.append(Fill(getattr(step, price), step.quantity))
        last = getattr(step, index)
    return tuple(fills)


def _plan(mode: str, steps: Sequence[_Step], haul: _Haul) -> HaulPlan | None:
    """The plan of a walk's steps, at the haul's volume, tax and broker fee."""
    if not steps:
        return None
    quantity = sum(step.quantity for step in steps)
    buy_cost = sum((step.ask_price * step.quantity for step in steps), ZERO)
    revenue = sum((step.sell_price * step.quantity for step in steps), ZERO)
    return HaulPlan(
        mode=mode,
        quantity=quantity,
        buy_cost=buy_cost,
        sell_revenue=revenue,
        broker_fees=haul.broker_fee * revenue,
        sales_tax=haul.sales_tax * revenue,
        volume_m3=haul.unit_volume * quantity,
        steps=tuple(steps),
    )


@dataclass(frozen=True, slots=True)
class _Haul:
    """Validated common inputs of a haul."""

    budget: Decimal | None
    cargo: Decimal | None
    unit_volume: Decimal
    sales_tax: Decimal
    broker_fee: Decimal
    max_quantity: int | None

    @classmethod
    def parse(cls, *, budget, cargo_m3, unit_volume, sales_tax, broker_fee, max_quantity) -> _Haul:
        volume = _limit(unit_volume, param="unit_volume")
        if volume is None:
            raise TradingInputError("unit_volume", "is required (m3 per unit, packaged for ships)")
        return cls(
            budget=_limit(budget, param="budget"),
            cargo=_limit(cargo_m3, param="cargo_m3"),
            unit_volume=volume,
            sales_tax=_rate(sales_tax, param="sales_tax"),
            broker_fee=_rate(broker_fee, param="broker_fee"),
            max_quantity=_count(max_quantity, param="max_quantity"),
        )

    @property
    def units_cap(self) -> int | None:
        return _units_cap(
            cargo=self.cargo, unit_volume=self.unit_volume, max_quantity=self.max_quantity
        )


def _best_ask(value: Any, *, param: str) -> Decimal | None:
    if value is None:
        return None
    price = _decimal(value, param=param)
    if price <= 0:
        raise TradingInputError(param, f"must be positive, got {value}")
    return price


def _instant(
    haul: _Haul, asks: Sequence[tuple[Decimal, int]], bids: Sequence[tuple[Decimal, int, int]]
) -> list[_Step]:
    return _instant_steps(
        asks, bids, keep=ONE - haul.sales_tax, budget=haul.budget, units_cap=haul.units_cap
    )


def _relist(
    haul: _Haul, asks: Sequence[tuple[Decimal, int]], best_ask_at_b: Decimal | None
) -> list[_Step]:
    relist_price = None if best_ask_at_b is None else price_undercut(best_ask_at_b)
    if relist_price is None:
        return []
    keep = ONE - haul.sales_tax - haul.broker_fee
    return _relist_steps(
        asks, relist_price=relist_price, keep=keep, budget=haul.budget, units_cap=haul.units_cap
    )


def hauling_instant(
    *,
    sell_orders_at_a: Iterable[BookEntry],
    buy_orders_at_b: Iterable[BookEntry],
    budget: Decimal | None,
    cargo_m3: Decimal | None,
    unit_volume: Decimal,
    sales_tax: Decimal,
    max_quantity: int | None = None,
) -> HaulPlan | None:
    """Buy up A's sell book and sell down B's buy book while each unit still earns something.

    None when no unit would earn anything (empty books, nothing affordable, no room).
    """
    haul = _Haul.parse(
        budget=budget,
        cargo_m3=cargo_m3,
        unit_volume=unit_volume,
        sales_tax=sales_tax,
        broker_fee=ZERO,
        max_quantity=max_quantity,
    )
    asks = _asks(sell_orders_at_a, param="sell_orders_at_a")
    bids = _bids(buy_orders_at_b, param="buy_orders_at_b")
    with localcontext(_MONEY):
        steps = _instant(haul, asks, bids)
        return _plan("instant", steps, haul)


def hauling_relist(
    *,
    sell_orders_at_a: Iterable[BookEntry],
    best_ask_at_b: Decimal | None,
    budget: Decimal | None,
    cargo_m3: Decimal | None,
    unit_volume: Decimal,
    sales_tax: Decimal,
    broker_fee: Decimal,
    max_quantity: int | None = None,
) -> HaulPlan | None:
    """Buy up A's sell book and relist at B one tick under its best ask, fees and tax paid.

    None when B has no sell order to undercut or no unit would earn anything.
    """
    haul = _Haul.parse(
        budget=budget,
        cargo_m3=cargo_m3,
        unit_volume=unit_volume,
        sales_tax=sales_tax,
        broker_fee=broker_fee,
        max_quantity=max_quantity,
    )
    best_ask_at_b = _best_ask(best_ask_at_b, param="best_ask_at_b")
    asks = _asks(sell_orders_at_a, param="sell_orders_at_a")
    with localcontext(_MONEY):
        steps = _relist(haul, asks, best_ask_at_b)
        return _plan("relist", steps, haul)


def hauling_may_pay(
    *,
    mode: HaulMode,
    best_ask_at_a: Decimal | None,
    best_bid_at_b: Decimal | None = None,
    best_ask_at_b: Decimal | None = None,
    sales_tax: Decimal,
    broker_fee: Decimal = ZERO,
) -> bool:
    """Whether a type's best prices leave room for a single profitable unit.

    A necessary condition for a plan, checked on the per-station best prices (the ingest's
    aggregates) so that only the types passing it need their order books loaded: instant needs
    ``best_ask_at_a < best_bid_at_b * (1 - sales_tax)``, relist
    ``best_ask_at_a < undercut(best_ask_at_b) * (1 - sales_tax - broker_fee)``.
    """
    if mode not in HAUL_MODES:
        raise TradingInputError("mode", f"must be one of {', '.join(HAUL_MODES)}, got {mode!r}")
    tax = _rate(sales_tax, param="sales_tax")
    if best_ask_at_a is None:
        return False
    if mode == "instant":
        return best_bid_at_b is not None and best_ask_at_a < best_bid_at_b * (ONE - tax)
    fee = _rate(broker_fee, param="broker_fee")
    relist_price = None if best_ask_at_b is None else price_undercut(best_ask_at_b)
    return relist_price is not None and best_ask_at_a < relist_price * (ONE - tax - fee)
