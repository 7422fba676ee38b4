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
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Protocol

from market.trading.core import (
    _MONEY,
    _RATIO,
    ZERO,
    _check_order_by,
    _decimal,
    _limit,
    _rate,
    rows_sort,
)

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
