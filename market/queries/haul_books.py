"""Each hub's order book as the hauling walks read it: built once per snapshot, shared through
the cache like the book tops, and cut per trip with array operations.

A hauling request used to read the orders its walks could reach from the database: a Jita sell
book scan costs 90-150 ms on its own (the partition has no index by station and price), and
"any hub to any hub" read each hub twice. Here a station's whole book is read once when its
snapshot lands (``market.warmup``; else by the first reader, who shares it), as compact arrays:
every order at the station, grouped by type, sell orders cheapest first and buy orders dearest
first (the smallest ``min_volume`` first at one price), prices in whole cents. A worker keeps
the decoded arrays (a few MB for Jita) for the life of the snapshot.

A trip then takes, for all its types at once, only the levels a walk can use
(``HaulBook.levels``): those within the price bound, and on A's side only until the units
that B can take are covered (a walk never buys more units than it can sell).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np
from django.core.cache import cache
from django.db import connection

from market.models import MarketSnapshot, Order
from market.queries.caches import BOOK_TTL_SECONDS, _haul_books
from market.queries.stations import StationRef
from market.trading import AskLevels, BidLevels

log = logging.getLogger("market.desk")

# A snapshot is replaced every 5 minutes; its book may be asked for a little longer than that.
HAUL_BOOK_TTL_SECONDS = 2 * BOOK_TTL_SECONDS
# PostgreSQL's binary COPY of (type_id int4, is_buy_order bool, cents int8, volume int4,
# min_volume int4): a 2-byte field count, then each field's 4-byte length and its bytes.
_COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("l1", ">i4"),
        ("type_id", ">i4"),
        ("l2", ">i4"),
        ("buy", "u1"),
        ("l3", ">i4"),
        ("cents", ">i8"),
        ("l4", ">i4"),
        ("volume", ">i4"),
        ("l5", ">i4"),
        ("least", ">i4"),
    ]
)
_COPY_HEADER = 19  # signature, flags, header extension length
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class HaulBook:
    """One station's orders in one snapshot, by type (see the module docstring).

    ``types`` is sorted; type ``types[i]`` has its sell orders at ``[sell_lo[i], buy_lo[i])``
    and its buy orders at ``[buy_lo[i], buy_hi[i])`` of ``cents``, ``volumes`` and ``least``.
    """

    station_id: int
    snapshot_id: int
    types: np.ndarray
    sell_lo: np.ndarray
    buy_lo: np.ndarray
    buy_hi: np.ndarray
    cents: np.ndarray
    volumes: np.ndarray
    least: np.ndarray

    @classmethod
    def of_orders(
        cls,
        station_id: int,
        snapshot_id: int,
        type_ids: np.ndarray,
        buy: np.ndarray,
        cents: np.ndarray,
        volumes: np.ndarray,
        least: np.ndarray,
    ) -> HaulBook:
        keep = volumes > 0
        type_ids, buy, cents, volumes, least = (
            a[keep] for a in (type_ids, buy, cents, volumes, least)
        )
        # Per type: sells cheapest first, then buys dearest first; at one bid price the order
        # asking the fewest units first (the walk tries them in this order).
        order = np.lexsort((least, np.where(buy, -cents, cents), buy, type_ids))
        type_ids, buy, cents, volumes, least = (
            a[order] for a in (type_ids, buy, cents, volumes, least)
        )
        types, starts = np.unique(type_ids, return_index=True)
        ends = np.append(starts[1:], len(type_ids)).astype(np.int64)
        sells_per_type = np.add.reduceat(~buy.astype(bool), starts) if len(starts) else starts
        return cls(
            station_id=station_id,
            snapshot_id=snapshot_id,
            types=types.astype(np.int64),
            sell_lo=starts.astype(np.int64),
            buy_lo=(starts + sells_per_type).astype(np.int64),
            buy_hi=ends,
            cents=cents.astype(np.int64),
            # ESI's volumes are int32: half the bytes to share and to hold.
            volumes=volumes.astype(np.int32),
            least=least.astype(np.int32),
        )

    def to_bytes(self) -> tuple:
        return (
            self.station_id,
            self.snapshot_id,
            *(
                a.tobytes()
                for a in (
                    self.types,
                    self.sell_lo,
                    self.buy_lo,
                    self.buy_hi,
                    self.cents,
                    self.volumes,
                    self.least,
                )
            ),
        )

    @classmethod
    def from_bytes(cls, blob: tuple) -> HaulBook:
        station_id, snapshot_id, *arrays = blob
        dtypes = (np.int64,) * 5 + (np.int32, np.int32)
        return cls(
            station_id,
            snapshot_id,
            *(np.frombuffer(a, dtype=t) for a, t in zip(arrays, dtypes, strict=True)),
        )

    def spans(self, type_ids: np.ndarray, *, buy: bool) -> tuple[np.ndarray, np.ndarray]:
        """Where each of ``type_ids``'s sell (or buy) orders lie: [lo, hi), empty when none."""
        at = np.searchsorted(self.types, type_ids)
        at = np.minimum(at, max(len(self.types) - 1, 0))
        found = (self.types[at] == type_ids) if len(self.types) else np.zeros(len(type_ids), bool)
        lo = np.where(found, (self.buy_lo if buy else self.sell_lo)[at], 0)
        hi = np.where(found, (self.buy_hi if buy else self.buy_lo)[at], 0)
        return lo, hi

    def best_cents(self, type_ids: np.ndarray, *, buy: bool) -> np.ndarray:
        """The best price of each type's side in cents (NaN where the side is empty)."""
        lo, hi = self.spans(type_ids, buy=buy)
        best = np.full(len(type_ids), np.nan)
        has = hi > lo
        best[has] = self.cents[lo[has]]
        return best

    def first_least(self, type_ids: np.ndarray) -> np.ndarray:
        """The units one sale into each type's best buy order must bring (1 without one)."""
        lo, hi = self.spans(type_ids, buy=True)
        has = hi > lo
        least = np.ones(len(type_ids), dtype=np.int64)
        at = lo[has]
        least[has] = np.minimum(np.maximum(self.least[at], 1), self.volumes[at])
        return least

    def _within(
        self,
        type_ids: np.ndarray,
        *,
        buy: bool,
        bound_cents: np.ndarray,
        units: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The books' index of every order within the bounds (each type's orders in book
        order), which type of ``type_ids`` each belongs to, and each type's units within."""
        n = len(type_ids)
        lo, hi = self.spans(type_ids, buy=buy)
        counts = hi - lo
        total = int(counts.sum())
        if not total:
            nothing = np.zeros(0, np.int64)
            return nothing, nothing, np.zeros(n, np.int64)
        owner = np.repeat(np.arange(n), counts)
        # Each type's first order in the gathered arrays, and the books' index of every order.
        starts = np.cumsum(counts) - counts
        index = np.arange(total) - np.repeat(starts, counts) + np.repeat(lo, counts)
        cents, volumes = self.cents[index], self.volumes[index]
        within = cents >= bound_cents[owner] if buy else cents <= bound_cents[owner]
        if units is not None:
            counted = volumes
            if buy:
                # A walk skips a buy order it cannot bring its min_volume to: only the orders
                # that take a single unit surely come before the next one.
                least = np.minimum(np.maximum(self.least[index], 1), volumes)
                counted = np.where(least <= 1, volumes, 0)
            before = np.cumsum(counted) - counted  # units ahead of each order, all types
            first = before[np.minimum(starts, total - 1)]
            within &= before - np.repeat(first, counts) < units[owner]
        # Prices are sorted within a type, and the units ahead only grow: what is within is a
        # prefix of each type's orders.
        owner = owner[within]
        on_offer = np.bincount(owner, weights=volumes[within], minlength=n).astype(np.int64)
        return index[within], owner, on_offer

    def units_within(
        self, type_ids: np.ndarray, *, buy: bool, bound_cents: np.ndarray
    ) -> np.ndarray:
        """Each type's units on one side within the price bound (see ``levels``)."""
        return self._within(type_ids, buy=buy, bound_cents=bound_cents, units=None)[2]

    def levels(
        self,
        type_ids: np.ndarray,
        *,
        buy: bool,
        bound_cents: np.ndarray,
        units: np.ndarray | None = None,
    ) -> tuple[list[AskLevels | BidLevels], np.ndarray]:
        """For each type, the orders of one side a walk can use: sell orders priced at most
        ``bound_cents`` (buy orders: at least), and, with ``units``, only until that many units
        are on offer (the last order taken whole; on the buy side counting only the orders
        that take a single unit, as the walk may skip the others). Returns the levels and each
        type's units."""
        index, owner, on_offer = self._within(
            type_ids, buy=buy, bound_cents=bound_cents, units=units
        )
        taken = np.bincount(owner, minlength=len(type_ids)).tolist()
        prices = [Decimal(c).scaleb(-2) for c in self.cents[index].tolist()]
        volumes = self.volumes[index].tolist()
        out: list[AskLevels | BidLevels] = []
        position = 0
        if buy:
            leasts = self.least[index].tolist()
            for n in taken:
                end = position + n
                out.append(
                    BidLevels(
                        (p, v, min(max(m, 1), v))
                        for p, v, m in zip(
                            prices[position:end],
                            volumes[position:end],
                            leasts[position:end],
                            strict=True,
                        )
                    )
                )
                position = end
        else:
            for n in taken:
                end = position + n
                out.append(AskLevels(zip(prices[position:end], volumes[position:end], strict=True)))
                position = end
        return out, on_offer


def _key(station: StationRef, snapshot_id: int, fetched_at: datetime) -> str:
    # The fetch time as well as the id: a test database (or a restored one) reuses ids.
    return f"market:haul-book:v2:{station.station_id}:{snapshot_id}:{fetched_at.timestamp():.6f}"


def _current(station: StationRef) -> tuple[int, datetime] | None:
    return (
        MarketSnapshot.objects.for_book(
            region_id=station.region_id, structure_id=station.book_structure_id
        )
        .filter(is_current=True)
        .values_list("id", "fetched_at")
        .first()
    )


def _orders_read(station: StationRef, snapshot_id: int) -> HaulBook:
    """Every order at the station in the snapshot, from the database, as a ``HaulBook``."""
    table = Order._meta.db_table
    where = "snapshot_id = %s AND location_id = %s"
    params = [snapshot_id, station.station_id]
    if connection.vendor == "postgresql":
        sql = (
            f"COPY (SELECT type_id, is_buy_order, (price * 100)::bigint, volume_remain, "
            f"min_volume FROM {table} WHERE {where}) TO STDOUT (FORMAT BINARY)"
        )
        with connection.cursor() as cursor, cursor.copy(sql, params) as copy:
            data = b"".join(bytes(chunk) for chunk in copy)
        # After the rows comes a 2-byte trailer (-1), not a whole row.
        count = (len(data) - _COPY_HEADER - 2) // _COPY_ROW.itemsize
        rows = np.frombuffer(data, dtype=_COPY_ROW, offset=_COPY_HEADER, count=count)
        columns = (rows["type_id"], rows["buy"], rows["cents"], rows["volume"], rows["least"])
    else:
        sql = (
            f"SELECT type_id, is_buy_order, CAST(ROUND(price * 100) AS INTEGER), volume_remain, "
            f"min_volume FROM {table} WHERE {where}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            fetched = cursor.fetchall()
        table_ = np.array(fetched, dtype=np.int64).reshape(-1, 5)
        columns = tuple(table_[:, i] for i in range(5))
    type_ids, buy, cents, volumes, least = (np.asarray(c, dtype=np.int64) for c in columns)
    return HaulBook.of_orders(station.station_id, snapshot_id, type_ids, buy, cents, volumes, least)


def haul_book_publish(station: StationRef) -> HaulBook | None:
    """Read the station's current book and share it (``market.warmup`` calls this when a
    snapshot lands); None without a current snapshot. A book already shared is not read
    again (history landing warms the book tops, not the orders)."""
    current = _current(station)
    if current is None:
        return None
    key = _key(station, *current)
    try:
        if cache.get(key) is not None:
            return None
    except Exception:
        log.warning("could not look for the haul book of %s", station.short_name, exc_info=True)
    book = _orders_read(station, current[0])
    try:
        cache.set(key, book.to_bytes(), HAUL_BOOK_TTL_SECONDS)
    except Exception:
        # The cache is a speed-up: without it every worker reads the database itself.
        log.warning("could not share the haul book of %s", station.short_name, exc_info=True)
    return book


def haul_book(station: StationRef, snapshot_id: int, fetched_at: datetime) -> HaulBook:
    """The station's book in that snapshot: this process's memo, else the shared cache, else
    the database (then shared)."""
    key = _key(station, snapshot_id, fetched_at)

    def load() -> HaulBook:
        try:
            blob = cache.get(key)
        except Exception:
            log.warning("could not read the haul book of %s", station.short_name, exc_info=True)
            blob = None
        if blob is not None:
            try:
                return HaulBook.from_bytes(blob)
            except (TypeError, ValueError):
                log.warning("unreadable shared haul book of %s: read again", station.short_name)
        book = _orders_read(station, snapshot_id)
        try:
            cache.set(key, book.to_bytes(), HAUL_BOOK_TTL_SECONDS)
        except Exception:
            log.warning("could not share the haul book of %s", station.short_name, exc_info=True)
        return book

    return _haul_books.get(key, load)
