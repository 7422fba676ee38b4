"""The market desk's pages: home (hubs, search, market groups, data age), a type's page and
hauling; station trading has its own module (``market.trading_views``) on the helpers here.

Filters live in the URL (GET forms), every table sorts and paginates on the server, and htmx
swaps just the table (``HX-Target`` names the partial). Tables poll every 30 s while the tab is
visible, sending the snapshot marker they were drawn from: the answer is an empty 204 until a new
snapshot lands, then the new table.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from accounts.fees import DEFAULT_FEE_RATES, FeeRates
from accounts.models import TradingProfile, fee_rates_for, trading_profile_of
from lenny.lib.htmx import ANY_TARGET, POLL_PARAM, no_change, page_or_partial, poll_unchanged
from lenny.lib.tables import Column, query_params, query_url, table_headers, table_page, table_pager
from market.cells import UNKNOWN, num_cell, number_text, volume_text
from market.forms import (
    HISTORY_WINDOWS,
    CategoriesForm,
    FeesForm,
    HaulingForm,
    QueryForm,
    SearchForm,
    TypePageForm,
)
from market.hubs import HUB_REGION_IDS, HUBS_BY_STATION
from market.queries import (
    BOOK_TTL_SECONDS,
    DEFAULT_STATION,
    HAULING_DEFAULT_SORT,
    HUB_STATIONS,
    SDE_TTL_SECONDS,
    HubHaulRow,
    StationRef,
    book_marker,
    hauling,
    history_days,
    hub_quotes,
    market_categories,
    market_group_children,
    market_group_tree,
    region_ages,
    snapshot_marker,
    type_get,
    type_on_market,
    type_orders,
    type_search,
    type_unknown_name,
)
from market.structures.queries import location_get, structures_visible
from market.trading import TradingInputError
from market.trading.flags import FLAG_LABELS

BOOK_PAGE_SIZE = 20


def _location_choices(user: Any, *chosen: StationRef | None) -> dict[str, list[StationRef]]:
    """A location selector's options: ``hubs`` (the five, and a chosen NPC station that is none
    of them) and ``structures`` (the tracked structures the user may see, by name)."""
    stations = list(HUB_STATIONS)
    for station in chosen:
        if (
            station is not None
            and not station.is_structure
            and station.station_id not in HUBS_BY_STATION
            and station not in stations
        ):
            stations.append(station)
    return {"hubs": stations, "structures": structures_visible(user)}


def location_hidden_check(form: QueryForm) -> None:
    """A 404 when a location parameter names a structure the user may not see (someone else's
    private one, or no tracked structure at all): the same answer for both."""
    hidden = form.hidden_location()
    if hidden is not None:
        raise Http404(hidden[1])


def _percent(rate: Decimal) -> str:
    """0.036 → "3.6 %"."""
    return f"{(rate * 100).normalize():f} %"


def _fees_text(rates: FeeRates, *, broker_fee: bool = True) -> str:
    text = f"sales tax {_percent(rates.sales_tax)}"
    return f"{text}, broker fee {_percent(rates.broker_fee)}" if broker_fee else text


def categories_context(excluded: frozenset[int]) -> dict[str, Any]:
    """The "Leave out" choice of a desk table (``market/_desk.html#categories``): every
    published category with whether it is left out, and the names of those that are."""
    categories = market_categories()
    return {
        "categories": [(category, category.category_id in excluded) for category in categories],
        "excluded_names": [c.name for c in categories if c.category_id in excluded],
    }


def excluded_categories_keep(request: HttpRequest, form: CategoriesForm) -> None:
    """A logged-in trader's choice of categories is kept for their next visit (and the API);
    a poll only repeats what is on screen."""
    chosen = form.categories_chosen
    if chosen is not None and request.user.is_authenticated and POLL_PARAM not in request.GET:
        TradingProfile.for_user(request.user).excluded_categories_remember(chosen)


def _form_error(form: QueryForm) -> str:
    return form.first_error()[1]


def _priced_page(
    request: HttpRequest,
    params: QueryDict,
    form: FeesForm,
    context: dict[str, Any],
    *,
    template: str,
    target: str,
    table: Callable[[FeeRates], dict[str, Any]],
) -> HttpResponse:
    """A page whose table is priced with the trader's fees (station trading, hauling): their
    profile's, or the ``sales_tax``/``broker_fee`` of the URL. A bad parameter is named where
    the table would be (400)."""
    profile = fee_rates_for(request.user)
    context.update(
        form=form,
        # As the API writes them (0.08, not the fee rules' 0.0800), for the inputs' placeholders.
        profile_rate_texts={
            "sales_tax": f"{profile.sales_tax.normalize():f}",
            "broker_fee": f"{profile.broker_fee.normalize():f}",
        },
        default_rates=profile == DEFAULT_FEE_RATES,
        poll_url=query_url(request, params),
        error="",
    )
    status = 200
    if not form.is_valid():
        context["error"] = _form_error(form)
        context["error_fields"] = list(form.errors)  # marked in the form (market.js after a swap)
        status = 400
    else:
        try:
            context.update(table(form.rates(profile)))
        except TradingInputError as error:
            context["error"] = f"{error.param}: {error.message}"
            context["error_fields"] = [error.param]
            status = 400
    # The table's answer also brings the title and heading (``desk-answer``): they name the hubs.
    return page_or_partial(
        request, template, context, partials={target: "desk-answer"}, status=status
    )


# --- home, search, market groups -----------------------------------------------------------------


def _chosen_station(request: HttpRequest) -> StationRef:
    form = TypePageForm(query_params(request), user=request.user)
    if form.is_valid() and form.cleaned_data.get("station_id"):
        return form.cleaned_data["station_id"]
    return DEFAULT_STATION


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    marker = snapshot_marker(HUB_REGION_IDS)
    if poll_unchanged(request, marker):
        return no_change()
    station = _chosen_station(request)
    ages = region_ages(HUB_REGION_IDS)
    groups, _ = market_group_children(None)
    context = {
        "station": station,
        "hubs": [(hub, ages[hub.region_id]) for hub in HUB_STATIONS],
        "groups": groups,
        # Names the top groups' cached rendering (the same in every process): another SDE's
        # top groups are another key.
        "groups_version": zlib.crc32(repr(groups).encode()),
        "sde_ttl": SDE_TTL_SECONDS,
        "marker": marker,
        "poll_url": query_url(request, query_params(request)),
        "search": SearchForm(request.GET),
    }
    return page_or_partial(request, "market/home.html", context, partials=["data-age"])


@require_GET
def type_search_view(request: HttpRequest) -> HttpResponse:
    """Types by name: suggestions for the autocomplete (htmx), or a page of results."""
    form = SearchForm(request.GET)
    query = form.cleaned_data.get("q", "") if form.is_valid() else ""
    station = _chosen_station(request)
    hits = type_search(query, limit=10 if request.htmx else 100)
    context = {"query": query, "hits": hits, "station": station, "search": form}
    return page_or_partial(
        request, "market/search.html", context, partials={ANY_TARGET: "suggestions"}
    )


@require_GET
def market_group(request: HttpRequest, group_id: int) -> HttpResponse:
    tree = market_group_tree()
    if group_id not in tree.names:
        raise Http404("no such market group")
    groups, types = market_group_children(group_id)
    context = {
        "group_id": group_id,
        "name": tree.names[group_id],
        "path": tree.path(group_id),
        "groups": groups,
        "types": types,
        "station": _chosen_station(request),
    }
    # The children are swapped into the toggled group's own element, which has no id.
    return page_or_partial(
        request, "market/groups.html", context, partials={ANY_TARGET: "children"}
    )


# --- a type's page -------------------------------------------------------------------------------

BOOK_COLUMNS = (
    Column("price", "Price"),
    Column("volume_remain", "Volume"),
    Column("location", "Location", numeric=False),
    Column("range", "Range", numeric=False),
    Column("issued", "Issued"),
)
# At the hub station every order's location is the hub: the column would repeat its long name.
STATION_BOOK_COLUMNS = tuple(column for column in BOOK_COLUMNS if column.key != "location")


def _chart_data(days) -> dict[str, list]:
    """Columns for uPlot: x in Unix seconds, ISK as floats (display only)."""
    data: dict[str, list] = {"t": [], "average": [], "highest": [], "lowest": [], "volume": []}
    for day in days:
        data["t"].append(int(datetime.combine(day.date, time(), tzinfo=UTC).timestamp()))
        data["average"].append(float(day.average))
        data["highest"].append(float(day.highest))
        data["lowest"].append(float(day.lowest))
        data["volume"].append(day.volume)
    return data


def _station_marker(marker: str, station: StationRef) -> str:
    """The parts of a snapshot marker that a location's pages read: its region's
    ("region:snapshot:history version") and, for a tracked structure, its own book's
    ("s<structure>:snapshot:history version"). The whole marker when neither is in it."""
    heads = (f"{station.region_id}:", f"s{station.station_id}:" if station.is_structure else None)
    parts = [part for part in marker.split(",") if part.startswith(tuple(filter(None, heads)))]
    return ",".join(parts) or marker


@require_GET
def type_detail(request: HttpRequest, type_id: int) -> HttpResponse:
    params = query_params(request)
    form = TypePageForm(params, user=request.user)
    location_hidden_check(form)
    valid = form.is_valid()
    station = (valid and form.cleaned_data.get("station_id")) or DEFAULT_STATION
    if station.station_id not in HUBS_BY_STATION and not station.is_structure:
        valid = False
        form.add_error("station_id", "must be one of the five hubs or a tracked structure")
        station = DEFAULT_STATION
    structures = structures_visible(request.user)
    marker = snapshot_marker(HUB_REGION_IDS, structures=structures)
    if poll_unchanged(request, marker):
        return no_change()
    item = type_get(type_id)
    # An unpublished SDE type ("#System", NPC-only items) has no market page, unless ESI trades it.
    if (item is None or not item.published) and not type_on_market(type_id):
        raise Http404("no such type")
    data = form.cleaned_data if valid else {}
    days = data.get("days") or 90
    scope = data.get("scope") or "station"
    location_id = station.station_id if scope == "station" else None

    # The hubs and the tracked structures side by side (a structure's prices are its own book's).
    quotes = hub_quotes(type_id, [*HUB_STATIONS, *structures], marker=marker)
    here = next(q for q in quotes if q.station.station_id == station.station_id)

    def books_build() -> dict[str, dict[str, Any]]:
        books = {}
        for side, is_buy in (("sell", False), ("buy", True)):
            sort = data.get(f"{side}_sort") or ("-price" if is_buy else "price")
            orders = type_orders(
                region_id=station.region_id,
                type_id=type_id,
                is_buy_order=is_buy,
                location_id=location_id,
                order_by=sort,
                # "At the station" of a structure is its own book; "in the region" the region's.
                structure_id=station.book_structure_id if scope == "station" else 0,
            )
            page = Paginator(orders, BOOK_PAGE_SIZE).get_page(data.get(f"{side}_page") or 1)
            books[side] = {
                "title": "Buy orders" if is_buy else "Sell orders",
                "orders": page.object_list,
                "headers": table_headers(
                    request,
                    params,
                    STATION_BOOK_COLUMNS if scope == "station" else BOOK_COLUMNS,
                    current=sort,
                    sort_param=f"{side}_sort",
                    page_param=f"{side}_page",
                ),
                "pager": table_pager(
                    request,
                    params,
                    page=page.number,
                    pages=page.paginator.num_pages,
                    count=page.paginator.count,
                    param=f"{side}_page",
                ),
            }
        return books

    # The order books and the history are the same for everyone until the next snapshot of the
    # book they read (the region's, or a structure's own) or the region's next history lands:
    # the template keeps their rendering under those parts of the marker and this page's URL,
    # and reads them (four and one queries, most of the page's rendering) only when it has none.
    history = SimpleLazyObject(
        lambda: list(history_days(region_id=station.region_id, type_id=type_id, days=days))
    )
    context = {
        "type_id": type_id,
        "item": item,
        "name": item.name if item else type_unknown_name(type_id),
        "path": market_group_tree().path(item.market_group_id) if item else [],
        "station": station,
        "hubs": HUB_STATIONS,
        "quotes": quotes,
        "here": here,
        "books": SimpleLazyObject(books_build),
        "scope": scope,
        "days": days,
        "windows": [(d, query_url(request, params, days=d)) for d in HISTORY_WINDOWS],
        "history": history,
        "chart": lambda: _chart_data(history),  # called by the template, on a miss only
        "books_marker": _station_marker(marker, station),
        "book_ttl": BOOK_TTL_SECONDS,
        "form": form,
        "error": "" if valid else _form_error(form),
        "marker": marker,
        "poll_url": query_url(request, params),
        "scope_urls": {
            "station": query_url(request, params, scope="station", sell_page=None, buy_page=None),
            "region": query_url(request, params, scope="region", sell_page=None, buy_page=None),
        },
    }
    return page_or_partial(
        request,
        "market/type.html",
        context,
        partials=["type-live", "type-history"],
        status=200 if valid else 400,
    )


# --- hauling -------------------------------------------------------------------------------------

TRIP_COLUMNS = (
    Column("origin_name", "From", numeric=False, shown="desk"),
    Column("destination_name", "To", numeric=False, shown="desk"),
    Column("jumps", "Jumps", shown="desk"),
    Column("trip_profit", "Trip profit", shown="desk"),
)
HAULING_COLUMNS = (
    Column("type_name", "Item", numeric=False),
    *TRIP_COLUMNS,
    Column("quantity", "Quantity", shown="desk"),
    Column("buy_cost", "Buy cost", shown="desk"),
    Column("net_profit", "Net profit"),
    Column("roi", "ROI"),
    Column("days_to_sell", "Days to sell"),
    Column("station_daily_volume", "Daily volume there", shown="desk"),
    Column("profit_per_jump", "Profit / jump", shown="desk"),
    Column("volume_m3", "m³", shown="desk"),
    Column("sell_revenue", "Sell revenue", shown="wide"),
    Column("fees_and_tax", "Fees and tax", shown="wide"),
)
# One trip: its ends, jumps and profit are the same on every row, and said above the table.
ONE_TRIP_COLUMNS = tuple(column for column in HAULING_COLUMNS if column not in TRIP_COLUMNS)


@dataclass(frozen=True)
class HaulLine:
    """A row as the hauling table shows it: ROI in percent and its flags' labels (why the
    default view would hide it)."""

    row: HubHaulRow
    roi_percent: Decimal
    reasons: list[str]

    @classmethod
    def of(cls, row: HubHaulRow) -> HaulLine:
        return cls(row, row.roi * 100, [FLAG_LABELS[code] for code in row.flags])


def _m3_text(value: Decimal) -> str:
    """As ``hauling.html#m3``: four decimals under 1 m³ (ammunition), one above."""
    return number_text(value, -4 if value < 1 else -1)


def hauling_rows_html(
    lines: Sequence[HaulLine], *, one_trip: bool, hide: dict[str, str]
) -> SafeString:
    """The ``<tr>`` of each line, as the hauling table shows them. Written here rather than by
    a template loop, as station trading's rows are (``trading_rows_html``): 50 rows of 14 cells
    through the template were most of the page's CPU. Names are escaped here; every other text
    is written from numbers."""
    detail = reverse("market:type_detail", args=[0]).removesuffix("0/")
    unwatched = "the destination station has not been watched long enough to know"
    by_region = (
        ' <small class="muted" title="the destination station has not been watched long '
        "enough: by the region's 30-day volume\">(region)</small>"
    )
    out = []
    for line in lines:
        row = line.row
        name = escape(row.type_name)
        flagged = ' class="flagged"' if line.reasons else ""
        head = (
            f'<tr{flagged}><th scope="row">'
            f'<a href="{detail}{row.type_id}/?station_id={row.origin.station_id}" '
            f'title="{name}">{name}</a>'
        )
        if line.reasons:
            head += ' <small class="flags bad" data-flags="{}">{}</small>'.format(
                escape(" ".join(row.flags)), escape(", ".join(line.reasons))
            )
        cells = [head + "</th>"]
        if not one_trip:
            cells += [
                f'<td class="{hide.get("origin_name", "")}">{escape(row.origin_name or "")}</td>',
                f'<td class="{hide.get("destination_name", "")}">{escape(row.destination_name or "")}</td>',
                num_cell(UNKNOWN if row.jumps is None else str(row.jumps), hide.get("jumps", "")),
                num_cell(
                    UNKNOWN if row.flags else number_text(row.trip_profit, 0),
                    hide.get("trip_profit", ""),
                ),
            ]
        if row.days_to_sell is None:
            days = UNKNOWN
        elif not row.days_to_sell:
            days = "now"
        else:
            days = number_text(row.days_to_sell, -1) + (
                by_region if row.volume_source == "region" else ""
            )
        station_volume = (
            f'<span class="muted" title="{unwatched}">unknown</span>'
            if row.station_daily_volume is None
            else volume_text(row.station_daily_volume)
        )
        cells += [
            num_cell(f"{row.quantity:,}", hide.get("quantity", "")),
            num_cell(number_text(row.buy_cost, 0), hide.get("buy_cost", "")),
            num_cell(number_text(row.net_profit, 0), "good" if row.net_profit > 0 else "bad"),
            num_cell(number_text(line.roi_percent, 1) + " %"),
            num_cell(days, hide.get("days_to_sell", "")),
            num_cell(station_volume, hide.get("station_daily_volume", "")),
            num_cell(
                UNKNOWN if row.profit_per_jump is None else number_text(row.profit_per_jump, 0),
                hide.get("profit_per_jump", ""),
            ),
            num_cell(
                '<span class="bad">volume unknown</span>'
                if row.volume_m3 is None
                else _m3_text(row.volume_m3),
                hide.get("volume_m3", ""),
            ),
            num_cell(number_text(row.sell_revenue, 0), hide.get("sell_revenue", "")),
            num_cell(number_text(row.fees_and_tax, 0), hide.get("fees_and_tax", "")),
        ]
        out.append("".join(cells) + "</tr>")
    return mark_safe("\n".join(out))


@dataclass(frozen=True)
class TripTotals:
    """What one trip's plan adds up to: every row of it, not only the page shown (flagged rows
    are not part of the trip's plan)."""

    buy_cost: Decimal
    sell_revenue: Decimal
    fees_and_tax: Decimal
    net_profit: Decimal
    volume_m3: Decimal
    roi_percent: Decimal | None
    profit_per_jump: Decimal | None
    volume_unknown: bool

    @classmethod
    def of(cls, rows: Sequence[HubHaulRow], jumps: int | None) -> TripTotals:
        rows = [row for row in rows if not row.flags]
        buy_cost = sum((row.buy_cost for row in rows), Decimal(0))
        net_profit = sum((row.net_profit for row in rows), Decimal(0))
        return cls(
            buy_cost=buy_cost,
            sell_revenue=sum((row.sell_revenue for row in rows), Decimal(0)),
            fees_and_tax=sum((row.fees_and_tax for row in rows), Decimal(0)),
            net_profit=net_profit,
            volume_m3=sum((row.volume_m3 for row in rows if row.volume_m3), Decimal(0)),
            roi_percent=net_profit / buy_cost * 100 if buy_cost else None,
            profit_per_jump=net_profit / jumps if jumps else None,
            volume_unknown=any(row.volume_m3 is None for row in rows),
        )


# A first visit plans for a typical hauler (a deep-space transport's hold, a billion ISK), not
# for unlimited ones: "unlimited" planned whole-region trips of tens of billions of ISK.
HAULER_BUDGET = Decimal(1_000_000_000)
HAULER_CARGO_M3 = Decimal(60_000)


def _amount(value: Decimal | None) -> str:
    """As a trader would type it into the form: 1000000000, not 1000000000.00000000."""
    return "" if value is None else f"{value.normalize():f}"


def _hauling_start(request: HttpRequest) -> dict[str, str]:
    """The plan a visit starts from, for each parameter its URL leaves out: the user's last one,
    else a typical hauler's from Jita to Amarr. A parameter that is present but blank is the
    user's own choice (no limit, any hub) and stays so."""
    profile = TradingProfile.for_user(request.user) if request.user.is_authenticated else None
    if profile is not None and profile.hauling_remembered:
        ends = {
            name: str(station_id or "")
            for name, station_id in (
                ("from_station_id", profile.hauling_from_station_id),
                ("to_station_id", profile.hauling_to_station_id),
            )
        }
        for name, station_id in ends.items():
            # A structure remembered from before may have stopped (or gone private): any hub.
            if station_id and location_get(int(station_id), user=request.user) is None:
                ends[name] = ""
        start = {
            "budget": _amount(profile.hauling_budget),
            "cargo_m3": _amount(profile.hauling_cargo_m3),
            "route": profile.hauling_route,
            **ends,
        }
    else:
        start = {
            "budget": _amount(HAULER_BUDGET),
            "cargo_m3": _amount(HAULER_CARGO_M3),
            "from_station_id": str(DEFAULT_STATION.station_id),
            "to_station_id": str(HUB_STATIONS[1].station_id),
        }
    if "from_station_id" in request.GET or "to_station_id" in request.GET:
        # A link that names one end ("from Jita") means the other is any hub.
        start.pop("from_station_id")
        start.pop("to_station_id")
    return {name: value for name, value in start.items() if name not in request.GET}


def _hauling_remember(request: HttpRequest, data: dict[str, Any]) -> None:
    # Polls repeat the plan on screen; only what the user asked for is worth a write.
    if not request.user.is_authenticated or POLL_PARAM in request.GET:
        return
    origin, destination = data.get("from_station_id"), data.get("to_station_id")
    TradingProfile.for_user(request.user).hauling_remember(
        budget=data.get("budget"),
        cargo_m3=data.get("cargo_m3"),
        route=data.get("route") or "",
        from_station_id=origin.station_id if origin else None,
        to_station_id=destination.station_id if destination else None,
    )


@require_GET
def hauling_view(request: HttpRequest) -> HttpResponse:
    params = query_params(request)
    for name, value in _hauling_start(request).items():
        params[name] = value
    form = HaulingForm(params, user=request.user)
    location_hidden_check(form)
    data = form.cleaned_data if form.is_valid() else {}
    if form.is_valid():
        _hauling_remember(request, data)
    origin, destination = data.get("from_station_id"), data.get("to_station_id")
    ends = [
        *((origin,) if origin else HUB_STATIONS),
        *((destination,) if destination else HUB_STATIONS),
    ]
    marker = book_marker(ends)
    if poll_unchanged(request, marker):
        return no_change()
    mode = data.get("mode") or "instant"
    one_trip = origin is not None and destination is not None

    profile = trading_profile_of(request.user)
    excluded = form.excluded_categories(profile) if form.is_valid() else frozenset()

    def table(rates: FeeRates) -> dict[str, Any]:
        sort = data.get("sort") or HAULING_DEFAULT_SORT
        include_flagged = bool(data.get("include_flagged"))
        excluded_categories_keep(request, form)
        result = hauling(
            origin=origin,
            destination=destination,
            mode=mode,
            budget=data.get("budget"),
            cargo_m3=data.get("cargo_m3"),
            rates=rates,
            route=data.get("route") or "shortest",
            order_by=sort,
            share=form.market_share(profile),
            include_flagged=include_flagged,
            excluded_categories=excluded,
        )
        columns = ONE_TRIP_COLUMNS if one_trip else HAULING_COLUMNS
        rows, parts = table_page(
            request, params, result.rows, columns=columns, sort=sort, page=data.get("page") or 1
        )
        trip = result.trips[0] if one_trip else None
        planned = any(not row.flags for row in result.rows)
        rows_key = (
            "rows",
            tuple((row.type_id, row.origin.station_id, row.destination.station_id) for row in rows),
            one_trip,
            tuple(sorted(parts["hide"].items())),
        )
        rows_html = result.fragment(
            rows_key,
            lambda: hauling_rows_html(
                [HaulLine.of(row) for row in rows], one_trip=one_trip, hide=parts["hide"]
            ),
        )
        return {
            **parts,
            "result": result,
            "rows_html": rows_html,
            "fees_text": _fees_text(result.rates, broker_fee=mode == "relist"),
            "ages": sorted(
                result.ages.values(), key=lambda age: (age.structure_id != 0, age.region_name)
            ),
            "rows": rows,
            "trip": trip,
            "totals": TripTotals.of(result.rows, trip[2]) if trip and planned else None,
            "share_percent": result.share * 100,
            # One click shows the hidden rows (and hides them again), on the first page.
            "flagged_url": query_url(
                request, params, include_flagged=None if include_flagged else "1", page=None
            ),
        }

    context = {
        "origin": origin,
        "destination": destination,
        "one_trip": one_trip,
        "mode": mode,
        "budget": data.get("budget"),
        "cargo_m3": data.get("cargo_m3"),
        **_location_choices(request.user, origin, destination),
        "marker": marker,
        **categories_context(excluded),
    }
    return _priced_page(
        request,
        params,
        form,
        context,
        template="market/hauling.html",
        target="hauling-table",
        table=table,
    )
