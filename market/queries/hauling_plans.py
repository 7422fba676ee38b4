"""Hauling between hubs: one trip per pair of stations, each planned by
``market.trading.hauling_rows`` over the order books its walk can reach.

The books come from ``haul_books`` (each hub's whole book, read once per snapshot and shared
like the book tops); a trip cuts from them, for all its types at once, the orders its walks can
reach. Plans are kept per trip and parameters (a new snapshot or new history re-plans only the
trips to and from its hub) and as whole sorted answers.

What shows: every row carries its ``flags``; flagged rows are left out unless asked for, and
counted per reason. The default order is the trip's profit (``trip_profit``: what one trip
makes within the budget and hold, the same on each of its rows), then each trip's rows by
their own net profit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from functools import partial

import numpy as np

from accounts.fees import FeeRates
from market.queries.books import BookTop, RegionAge, StationBook, station_books
from market.queries.caches import Fragments, _hauls, _recent, book_of
from market.queries.haul_books import HaulBook, haul_book
from market.queries.sde import jump_graph, jumps_between
from market.queries.stations import HUB_STATIONS, StationRef
from market.trading import (
    DEFAULT_MARKET_SHARE,
    HAULING_COLUMNS,
    AskLevels,
    BidLevels,
    HaulCandidate,
    HaulRow,
    SideTop,
    SideTops,
    haul_rows_unwalked,
    haul_trust_masks,
    hauling_rows,
    mask_flags,
    relist_absorption,
    relist_cap,
    rows_sort,
)
from market.trading.flags import hidden_summary


@dataclass(slots=True)
class HubHaulRow(HaulRow):
    """A hauling row with the trip it belongs to (several trips show together for "any hub")."""

    origin: StationRef | None = None
    destination: StationRef | None = None

    @property
    def origin_name(self) -> str | None:
        return self.origin.short_name if self.origin else None

    @property
    def destination_name(self) -> str | None:
        return self.destination.short_name if self.destination else None


HUB_HAULING_COLUMNS = (*HAULING_COLUMNS, "origin_name", "destination_name")


@dataclass
class HaulingResult(Fragments):
    origins: tuple[StationRef, ...]
    destinations: tuple[StationRef, ...]
    ages: dict[tuple[int, int], RegionAge]  # by ``StationRef.book_key``
    rows: list[HubHaulRow]  # what to show: without the flagged rows unless asked for
    rates: FeeRates
    trips: list[tuple[StationRef, StationRef, int | None]]
    share: Decimal = DEFAULT_MARKET_SHARE
    include_flagged: bool = False
    # Flagged rows: how many, and (code, label, rows) per reason ("no volume (97)").
    flagged: int = 0
    reasons: list[tuple[str, str, int]] = field(default_factory=list)
    excluded_categories: frozenset[int] = frozenset()
    # Each end's book tops, by station: the prices and volumes the rows' flags were read from.
    tops: dict[int, dict[int, BookTop]] = field(default_factory=dict)
    # Rendered pages of these rows, kept with the memoized answer (``Fragments``).
    fragments: dict = field(default_factory=dict)

    @property
    def hidden(self) -> int:
        return 0 if self.include_flagged else self.flagged


@dataclass
class _Trip:
    """One trip of a hauling request, and the books its walks read."""

    origin: StationRef
    destination: StationRef
    book_a: StationBook
    book_b: StationBook
    jumps: int | None
    key: tuple


def _kept_share(mode: str, rates: FeeRates) -> Decimal:
    """What a sale at B keeps of its price: tax paid, and the broker fee for a relist."""
    if mode == "instant":
        return 1 - rates.sales_tax
    return 1 - rates.sales_tax - rates.broker_fee


# Price bounds are compared in floats (cents): widened by this much, they can only let in an
# order the exact walk then stops at, never keep one out.
_SLACK = 1e-9


def _candidates(
    trip: _Trip,
    haul_a: HaulBook,
    haul_b: HaulBook,
    *,
    mode: str,
    rates: FeeRates,
    share: Decimal,
    budget: Decimal | None,
    cargo_m3: Decimal | None,
    include_flagged: bool,
    excluded_categories: frozenset[int] = frozenset(),
) -> tuple[list[HaulCandidate], dict[int, int]]:
    """The types of a trip whose best prices leave room for profit (``hauling_may_pay``, for all
    types at once), each with only the orders its walk can reach: asks at A up to the most a
    unit can fetch at B, and no more units than B takes; bids at B that pay more, after tax,
    than A's best ask. Bounds are inclusive, so they never keep out a level the walk would use.

    Unless ``include_flagged``, a flagged type whose row its first unit tells
    (``haul_rows_unwalked``) is only counted: the second value counts those rows by their flags
    (as ``mask_flags`` masks). A type of an ``excluded_categories`` category is no candidate
    at all (the trader's choice, as in station trading: neither planned nor counted)."""
    instant = mode == "instant"
    keep_float = float(_kept_share(mode, rates))
    types = np.intersect1d(haul_a.types, haul_b.types, assume_unique=True)
    ask_a = haul_a.best_cents(types, buy=False)
    best_b = haul_b.best_cents(types, buy=instant)
    with np.errstate(invalid="ignore"):
        ceiling = best_b * keep_float * (1 + _SLACK)
        may_pay = ask_a < ceiling  # NaN (an empty side) compares false
    tops_a, tops_b = trip.book_a.tops, trip.book_b.tops
    # A type the tops do not know yet (a race with a new snapshot) waits for the next request.
    known = np.fromiter(
        (
            t in tops_a and t in tops_b and tops_a[t].category_id not in excluded_categories
            for t in types.tolist()
        ),
        dtype=bool,
        count=len(types),
    )
    chosen = may_pay & known
    types, ask_a, best_b, ceiling = (a[chosen] for a in (types, ask_a, best_b, ceiling))
    caps = None
    if not instant:
        caps = np.fromiter(
            (_relist_cap(trip.book_b.tops[type_id], share) for type_id in types.tolist()),
            dtype=np.int64,
            count=len(types),
        )
        sold = caps != 0  # nothing is relisted where nobody buys
        types, ask_a, best_b, ceiling, caps = (
            a[sold] for a in (types, ask_a, best_b, ceiling, caps)
        )
    type_list = types.tolist()
    asks_at_a, unit_volume = _origin_tops(trip.book_a, type_list)
    at_b = _destination_tops(trip.book_b, type_list, instant=instant)
    masks = haul_trust_masks(
        mode=mode,
        ask_at_a=asks_at_a,
        top_at_b=at_b.side,
        station_daily_at_b=at_b.station_daily,
        region_daily_at_b=at_b.region_daily,
        volume_known=~np.isnan(unit_volume),
        hold_limited=cargo_m3 is not None,
    )
    walked = np.ones(len(types), dtype=bool)
    counted: dict[int, int] = {}
    if not include_flagged:
        flagged = np.flatnonzero(masks)
        told = haul_rows_unwalked(
            mode=mode,
            first_ask=ask_a[flagged],
            best_at_b=best_b[flagged],
            first_bid_least=haul_b.first_least(types[flagged]) if instant else None,
            bid_min_volume=at_b.min_volume[flagged] if instant else None,
            budget=budget,
            cargo_m3=cargo_m3,
            unit_volume=unit_volume[flagged],
            max_quantity=None if caps is None else caps[flagged],
            sales_tax=rates.sales_tax,
            broker_fee=rates.broker_fee,
        )
        walked[flagged[told >= 0]] = False
        found, rows = np.unique(masks[flagged[told == 1]], return_counts=True)
        counted = dict(zip(found.tolist(), rows.tolist(), strict=True))
    types, ask_a, ceiling, masks = (a[walked] for a in (types, ask_a, ceiling, masks))
    tops_a, tops_b = trip.book_a.tops, trip.book_b.tops
    candidates = [
        _candidate(tops_a[type_id], tops_b[type_id], instant=instant, trust=mask_flags(mask))
        for type_id, mask in zip(types.tolist(), masks.tolist(), strict=True)
    ]
    if instant:
        # A walk sells no more units than A offers within the bound, and buys no more than B's
        # reachable bids take: each side is cut at the other's units.
        floor = ask_a / keep_float * (1 - _SLACK)
        units_a = haul_a.units_within(types, buy=False, bound_cents=ceiling)
        bids, units = haul_b.levels(types, buy=True, bound_cents=floor, units=units_a)
    else:
        bids = [BidLevels()] * len(candidates)
        units = np.where(caps[walked] < 0, _NO_CAP, caps[walked])
    asks, _ = haul_a.levels(types, buy=False, bound_cents=ceiling, units=units)
    kept = []
    for candidate, sells, buys in zip(candidates, asks, bids, strict=True):
        if sells:
            candidate.sell_orders_at_a = sells
            candidate.buy_orders_at_b = buys
            kept.append(candidate)
    return kept, counted


def _relist_cap(top_b: BookTop, share: Decimal) -> int:
    """``trading.relist_cap`` of what B absorbs at the share (-1: no cap known)."""
    cap = relist_cap(
        relist_absorption(
            station_daily=top_b.bought_daily, region_daily=top_b.daily_volume, share=share
        ).daily
    )
    return -1 if cap is None else cap


def _candidate(top_a: BookTop, top_b: BookTop, *, instant: bool, trust: list[str]) -> HaulCandidate:
    """A type's candidate, its orders still to come."""
    if instant:
        top_at_b = SideTop(
            top_b.best_bid, top_b.best_bid_volume, top_b.depth_bid, top_b.best_bid_min_volume
        )
    else:
        top_at_b = SideTop(top_b.best_ask, top_b.best_ask_volume, top_b.depth_ask)
    return HaulCandidate(
        type_id=top_a.type_id,
        type_name=top_a.type_name,
        unit_volume=top_a.unit_volume,
        sell_orders_at_a=AskLevels(),
        best_ask_at_b=top_b.best_ask,
        ask_at_a=SideTop(top_a.best_ask, top_a.best_ask_volume, top_a.depth_ask),
        top_at_b=top_at_b,
        station_daily_at_b=top_b.sold_daily if instant else top_b.bought_daily,
        region_daily_at_b=top_b.daily_volume,
        trust=list(trust),
    )


def _floats(values: Sequence[Decimal | int | None], *, cents: bool = False) -> np.ndarray:
    """NaN for None. Prices as whole cents: two decimals each, rounded back after the float
    (exact far beyond any real price: a float of 10^13 ISK is off by less than a cent)."""
    array = np.array([np.nan if v is None else float(v) for v in values])
    return np.rint(array * 100) if cents else array


def _origin_tops(book: StationBook, type_ids: list[int]) -> tuple[SideTops, np.ndarray]:
    """The asks of these types at A as arrays (cents; NaN: none), and their unit volumes (NaN:
    unknown): a trip reads the thousand types worth a look, not the station's ten thousand."""
    tops = [book.tops[type_id] for type_id in type_ids]
    side = SideTops(
        _floats([top.best_ask for top in tops], cents=True),
        np.array([top.best_ask_volume for top in tops], dtype=np.float64),
        _floats([top.depth_ask for top in tops], cents=True),
    )
    return side, _floats([top.unit_volume for top in tops])


def _destination_tops(book: StationBook, type_ids: list[int], *, instant: bool) -> _AtB:
    """The side of B a sale meets (the bids for instant, the asks for relist) as arrays, with
    the units a day traded on it at the station (NaN: unknown) and in the region."""
    tops = [book.tops[type_id] for type_id in type_ids]
    if instant:
        side = SideTops(
            _floats([top.best_bid for top in tops], cents=True),
            np.array([top.best_bid_volume for top in tops], dtype=np.float64),
            _floats([top.depth_bid for top in tops], cents=True),
        )
        daily = _floats([top.sold_daily for top in tops])
    else:
        side = SideTops(
            _floats([top.best_ask for top in tops], cents=True),
            np.array([top.best_ask_volume for top in tops], dtype=np.float64),
            _floats([top.depth_ask for top in tops], cents=True),
        )
        daily = _floats([top.bought_daily for top in tops])
    return _AtB(
        side=side,
        station_daily=daily,
        region_daily=_floats([top.daily_volume for top in tops]),
        min_volume=np.array([top.best_bid_min_volume for top in tops], dtype=np.int64),
    )


@dataclass(frozen=True)
class _AtB:
    side: SideTops
    station_daily: np.ndarray
    region_daily: np.ndarray
    min_volume: np.ndarray


# Units no book reaches: "no cap" for the array of caps.
_NO_CAP = np.iinfo(np.int64).max // 4


def _default_sort(rows: list[HubHaulRow]) -> list[HubHaulRow]:
    """Best trip first (``trip_profit``), each trip's rows together, its best rows first."""
    return sorted(
        rows,
        key=lambda row: (
            -(row.trip_profit or 0),
            row.origin.station_id,
            row.destination.station_id,
            -row.net_profit,
            row.type_id,
        ),
    )


HAULING_DEFAULT_SORT = "-trip_profit"


def hauling(
    *,
    origin: StationRef | None,
    destination: StationRef | None,
    mode: str,
    budget: Decimal | None,
    cargo_m3: Decimal | None,
    rates: FeeRates,
    route: str = "shortest",
    order_by: str = HAULING_DEFAULT_SORT,
    share: Decimal = DEFAULT_MARKET_SHARE,
    include_flagged: bool = False,
    excluded_categories: frozenset[int] = frozenset(),
) -> HaulingResult:
    """What to haul from ``origin`` to ``destination`` (None: any hub), one trip per pair of
    stations, each planned by ``trading.hauling_rows`` with the whole budget and hold. Flagged
    rows are left out (and counted per reason) unless ``include_flagged``; types of the
    ``excluded_categories`` are left out of every trip."""
    rows_sort([], order_by=order_by, columns=HUB_HAULING_COLUMNS)  # a bad column: 400
    origins = (origin,) if origin else HUB_STATIONS
    destinations = (destination,) if destination else HUB_STATIONS
    trips = [(a, b) for a in origins for b in destinations if a.station_id != b.station_id]
    stations = {station.station_id: station for station in (*origins, *destinations)}
    ages, books = station_books(stations.values())
    graph = jump_graph()
    planned_trips = []
    read: list[_Trip] = []
    for a, b in trips:
        jumps = jumps_between(a, b, route, graph=graph)
        planned_trips.append((a, b, jumps))
        book_a, book_b = books[a.station_id], books[b.station_id]
        if book_a.snapshot_id is None or book_b.snapshot_id is None:
            continue
        key = (
            a.station_id,
            b.station_id,
            book_a.generation,
            book_b.generation,
            mode,
            budget,
            cargo_m3,
            rates,
            jumps,
            share,
            include_flagged,
            excluded_categories,
        )
        read.append(_Trip(a, b, book_a, book_b, jumps, key))
    # The whole answer, sorted, is kept too: "any hub to any hub" is thousands of rows.
    answer_key = ("sorted", tuple(trip.key for trip in read), order_by)
    answer = _hauls.peek(answer_key)
    if answer is None:
        rows, counted = _trips_plan(
            read,
            mode=mode,
            budget=budget,
            cargo_m3=cargo_m3,
            rates=rates,
            share=share,
            include_flagged=include_flagged,
            excluded_categories=excluded_categories,
        )
        if order_by == HAULING_DEFAULT_SORT:
            rows = _default_sort(rows)
        else:
            rows = rows_sort(rows, order_by=order_by, columns=HUB_HAULING_COLUMNS)
        # What every request of this answer shows, counted once: the flagged rows may be
        # thousands, and reading their reasons on each request cost a JSON answer 0.4 ms.
        flagged = [row.flags for row in rows if row.flags]
        for mask, count in counted.items():
            flagged += [mask_flags(mask)] * count
        shown = rows if include_flagged else [row for row in rows if not row.flags]
        answer = (shown, len(flagged), hidden_summary(flagged), {})
        _hauls.put(answer_key, answer)
    shown, flagged_count, reasons, fragments = answer
    arguments = dict(
        origin=origin,
        destination=destination,
        mode=mode,
        budget=budget,
        cargo_m3=cargo_m3,
        rates=rates,
        route=route,
        order_by=order_by,
        share=share,
        include_flagged=include_flagged,
        excluded_categories=excluded_categories,
    )
    _recent.note(
        ("hauling", *arguments.values()),
        {book_of(station) for station in stations.values()},
        partial(hauling, **arguments),
    )
    return HaulingResult(
        origins,
        destinations,
        ages,
        shown,
        rates,
        planned_trips,
        share=share,
        include_flagged=include_flagged,
        flagged=flagged_count,
        reasons=reasons,
        excluded_categories=excluded_categories,
        tops={station_id: book.tops for station_id, book in books.items()},
        fragments=fragments,
    )


def _trips_plan(
    trips: Sequence[_Trip],
    *,
    mode: str,
    budget: Decimal | None,
    cargo_m3: Decimal | None,
    rates: FeeRates,
    share: Decimal,
    include_flagged: bool,
    excluded_categories: frozenset[int],
) -> tuple[list[HubHaulRow], dict[int, int]]:
    """Every trip's rows, by ``trading.hauling_rows``, and the flagged rows only counted, by
    their flags' mask (unless ``include_flagged``, when every row is planned); each trip's plan
    is kept on its own, so a new snapshot in one region re-plans only the trips to and from its
    hub."""
    rows: list[HubHaulRow] = []
    counted: dict[int, int] = {}
    haul_books: dict[int, HaulBook] = {}
    for trip in trips:
        planned = _hauls.peek(trip.key)
        if planned is None:
            for station, book in ((trip.origin, trip.book_a), (trip.destination, trip.book_b)):
                if station.station_id not in haul_books:
                    haul_books[station.station_id] = haul_book(
                        station, book.snapshot_id, book.fetched_at
                    )
            candidates, trip_counted = _candidates(
                trip,
                haul_books[trip.origin.station_id],
                haul_books[trip.destination.station_id],
                mode=mode,
                rates=rates,
                share=share,
                budget=budget,
                cargo_m3=cargo_m3,
                include_flagged=include_flagged,
                excluded_categories=excluded_categories,
            )
            trip_rows = hauling_rows(
                candidates=candidates,
                mode=mode,
                budget=budget,
                cargo_m3=cargo_m3,
                sales_tax=rates.sales_tax,
                broker_fee=rates.broker_fee,
                jumps=trip.jumps,
                share=share,
            )
            planned = (
                [_with_trip(row, trip.origin, trip.destination) for row in trip_rows],
                trip_counted,
            )
            _hauls.put(trip.key, planned)
        rows.extend(planned[0])
        for mask, count in planned[1].items():
            counted[mask] = counted.get(mask, 0) + count
    return rows, counted


_HAUL_ROW_FIELDS = tuple(f.name for f in fields(HaulRow))


def _with_trip(row: HaulRow, origin: StationRef, destination: StationRef) -> HubHaulRow:
    values = {name: getattr(row, name) for name in _HAUL_ROW_FIELDS}
    return HubHaulRow(**values, origin=origin, destination=destination)
