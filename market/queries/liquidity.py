"""What trades at a station, read back from the per-day figures the ingest infers from
consecutive snapshots (``market.ingest.liquidity``): daily averages over the observed time only.

A station's daily figure is the units of the window divided by the observed days of the window
(its region's ``ObservedDay`` seconds / 86,400), so six watched hours with 300 units sold read
as 1,200 a day, and a day the worker was down neither adds trades nor dilutes the average.
Below ``MIN_OBSERVED_HOURS`` a station's figures are unknown (None), not zero. A tracked player
structure has a book of its own, watched on its own cadence: its observed time is its own
(``StructureObservedDay``), not its region's (``observed_days``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import QuerySet, Sum
from django.utils import timezone

from market.models import ObservedDay, StationTradeDay, Structure, StructureObservedDay
from market.queries.stations import station_get

# The window the desk averages over, ending today (UTC).
STATION_VOLUME_DAYS = 7
# Less watched time than this says too little: the figures stay unknown.
MIN_OBSERVED_HOURS = 1
SECONDS_A_DAY = 86400


def _trade_sums() -> dict[str, Sum]:
    """The window's totals of a station's StationTradeDay rows, as annotations."""
    return {
        "sold": Sum("sold_to_buy_orders"),
        "bought": Sum("bought_from_sell_orders"),
        "probable_sold": Sum("probable_sold"),
        "probable_bought": Sum("probable_bought"),
        "bid_reprices": Sum("bid_reprices"),
        "ask_reprices": Sum("ask_reprices"),
    }


@dataclass(frozen=True, slots=True)
class StationLiquidity:
    """Daily averages of one type at one station over the observed part of the window."""

    sold_daily: Decimal  # units sold into buy orders a day (certain + probable)
    bought_daily: Decimal  # units bought from sell orders a day (certain + probable)
    bid_reprices_daily: Decimal  # competition: price changes of buy orders a day
    ask_reprices_daily: Decimal

    @property
    def daily_units(self) -> Decimal:
        return self.sold_daily + self.bought_daily


def own_books(location_ids: list[int]) -> set[int]:
    """Those of ``location_ids`` that are tracked structures, watched through their own book."""
    return set(Structure.objects.tracked().filter(pk__in=location_ids).values_list("pk", flat=True))


def observed_days(*, location_id: int, region_id: int) -> QuerySet:
    """The days the location's book was watched (``date``, ``observed_seconds``): its region's
    ``ObservedDay`` rows, or a tracked structure's own ``StructureObservedDay`` rows."""
    if own_books([location_id]):
        return StructureObservedDay.objects.filter(structure_id=location_id)
    return ObservedDay.objects.filter(region_id=region_id)


def observed_seconds(
    *, region_id: int, since: date, until: date, location_id: int | None = None
) -> int:
    """The region's watched time from ``since`` to ``until`` (inclusive), each day capped at a
    whole day; with ``location_id``, that location's book's (see ``observed_days``)."""
    days = (
        ObservedDay.objects.filter(region_id=region_id)
        if location_id is None
        else observed_days(location_id=location_id, region_id=region_id)
    )
    seconds = 0
    for value in days.filter(date__gte=since, date__lte=until).values_list(
        "observed_seconds", flat=True
    ):
        seconds += min(value, SECONDS_A_DAY)
    return seconds


def window_start(today: date | None = None, days: int = STATION_VOLUME_DAYS) -> date:
    return (today or timezone.now().date()) - timedelta(days=days - 1)


def station_liquidity(
    *,
    location_id: int,
    region_id: int,
    days: int = STATION_VOLUME_DAYS,
    today: date | None = None,
) -> dict[int, StationLiquidity] | None:
    """{type_id: daily averages} at the station over the last ``days`` days, for every type that
    traded or was repriced there. None while the region was watched less than
    MIN_OBSERVED_HOURS in the window: then nothing is known, not "nothing trades". A type
    missing from a known answer did not trade in the observed time."""
    today = today or timezone.now().date()
    since = window_start(today, days)
    seconds = observed_seconds(
        region_id=region_id, since=since, until=today, location_id=location_id
    )
    if seconds < MIN_OBSERVED_HOURS * 3600:
        return None
    observed_days = Decimal(seconds) / SECONDS_A_DAY
    rows = (
        StationTradeDay.objects.filter(location_id=location_id, date__gte=since, date__lte=today)
        .values("type_id")
        .annotate(**_trade_sums())
        .values_list(
            "type_id",
            "sold",
            "bought",
            "probable_sold",
            "probable_bought",
            "bid_reprices",
            "ask_reprices",
        )
    )
    found = {}
    for type_id, sold, bought, p_sold, p_bought, bid_reprices, ask_reprices in rows:
        found[type_id] = StationLiquidity(
            sold_daily=_per_day(sold + p_sold, observed_days),
            bought_daily=_per_day(bought + p_bought, observed_days),
            bid_reprices_daily=_per_day(bid_reprices, observed_days),
            ask_reprices_daily=_per_day(ask_reprices, observed_days),
        )
    return found


def _per_day(units: int, observed_days: Decimal) -> Decimal:
    return (Decimal(units) / observed_days).quantize(Decimal("0.01"))


# --- one type at a station: the API's days and the type page's summary ---------------------------


@dataclass(frozen=True, slots=True)
class StationVolumeDay:
    """One UTC day of a type at a station: certain units each way, probable units, the ISK of
    the certain trades (and of the probable ones), reprices, and how long the region was
    watched that day."""

    date: date
    sold_to_buy_orders: int
    bought_from_sell_orders: int
    probable_units: int
    isk: Decimal
    probable_isk: Decimal
    bid_reprices: int
    ask_reprices: int
    observed_seconds: int

    @property
    def observed_hours(self) -> Decimal:
        return (Decimal(min(self.observed_seconds, SECONDS_A_DAY)) / 3600).quantize(Decimal("0.01"))


@dataclass(frozen=True, slots=True)
class StationVolume:
    """A type's days at a station, newest first (every day of the window, watched or not), and
    its observed daily average (None below MIN_OBSERVED_HOURS)."""

    location_id: int
    region_id: int
    type_id: int
    days: list[StationVolumeDay]
    daily_units: Decimal | None


def station_region(station_id: int) -> int | None:
    """The region of a hub, an SDE station, or a structure the ingest has seen trades at."""
    station = station_get(station_id)
    if station is not None:
        return station.region_id
    return (
        StationTradeDay.objects.filter(location_id=station_id)
        .values_list("region_id", flat=True)
        .first()
    )


def station_volume(
    *,
    location_id: int,
    region_id: int,
    type_id: int,
    days: int = STATION_VOLUME_DAYS,
    today: date | None = None,
) -> StationVolume:
    today = today or timezone.now().date()
    since = window_start(today, days)
    observed = dict(
        observed_days(location_id=location_id, region_id=region_id)
        .filter(date__gte=since, date__lte=today)
        .values_list("date", "observed_seconds")
    )
    traded = {
        row.date: row
        for row in StationTradeDay.objects.filter(
            location_id=location_id, type_id=type_id, date__gte=since, date__lte=today
        )
    }
    listed = []
    for back in range(days):
        day = today - timedelta(days=back)
        row = traded.get(day)
        listed.append(
            StationVolumeDay(
                date=day,
                sold_to_buy_orders=row.sold_to_buy_orders if row else 0,
                bought_from_sell_orders=row.bought_from_sell_orders if row else 0,
                probable_units=row.probable_units if row else 0,
                isk=row.isk if row else Decimal(0),
                probable_isk=row.probable_isk if row else Decimal(0),
                bid_reprices=row.bid_reprices if row else 0,
                ask_reprices=row.ask_reprices if row else 0,
                observed_seconds=observed.get(day, 0),
            )
        )
    seconds = sum(min(value, SECONDS_A_DAY) for value in observed.values())
    daily_units = None
    if seconds >= MIN_OBSERVED_HOURS * 3600:
        units = sum(
            d.sold_to_buy_orders + d.bought_from_sell_orders + d.probable_units for d in listed
        )
        daily_units = _per_day(units, Decimal(seconds) / SECONDS_A_DAY)
    return StationVolume(location_id, region_id, type_id, listed, daily_units)


@dataclass(frozen=True, slots=True)
class StationTypeLiquidity:
    """A type at one station, a day over the observed part of the window (the type page)."""

    observed_hours: Decimal
    sold_daily: Decimal  # certain + probable, as StationLiquidity
    bought_daily: Decimal
    probable_daily: Decimal  # the probable part of both
    bid_reprices_daily: Decimal
    ask_reprices_daily: Decimal

    @property
    def daily_units(self) -> Decimal:
        return self.sold_daily + self.bought_daily

    @property
    def probable_percent(self) -> Decimal | None:
        total = self.daily_units
        return (self.probable_daily / total * 100) if total else None

    def above_region(self, region_daily: Decimal | None) -> bool:
        """More a day than the whole region's 30-day average: a few watched hours of a slow
        type (one sale in the first hour reads as 24 a day). The desk counts at most the
        region's; the item page says so beside what it observed."""
        return region_daily is not None and self.daily_units > region_daily


def type_liquidity_at(
    *,
    type_id: int,
    stations: list[tuple[int, int]],
    days: int = STATION_VOLUME_DAYS,
    today: date | None = None,
) -> dict[int, StationTypeLiquidity | None]:
    """{location_id: the type's daily figures there} for (location_id, region_id) pairs, in two
    queries; None where the region was watched less than MIN_OBSERVED_HOURS in the window."""
    today = today or timezone.now().date()
    since = window_start(today, days)
    seconds: dict[int, int] = {}
    for region_id, value in ObservedDay.objects.filter(
        region_id__in={region for _, region in stations}, date__gte=since, date__lte=today
    ).values_list("region_id", "observed_seconds"):
        seconds[region_id] = seconds.get(region_id, 0) + min(value, SECONDS_A_DAY)
    own = own_books([location for location, _ in stations])
    structure_seconds: dict[int, int] = {}
    for structure_id, value in StructureObservedDay.objects.filter(
        structure_id__in=own, date__gte=since, date__lte=today
    ).values_list("structure_id", "observed_seconds"):
        structure_seconds[structure_id] = structure_seconds.get(structure_id, 0) + min(
            value, SECONDS_A_DAY
        )
    sums = {
        row["location_id"]: row
        for row in StationTradeDay.objects.filter(
            location_id__in=[location for location, _ in stations],
            type_id=type_id,
            date__gte=since,
            date__lte=today,
        )
        .values("location_id")
        .annotate(**_trade_sums())
    }
    found: dict[int, StationTypeLiquidity | None] = {}
    for location_id, region_id in stations:
        watched = (
            structure_seconds.get(location_id, 0)
            if location_id in own
            else seconds.get(region_id, 0)
        )
        if watched < MIN_OBSERVED_HOURS * 3600:
            found[location_id] = None
            continue
        observed_days = Decimal(watched) / SECONDS_A_DAY
        row = sums.get(location_id) or {}

        def per_day(*names: str, row=row, observed_days=observed_days) -> Decimal:
            return _per_day(sum(row.get(name) or 0 for name in names), observed_days)

        found[location_id] = StationTypeLiquidity(
            observed_hours=(Decimal(watched) / 3600).quantize(Decimal("0.1")),
            sold_daily=per_day("sold", "probable_sold"),
            bought_daily=per_day("bought", "probable_bought"),
            probable_daily=per_day("probable_sold", "probable_bought"),
            bid_reprices_daily=per_day("bid_reprices"),
            ask_reprices_daily=per_day("ask_reprices"),
        )
    return found
