"""One type's page: its order books in a region's (or a tracked structure's) current snapshot,
its quotes at every hub and at the tracked structures the trader may see (best and depth prices,
and what trades at each of them), its daily history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import (
    Case,
    CharField,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from market.ingest import history_window_end
from market.models import (
    BestPrice,
    HistoryDay,
    MarketSnapshot,
    Order,
    Station,
    Structure,
    Type,
    TypeRegionStats,
    UnresolvedType,
)
from market.queries.books import RegionAge, book_ages
from market.queries.caches import _quotes
from market.queries.liquidity import StationTypeLiquidity, type_liquidity_at
from market.queries.stations import HUB_STATIONS, StationRef

BOOK_SORTS = ("price", "volume_remain", "location", "range", "issued")


def _range_rank() -> Case:
    """Order ranges from narrowest to widest: station, system, 1 … 40 jumps, region."""
    return Case(
        When(range="station", then=Value(-2)),
        When(range="solarsystem", then=Value(-1)),
        When(range="region", then=Value(1000)),
        default=Cast("range", IntegerField()),
        output_field=IntegerField(),
    )


def type_orders(
    *,
    region_id: int,
    type_id: int,
    is_buy_order: bool,
    location_id: int | None = None,
    order_by: str | None = None,
    structure_id: int = 0,
) -> QuerySet[Order]:
    """One side of a type's book in the region's current snapshot (or, with ``structure_id``,
    in that tracked structure's own), best price first by default, each order with its
    location's name (a station's, or a known structure's)."""
    book = (
        Order.objects.current_of_structure(structure_id=structure_id)
        if structure_id
        else Order.objects.current(region_id=region_id)
    )
    orders = book.filter(type_id=type_id, is_buy_order=is_buy_order).annotate(
        location_name=Coalesce(
            Subquery(Station.objects.filter(pk=OuterRef("location_id")).values("name")[:1]),
            Subquery(
                Structure.objects.filter(pk=OuterRef("location_id"))
                .exclude(name="")
                .values("name")[:1]
            ),
            Value(""),
            output_field=CharField(),
        )
    )
    if location_id is not None:
        orders = orders.filter(location_id=location_id)
    best_first = "-price" if is_buy_order else "price"
    order_by = order_by or best_first
    column = order_by.removeprefix("-")
    descending = order_by.startswith("-")
    if column == "location":
        key = "location_name"
    elif column == "range":
        orders = orders.annotate(range_rank=_range_rank())
        key = "range_rank"
    else:
        key = column
    return orders.order_by(f"-{key}" if descending else key, best_first, "order_id")


@dataclass(frozen=True)
class HubQuote:
    station: StationRef
    age: RegionAge
    best_bid: Decimal | None
    best_ask: Decimal | None
    bid_volume: int
    ask_volume: int
    daily_volume: Decimal | None
    daily_isk: Decimal | None
    # Volume-weighted average of the best 5 % of each side's units (see BestPrice).
    depth_bid: Decimal | None = None
    depth_ask: Decimal | None = None
    # What trades of the type at this station, a day over the observed time (None while the
    # region was watched less than an hour in the window).
    liquidity: StationTypeLiquidity | None = None

    @property
    def liquidity_above_region(self) -> bool:
        """What was observed here a day is more than the whole region trades: too few hours."""
        return self.liquidity is not None and self.liquidity.above_region(self.daily_volume)

    @property
    def spread(self) -> Decimal | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return self.best_ask - self.best_bid

    @property
    def spread_percent(self) -> Decimal | None:
        """The spread in percent of the bid."""
        if self.spread is None or not self.best_bid:
            return None
        return self.spread / self.best_bid * 100


def hub_quotes(
    type_id: int, stations: Sequence[StationRef] = HUB_STATIONS, *, marker: str | None = None
) -> list[HubQuote]:
    """The type's best bid and ask at each of ``stations`` (the five hubs, and the tracked
    structures the page's trader may see), side by side, with the depth prices and the
    station's observed volume (five queries). A structure's prices come from its own book; its
    daily volume, like a hub's, is its region's.

    With ``marker`` (``snapshot_marker`` of these books: their snapshots and history versions)
    the figures are kept per process under it, so the next page of the same type until the next
    snapshot reads only the books' ages (one query). The ages are read on every call: a fetch
    that found no new book still changes when the next one is due, or its last error."""
    stations = list(stations)
    ages = book_ages(stations)

    def build() -> dict[int, _QuoteFigures]:
        return _quote_figures(type_id, stations, ages)

    if marker is None:
        figures = build()
    else:
        key = (type_id, marker, tuple(station.station_id for station in stations))
        figures = _quotes.get(key, build)
    quotes = []
    for station in stations:
        figure = figures[station.station_id]
        quotes.append(HubQuote(station=station, age=ages[station.book_key], **figure))
    return quotes


# HubQuote's fields but the station and its book's age.
_QuoteFigures = dict[str, Any]


def _quote_figures(
    type_id: int, stations: list[StationRef], ages: dict[tuple[int, int], RegionAge]
) -> dict[int, _QuoteFigures]:
    """HubQuote's fields but the station and its book's age, by station id."""
    snapshot_ids = [age.snapshot_id for age in ages.values() if age.snapshot_id is not None]
    tops = {
        (top.snapshot_id, top.location_id): top
        for top in BestPrice.objects.filter(
            snapshot_id__in=snapshot_ids,
            location_id__in=[station.station_id for station in stations],
            type_id=type_id,
        )
    }
    stats = {
        s.region_id: s
        for s in TypeRegionStats.objects.filter(
            type_id=type_id, region_id__in={station.region_id for station in stations}
        )
    }
    liquidity = type_liquidity_at(
        type_id=type_id, stations=[(s.station_id, s.region_id) for s in stations]
    )
    figures = {}
    for station in stations:
        top = tops.get((ages[station.book_key].snapshot_id, station.station_id))
        stat = stats.get(station.region_id)
        figures[station.station_id] = {
            "best_bid": top.best_bid if top else None,
            "best_ask": top.best_ask if top else None,
            "bid_volume": top.bid_volume if top else 0,
            "ask_volume": top.ask_volume if top else 0,
            "daily_volume": stat.avg_daily_volume if stat and stat.has_history else None,
            "daily_isk": stat.avg_daily_isk if stat and stat.has_history else None,
            "depth_bid": top.depth_bid if top else None,
            "depth_ask": top.depth_ask if top else None,
            "liquidity": liquidity.get(station.station_id),
        }
    return figures


def history_days(
    *, region_id: int, type_id: int, days: int, now: datetime | None = None
) -> QuerySet[HistoryDay]:
    """The type's daily history in the region over the last ``days`` days ESI can have."""
    end = history_window_end(now or timezone.now())
    start = end - timedelta(days=days - 1)
    return HistoryDay.objects.filter(
        region_id=region_id, type_id=type_id, date__gte=start, date__lte=end
    ).order_by("date")


def type_get(type_id: int) -> Type | None:
    return Type.objects.select_related("group", "market_group").filter(pk=type_id).first()


def type_unknown_name(type_id: int) -> str:
    """The name of a type without a row: "Type N", or "Type N (unknown to ESI)" once ESI said so
    (``market.universe``)."""
    unknown = UnresolvedType.objects.filter(
        type_id=type_id, reason=UnresolvedType.Reason.NOT_FOUND
    ).exists()
    return Type.name_unknown(type_id, unknown_to_esi=unknown)


def type_on_market(type_id: int) -> bool:
    """True when some hub region's current snapshot or history knows the type (ESI sells types
    newer than the imported SDE)."""
    current = MarketSnapshot.objects.filter(is_current=True).values("id")
    return (
        BestPrice.objects.filter(snapshot_id__in=current, type_id=type_id).exists()
        or HistoryDay.objects.filter(type_id=type_id).exists()
    )
