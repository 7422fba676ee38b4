"""The station-trading page: one station's types ranked by what the trader can earn a day there,
the rows the desk does not trust hidden (and counted per reason) until asked for, each with its
reasons then (``market.queries.trading``, ``market.trading.flags``).

The table's numbers are written here rather than by template filters: a page of 50 rows has
some 800 of them, and Django's ``floatformat`` and an ``include`` per cell cost more than the
rest of the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from accounts.fees import FeeRates
from accounts.models import trading_profile_of
from lenny.lib.htmx import no_change, poll_unchanged
from lenny.lib.tables import Column, query_params, query_url, table_page
from market.forms import StationTradingForm
from market.queries import (
    DEFAULT_STATION,
    market_group_tree,
    snapshot_marker,
    station_trading,
)
from market.trading import DEFAULT_MARKET_SHARE, StationTradingRow
from market.trading.flags import FLAG_LABELS, FLAG_RULES
from market.views import (
    _fees_text,
    _hub_choices,
    _percent,
    _priced_page,
    categories_context,
    excluded_categories_keep,
)

# What a trader decides on comes first (what they can earn a day, the default sort); the
# region's figures, the depth prices, the competition and the fees that make up the profit
# last, shown only where the screen is wide enough for all of them.
TRADING_COLUMNS = (
    Column("type_name", "Item", numeric=False),
    Column("best_bid", "Bid", shown="desk"),
    Column("best_ask", "Ask", shown="desk"),
    Column("profit", "Profit / unit"),
    Column("margin", "Margin"),
    Column("station_daily_volume", "Station volume", shown="desk"),
    Column("achievable_daily_profit", "Profit / day", shown="desk"),
    Column("achievable_units", "Units / day", shown="wide"),
    Column("daily_volume", "Region volume", shown="wide"),
    Column("daily_profit", "Region profit / day", shown="wide"),
    Column("depth_price_bid", "Depth bid", shown="wide"),
    Column("depth_price_ask", "Depth ask", shown="wide"),
    Column("bid_reprices_daily", "Bid reprices / day", shown="wide"),
    Column("ask_reprices_daily", "Ask reprices / day", shown="wide"),
    Column("broker_fee_bid", "Broker fee (bid)", shown="wide"),
    Column("broker_fee_ask", "Broker fee (ask)", shown="wide"),
    Column("sales_tax", "Sales tax", shown="wide"),
)
TRADING_FILTERS = (
    "min_margin",
    "min_volume",
    "min_profit",
    "max_price",
    "market_group",
    "min_station_volume",
    "min_achievable_profit",
    "trades_daily",
)
TRADING_SORT = "-achievable_daily_profit"
UNKNOWN = "—"
_SHOWN = Context(prec=80)


def number_text(value: Decimal, places: int) -> str:
    """``value`` as the template filter ``floatformat:"<places>g"`` writes it in English: half
    up, thousands separated, no "-0.00"; a negative ``places`` leaves out the decimals of a
    whole number (``-1``: 12 → "12", 12.04 → "12.0")."""
    if places <= 0 and value == value.to_integral_value():
        return f"{int(value):,}"
    rounded = value.quantize(Decimal(1).scaleb(-abs(places)), ROUND_HALF_UP, _SHOWN)
    if not rounded:
        rounded = rounded.copy_abs()
    return f"{rounded:,.{abs(places)}f}"


def volume_text(value: Decimal | None) -> str:
    """A daily volume: whole units from 100 up, one decimal below (as ``_desk.html#volume``)."""
    if value is None:
        return UNKNOWN
    return number_text(value, 0 if value >= 100 else -1)


def _isk(value: Decimal | None, places: int = 2) -> str:
    return UNKNOWN if value is None else number_text(value, places)


@dataclass(frozen=True)
class FlagBadge:
    code: str
    label: str
    rule: str


@dataclass(frozen=True)
class TradingLine:
    """One row as the table writes it."""

    row: StationTradingRow
    flags: list[FlagBadge]
    has_history: bool  # without, the region's daily volume and profit are unknown, not zero
    cells: dict[str, str]


def _flag_badges(codes: Sequence[str]) -> list[FlagBadge]:
    return [FlagBadge(code, FLAG_LABELS[code], FLAG_RULES[code]) for code in codes]


def _trading_line(row: StationTradingRow, has_history: bool) -> TradingLine:
    cells = {
        "best_bid": number_text(row.best_bid, 2),
        "best_ask": number_text(row.best_ask, 2),
        "profit": number_text(row.profit, 2),
        "margin": f"{number_text(row.margin * 100, 1)} %",
        "station_daily_volume": volume_text(row.station_daily_volume),
        "achievable_daily_profit": number_text(row.achievable_daily_profit, 0),
        "achievable_units": volume_text(row.achievable_units),
        "daily_volume": volume_text(row.daily_volume) if has_history else UNKNOWN,
        "daily_profit": number_text(row.daily_profit, 0) if has_history else UNKNOWN,
        "depth_price_bid": _isk(row.depth_price_bid),
        "depth_price_ask": _isk(row.depth_price_ask),
        "bid_reprices_daily": _isk(row.bid_reprices_daily, -1),
        "ask_reprices_daily": _isk(row.ask_reprices_daily, -1),
        "broker_fee_bid": number_text(row.broker_fee_bid, 2),
        "broker_fee_ask": number_text(row.broker_fee_ask, 2),
        "sales_tax": number_text(row.sales_tax, 2),
    }
    return TradingLine(row, _flag_badges(row.flags), has_history, cells)


@require_GET
def station_trading_view(request: HttpRequest) -> HttpResponse:
    params = query_params(request, station_id=DEFAULT_STATION.station_id)
    form = StationTradingForm(params)
    station = (form.is_valid() and form.cleaned_data.get("station_id")) or DEFAULT_STATION
    marker = snapshot_marker([station.region_id])
    if poll_unchanged(request, marker):
        return no_change()
    profile = trading_profile_of(request.user)
    # The query's choice, else the trader's saved one, else the defaults (also for a bad query).
    excluded = form.excluded_categories(profile)

    def table(rates: FeeRates) -> dict[str, Any]:
        sort = form.get("sort", TRADING_SORT)
        include_flagged = bool(form.get("include_flagged"))
        excluded_categories_keep(request, form)
        result = station_trading(
            station=station,
            rates=rates,
            volume_cap=form.get("volume_cap"),
            market_share=form.market_share(profile),
            filters=form.filters(profile),
            order_by=sort,
            include_flagged=include_flagged,
        )
        rows, parts = table_page(
            request,
            params,
            result.rows,
            columns=TRADING_COLUMNS,
            sort=sort,
            page=form.get("page", 1),
        )
        filtered = any(form.get(name) is not None for name in TRADING_FILTERS)
        return {
            **parts,
            "result": result,
            "age": result.age,
            "fees_text": _fees_text(result.rates),
            "share_text": _percent(result.market_share),
            "cap_text": None if result.volume_cap is None else number_text(result.volume_cap, -2),
            "rows": [_trading_line(row, row.type_id in result.types_with_history) for row in rows],
            "flagged_text": ", ".join(f"{label} ({count:,})" for _, label, count in result.flagged),
            "flagged_url": query_url(
                request, params, page=None, include_flagged=None if include_flagged else 1
            ),
            "unfiltered_url": (
                query_url(request, params, page=None, **dict.fromkeys(TRADING_FILTERS))
                if filtered
                else None
            ),
        }

    context = {
        "station": station,
        "hubs": _hub_choices(station),
        "group_choices": market_group_tree().choices(),
        "marker": marker,
        **categories_context(excluded),
        # The profile's share as the input's placeholder: "10%".
        "profile_share_text": _percent(
            profile.market_share if profile else DEFAULT_MARKET_SHARE
        ).replace(" ", ""),
        "trades_daily_on": bool(form.cleaned_data.get("trades_daily")),
        "include_flagged_on": bool(form.cleaned_data.get("include_flagged")),
        # Every rule a station-trading row can break (a hold's volume is hauling's concern).
        "flag_rules": [
            FlagBadge(code, label, FLAG_RULES[code])
            for code, label in FLAG_LABELS.items()
            if code != "unknown_volume"
        ],
    }
    return _priced_page(
        request,
        params,
        form,
        context,
        template="market/trading.html",
        target="trading-table",
        table=table,
    )
