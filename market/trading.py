"""Station trading and hauling maths: plain data in, plain data out, Decimal for ISK.

Nothing here touches the database. Pages, the JSON API and tasks read quotes and order books from
the models, call these functions and render what they return. Rates are fractions
(``Decimal("0.036")`` is 3.6 %); ISK amounts are returned unrounded (exact products of the
inputs) so that every identity below holds to the last digit; round them for display only.

Station trading (one station, both legs as orders)
    A station trader places a buy order at the best bid and relists at the best ask. Both orders
    pay the broker fee when placed; the sale pays sales tax. Per unit::

        broker_fee_bid = broker_fee * best_bid
        broker_fee_ask = broker_fee * best_ask
        sales_tax      = sales_tax * best_ask
        profit         = best_ask - best_bid - broker_fee_bid - broker_fee_ask - sales_tax
        margin         = profit / best_bid
        daily_profit   = profit * min(daily_volume, volume_cap)

    ``daily_volume`` is the type's 30-day average daily volume in the region (0 when it has no
    history). Only orders located at the station count (see ``station_quotes``).

Hauling (buy at hub A, carry, sell at hub B)
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

Many types on one trip (``hauling_rows``)
    Shared allocation splits one budget and one hold between types greedily by profit density:
    each type's standalone plan is cut into lots (one per matched pair of price levels); lots are
    taken best first, where a lot's density is its unit profit divided by the share of the
    scarcer resource one unit uses, ``max(unit_cost / budget, unit_m3 / cargo)``. Within a type
    density only falls as the walk goes on, so every type gets a prefix of its own plan, which
    is then re-planned for exactly that quantity (so ``min_volume`` still holds; money a
    re-plan does not spend is left unspent). Independent allocation gives each type the whole
    budget and hold, for comparing options one trip at a time.

Prices follow EVE's grid: at most four significant digits and never finer than 0.01 ISK
(``price_tick``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, Context, Decimal, InvalidOperation, localcontext
from operator import attrgetter
from typing import Any, Literal, NamedTuple, Protocol, TypeVar

ZERO = Decimal(0)
ONE = Decimal(1)
CENT = Decimal("0.01")

# ISK sums stay exact far beyond any real book (1e13 ISK * 2e9 units * a 4-digit rate); ratios
# (margin, ROI, profit per jump) are quotients and get 28 significant digits.
_MONEY = Context(prec=60)
_RATIO = Context(prec=28)

HaulMode = Literal["instant", "relist"]
HAUL_MODES: tuple[str, ...] = ("instant", "relist")
Allocation = Literal["shared", "independent"]
ALLOCATIONS: tuple[str, ...] = ("shared", "independent")


class TradingInputError(ValueError):
    """Input these functions cannot work with; ``param`` names the culprit (for an API's 400)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


# --- inputs ------------------------------------------------------------------------------------


def _decimal(value: Any, *, param: str) -> Decimal:
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, bool):
        raise TradingInputError(param, f"must be a number, got {value!r}")
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        # repr() keeps what the user typed: 0.3 stays 0.3, not 0.29999999999999998889…
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise TradingInputError(param, f"must be a number, got {value!r}") from None
    else:
        raise TradingInputError(param, f"must be a number, got {value!r}")
    if not number.is_finite():
        raise TradingInputError(param, f"must be a finite number, got {value!r}")
    return number


def _rate(value: Any, *, param: str) -> Decimal:
    rate = _decimal(value, param=param)
    if not ZERO <= rate < ONE:
        raise TradingInputError(
            param, f"must be a fraction from 0 to below 1 (e.g. 0.036 for 3.6 %), got {value}"
        )
    return rate


def _limit(value: Any, *, param: str) -> Decimal | None:
    """A budget or capacity: None means unlimited; negative makes no sense."""
    if value is None:
        return None
    limit = _decimal(value, param=param)
    if limit < 0:
        raise TradingInputError(param, f"must not be negative, got {value}")
    return limit


def _count(value: Any, *, param: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TradingInputError(param, f"must be a whole number, got {value!r}")
    if value < 0:
        raise TradingInputError(param, f"must not be negative, got {value}")
    return value


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal:
    return _RATIO.divide(numerator, denominator)


# --- price grid ----------------------------------------------------------------------------------


def price_tick(price: Decimal) -> Decimal:
    """The smallest price step at ``price``: its fourth significant digit, at least 0.01 ISK.

    1234567 → 1000, 12.34 → 0.01, 150 → 0.1.
    """
    price = _decimal(price, param="price")
    if price <= 0:
        raise TradingInputError("price", f"must be positive, got {price}")
    return max(ONE.scaleb(price.adjusted() - 3), CENT).quantize(CENT)


def price_undercut(price: Decimal) -> Decimal | None:
    """The highest valid price strictly below ``price``: "best ask minus one tick".

    Crossing into a lower decade makes the grid finer, so 1000 → 999.9 (not 999) and
    100 → 99.99. An off-grid price (an order older than the 4-digit rule) undercuts to the grid
    point just below it. None when nothing is below (0.01 ISK).
    """
    tick = price_tick(price)
    below = ((price / tick).to_integral_value(ROUND_CEILING) - 1) * tick
    if below <= 0:
        return None
    finer = price_tick(below)
    if finer < tick:
        below = ((price / finer).to_integral_value(ROUND_CEILING) - 1) * finer
    return below.quantize(CENT)


# --- sorting -------------------------------------------------------------------------------------

Row = TypeVar("Row")


def _check_order_by(order_by: str, columns: Collection[str]) -> str:
    column = order_by.removeprefix("-")
    if column not in columns:
        raise TradingInputError(
            "sort", f"cannot sort by {column!r}; choose one of {', '.join(sorted(columns))}"
        )
    return column


def rows_sort(rows: Iterable[Row], *, order_by: str, columns: Collection[str]) -> list[Row]:
    """Sort rows by one column, ``"-column"`` for descending; ties by type id, empty values last."""
    key = attrgetter(_check_order_by(order_by, columns))
    by_type = sorted(rows, key=attrgetter("type_id"))
    present = [row for row in by_type if key(row) is not None]
    missing = [row for row in by_type if key(row) is None]
    present.sort(key=key, reverse=order_by.startswith("-"))
    return present + missing


# --- station trading -----------------------------------------------------------------------------

# Inputs and rows are plain slotted dataclasses, not frozen ones: a page builds thousands of them
# and a frozen dataclass takes about twice as long to construct.


@dataclass(slots=True)
class Quote:
    """The best prices of one type at one station; None when that side of the book is empty."""

    type_id: int
    best_bid: Decimal | None
    best_ask: Decimal | None
    type_name: str = ""


@dataclass(slots=True)
class StationTradingRow:
    type_id: int
    type_name: str
    best_bid: Decimal
    best_ask: Decimal
    broker_fee_bid: Decimal
    broker_fee_ask: Decimal
    sales_tax: Decimal
    profit: Decimal
    margin: Decimal
    daily_volume: Decimal
    daily_profit: Decimal


STATION_TRADING_COLUMNS: tuple[str, ...] = (
    "type_id",
    "type_name",
    "best_bid",
    "best_ask",
    "broker_fee_bid",
    "broker_fee_ask",
    "sales_tax",
    "profit",
    "margin",
    "daily_volume",
    "daily_profit",
)


class StationOrder(Protocol):
    type_id: int
    location_id: int
    is_buy_order: bool
    price: Decimal


def station_quotes(
    *,
    orders: Iterable[StationOrder],
    location_id: int,
    type_names: Mapping[int, str] | None = None,
) -> list[Quote]:
    """Best bid and ask per type from raw orders, counting only orders located at the station.

    A buy order elsewhere in the region whose range reaches the station does not count: the
    station trader competes with the orders in the station's own market window.
    """
    bids: dict[int, Decimal] = {}
    asks: dict[int, Decimal] = {}
    for order in orders:
        if order.location_id != location_id:
            continue
        if order.is_buy_order:
            best = bids.get(order.type_id)
            if best is None or order.price > best:
                bids[order.type_id] = order.price
        else:
            best = asks.get(order.type_id)
            if best is None or order.price < best:
                asks[order.type_id] = order.price
    names = type_names or {}
    return [
        Quote(type_id, bids.get(type_id), asks.get(type_id), names.get(type_id, ""))
        for type_id in sorted(bids.keys() | asks.keys())
    ]


def station_trading_rows(
    *,
    quotes: Iterable[Quote],
    daily_volumes: Mapping[int, Decimal],
    sales_tax: Decimal,
    broker_fee: Decimal,
    volume_cap: Decimal | int | None = None,
    min_margin: Decimal | None = None,
    min_daily_volume: Decimal | None = None,
    min_profit: Decimal | None = None,
    max_price: Decimal | None = None,
    type_ids: Collection[int] | None = None,
    order_by: str = "-daily_profit",
) -> list[StationTradingRow]:
    """One row per type with both a bid and an ask, by the formulas in the module docstring.

    ``quotes`` may be ``Quote`` objects or anything with ``type_id``, ``best_bid``, ``best_ask``
    and optionally ``type_name`` (e.g. the ingest's per-station best-price rows).

    Filters (each optional, inclusive): ``min_margin`` (a fraction), ``min_daily_volume``,
    ``min_profit`` (per unit), ``max_price`` (the dearer of bid and ask), ``type_ids`` (e.g. one
    market group's subtree). ``volume_cap`` is the trader's own limit on units a day.
    """
    tax_rate = _rate(sales_tax, param="sales_tax")
    fee_rate = _rate(broker_fee, param="broker_fee")
    cap = _limit(volume_cap, param="volume_cap")
    min_margin = None if min_margin is None else _decimal(min_margin, param="min_margin")
    min_volume = _limit(min_daily_volume, param="min_daily_volume")
    min_profit = None if min_profit is None else _decimal(min_profit, param="min_profit")
    max_price = _limit(max_price, param="max_price")
    _check_order_by(order_by, STATION_TRADING_COLUMNS)

    divide = _RATIO.divide
    rows: list[StationTradingRow] = []
    with localcontext(_MONEY):
        for quote in quotes:
            bid, ask = quote.best_bid, quote.best_ask
            if bid is None or ask is None or bid <= 0 or ask <= 0:
                continue
            if type_ids is not None and quote.type_id not in type_ids:
                continue
            if max_price is not None and (bid > max_price or ask > max_price):
                continue
            volume = daily_volumes.get(quote.type_id, ZERO)
            if min_volume is not None and volume < min_volume:
                continue
            fee_bid = fee_rate * bid
            fee_ask = fee_rate * ask
            tax = tax_rate * ask
            profit = ask - bid - fee_bid - fee_ask - tax
            if min_profit is not None and profit < min_profit:
                continue
            margin = divide(profit, bid)
            if min_margin is not None and margin < min_margin:
                continue
            units = volume if cap is None or volume <= cap else cap
            rows.append(
                StationTradingRow(
                    type_id=quote.type_id,
                    type_name=getattr(quote, "type_name", ""),
                    best_bid=bid,
                    best_ask=ask,
                    broker_fee_bid=fee_bid,
                    broker_fee_ask=fee_ask,
                    sales_tax=tax,
                    profit=profit,
                    margin=margin,
                    daily_volume=volume,
                    daily_profit=profit * units if units else ZERO,
                )
            )
    return rows_sort(rows, order_by=order_by, columns=STATION_TRADING_COLUMNS)


# --- hauling -------------------------------------------------------------------------------------


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
    buys: tuple[Fill, ...]
    sells: tuple[Fill, ...]

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


def _asks(orders: Iterable[BookEntry], *, param: str) -> list[tuple[Decimal, int]]:
    """Sell orders as (price, volume), cheapest first; empty orders dropped, bad ones refused."""
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


def _bids(orders: Iterable[BookEntry], *, param: str) -> list[tuple[Decimal, int, int]]:
    """Buy orders as (price, volume, least units one sale must bring), dearest first."""
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


def _plan(
    mode: str,
    steps: Sequence[_Step],
    *,
    unit_volume: Decimal,
    sales_tax: Decimal,
    broker_fee: Decimal,
) -> HaulPlan | None:
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
        broker_fees=broker_fee * revenue,
        sales_tax=sales_tax * revenue,
        volume_m3=unit_volume * quantity,
        # The walk only ever moves up A's book, so steps come in ask order already.
        buys=_fills(steps, index="ask_index", price="ask_price"),
        sells=_fills(steps, index="sell_index", price="sell_price"),
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
        return _plan(
            "instant",
            steps,
            unit_volume=haul.unit_volume,
            sales_tax=haul.sales_tax,
            broker_fee=ZERO,
        )


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
        return _plan(
            "relist",
            steps,
            unit_volume=haul.unit_volume,
            sales_tax=haul.sales_tax,
            broker_fee=haul.broker_fee,
        )


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


@dataclass(slots=True)
class HaulCandidate:
    """One type's books for a haul from A to B.

    Instant mode reads ``buy_orders_at_b``, relist mode ``best_ask_at_b``. ``unit_volume`` is the
    packaged volume for ships. ``max_quantity`` caps the units (e.g. B's daily volume).
    """

    type_id: int
    unit_volume: Decimal
    sell_orders_at_a: Sequence[BookEntry]
    buy_orders_at_b: Sequence[BookEntry] = ()
    best_ask_at_b: Decimal | None = None
    type_name: str = ""
    max_quantity: int | None = None


@dataclass(slots=True)
class HaulRow:
    type_id: int
    type_name: str
    quantity: int
    buy_cost: Decimal
    sell_revenue: Decimal
    fees_and_tax: Decimal
    net_profit: Decimal
    roi: Decimal
    volume_m3: Decimal
    jumps: int | None
    profit_per_jump: Decimal | None
    plan: HaulPlan


HAULING_COLUMNS: tuple[str, ...] = (
    "type_id",
    "type_name",
    "quantity",
    "buy_cost",
    "sell_revenue",
    "fees_and_tax",
    "net_profit",
    "roi",
    "volume_m3",
    "jumps",
    "profit_per_jump",
)


def _row(candidate: HaulCandidate, plan: HaulPlan, jumps: int | None) -> HaulRow:
    profit = plan.net_profit
    return HaulRow(
        type_id=candidate.type_id,
        type_name=candidate.type_name,
        quantity=plan.quantity,
        buy_cost=plan.buy_cost,
        sell_revenue=plan.sell_revenue,
        fees_and_tax=plan.fees_and_tax,
        net_profit=profit,
        roi=plan.roi,
        volume_m3=plan.volume_m3,
        jumps=jumps,
        profit_per_jump=_ratio(profit, Decimal(jumps)) if jumps else None,
        plan=plan,
    )


def hauling_rows(
    *,
    candidates: Iterable[HaulCandidate],
    mode: HaulMode,
    budget: Decimal | None,
    cargo_m3: Decimal | None,
    sales_tax: Decimal,
    broker_fee: Decimal,
    jumps: int | None,
    allocation: Allocation = "shared",
    order_by: str = "-net_profit",
) -> list[HaulRow]:
    """Rows for every type worth hauling from A to B (see the module docstring for the policy).

    ``jumps`` is the route's length (None when unreachable); profit per jump is None for a
    0-jump or unknown route.
    """
    if mode not in HAUL_MODES:
        raise TradingInputError("mode", f"must be one of {', '.join(HAUL_MODES)}, got {mode!r}")
    if allocation not in ALLOCATIONS:
        raise TradingInputError(
            "allocation", f"must be one of {', '.join(ALLOCATIONS)}, got {allocation!r}"
        )
    jumps = _count(jumps, param="jumps")
    _check_order_by(order_by, HAULING_COLUMNS)
    common = _Haul.parse(
        budget=budget,
        cargo_m3=cargo_m3,
        unit_volume=ZERO,
        sales_tax=sales_tax,
        broker_fee=broker_fee,
        max_quantity=None,
    )
    if mode == "instant":
        # Taking orders on both ends places none: no broker fee, whatever the profile says.
        common = replace(common, broker_fee=ZERO)

    prepared = []
    for candidate in candidates:
        try:
            prepared.append(_prepare(candidate, common, mode))
        except TradingInputError as error:
            raise TradingInputError(
                error.param, f"type {candidate.type_id}: {error.message}"
            ) from None

    def walk(haul: _Haul, asks, other) -> list[_Step]:
        return _instant(haul, asks, other) if mode == "instant" else _relist(haul, asks, other)

    rows: list[HaulRow] = []
    with localcontext(_MONEY):
        standalone = [walk(haul, asks, other) for _, haul, asks, other in prepared]
        if allocation == "shared" and (common.budget is not None or common.cargo is not None):
            quantities = _allocate(prepared, standalone, budget=common.budget, cargo=common.cargo)
            final = []
            for (_, haul, asks, other), steps, quantity in zip(
                prepared, standalone, quantities, strict=True
            ):
                if quantity == sum(step.quantity for step in steps):
                    final.append(steps)
                elif quantity:
                    # Re-plan for exactly the allotted units so min_volume still holds.
                    final.append(walk(replace(haul, max_quantity=quantity), asks, other))
                else:
                    final.append([])
        else:
            final = standalone
        for (candidate, haul, _, _), steps in zip(prepared, final, strict=True):
            plan = _plan(
                mode,
                steps,
                unit_volume=haul.unit_volume,
                sales_tax=haul.sales_tax,
                broker_fee=haul.broker_fee,
            )
            if plan is not None:
                rows.append(_row(candidate, plan, jumps))
    return rows_sort(rows, order_by=order_by, columns=HAULING_COLUMNS)


def _prepare(candidate: HaulCandidate, common: _Haul, mode: str) -> tuple:
    unit_volume = _limit(candidate.unit_volume, param="unit_volume")
    if unit_volume is None:
        raise TradingInputError("unit_volume", "is required (m3 per unit, packaged for ships)")
    haul = replace(
        common,
        unit_volume=unit_volume,
        max_quantity=_count(candidate.max_quantity, param="max_quantity"),
    )
    asks = _asks(candidate.sell_orders_at_a, param="sell_orders_at_a")
    if mode == "instant":
        return candidate, haul, asks, _bids(candidate.buy_orders_at_b, param="buy_orders_at_b")
    return candidate, haul, asks, _best_ask(candidate.best_ask_at_b, param="best_ask_at_b")


def _allocate(
    prepared: Sequence[tuple[HaulCandidate, _Haul, Any, Any]],
    standalone: Sequence[Sequence[_Step]],
    *,
    budget: Decimal | None,
    cargo: Decimal | None,
) -> list[int]:
    """Units per type when lots are taken best density first from one budget and one hold."""
    # Floats only rank the lots (float rounding is monotonic, so a type's lots keep their order);
    # what each lot takes from the budget and the hold is counted in exact decimals below.
    budget_float = float(budget) if budget else 0.0
    cargo_float = float(cargo) if cargo else 0.0
    lots = []
    for position, ((_, haul, _, _), steps) in enumerate(zip(prepared, standalone, strict=True)):
        volume_share = float(haul.unit_volume) / cargo_float if cargo_float else 0.0
        for order, step in enumerate(steps):
            share = float(step.ask_price) / budget_float if budget_float else 0.0
            if volume_share > share:
                share = volume_share
            profit = float(step.unit_profit)
            lots.append((-profit / share if share else -math.inf, -profit, position, order))
    lots.sort()
    cheapest = min((steps[0].ask_price for steps in standalone if steps), default=None)
    volumes = [haul.unit_volume for _, haul, _, _ in prepared]
    smallest = min(volumes, default=None)
    quantities = [0] * len(prepared)
    budget_left, cargo_left = budget, cargo
    for _, _, position, order in lots:
        if (budget_left is not None and cheapest is not None and budget_left < cheapest) or (
            cargo_left is not None and smallest and cargo_left < smallest
        ):
            break  # nothing left fits
        step = standalone[position][order]
        unit_volume = volumes[position]
        units_left = (
            int(cargo_left // unit_volume) if cargo_left is not None and unit_volume > 0 else None
        )
        taken = _affordable(budget_left, units_left, step.ask_price, step.quantity)
        if taken <= 0:
            continue
        quantities[position] += taken
        if budget_left is not None:
            budget_left -= step.ask_price * taken
        if cargo_left is not None:
            cargo_left -= unit_volume * taken
    return quantities
