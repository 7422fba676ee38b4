"""Station trading at one station: the book tops priced with the trader's fees, cap and market
share by ``market.trading.station_trading_rows`` (flags included), once per (book, fees, cap,
share); then filtered, sorted and split into shown and hidden rows from memory.

The default view leaves flagged rows out (``market.trading.flags``: bait, outlier, tiny order,
no volume, loss) and counts them per reason among the rows the filters let through, so the
page can say "132 rows hidden: no volume (97), bait order (35)"; ``include_flagged`` shows them.

"Trades daily" (``TradingFilters.trades_daily``) keeps the types that traded on every day we
can vouch for: at a station whose own volumes are known, a trade there (a unit sold into a buy
order or bought from a sell order, certain or probable) on every day of the station-volume
window (7 days) that the region was watched for at least ``TRADES_DAILY_MIN_HOURS``; until the
station has such a day, a trade in the region on each of its last 30 days of history
(``TypeRegionStats.days_traded``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import partial
from operator import attrgetter

from django.db.models import Q
from django.utils import timezone

from accounts.fees import FeeRates
from market.models import Category, StationTradeDay, TypeRegionStats
from market.queries.books import RegionAge, StationBook, station_books
from market.queries.caches import Fragments, _recent, _sde, _trading, book_of
from market.queries.liquidity import STATION_VOLUME_DAYS, observed_days, window_start
from market.queries.sde import market_group_tree, sde_rows
from market.queries.stations import StationRef
from market.trading import (
    DEFAULT_MARKET_SHARE,
    STATION_TRADING_COLUMNS,
    StationTradingRow,
    rows_sort,
    station_trading_rows,
)
from market.trading.flags import hidden_summary

# A watched day shorter than this says too little about a slow type to call it "not daily".
TRADES_DAILY_MIN_HOURS = 6
# Each priced book keeps this many filtered views (filters, sort, flagged or not).
VIEWS_KEPT = 16


@dataclass(frozen=True)
class TradingFilters:
    """The station-trading table's filters; each None (or empty) means "any". Inclusive, like
    ``market.trading``. A row whose station volume is unknown fails ``min_station_volume``."""

    min_margin: Decimal | None = None
    min_daily_volume: Decimal | None = None
    min_profit: Decimal | None = None
    max_price: Decimal | None = None
    market_group_id: int | None = None
    min_station_volume: Decimal | None = None
    min_achievable_profit: Decimal | None = None
    excluded_category_ids: frozenset[int] = frozenset()
    trades_daily: bool = False

    def select(
        self,
        rows: Iterable[StationTradingRow],
        *,
        group_of: dict[int, int | None],
        groups: Collection[int] | None,
        category_of: dict[int, int | None],
        daily: Collection[int] | None,
    ) -> Iterable[StationTradingRow]:
        """The rows these filters let through, in their order: one cheap pass per filter that
        is set (the default view sets only the excluded categories)."""
        if self.excluded_category_ids:
            excluded = self.excluded_category_ids
            rows = (row for row in rows if category_of.get(row.type_id) not in excluded)
        if groups is not None:
            rows = (row for row in rows if group_of.get(row.type_id) in groups)
        if daily is not None:
            rows = (row for row in rows if row.type_id in daily)
        # (Each generator reads its own bound: a name reused would be read when the rows flow.)
        if (margin := self.min_margin) is not None:
            rows = (row for row in rows if row.margin >= margin)
        if (volume := self.min_daily_volume) is not None:
            rows = (row for row in rows if row.daily_volume >= volume)
        if (profit := self.min_profit) is not None:
            rows = (row for row in rows if row.profit >= profit)
        if (price := self.max_price) is not None:
            rows = (row for row in rows if row.best_bid <= price and row.best_ask <= price)
        if (station := self.min_station_volume) is not None:
            rows = (
                row
                for row in rows
                if row.station_daily_volume is not None and row.station_daily_volume >= station
            )
        if (earning := self.min_achievable_profit) is not None:
            rows = (row for row in rows if row.achievable_daily_profit >= earning)
        return rows


@dataclass
class TradingResult(Fragments):
    station: StationRef
    age: RegionAge
    rows: list[StationTradingRow]
    rates: FeeRates
    volume_cap: Decimal | None
    history_to: date | None = None
    total: int = 0  # types with both a bid and an ask, before the filters
    types_with_history: Collection[int] = frozenset()
    market_share: Decimal = DEFAULT_MARKET_SHARE
    include_flagged: bool = False
    # (code, label, rows) per reason among the flagged rows the filters let through, and how
    # many rows that is (a row with two reasons counts once here, under each there).
    flagged: list[tuple[str, str, int]] = field(default_factory=list)
    flagged_total: int = 0
    # Whether the station's own daily volumes are known (watched long enough): else every row's
    # achievable units come from the region's volume.
    station_watched: bool = False
    # Rendered pieces of these rows, kept as long as this view is (``_View.fragments``).
    fragments: dict = field(default_factory=dict)

    @property
    def hidden(self) -> list[tuple[str, str, int]]:
        return [] if self.include_flagged else self.flagged

    @property
    def hidden_total(self) -> int:
        return 0 if self.include_flagged else self.flagged_total


@dataclass(frozen=True)
class _View:
    rows: list[StationTradingRow]
    flagged: list[tuple[str, str, int]]
    flagged_total: int
    # What the page renders of these rows, by its own key (page, columns shown, …): lives and
    # goes with the view, so with the snapshot, fees and filters it was made from.
    fragments: dict = field(default_factory=dict)


class _PricedBook:
    """A station's rows priced for one set of fees, cap and share (in type-id order), with the
    last few filtered and sorted views kept."""

    def __init__(self, rows: list[StationTradingRow], book: StationBook) -> None:
        rows.sort(key=attrgetter("type_id"))
        self.rows = rows
        self.category_of = {type_id: top.category_id for type_id, top in book.tops.items()}
        self.station_watched = any(top.sold_daily is not None for top in book.tops.values())
        self._views: OrderedDict[tuple, _View] = OrderedDict()
        self._lock = threading.Lock()

    def view(self, key: tuple, build: Callable[[], _View]) -> _View:
        with self._lock:
            known = self._views.get(key)
            if known is not None:
                self._views.move_to_end(key)
                return known
        known = build()
        with self._lock:
            self._views[key] = known
            while len(self._views) > VIEWS_KEPT:
                self._views.popitem(last=False)
        return known


def rows_order(rows: list[StationTradingRow], order_by: str) -> list[StationTradingRow]:
    """``rows`` (in type-id order) by ``order_by``; ties go to the better margin, then the lower
    type id, so equal daily profits (every type without volume has none) still list the most
    promising first; an unknown value (a station volume not yet known) sorts last either way.
    Stable sorts on the bare values, last tie-break first: Decimal keys in tuples took longer
    than pricing the rows."""
    rows = sorted(rows, key=attrgetter("margin"), reverse=True)  # stable: ties keep type order
    value = attrgetter(order_by.removeprefix("-"))
    present = [row for row in rows if value(row) is not None]
    missing = [row for row in rows if value(row) is None] if len(present) < len(rows) else []
    present.sort(key=value, reverse=order_by.startswith("-"))
    return present + missing


def station_trading(
    *,
    station: StationRef,
    rates: FeeRates,
    volume_cap: Decimal | None = None,
    market_share: Decimal = DEFAULT_MARKET_SHARE,
    filters: TradingFilters = TradingFilters(),
    order_by: str = "-achievable_daily_profit",
    include_flagged: bool = False,
) -> TradingResult:
    """Every type with both a bid and an ask at the station, priced by
    ``trading.station_trading_rows`` with the trader's fees, cap and share, filtered and sorted;
    flagged rows only with ``include_flagged`` (their count per reason either way)."""
    rows_sort([], order_by=order_by, columns=STATION_TRADING_COLUMNS)  # a bad column: 400
    ages, books = station_books([station])
    age, book = ages[station.book_key], books[station.station_id]
    if book.snapshot_id is None:
        return TradingResult(station, age, [], rates, volume_cap, market_share=market_share)

    def price() -> _PricedBook:
        rows = station_trading_rows(
            quotes=book.tops.values(),
            daily_volumes=book.daily_volumes,
            sales_tax=rates.sales_tax,
            broker_fee=rates.broker_fee,
            volume_cap=volume_cap,
            market_share=market_share,
            order_by=None,  # each view sorts the rows it shows (rows_order)
        )
        return _PricedBook(rows, book)

    key = (book.station.station_id, book.generation, rates, volume_cap, market_share)
    priced = _trading.get(key, price)

    def build() -> _View:
        groups = (
            None
            if filters.market_group_id is None
            else market_group_tree().subtree(filters.market_group_id)
        )
        daily = _trades_daily(book, priced) if filters.trades_daily else None
        selected = filters.select(
            priced.rows,
            group_of=book.market_groups,
            groups=groups,
            category_of=priced.category_of,
            daily=daily,
        )
        shown: list[StationTradingRow] = []
        flagged: list[tuple[str, ...]] = []
        for row in selected:
            if row.flags:
                flagged.append(row.flags)
                if not include_flagged:
                    continue
            shown.append(row)
        # Sorted after the filters: the default view sorts a third of the hub's rows.
        return _View(rows_order(shown, order_by), hidden_summary(flagged), len(flagged))

    view = priced.view((filters, order_by, include_flagged), build)
    arguments = dict(
        station=station,
        rates=rates,
        volume_cap=volume_cap,
        market_share=market_share,
        filters=filters,
        order_by=order_by,
        include_flagged=include_flagged,
    )
    _recent.note(
        ("trading", *arguments.values()),
        [book_of(station)],
        partial(station_trading, **arguments),
    )
    return TradingResult(
        station,
        age,
        view.rows,
        rates,
        volume_cap,
        book.history_to,
        len(priced.rows),
        book.types_with_history,
        market_share=market_share,
        include_flagged=include_flagged,
        flagged=view.flagged,
        flagged_total=view.flagged_total,
        station_watched=priced.station_watched,
        fragments=view.fragments,
    )


def _trades_daily(book: StationBook, priced: _PricedBook) -> frozenset[int]:
    """The types that trade daily by the module docstring's rule, per book (a new snapshot
    brings new station volumes, new history a new book)."""

    def build() -> frozenset[int]:
        station = book.station
        today = timezone.now().date()
        watched = (
            set(
                observed_days(location_id=station.station_id, region_id=station.region_id)
                .filter(
                    date__gte=window_start(today, STATION_VOLUME_DAYS),
                    date__lte=today,
                    observed_seconds__gte=TRADES_DAILY_MIN_HOURS * 3600,
                )
                .values_list("date", flat=True)
            )
            if priced.station_watched
            else set()
        )
        if not watched:
            return frozenset(
                TypeRegionStats.objects.filter(
                    region_id=station.region_id, days_traded__gte=TypeRegionStats.WINDOW_DAYS
                ).values_list("type_id", flat=True)
            )
        days_traded: dict[int, int] = {}
        for type_id in (
            StationTradeDay.objects.filter(location_id=station.station_id, date__in=watched)
            .filter(
                Q(sold_to_buy_orders__gt=0)
                | Q(bought_from_sell_orders__gt=0)
                | Q(probable_sold__gt=0)
                | Q(probable_bought__gt=0)
            )
            .values_list("type_id", flat=True)
        ):
            days_traded[type_id] = days_traded.get(type_id, 0) + 1
        return frozenset(type_id for type_id, days in days_traded.items() if days >= len(watched))

    return _trading.get(("trades-daily", book.station.station_id, book.generation), build)


@dataclass(frozen=True)
class CategoryChoice:
    category_id: int
    name: str


def market_categories() -> list[CategoryChoice]:
    """The published categories, by name: what a trader may leave out of the desk."""

    def build() -> list[CategoryChoice]:
        return [
            CategoryChoice(category_id, name)
            for category_id, name in Category.objects.filter(published=True)
            .order_by("name")
            .values_list("id", "name")
        ]

    return _sde.get(("categories", sde_rows(Category)), build)
