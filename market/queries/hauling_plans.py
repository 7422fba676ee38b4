"""Hauling between hubs: one trip per pair of stations, each planned by
``market.trading.hauling_rows`` over the order books its walk can reach.

Plans are kept per trip and parameters (a new snapshot or new history re-plans only the trips to
and from its hub) and as whole sorted answers; the order books a walk needs are read once per
station for all the trips of a request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from functools import partial
from typing import Any, NamedTuple

from django.db import connection

from accounts.fees import FeeRates
from market.models import MarketSnapshot, Order
from market.queries.books import (
    BookTop,
    RegionAge,
    StationBook,
    _decimal_reader,
    region_ages,
    station_book,
)
from market.queries.caches import _hauls
from market.queries.sde import jump_graph, jumps_between
from market.queries.stations import HUB_STATIONS, StationRef
from market.trading import (
    HAULING_COLUMNS,
    HaulCandidate,
    HaulRow,
    hauling_may_pay,
    hauling_rows,
    rows_sort,
)


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
class HaulingResult:
    origins: tuple[StationRef, ...]
    destinations: tuple[StationRef, ...]
    ages: dict[int, RegionAge]
    rows: list[HubHaulRow]
    rates: FeeRates
    trips: list[tuple[StationRef, StationRef, int | None]]


@dataclass
class _Trip:
    """One trip of a hauling request, and what its walk needs."""

    origin: StationRef
    destination: StationRef
    book_a: StationBook
    book_b: StationBook
    jumps: int | None
    key: tuple
    # Types whose best prices leave room for profit: (top at A, top at B).
    worth: dict[int, tuple[BookTop, BookTop]] = field(default_factory=dict)
    ask_ceilings: dict[int, Decimal] = field(default_factory=dict)
    sells: dict[int, list[_BookRow]] = field(default_factory=dict)
    bid_floors: dict[int, Decimal] = field(default_factory=dict)
    buys: dict[int, list[_BookRow]] = field(default_factory=dict)


def _trip_bounds(trip: _Trip, *, mode: str, rates: FeeRates) -> None:
    """The types worth a look, and the dearest ask at A the walk can use for each.

    Only orders the walk can reach are read: asks at A cheaper than the most a unit can fetch at
    B, and (``_bid_floors``) bids at B that pay more, after tax, than A's best ask. The bounds are
    inclusive, so they can only let in a level the walk then stops at, never keep one out."""
    keep = _kept_share(mode, rates)
    for type_id, top_a in trip.book_a.tops.items():
        top_b = trip.book_b.tops.get(type_id)
        if top_b is None or top_a.unit_volume is None or top_a.best_ask is None:
            continue
        if mode == "relist" and top_b.daily_volume < 1:
            continue  # nobody buys it at B: a relist there would never sell
        if hauling_may_pay(
            mode=mode,
            best_ask_at_a=top_a.best_ask,
            best_bid_at_b=top_b.best_bid,
            best_ask_at_b=top_b.best_ask,
            sales_tax=rates.sales_tax,
            broker_fee=rates.broker_fee,
        ):
            trip.worth[type_id] = (top_a, top_b)
            best_at_b = top_b.best_bid if mode == "instant" else top_b.best_ask
            trip.ask_ceilings[type_id] = best_at_b * keep


def _kept_share(mode: str, rates: FeeRates) -> Decimal:
    """What a sale at B keeps of its price: tax paid, and the broker fee for a relist."""
    if mode == "instant":
        return 1 - rates.sales_tax
    return 1 - rates.sales_tax - rates.broker_fee


def _bid_floors(trip: _Trip, *, rates: FeeRates) -> None:
    keep = _kept_share("instant", rates)
    trip.bid_floors = {
        t: top_a.best_ask / keep for t, (top_a, _) in trip.worth.items() if t in trip.sells
    }


# Where each side of a walk is read: (the trip's end, buy orders?, the trip's bounds for it).
_SIDES = {
    "sells": ("origin", False, "ask_ceilings"),
    "buys": ("destination", True, "bid_floors"),
}


def _orders_for_trips(trips: Sequence[_Trip], *, side: str) -> None:
    """Fill in one side of the trips' books (``sells`` at A or ``buys`` at B) with one query per
    station for all of them (at the loosest bound per type), each trip then keeping what lies
    within its own bounds: "any hub to any hub" reads each hub's book twice, not eight times."""
    end, is_buy_order, bounds_name = _SIDES[side]
    by_station: dict[int, list[_Trip]] = {}
    for trip in trips:
        by_station.setdefault(getattr(trip, end).station_id, []).append(trip)
    for group in by_station.values():
        loosest: dict[int, Decimal] = {}
        for trip in group:
            for type_id, price in getattr(trip, bounds_name).items():
                known = loosest.get(type_id)
                if known is None or (price < known if is_buy_order else price > known):
                    loosest[type_id] = price
        station = getattr(group[0], end)
        by_type: dict[int, list[_BookRow]] = {}
        for row in _orders_within(station=station, is_buy_order=is_buy_order, bounds=loosest):
            by_type.setdefault(row.type_id, []).append(row)
        for trip in group:
            if len(group) == 1:
                setattr(trip, side, by_type)
                continue
            kept: dict[int, list[_BookRow]] = {}
            for type_id, limit in getattr(trip, bounds_name).items():
                if is_buy_order:
                    mine = [row for row in by_type.get(type_id, ()) if row.price >= limit]
                else:
                    mine = [row for row in by_type.get(type_id, ()) if row.price <= limit]
                if mine:
                    kept[type_id] = mine
            setattr(trip, side, kept)


def _trips_read(trips: Sequence[_Trip], *, mode: str, rates: FeeRates) -> None:
    """Fill in every trip's order books, reading each station's book once for all of them."""
    for trip in trips:
        _trip_bounds(trip, mode=mode, rates=rates)
    _orders_for_trips([trip for trip in trips if trip.worth], side="sells")
    if mode == "instant":  # a relist sells at B's best ask: B's buy orders do not matter
        for trip in trips:
            _bid_floors(trip, rates=rates)
        _orders_for_trips([trip for trip in trips if trip.bid_floors], side="buys")


def _candidates(trip: _Trip, *, mode: str) -> list[HaulCandidate]:
    """The types of a read trip that can be bought at A, with the order books the walk needs."""
    candidates = []
    for type_id, (top_a, top_b) in trip.worth.items():
        sells = trip.sells.get(type_id)
        if not sells:
            continue
        candidates.append(
            HaulCandidate(
                type_id=type_id,
                type_name=top_a.type_name,
                unit_volume=top_a.unit_volume,
                sell_orders_at_a=sells,
                buy_orders_at_b=trip.buys.get(type_id, ()),
                best_ask_at_b=top_b.best_ask,
                # A relist sells no faster than B's market buys: one day of its volume at most.
                max_quantity=int(top_b.daily_volume) if mode == "relist" else None,
            )
        )
    return candidates


class _BookRow(NamedTuple):
    """One order of a hauling walk, as the database row it is: ``trading`` reads it by name like
    a ``BookOrder``. A Jita book is tens of thousands of them, and ``_book_row`` makes one from
    the row in a fraction of the time a dataclass takes to construct."""

    type_id: int
    price: Decimal
    volume_remain: int
    min_volume: int


_book_row = partial(tuple.__new__, _BookRow)


def _orders_within(
    *, station: StationRef, is_buy_order: bool, bounds: dict[int, Decimal]
) -> list[_BookRow]:
    """The station's sell orders priced at most ``bounds[type_id]`` (buy orders: at least), in
    the region's current snapshot."""
    if not bounds:
        return []
    params: list[Any]
    if connection.vendor == "postgresql":
        # Two array parameters rather than thousands of scalars: the statement stays one short
        # string that psycopg sends as is.
        bounds_sql = "SELECT * FROM unnest(%s::integer[], %s::numeric[])"
        params = [list(bounds), list(bounds.values())]
    else:
        # CAST: SQLite takes a Decimal parameter as text, which never compares as a number.
        bounds_sql = "VALUES " + ", ".join(["(%s, CAST(%s AS NUMERIC))"] * len(bounds))
        params = [value for item in bounds.items() for value in item]
    compare = ">=" if is_buy_order else "<="
    sql = f"""
        WITH bounds (type_id, price) AS ({bounds_sql})
        SELECT o.type_id, o.price, o.volume_remain, o.min_volume
        FROM {Order._meta.db_table} o
        JOIN bounds ON o.type_id = bounds.type_id AND o.price {compare} bounds.price
        WHERE o.snapshot_id = (
                SELECT id FROM {MarketSnapshot._meta.db_table}
                WHERE region_id = %s AND is_current LIMIT 1
            )
            AND o.location_id = %s AND o.is_buy_order = %s
    """
    params += [station.region_id, station.station_id, is_buy_order]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if connection.vendor == "postgresql":
        return list(map(_book_row, rows))
    decimal = _decimal_reader()
    return [_BookRow(t, decimal(price), volume, least) for t, price, volume, least in rows]


def hauling(
    *,
    origin: StationRef | None,
    destination: StationRef | None,
    mode: str,
    budget: Decimal | None,
    cargo_m3: Decimal | None,
    rates: FeeRates,
    route: str = "shortest",
    order_by: str = "-net_profit",
) -> HaulingResult:
    """What to haul from ``origin`` to ``destination`` (None: any hub), one trip per pair of
    stations, each planned by ``trading.hauling_rows`` with the whole budget and hold."""
    rows_sort([], order_by=order_by, columns=HUB_HAULING_COLUMNS)  # a bad column: 400
    origins = (origin,) if origin else HUB_STATIONS
    destinations = (destination,) if destination else HUB_STATIONS
    ages = region_ages(s.region_id for s in (*origins, *destinations))
    trips = [(a, b) for a in origins for b in destinations if a.station_id != b.station_id]
    books = {station.station_id: station_book(station) for station in (*origins, *destinations)}
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
        )
        read.append(_Trip(a, b, book_a, book_b, jumps, key))
    # The whole answer, sorted, is kept too: "any hub to any hub" is thousands of rows.
    answer_key = ("sorted", tuple(trip.key for trip in read), order_by)
    rows = _hauls.peek(answer_key)
    if rows is None:
        rows = _trips_plan(read, mode=mode, budget=budget, cargo_m3=cargo_m3, rates=rates)
        rows = rows_sort(rows, order_by=order_by, columns=HUB_HAULING_COLUMNS)
        _hauls.put(answer_key, rows)
    return HaulingResult(origins, destinations, ages, rows, rates, planned_trips)


def _trips_plan(
    trips: Sequence[_Trip],
    *,
    mode: str,
    budget: Decimal | None,
    cargo_m3: Decimal | None,
    rates: FeeRates,
) -> list[HubHaulRow]:
    """Every trip's rows, by ``trading.hauling_rows``; each trip's plan is kept on its own, so a
    new snapshot in one region re-plans only the trips to and from its hub."""
    rows: list[HubHaulRow] = []
    to_plan = []
    for trip in trips:
        planned = _hauls.peek(trip.key)
        if planned is None:
            to_plan.append(trip)
        else:
            rows.extend(planned)
    _trips_read(to_plan, mode=mode, rates=rates)
    for trip in to_plan:
        planned = [
            _with_trip(row, trip.origin, trip.destination)
            for row in hauling_rows(
                candidates=_candidates(trip, mode=mode),
                mode=mode,
                budget=budget,
                cargo_m3=cargo_m3,
                sales_tax=rates.sales_tax,
                broker_fee=rates.broker_fee,
                jumps=trip.jumps,
            )
        ]
        _hauls.put(trip.key, planned)
        rows.extend(planned)
    return rows


_HAUL_ROW_FIELDS = tuple(f.name for f in fields(HaulRow))


def _with_trip(row: HaulRow, origin: StationRef, destination: StationRef) -> HubHaulRow:
    values = {name: getattr(row, name) for name in _HAUL_ROW_FIELDS}
    return HubHaulRow(**values, origin=origin, destination=destination)
