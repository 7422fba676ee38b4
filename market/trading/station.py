"""Station trading maths (one station, both legs as orders); see ``market.trading``.

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

What a trader can earn a day, the desk's default ranking::

    achievable_units        = min(basis_volume * market_share, volume_cap)
    achievable_daily_profit = profit * achievable_units

``basis_volume`` is the station's own daily volume (``station_daily_volume``: the slower of the
units sold into buy orders and bought from sell orders a day at the station, inferred from our
snapshots) once the station has been watched long enough to know it (``volume_basis``
"station"); until then it is the region's 30-day daily volume (``volume_basis`` "region"), never
a made-up station figure. ``market_share`` is the share of that volume the trader expects to
take (10 % by default). Each row carries the reasons not to trust it
(``market.trading.flags.station_flags``): the units of the min-volume bait check are
``achievable_units``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Protocol

from market.trading.core import (
    _MONEY,
    _RATIO,
    DEFAULT_MARKET_SHARE,
    ONE,
    ZERO,
    TradingInputError,
    _check_order_by,
    _decimal,
    _limit,
    _rate,
    rows_sort,
)
from market.trading.flags import NO_FLAGS, station_flags

# Inputs and rows are plain slotted dataclasses, not frozen ones: a page builds thousands of them
# and a frozen dataclass takes about twice as long to construct.


@dataclass(slots=True)
class Quote:
    """The best prices of one type at one station; None when that side of the book is empty.

    The rest says how far to trust them, as ``market.queries.BookTop`` carries it: the depth
    prices (the volume-weighted average of each side's best 5 % of units), the units on offer
    at each best price (None: unknown, so not judged), the smallest ``min_volume`` among the
    buy orders at the best bid, and what trades at the station a day (None: not watched long
    enough to know)."""

    type_id: int
    best_bid: Decimal | None
    best_ask: Decimal | None
    type_name: str = ""
    depth_bid: Decimal | None = None
    depth_ask: Decimal | None = None
    best_bid_volume: int | None = None
    best_ask_volume: int | None = None
    best_bid_min_volume: int = 1
    sold_daily: Decimal | None = None
    bought_daily: Decimal | None = None
    bid_reprices_daily: Decimal | None = None
    ask_reprices_daily: Decimal | None = None


class StationQuote(Protocol):
    """What a row is priced from: a ``Quote`` or a ``market.queries.BookTop``."""

    type_id: int
    type_name: str
    best_bid: Decimal | None
    best_ask: Decimal | None
    depth_bid: Decimal | None
    depth_ask: Decimal | None
    best_bid_volume: int | None
    best_ask_volume: int | None
    best_bid_min_volume: int
    sold_daily: Decimal | None
    bought_daily: Decimal | None
    bid_reprices_daily: Decimal | None
    ask_reprices_daily: Decimal | None


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
    station_daily_volume: Decimal | None = None  # None: the station is not watched enough yet
    volume_basis: str = "region"  # whose daily volume achievable_units comes from
    achievable_units: Decimal = ZERO
    achievable_daily_profit: Decimal = ZERO
    depth_price_bid: Decimal | None = None
    depth_price_ask: Decimal | None = None
    bid_reprices_daily: Decimal | None = None  # competition: price changes a day
    ask_reprices_daily: Decimal | None = None
    flags: tuple[str, ...] = NO_FLAGS


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
    "station_daily_volume",
    "achievable_units",
    "achievable_daily_profit",
    "depth_price_bid",
    "depth_price_ask",
    "bid_reprices_daily",
    "ask_reprices_daily",
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
    quotes: Iterable[StationQuote],
    daily_volumes: Mapping[int, Decimal],
    sales_tax: Decimal,
    broker_fee: Decimal,
    volume_cap: Decimal | int | None = None,
    market_share: Decimal | float | str = DEFAULT_MARKET_SHARE,
    min_margin: Decimal | None = None,
    min_daily_volume: Decimal | None = None,
    min_profit: Decimal | None = None,
    max_price: Decimal | None = None,
    type_ids: Collection[int] | None = None,
    order_by: str | None = "-achievable_daily_profit",
) -> list[StationTradingRow]:
    """One row per type with both a bid and an ask, by the formulas in the module docstring,
    each with its flags (``market.trading.flags``); nothing is left out for a flag here.

    ``quotes`` are ``Quote`` objects or book tops (``StationQuote``). ``daily_volumes`` are the
    region's 30-day daily volumes. ``market_share`` is a fraction above 0 and at most 1.

    Filters (each optional, inclusive): ``min_margin`` (a fraction), ``min_daily_volume``,
    ``min_profit`` (per unit), ``max_price`` (the dearer of bid and ask), ``type_ids`` (e.g. one
    market group's subtree). ``volume_cap`` is the trader's own limit on units a day.
    ``order_by`` None keeps the quotes' order (for a caller that sorts the rows itself).
    """
    tax_rate = _rate(sales_tax, param="sales_tax")
    fee_rate = _rate(broker_fee, param="broker_fee")
    cap = _limit(volume_cap, param="volume_cap")
    share = _decimal(market_share, param="market_share")
    if not ZERO < share <= ONE:
        raise TradingInputError(
            "market_share", f"must be a fraction above 0 and at most 1, got {market_share}"
        )
    min_margin = None if min_margin is None else _decimal(min_margin, param="min_margin")
    min_volume = _limit(min_daily_volume, param="min_daily_volume")
    min_profit = None if min_profit is None else _decimal(min_profit, param="min_profit")
    max_price = _limit(max_price, param="max_price")
    if order_by is not None:
        _check_order_by(order_by, STATION_TRADING_COLUMNS)

    divide = _RATIO.divide
    # profit = ask - bid - fee x bid - fee x ask - tax x ask, in two products: the same exact
    # value (nothing rounds at 60 digits), for a fraction of the work on a 20,000-type hub.
    keep, cost = ONE - fee_rate - tax_rate, ONE + fee_rate
    filtered = not (
        type_ids is None
        and max_price is None
        and min_volume is None
        and min_profit is None
        and min_margin is None
    )
    rows: list[StationTradingRow] = []
    append = rows.append
    with localcontext(_MONEY):
        for quote in quotes:
            bid, ask = quote.best_bid, quote.best_ask
            if bid is None or ask is None or bid <= ZERO or ask <= ZERO:
                continue
            type_id = quote.type_id
            volume = daily_volumes.get(type_id, ZERO)
            profit = ask * keep - bid * cost
            margin = divide(profit, bid)
            if filtered and (
                (type_ids is not None and type_id not in type_ids)
                or (max_price is not None and (bid > max_price or ask > max_price))
                or (min_volume is not None and volume < min_volume)
                or (min_profit is not None and profit < min_profit)
                or (min_margin is not None and margin < min_margin)
            ):
                continue
            units = volume if cap is None or volume <= cap else cap
            sold, bought = quote.sold_daily, quote.bought_daily
            if sold is None or bought is None:
                station_volume = station_units = None
                basis, achievable = "region", volume * share
            else:
                station_volume = sold if sold < bought else bought
                station_units = sold + bought
                basis, achievable = "station", station_volume * share
            if cap is not None and achievable > cap:
                achievable = cap
            append(
                StationTradingRow(
                    type_id,
                    quote.type_name,
                    bid,
                    ask,
                    fee_rate * bid,
                    fee_rate * ask,
                    tax_rate * ask,
                    profit,
                    margin,
                    volume,
                    profit * units if units else ZERO,
                    station_volume,
                    basis,
                    achievable,
                    profit * achievable if achievable else ZERO,
                    quote.depth_bid,
                    quote.depth_ask,
                    quote.bid_reprices_daily,
                    quote.ask_reprices_daily,
                    station_flags(
                        best_bid=bid,
                        best_ask=ask,
                        bid_units=quote.best_bid_volume,
                        ask_units=quote.best_ask_volume,
                        depth_bid=quote.depth_bid,
                        depth_ask=quote.depth_ask,
                        bid_min_volume=quote.best_bid_min_volume,
                        quantity=achievable,
                        station_daily_units=station_units,
                        region_daily_volume=volume,
                        profit=profit,
                    ),
                )
            )
    if order_by is None:
        return rows
    return rows_sort(rows, order_by=order_by, columns=STATION_TRADING_COLUMNS)
