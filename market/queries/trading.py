"""Station trading at one station: the book tops priced with the trader's fees by
``market.trading.station_trading_rows``, once per (book, fees, volume cap), then filtered and
sorted from memory.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from operator import attrgetter

from accounts.fees import FeeRates
from market.queries.books import RegionAge, region_ages, station_book
from market.queries.caches import _trading
from market.queries.sde import market_group_tree
from market.queries.stations import StationRef
from market.trading import (
    STATION_TRADING_COLUMNS,
    StationTradingRow,
    rows_sort,
    station_trading_rows,
)


@dataclass(frozen=True)
class TradingFilters:
    """The station-trading table's filters; each None means "any". Inclusive, like
    ``market.trading``."""

    min_margin: Decimal | None = None
    min_daily_volume: Decimal | None = None
    min_profit: Decimal | None = None
    max_price: Decimal | None = None
    market_group_id: int | None = None

    def accepts(
        self,
        row: StationTradingRow,
        group_of: dict[int, int | None],
        groups: Collection[int] | None,
    ) -> bool:
        if self.min_margin is not None and row.margin < self.min_margin:
            return False
        if self.min_daily_volume is not None and row.daily_volume < self.min_daily_volume:
            return False
        if self.min_profit is not None and row.profit < self.min_profit:
            return False
        if self.max_price is not None and (
            row.best_bid > self.max_price or row.best_ask > self.max_price
        ):
            return False
        return groups is None or group_of.get(row.type_id) in groups


@dataclass
class TradingResult:
    station: StationRef
    age: RegionAge
    rows: list[StationTradingRow]
    rates: FeeRates
    volume_cap: Decimal | None
    history_to: date | None = None
    total: int = 0  # types with both a bid and an ask, before the filters
    types_with_history: Collection[int] = frozenset()


class _PricedBook:
    """A station's rows priced for one set of fees, with each sort order made once. Ties go to
    the better margin, then the lower type id, so equal daily profits (every type without
    history has none) still list the most promising first. (Every column of a priced row has a
    value: nothing sorts as missing.)"""

    def __init__(self, rows: list[StationTradingRow]) -> None:
        self.rows = rows
        self._sorted: dict[str, list[StationTradingRow]] = {}
        self._lock = threading.Lock()

    def sorted_by(self, order_by: str) -> list[StationTradingRow]:
        with self._lock:
            known = self._sorted.get(order_by)
        if known is None:
            value = attrgetter(order_by.removeprefix("-"))
            if order_by.startswith("-"):
                known = sorted(
                    self.rows, key=lambda row: (value(row), row.margin, -row.type_id), reverse=True
                )
            else:
                known = sorted(self.rows, key=lambda row: (value(row), -row.margin, row.type_id))
            with self._lock:
                self._sorted[order_by] = known
        return known


def station_trading(
    *,
    station: StationRef,
    rates: FeeRates,
    volume_cap: Decimal | None = None,
    filters: TradingFilters = TradingFilters(),
    order_by: str = "-daily_profit",
) -> TradingResult:
    """Every type with both a bid and an ask at the station, priced by
    ``trading.station_trading_rows`` with the trader's fees, filtered and sorted."""
    rows_sort([], order_by=order_by, columns=STATION_TRADING_COLUMNS)  # a bad column: 400
    age = region_ages([station.region_id])[station.region_id]
    book = station_book(station)
    if book.snapshot_id is None:
        return TradingResult(station, age, [], rates, volume_cap)

    def price() -> _PricedBook:
        return _PricedBook(
            station_trading_rows(
                quotes=book.tops.values(),
                daily_volumes=book.daily_volumes,
                sales_tax=rates.sales_tax,
                broker_fee=rates.broker_fee,
                volume_cap=volume_cap,
            )
        )

    key = (book.station.station_id, book.generation, rates, volume_cap)
    priced = _trading.get(key, price)
    groups = (
        None
        if filters.market_group_id is None
        else market_group_tree().subtree(filters.market_group_id)
    )
    group_of = book.market_groups
    rows = [row for row in priced.sorted_by(order_by) if filters.accepts(row, group_of, groups)]
    return TradingResult(
        station,
        age,
        rows,
        rates,
        volume_cap,
        book.history_to,
        len(priced.rows),
        book.types_with_history,
    )
