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
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from accounts.fees import FeeRates
from accounts.models import trading_profile_of
from lenny.lib.htmx import no_change, poll_unchanged
from lenny.lib.tables import Column, query_params, query_url, table_page
from market.cells import UNKNOWN, num_cell, number_text, volume_text
from market.forms import StationTradingForm
from market.queries import (
    DEFAULT_STATION,
    MarketGroupTree,
    StationRef,
    TradingResult,
    book_marker,
    market_group_tree,
    station_trading,
)
from market.trading import DEFAULT_MARKET_SHARE, StationTradingRow
from market.trading.flags import FLAG_LABELS, FLAG_RULES
from market.views import (
    _fees_text,
    _location_choices,
    _percent,
    _priced_page,
    categories_context,
    excluded_categories_keep,
    location_hidden_check,
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


# The table's body is written here, not by a template loop: 50 rows of 17 cells were some 3,000
# template nodes, 55 ms of CPU on every page; these strings take 3. The markup is the table's,
# so it stays next to the cells' texts above; the page around it is ``market/trading.html``.


def trading_rows_html(
    lines: Sequence[TradingLine],
    *,
    station: StationRef,
    hide: dict[str, str],
    share_text: str,
    cap_text: str | None,
) -> SafeString:
    """The ``<tr>`` of each line, as the station-trading table shows them (each cell's text is
    already written by ``_trading_line``; names and rules are escaped here)."""
    detail = reverse("market:type_detail", args=[0]).removesuffix("0/")
    region = escape(station.region_name)
    unwatched = "not known yet: the station has been watched for less than an hour"
    no_history = f"no market history for it in {region}"
    capped = f", at most {cap_text}" if cap_text else ""
    out = []
    for line in lines:
        row, cells = line.row, line.cells
        name = escape(row.type_name)
        link = (
            f'<a href="{detail}{row.type_id}/?station_id={station.station_id}" '
            f'title="{name}">{name}</a>'
        )
        if line.flags:
            marks = "".join(
                f'<mark class="flag" title="{escape(flag.rule)}">{escape(flag.label)}</mark>'
                for flag in line.flags
            )
            codes = " ".join(flag.code for flag in line.flags)
            head = f'<tr data-flags="{codes}"><th scope="row"><span class="flagged">{link}{marks}</span></th>'
        else:
            head = f'<tr><th scope="row">{link}</th>'
        unknown_station = row.station_daily_volume is None
        basis = (
            "the station's daily volume"
            if row.volume_basis == "station"
            else f"{region}'s 30-day daily volume (the station's own is not known yet)"
        )
        history = line.has_history
        out.append(
            head
            + num_cell(cells["best_bid"], hide["best_bid"])
            + num_cell(cells["best_ask"], hide["best_ask"])
            + num_cell(cells["profit"], "good" if row.profit > 0 else "bad")
            + num_cell(cells["margin"])
            + num_cell(
                cells["station_daily_volume"],
                hide["station_daily_volume"],
                "muted" if unknown_station else "",
                title=unwatched if unknown_station else None,
            )
            + num_cell(
                cells["achievable_daily_profit"],
                hide["achievable_daily_profit"],
                "bad" if row.achievable_daily_profit < 0 else "",
                title=f"profit per unit × {cells['achievable_units']} units a day",  # noqa: RUF001
            )
            + num_cell(
                cells["achievable_units"],
                hide["achievable_units"],
                title=f"{share_text} of {basis}{capped}",
            )
            + num_cell(
                cells["daily_volume"],
                hide["daily_volume"],
                "" if history else "muted",
                title=None if history else no_history,
            )
            + num_cell(
                cells["daily_profit"],
                hide["daily_profit"],
                ("bad" if row.daily_profit < 0 else "") if history else "muted",
                title=None if history else no_history,
            )
            + "".join(
                num_cell(cells[key], hide[key])
                for key in (
                    "depth_price_bid",
                    "depth_price_ask",
                    "bid_reprices_daily",
                    "ask_reprices_daily",
                    "broker_fee_bid",
                    "broker_fee_ask",
                    "sales_tax",
                )
            )
            + "</tr>"
        )
    # Every text above is escaped, or written by this module from numbers.
    return mark_safe("\n".join(out))


# The market group select's options of the tree last seen: the same 178 options on every page
# until the SDE changes, written through the template language they cost 6 ms of CPU a page.
_group_options: tuple[MarketGroupTree | None, str] = (None, "")


def group_options_html(tree: MarketGroupTree, *, selected: str) -> SafeString:
    """The market group select's optgroups and options (``selected``: the chosen group's id as
    the form gave it), escaped; the same markup the template wrote, made once per tree."""
    global _group_options
    kept_tree, html = _group_options
    if kept_tree is not tree:
        html = "".join(
            f'<optgroup label="{escape(top)}">'
            + "".join(
                f'<option value="{int(id_)}">{escape(label)}</option>' for id_, label in options
            )
            + "</optgroup>"
            for top, options in tree.choices()
        )
        _group_options = (tree, html)
    # Only a group id of the tree matches an option: any other value selects nothing.
    chosen = f'<option value="{selected}">' if selected.isdigit() else None
    if chosen and chosen in html:
        html = html.replace(chosen, f'<option value="{selected}" selected>', 1)
    return mark_safe(html)  # every text in it is escaped above


def _rows_html(
    result: TradingResult, rows: list[StationTradingRow], *, station: StationRef, hide: dict
) -> SafeString:
    """The page's rows, written once per view of a snapshot and page: the next trader asking
    for the same page (and the polls) reuse them."""
    share_text = _percent(result.market_share)
    cap_text = None if result.volume_cap is None else number_text(result.volume_cap, -2)
    key = (
        "rows",
        tuple(row.type_id for row in rows),
        tuple(sorted(hide.items())),
        share_text,
        cap_text,
    )

    def make() -> SafeString:
        lines = [_trading_line(row, row.type_id in result.types_with_history) for row in rows]
        return trading_rows_html(
            lines, station=station, hide=hide, share_text=share_text, cap_text=cap_text
        )

    return result.fragment(key, make)


@require_GET
def station_trading_view(request: HttpRequest) -> HttpResponse:
    params = query_params(request, station_id=DEFAULT_STATION.station_id)
    form = StationTradingForm(params, user=request.user)
    location_hidden_check(form)
    station = (form.is_valid() and form.cleaned_data.get("station_id")) or DEFAULT_STATION
    marker = book_marker([station])
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
        cap_text = None if result.volume_cap is None else number_text(result.volume_cap, -2)
        filtered = any(form.get(name) is not None for name in TRADING_FILTERS)
        return {
            **parts,
            "result": result,
            "age": result.age,
            "fees_text": _fees_text(result.rates),
            "share_text": _percent(result.market_share),
            "cap_text": cap_text,
            "rows": rows,
            "rows_html": _rows_html(result, rows, station=station, hide=parts["hide"]),
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
        **_location_choices(request.user, station),
        "group_options_html": group_options_html(
            market_group_tree(), selected=str(form["market_group"].value() or "")
        ),
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
