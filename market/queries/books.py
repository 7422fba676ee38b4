"""A station's book tops (every type's best bid and ask with what pricing it needs) and how old each
region's data is: the snapshot marker a polling page compares, and each region's age.

A hub's book top is read in one query, shared through the cache as one MessagePack blob keyed
by the snapshot and the region's history version, and kept decoded in each worker's memo keyed
the same way (see ``market.queries``).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

import msgspec
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from lenny.lib.money import isk_store
from lenny.lib.timefmt import duration_text
from market.models import (
    REGION_BOOK,
    SHIP_CATEGORY_ID,
    BestPrice,
    Group,
    MarketSnapshot,
    Type,
    TypeRegionStats,
    UnresolvedType,
)
from market.queries.caches import BOOK_TTL_SECONDS, _books, history_versions
from market.queries.liquidity import StationLiquidity, station_liquidity
from market.queries.stations import StationRef, region_name

log = logging.getLogger("market.desk")

ZERO = Decimal(0)


# --- how old each region's data is ---------------------------------------------------------------


@dataclass(frozen=True)
class RegionAge:
    """How fresh a region's order data is: the page's "orders 3 min old, next refresh in 2 min"."""

    region_id: int
    region_name: str
    snapshot_id: int | None = None
    orders: int = 0
    last_modified: datetime | None = None
    expires: datetime | None = None
    last_error: str = ""
    # When the snapshot was fetched: with its id, what names it in the caches (``station_books``).
    fetched_at: datetime | None = None
    # A tracked structure's own book (then ``region_name`` is the structure's name); 0: the
    # region's book.
    structure_id: int = 0

    @property
    def has_data(self) -> bool:
        return self.snapshot_id is not None

    def age_seconds(self, now: datetime | None = None) -> float | None:
        if self.last_modified is None:
            return None
        return ((now or timezone.now()) - self.last_modified).total_seconds()

    def refresh_in_seconds(self, now: datetime | None = None) -> float | None:
        """Until ESI publishes the next book (the job fetches it on its next run after that)."""
        if self.expires is None:
            return None
        return (self.expires - (now or timezone.now())).total_seconds()

    @property
    def age_text(self) -> str:
        """ "3 min" (old)."""
        return duration_text(self.age_seconds() or 0)

    @property
    def refresh_text(self) -> str:
        """ "next refresh in 2 min", or "refresh due" once ESI has a newer book."""
        refresh = self.refresh_in_seconds()
        if refresh is None or refresh <= 0:
            return "refresh due"
        return f"next refresh in {duration_text(refresh)}"


def region_ages(region_ids: Iterable[int]) -> dict[int, RegionAge]:
    """Each region's current snapshot, and its latest failure when newer, in one query."""
    region_ids = list(dict.fromkeys(region_ids))
    found = _book_snapshots(region_ids, by_structure=False)
    return {
        region_id: _age(region_id, region_name(region_id), *found.get(region_id, (None, "")))
        for region_id in region_ids
    }


def book_ages(stations: Iterable[StationRef]) -> dict[tuple[int, int], RegionAge]:
    """How fresh each location's book is, by ``StationRef.book_key``: a station's is its
    region's, a tracked structure's its own snapshot's (named after the structure, with its
    ``structure_id``). Two queries at most."""
    stations = list(stations)
    ages = {
        (region_id, 0): age
        for region_id, age in region_ages(
            station.region_id for station in stations if not station.is_structure
        ).items()
    }
    structures = {station.station_id: station for station in stations if station.is_structure}
    if structures:
        found = _book_snapshots(list(structures), by_structure=True)
        for structure_id, station in structures.items():
            snapshot, error = found.get(structure_id, (None, ""))
            ages[station.book_key] = _age(
                station.region_id, station.name, snapshot, error, structure_id=structure_id
            )
    return ages


# What ``_age`` reads of a snapshot (the other columns stay unread).
_AGE_COLUMNS = (
    "id, region_id, structure_id, is_current, status, orders, last_modified, expires, "
    "fetched_at, error"
)


def _book_snapshots(
    ids: list[int], *, by_structure: bool
) -> dict[int, tuple[MarketSnapshot | None, str]]:
    """Each book's current snapshot and the error of its latest failure when newer than it, by
    region (the regions' own books) or ``by_structure`` (tracked structures' own). Plain SQL:
    every desk answer asks, and building the ORM's query cost a JSON answer 0.7 ms of CPU."""
    if not ids:
        return {}
    marks = ", ".join(["%s"] * len(ids))
    where = (
        f"structure_id IN ({marks})"
        if by_structure
        else f"structure_id = %s AND region_id IN ({marks})"
    )
    params = ids if by_structure else [REGION_BOOK, *ids]
    snapshots = MarketSnapshot.objects.raw(
        f"SELECT {_AGE_COLUMNS} FROM {MarketSnapshot._meta.db_table} WHERE {where} "
        "AND (is_current OR status = %s) ORDER BY region_id, structure_id, fetched_at DESC",
        [*params, MarketSnapshot.Status.FAILED],
    )
    current: dict[int, MarketSnapshot] = {}
    failures: dict[int, MarketSnapshot] = {}
    for snapshot in snapshots:
        book = snapshot.structure_id if by_structure else snapshot.region_id
        if snapshot.is_current:
            current[book] = snapshot
        else:
            failures.setdefault(book, snapshot)
    found = {}
    for book in current.keys() | failures.keys():
        snapshot, failure = current.get(book), failures.get(book)
        error = ""
        if failure is not None and (snapshot is None or failure.fetched_at > snapshot.fetched_at):
            error = failure.error
        found[book] = (snapshot, error)
    return found


def _age(
    region_id: int,
    name: str,
    snapshot: MarketSnapshot | None,
    error: str,
    *,
    structure_id: int = 0,
) -> RegionAge:
    if snapshot is None:
        return RegionAge(region_id, name, last_error=error, structure_id=structure_id)
    return RegionAge(
        region_id=region_id,
        region_name=name,
        snapshot_id=snapshot.id,
        orders=snapshot.orders,
        last_modified=snapshot.last_modified or snapshot.fetched_at,
        expires=snapshot.expires,
        last_error=error,
        fetched_at=snapshot.fetched_at,
        structure_id=structure_id,
    )


def snapshot_marker(region_ids: Iterable[int], *, structures: Iterable[StationRef] = ()) -> str:
    """Which snapshots (and history versions) are current in these regions, and in these
    tracked structures' own books (with their regions' history versions: a structure's daily
    volumes are its region's), as a short string; it changes exactly when a new snapshot or new
    history lands, so a polling page asks for a new table only then."""
    region_ids = sorted(set(region_ids))
    structures = sorted(
        {(station.station_id, station.region_id) for station in structures if station.is_structure}
    )
    versions = history_versions({*region_ids, *(region_id for _, region_id in structures)})
    parts = []
    if region_ids:
        ids = MarketSnapshot.objects.current_ids()
        parts += [
            f"{region_id}:{ids.get(region_id, 0)}:{versions[region_id]}" for region_id in region_ids
        ]
    if structures:
        own = MarketSnapshot.objects.structure_current_ids()
        parts += [
            f"s{structure_id}:{own.get(structure_id, 0)}:{versions[region_id]}"
            for structure_id, region_id in structures
        ]
    return ",".join(parts)


def book_marker(stations: Iterable[StationRef]) -> str:
    """``snapshot_marker`` of the books these locations read: a station's region's, a tracked
    structure's own."""
    stations = list(stations)
    return snapshot_marker(
        (station.region_id for station in stations if not station.is_structure),
        structures=stations,
    )


# --- a station's book tops -----------------------------------------------------------------------


class BookTop(msgspec.Struct, array_like=True, gc=False):
    """One type at one station in the current snapshot, with what the desk needs to price it.

    A msgspec struct, so a whole hub's tops travel through the shared cache as one compact
    MessagePack blob that decodes in a few milliseconds (pickled dataclasses take ten times as
    long as reading them from the database again)."""

    type_id: int
    type_name: str
    market_group_id: int | None
    # m³ one unit takes in a hold, as ``Type.shipping_volume``: the packaged volume when known
    # (SDE invVolumes, else ESI), else the volume, except for ships (their assembled volume is
    # no cargo figure). None when unknown: no type row yet, a type ESI has only named, a ship
    # without its packaged volume. 0 is a real 0.
    unit_volume: Decimal | None
    best_bid: Decimal | None
    best_ask: Decimal | None
    daily_volume: Decimal  # 30-day average in the station's region; 0 without history
    has_history: bool = False
    category_id: int | None = None
    # Volume-weighted average of the best 5 % of each side's units (see BestPrice).
    depth_bid: Decimal | None = None
    depth_ask: Decimal | None = None
    best_bid_volume: int = 0  # units on offer at the best bid / best ask
    best_ask_volume: int = 0
    best_bid_min_volume: int = 1  # the smallest min_volume among the orders at the best bid
    # At this station, a day, over its observed time (``market.queries.liquidity``): units sold
    # into buy orders, bought from sell orders, and price changes of each side ("competition").
    # None while the station has not been watched long enough to know; 0 when watched and quiet.
    sold_daily: Decimal | None = None
    bought_daily: Decimal | None = None
    bid_reprices_daily: Decimal | None = None
    ask_reprices_daily: Decimal | None = None

    @property
    def station_daily_volume(self) -> Decimal | None:
        """Units a day a station trader can cycle: both legs must fill (a seller into their
        buy order, a buyer from their sell order), so the slower side. None when unknown."""
        if self.sold_daily is None or self.bought_daily is None:
            return None
        return min(self.sold_daily, self.bought_daily)


class _SharedBook(msgspec.Struct, array_like=True):
    """What the shared cache holds for one station and snapshot."""

    snapshot_id: int
    history_to: date | None
    tops: list[BookTop]


_book_encoder = msgspec.msgpack.Encoder(decimal_format="string")
_book_decoder = msgspec.msgpack.Decoder(_SharedBook)
_generations = itertools.count(1)


@dataclass
class StationBook:
    station: StationRef
    snapshot_id: int | None
    tops: dict[int, BookTop] = field(default_factory=dict)
    # The newest day of history behind the daily volumes.
    history_to: date | None = None
    # When the snapshot was fetched: with its id, what names it in the caches.
    fetched_at: datetime | None = None
    # Tells two reads of one snapshot apart (the second has newer daily volumes).
    generation: int = field(default_factory=lambda: next(_generations))

    @property
    def daily_volumes(self) -> dict[int, Decimal]:
        return {type_id: top.daily_volume for type_id, top in self.tops.items()}

    @cached_property
    def market_groups(self) -> dict[int, int | None]:
        return {type_id: top.market_group_id for type_id, top in self.tops.items()}

    @cached_property
    def types_with_history(self) -> frozenset[int]:
        return frozenset(type_id for type_id, top in self.tops.items() if top.has_history)


def _shared_book_key(
    station_id: int, snapshot_id: int, fetched_at: datetime, history_version: str
) -> str:
    # The fetch time as well as the id: a test database (or a restored one) reuses ids.
    return (
        f"market:book-top:v4:{station_id}:{snapshot_id}:{fetched_at.timestamp():.6f}:"
        f"{history_version}"
    )


def _book_tops_read(station: StationRef) -> StationBook:
    """Every type's top of the book at the station, in one statement: the snapshot is chosen
    inside it, so the rows always belong together even while a new snapshot is swapped in.
    Without a current snapshot the book has no ``snapshot_id``."""
    sql = f"""
        SELECT s.id, s.fetched_at, bp.type_id, t.name, t.market_group_id,
               CASE WHEN t.packaged_volume IS NOT NULL THEN t.packaged_volume
                    WHEN g.category_id = {SHIP_CATEGORY_ID} THEN NULL
                    ELSE t.volume END,
               bp.best_bid, bp.best_ask, st.avg_daily_volume, st.last_history_date,
               st.has_history, g.category_id, bp.depth_bid, bp.depth_ask,
               bp.best_bid_volume, bp.best_ask_volume, bp.best_bid_min_volume,
               u.reason
        FROM {MarketSnapshot._meta.db_table} s
        LEFT JOIN {BestPrice._meta.db_table} bp
               ON bp.snapshot_id = s.id AND bp.location_id = %s
        LEFT JOIN {Type._meta.db_table} t ON t.id = bp.type_id
        LEFT JOIN {Group._meta.db_table} g ON g.id = t.group_id
        LEFT JOIN {TypeRegionStats._meta.db_table} st
               ON st.region_id = bp.region_id AND st.type_id = bp.type_id
        LEFT JOIN {UnresolvedType._meta.db_table} u
               ON u.type_id = bp.type_id AND t.id IS NULL
        WHERE s.region_id = %s AND s.structure_id = %s AND s.is_current
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [station.station_id, station.region_id, station.book_structure_id])
        rows = cursor.fetchall()
    if not rows:
        return StationBook(station, None)
    snapshot_id, fetched_at = rows[0][0], rows[0][1]
    if isinstance(fetched_at, str):  # SQLite
        fetched_at = datetime.fromisoformat(fetched_at)
    if timezone.is_naive(fetched_at):
        fetched_at = timezone.make_aware(fetched_at, UTC)
    tops: dict[int, BookTop] = {}
    history_to = None
    # SQLite hands NUMERIC back as float or int; PostgreSQL as Decimal. Money stays Decimal.
    decimal = _decimal_reader()
    for (
        _snapshot_id,
        _fetched_at,
        type_id,
        name,
        market_group_id,
        unit_volume,
        best_bid,
        best_ask,
        daily_volume,
        last_history_date,
        has_history,
        category_id,
        depth_bid,
        depth_ask,
        best_bid_volume,
        best_ask_volume,
        best_bid_min_volume,
        unresolved,
    ) in rows:
        if type_id is None:  # a snapshot without a single order at this station
            continue
        if last_history_date is not None:
            if isinstance(last_history_date, str):  # SQLite
                last_history_date = date.fromisoformat(last_history_date)
            if history_to is None or last_history_date > history_to:
                history_to = last_history_date
        tops[type_id] = BookTop(
            type_id=type_id,
            type_name=name
            or Type.name_unknown(
                type_id, unknown_to_esi=unresolved == UnresolvedType.Reason.NOT_FOUND
            ),
            market_group_id=market_group_id,
            unit_volume=None if unit_volume is None else Decimal(repr(float(unit_volume))),
            best_bid=decimal(best_bid),
            best_ask=decimal(best_ask),
            daily_volume=decimal(daily_volume) or ZERO,
            has_history=bool(has_history),
            category_id=category_id,
            depth_bid=decimal(depth_bid),
            depth_ask=decimal(depth_ask),
            best_bid_volume=best_bid_volume or 0,
            best_ask_volume=best_ask_volume or 0,
            best_bid_min_volume=best_bid_min_volume or 1,
        )
    liquidity = station_liquidity(location_id=station.station_id, region_id=station.region_id)
    if liquidity is not None:
        quiet = StationLiquidity(ZERO, ZERO, ZERO, ZERO)
        for type_id, top in tops.items():
            found = liquidity.get(type_id, quiet)
            top.sold_daily = station_leg_capped(found.sold_daily, top)
            top.bought_daily = station_leg_capped(found.bought_daily, top)
            top.bid_reprices_daily = found.bid_reprices_daily
            top.ask_reprices_daily = found.ask_reprices_daily
    return StationBook(station, snapshot_id, tops, history_to, fetched_at)


def station_leg_capped(units_daily: Decimal, top: BookTop) -> Decimal:
    """A station's daily units on one side, at most what its whole region trades a day (30-day
    average). An hour or two watched says little about a slow type: one Vargur sold in the
    first hour reads as 22 a day, where The Forge sells 3. The desk ranks and caps relists by
    these figures, so it never credits a station with more than its region; the type page and
    the station-volume API still show what was observed, with the hours watched."""
    if top.has_history and units_daily > top.daily_volume:
        return top.daily_volume
    return units_daily


def _decimal_reader() -> Callable[[Any], Decimal | None]:
    if connection.vendor == "postgresql":
        return lambda value: value

    def read(value: Any) -> Decimal | None:
        # A float as its shortest repr, to the cent half-to-even: the stored amount.
        return None if value is None else isk_store(value)

    return read


def book_tops_publish(station: StationRef, *, history_version: str | None = None) -> StationBook:
    """Read the station's book tops from the database and put them in the shared cache, where
    every web worker finds them (``market.warmup`` does this as soon as a snapshot or history
    lands). ``history_version`` is the region's, read before the book (default: read now)."""
    if history_version is None:
        # Read before the book: history landing in between then re-keys it (the other order
        # could file an older book under the newer version).
        history_version = history_versions([station.region_id])[station.region_id]
    book = _book_tops_read(station)
    if book.snapshot_id is None:
        return book
    blob = _book_encoder.encode(
        _SharedBook(book.snapshot_id, book.history_to, list(book.tops.values()))
    )
    key = _shared_book_key(station.station_id, book.snapshot_id, book.fetched_at, history_version)
    try:
        cache.set(key, blob, BOOK_TTL_SECONDS)
    except Exception:
        # The cache is a speed-up: without it every worker reads the database itself.
        log.warning("could not share the book tops of %s", station.short_name, exc_info=True)
    return book


def _book_tops_shared(
    station: StationRef, snapshot_id: int, fetched_at: datetime, history_version: str
) -> StationBook | None:
    try:
        blob = cache.get(
            _shared_book_key(station.station_id, snapshot_id, fetched_at, history_version)
        )
    except Exception:
        log.warning("could not read the shared book tops of %s", station.short_name, exc_info=True)
        return None
    if blob is None:
        return None
    try:
        shared = _book_decoder.decode(blob)
    except msgspec.MsgspecError:
        log.warning("unreadable shared book tops of %s: read again", station.short_name)
        return None
    tops = {top.type_id: top for top in shared.tops}
    return StationBook(station, shared.snapshot_id, tops, shared.history_to, fetched_at)


def station_book(station: StationRef) -> StationBook:
    """The station's book tops in the region's current snapshot and history version: from this
    process's memo, else from the shared cache (filled when the snapshot or history landed),
    else from the database (and then shared with the other workers)."""
    history_version = history_versions([station.region_id])[station.region_id]
    current = (
        MarketSnapshot.objects.for_book(
            region_id=station.region_id, structure_id=station.book_structure_id
        )
        .filter(is_current=True)
        .values_list("id", "fetched_at")
        .first()
    )
    if current is None:
        return StationBook(station, None)
    return _station_book_of(station, *current, history_version)


def station_books(
    stations: Iterable[StationRef],
) -> tuple[dict[tuple[int, int], RegionAge], dict[int, StationBook]]:
    """``book_ages`` of these locations and each one's ``station_book``, by station id, in one
    read of the history versions and the ages' query (one more with tracked structures): the
    ages name each book's current snapshot. A JSON answer from memoized plans costs little
    more than these reads, so each read saved is felt on every answer."""
    stations = list(dict.fromkeys(stations))
    # Read before the snapshots, as ``station_book`` does.
    versions = history_versions({station.region_id for station in stations})
    ages = book_ages(stations)
    books = {}
    for station in stations:
        age = ages[station.book_key]
        if age.snapshot_id is None or age.fetched_at is None:
            books[station.station_id] = StationBook(station, None)
        else:
            books[station.station_id] = _station_book_of(
                station, age.snapshot_id, age.fetched_at, versions[station.region_id]
            )
    return ages, books


def _station_book_of(
    station: StationRef, snapshot_id: int, fetched_at: datetime, history_version: str
) -> StationBook:
    def load() -> StationBook:
        return _book_tops_shared(
            station, snapshot_id, fetched_at, history_version
        ) or book_tops_publish(station, history_version=history_version)

    # Should a newer snapshot land between the two reads, the book read is the newer one: right
    # for this request, and the next request keys the newer snapshot properly.
    return _books.get((station.station_id, snapshot_id, fetched_at, history_version), load)
