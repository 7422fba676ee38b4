"""The market desk's JSON API: the same numbers as the pages, from the same service functions.

Every endpoint answers ``{"count"?, "next", "results", …}``; ``next`` is the URL of the next page
(null on the last). Bad input is a 400 with ``{"error": "…", "parameter": "name"}``. ISK amounts
are JSON numbers rounded to the cent (half up, like the pages); ratios (margin, ROI) keep six
decimals. Anonymous callers
get the default fees, logged-in ones their trading profile; ``sales_tax``/``broker_fee`` override.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import msgspec
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from accounts.fees import DEFAULT_FEE_RATES, FeeRates
from accounts.models import trading_profile_of
from lenny.lib.money import CENT, isk_show
from lenny.lib.tables import rows_page
from market.forms import (
    HaulingForm,
    HistoryForm,
    OrdersForm,
    QueryForm,
    StationTradingForm,
    StationVolumeForm,
    structure_hidden,
)
from market.models import MarketSnapshot, Order
from market.queries import (
    HAULING_DEFAULT_SORT,
    STATION_VOLUME_DAYS,
    BookTop,
    HubHaulRow,
    RegionAge,
    book_ages,
    hauling,
    history_days,
    region_ages,
    station_region,
    station_trading,
    station_volume,
)
from market.queries.caches import _order_pages
from market.trading import StationTradingRow, TradingInputError

DEFAULT_PAGE_SIZE = 100
RATIO = Decimal("0.000001")
_encoder = msgspec.json.Encoder(decimal_format="number")


def _json(data: Any, *, status: int = 200) -> HttpResponse:
    return HttpResponse(_encoder.encode(data), status=status, content_type="application/json")


def _bad_request(parameter: str, message: str) -> HttpResponse:
    return _json({"error": message, "parameter": parameter}, status=400)


def _invalid(form: QueryForm) -> HttpResponse:
    """A 400 naming the first bad parameter; a 404 for a location parameter naming a structure
    the caller may not see (someone else's private one, or no tracked structure at all)."""
    hidden = form.hidden_location()
    if hidden is not None:
        parameter, message = hidden
        return _json({"error": message, "parameter": parameter}, status=404)
    return _bad_request(*form.first_error())


def _isk(value: Decimal | None) -> Decimal | None:
    return None if value is None else isk_show(value)


def _ratio(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(RATIO, rounding=ROUND_HALF_UP)


def _next_url(request: HttpRequest, **changes: Any) -> str:
    query = request.GET.copy()
    for name, value in changes.items():
        query[name] = str(value)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


def _age(age: RegionAge) -> dict[str, Any]:
    shown = {
        "region_id": age.region_id,
        "snapshot_id": age.snapshot_id,
        "last_modified": age.last_modified,
        "expires": age.expires,
        "orders": age.orders,
    }
    if age.structure_id:
        shown["structure_id"] = age.structure_id  # a tracked structure's own book
    return shown


def _rate(value: Decimal) -> Decimal:
    """A fee rate as its shortest decimal: 0.08, not the 0.0800 the fee rules compute (nor
    the ``0.080000`` of a ratio's six places), so every endpoint writes a rate the same way."""
    return _ratio(value).normalize() if value else Decimal(0)


def _fees(rates: FeeRates) -> dict[str, Decimal]:
    return {"sales_tax": _rate(rates.sales_tax), "broker_fee": _rate(rates.broker_fee)}


def _paged(
    request: HttpRequest, form: QueryForm, rows: list[Any]
) -> tuple[list[Any], dict[str, Any]]:
    """One page of ``rows`` and the envelope's count and next URL."""
    page = form.get("page", 1)
    size = form.get("page_size", DEFAULT_PAGE_SIZE)
    page_rows, pages = rows_page(rows, page=page, per_page=size)
    following = _next_url(request, page=page + 1) if page < pages else None
    return page_rows, {"count": len(rows), "next": following}


@require_GET
def orders(request: HttpRequest) -> HttpResponse:
    """The region's current orders with every ESI field, by order id; ``after`` pages on. With a
    ``location_id`` that is a tracked structure of the region the caller may see, the
    structure's own book (ESI serves it apart from the region's); someone else's private
    structure answers 404."""
    form = OrdersForm(request.GET, user=request.user)
    if not form.is_valid():
        return _invalid(form)
    region_id = form.cleaned_data["region_id"]
    size = form.get("page_size", DEFAULT_PAGE_SIZE)
    structure = form.structure()
    filters = {
        name: form.cleaned_data[name]
        for name in ("type_id", "location_id", "is_buy_order")
        if form.cleaned_data.get(name) is not None
    }
    # A book replaced between reading its age and its rows answers nothing: read both again.
    for _attempt in range(2):
        if structure is not None and structure.region_id == region_id:
            age = book_ages([structure])[structure.book_key]
        else:
            age = region_ages([region_id])[region_id]
        page = _orders_page(age, filters=filters, after=form.get("after"), size=size)
        if page is not None:
            break
    else:
        page = msgspec.Raw(b"[]"), None
    rows, last = page
    following = _next_url(request, after=last) if last is not None else None
    return _json({"snapshot": _age(age), "next": following, "results": rows})


def _orders_page(
    age: RegionAge, *, filters: dict[str, Any], after: int | None, size: int
) -> tuple[msgspec.Raw, int | None] | None:
    """The JSON of one page of the orders of the book ``age`` names (the snapshot the envelope
    shows, so the two always agree) and the last order id when more follow; None when that
    snapshot is no longer current (a new book landed since ``age`` was read).

    A snapshot's orders never change, so a page of a type's orders, the question traders and
    their tools ask again and again, is kept in this process under the snapshot's id and fetch
    time (ids start again after a restore) and the query. Only pages of at most the default
    size: the memo holds 256, a few MB. A crawl of a whole region reads each page once and is
    not kept."""
    if age.snapshot_id is None:
        return msgspec.Raw(b"[]"), None
    key = (age.snapshot_id, age.fetched_at, tuple(sorted(filters.items())), after, size)
    keep = "type_id" in filters and size <= DEFAULT_PAGE_SIZE
    found = _order_pages.peek(key) if keep else None
    if found is not None:
        body, last = found
        return msgspec.Raw(body), last
    # Still current in the same statement: SQLite deletes a replaced book's rows after the swap
    # and PostgreSQL drops its partition, so rows of a snapshot no longer current may be partial.
    book = (
        Order.objects.current_of_structure(structure_id=age.structure_id)
        if age.structure_id
        else Order.objects.current(region_id=age.region_id)
    )
    selected = book.filter(snapshot_id=age.snapshot_id, **filters)
    if after is not None:
        selected = selected.filter(order_id__gt=after)
    rows = list(
        selected.order_by("order_id").values(
            "order_id",
            "type_id",
            "location_id",
            "system_id",
            "is_buy_order",
            "price",
            "volume_remain",
            "volume_total",
            "min_volume",
            "range",
            "duration",
            "issued",
        )[: size + 1]
    )
    if not rows and not MarketSnapshot.objects.filter(pk=age.snapshot_id, is_current=True).exists():
        return None
    last = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]["order_id"]
    body = _encoder.encode(rows)
    if keep:
        _order_pages.put(key, (body, last))
    return msgspec.Raw(body), last


@require_GET
def history(request: HttpRequest) -> HttpResponse:
    form = HistoryForm(request.GET)
    if not form.is_valid():
        return _invalid(form)
    days = form.get("days", 30)
    rows = list(
        history_days(
            region_id=form.cleaned_data["region_id"],
            type_id=form.cleaned_data["type_id"],
            days=days,
        ).values("date", "average", "highest", "lowest", "volume", "order_count")
    )
    page_rows, envelope = _paged(request, form, rows)
    return _json(
        {
            "region_id": form.cleaned_data["region_id"],
            "type_id": form.cleaned_data["type_id"],
            "days": days,
            **envelope,
            "results": page_rows,
        }
    )


@require_GET
def station_volume_api(request: HttpRequest) -> HttpResponse:
    """What traded of a type at a station, day by day (newest first), as inferred from the
    region's consecutive snapshots (``market.ingest.liquidity``), and the observed daily
    average (null while the region was watched less than an hour in the window)."""
    form = StationVolumeForm(request.GET)
    if not form.is_valid():
        return _invalid(form)
    station_id, type_id = form.cleaned_data["station_id"], form.cleaned_data["type_id"]
    region_id = station_region(station_id)
    if region_id is None or structure_hidden(station_id, user=request.user):
        return _json(
            {"error": f"station_id: unknown station {station_id}", "parameter": "station_id"},
            status=404,
        )
    volume = station_volume(
        location_id=station_id,
        region_id=region_id,
        type_id=type_id,
        days=form.get("days", STATION_VOLUME_DAYS),
    )
    return _json(
        {
            "station_id": station_id,
            "type_id": type_id,
            "region_id": region_id,
            "days": [
                {
                    "date": day.date,
                    "sold_to_buy_orders": day.sold_to_buy_orders,
                    "bought_from_sell_orders": day.bought_from_sell_orders,
                    "probable_units": day.probable_units,
                    "isk": _isk(day.isk),
                    "probable_isk": _isk(day.probable_isk),
                    "bid_reprices": day.bid_reprices,
                    "ask_reprices": day.ask_reprices,
                    "observed_hours": day.observed_hours,
                }
                for day in volume.days
            ],
            "daily_units": volume.daily_units,
        }
    )


def _trading_row(row: StationTradingRow, types_with_history: Collection[int]) -> dict[str, Any]:
    return {
        "type_id": row.type_id,
        "type_name": row.type_name,
        "best_bid": row.best_bid,
        "best_ask": row.best_ask,
        # The volume-weighted average of the best 5 % of each side's units: what one bait or
        # outlier order cannot move far.
        "depth_price_bid": row.depth_price_bid,
        "depth_price_ask": row.depth_price_ask,
        "broker_fee_bid": _isk(row.broker_fee_bid),
        "broker_fee_ask": _isk(row.broker_fee_ask),
        "sales_tax": _isk(row.sales_tax),
        "profit": _isk(row.profit),
        "margin": _ratio(row.margin),
        "daily_volume": row.daily_volume,
        "daily_profit": _isk(row.daily_profit),
        # Without history the daily volume (and profit) is not known to be 0, just unknown.
        "has_history": row.type_id in types_with_history,
        # Null until the station has been watched long enough to know what trades there.
        "station_daily_volume": row.station_daily_volume,
        "volume_basis": row.volume_basis,
        "achievable_units": _units(row.achievable_units),
        "achievable_daily_profit": _isk(row.achievable_daily_profit),
        "bid_reprices_daily": row.bid_reprices_daily,
        "ask_reprices_daily": row.ask_reprices_daily,
        "flags": row.flags,
    }


def _units(value: Decimal) -> Decimal:
    """Units a day to two places (an average of whole units times a share)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@require_GET
def station_trading_api(request: HttpRequest) -> HttpResponse:
    """One station's rows by achievable daily profit; flagged rows (``flags`` on every row) only
    with ``include_flagged=1``, and ``hidden`` says how many were left out and why."""
    form = StationTradingForm(request.GET, user=request.user)
    if not form.is_valid():
        return _invalid(form)
    station = form.cleaned_data.get("station_id")
    if station is None:
        return _bad_request("station_id", "station_id: is required")
    profile = trading_profile_of(request.user)
    rates = form.rates(profile.fee_rates() if profile else DEFAULT_FEE_RATES)
    filters = form.filters(profile)
    try:
        result = station_trading(
            station=station,
            rates=rates,
            volume_cap=form.get("volume_cap"),
            market_share=form.market_share(profile),
            filters=filters,
            order_by=form.get("sort", "-achievable_daily_profit"),
            include_flagged=bool(form.get("include_flagged")),
        )
    except TradingInputError as error:
        return _bad_request(error.param, f"{error.param}: {error.message}")
    page_rows, envelope = _paged(request, form, result.rows)
    return _json(
        {
            "station_id": station.station_id,
            "snapshot": _age(result.age),
            "fees": _fees(rates),
            "market_share": _rate(result.market_share),
            "excluded_category_ids": sorted(filters.excluded_category_ids),
            "station_volumes_known": result.station_watched,
            "hidden": {
                "total": result.hidden_total,
                "reasons": {code: rows for code, _, rows in result.hidden},
            },
            **envelope,
            # Encoded once per view and page: the same rows for every caller until the next
            # snapshot (or other fees and filters).
            "results": result.fragment(
                ("api", tuple(row.type_id for row in page_rows)),
                lambda: msgspec.Raw(
                    _encoder.encode(
                        [_trading_row(row, result.types_with_history) for row in page_rows]
                    )
                ),
            ),
        }
    )


def _hauling_row(row: HubHaulRow, tops: dict[int, dict[int, BookTop]]) -> dict[str, Any]:
    top_a = tops[row.origin.station_id].get(row.type_id)
    top_b = tops[row.destination.station_id].get(row.type_id)
    return {
        "type_id": row.type_id,
        "type_name": row.type_name,
        "from_station_id": row.origin.station_id,
        "to_station_id": row.destination.station_id,
        "flags": row.flags,
        "quantity": row.quantity,
        "buy_cost": _isk(row.buy_cost),
        "sell_revenue": _isk(row.sell_revenue),
        "fees_and_tax": _isk(row.fees_and_tax),
        "net_profit": _isk(row.net_profit),
        "trip_profit": _isk(row.trip_profit),
        "roi": _ratio(row.roi),
        # None: the type's volume is unknown (never taken as 0).
        "unit_volume": row.unit_volume,
        "volume_m3": row.volume_m3,
        "jumps": row.jumps,
        "profit_per_jump": _isk(row.profit_per_jump),
        # At the origin, the asks bought from; at the destination, the bids an instant sale
        # meets and the asks a relist undercuts: best prices and depth prices side by side.
        "best_ask": top_a.best_ask if top_a else None,
        "depth_price_ask": top_a.depth_ask if top_a else None,
        "best_bid": top_b.best_bid if top_b else None,
        "depth_price_bid": top_b.depth_bid if top_b else None,
        "destination_best_ask": top_b.best_ask if top_b else None,
        "destination_depth_price_ask": top_b.depth_ask if top_b else None,
        "station_daily_volume": row.station_daily_volume,
        "absorbed_daily": row.absorbed_daily,
        "volume_source": row.volume_source,
        "days_to_sell": _ratio(row.days_to_sell),
        "buys": _fills(row.plan.buys),
        "sells": _fills(row.plan.sells),
    }


def _fills(fills: Iterable) -> list[dict[str, Any]]:
    return [{"price": fill.price, "quantity": fill.quantity} for fill in fills]


@require_GET
def hauling_api(request: HttpRequest) -> HttpResponse:
    """Hauling plans; flagged rows are left out (and counted per reason) unless
    ``include_flagged=1``."""
    form = HaulingForm(request.GET, user=request.user)
    if not form.is_valid():
        return _invalid(form)
    data = form.cleaned_data
    # The trader's profile, read once: their fees, share and categories.
    profile = trading_profile_of(request.user)
    rates = form.rates(profile.fee_rates() if profile else DEFAULT_FEE_RATES)
    route = data.get("route") or "shortest"
    share = form.market_share(profile)
    excluded = form.excluded_categories(profile)
    try:
        result = hauling(
            origin=data.get("from_station_id"),
            destination=data.get("to_station_id"),
            mode=data.get("mode") or "instant",
            budget=data.get("budget"),
            cargo_m3=data.get("cargo_m3"),
            rates=rates,
            route=route,
            order_by=data.get("sort") or HAULING_DEFAULT_SORT,
            share=share,
            include_flagged=bool(data.get("include_flagged")),
            excluded_categories=excluded,
        )
    except TradingInputError as error:
        return _bad_request(error.param, f"{error.param}: {error.message}")
    page_rows, envelope = _paged(request, form, result.rows)
    return _json(
        {
            "mode": data.get("mode") or "instant",
            "route": route,
            "fees": _fees(rates),
            "share": _rate(share),
            "excluded_category_ids": sorted(excluded),
            "trips": [
                {"from_station_id": a.station_id, "to_station_id": b.station_id, "jumps": jumps}
                for a, b, jumps in result.trips
            ],
            "snapshots": [_age(age) for age in result.ages.values()],
            "include_flagged": result.include_flagged,
            "flagged": {
                "rows": result.flagged,
                "hidden": result.hidden,
                "reasons": [
                    {"flag": code, "label": label, "rows": rows}
                    for code, label, rows in result.reasons
                ],
            },
            **envelope,
            # Encoded once per plan and page (the plan is kept until its books move on).
            "results": result.fragment(
                (
                    "api",
                    tuple(
                        (row.type_id, row.origin.station_id, row.destination.station_id)
                        for row in page_rows
                    ),
                ),
                lambda: msgspec.Raw(
                    _encoder.encode([_hauling_row(row, result.tops) for row in page_rows])
                ),
            ),
        }
    )
