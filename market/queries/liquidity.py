"""What trades at a station, read back from the per-day figures the ingest infers from
consecutive snapshots (``market.ingest.liquidity``): daily averages over the observed time only.

A station's daily figure is the units of the window divided by the observed days of the window
(its region's ``ObservedDay`` seconds / 86,400), so six watched hours with 300 units sold read
as 1,200 a day, and a day the worker was down neither adds trades nor dilutes the average.
Below ``MIN_OBSERVED_HOURS`` a station's figures are unknown (None), not zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from market.models import ObservedDay, StationTradeDay

# The window the desk averages over, ending today (UTC).
STATION_VOLUME_DAYS = 7
# Less watched time than this says too little: the figures stay unknown.
MIN_OBSERVED_HOURS = 1
SECONDS_A_DAY = 86400


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


def observed_seconds(*, region_id: int, since: date, until: date) -> int:
    """The region's watched time from ``since`` to ``until`` (inclusive), each day capped at a
    whole day."""
    seconds = 0
    for value in ObservedDay.objects.filter(
        region_id=region_id, date__gte=since, date__lte=until
    ).values_list("observed_seconds", flat=True):
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
    seconds = observed_seconds(region_id=region_id, since=since, until=today)
    if seconds < MIN_OBSERVED_HOURS * 3600:
        return None
    observed_days = Decimal(seconds) / SECONDS_A_DAY
    rows = (
        StationTradeDay.objects.filter(location_id=location_id, date__gte=since, date__lte=today)
        .values("type_id")
        .annotate(
            sold=Sum("sold_to_buy_orders"),
            bought=Sum("bought_from_sell_orders"),
            probable_sold=Sum("probable_sold"),
            probable_bought=Sum("probable_bought"),
            bid_reprices=Sum("bid_reprices"),
            ask_reprices=Sum("ask_reprices"),
        )
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
