"""A region's book, kept from one ingest for the next: what the inference needs of the previous
snapshot, as numpy arrays sorted by order id.

It goes into the shared cache (Redis in production, the file cache embedded) under the
snapshot's id and fetch time, for as long as the next snapshot can still be compared with it.
When it is not there (a flushed cache, the first run after a deploy) it is read back from the
database, where the previous snapshot's orders still are while the next one is being finished:
both ways give the same arrays (``state_from_orders`` builds them).
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from django.core.cache import cache
from django.db import connection

from market.ingest.book_tops import SortedBook, book_sort
from market.ingest.columns import ORDER_DTYPE, RANGE_CODES, SECONDS_A_DAY, issued_seconds
from market.models import MarketSnapshot, Order

log = logging.getLogger("market.ingest")

# Long enough for the next snapshot of the region (pairs over an hour apart are not compared).
STATE_TTL_SECONDS = 2 * 3600
# The largest value kept in int64 cents; prices beyond it are hostile (ESI caps far below).
MAX_CENTS = 2**62


@dataclass
class BookState:
    """One snapshot's orders, sorted by order id. ``at`` is the snapshot's time (Unix seconds:
    its Last-Modified, else when it was fetched)."""

    at: int
    order_id: np.ndarray  # int64, sorted
    location_id: np.ndarray  # int64
    type_id: np.ndarray  # int32
    is_buy_order: np.ndarray  # bool
    cents: np.ndarray  # int64: the price in cents
    volume_remain: np.ndarray  # int64
    expires: np.ndarray  # int64 Unix seconds: issued + duration days
    at_best: np.ndarray  # bool: at the best price of its side at its station

    def __len__(self) -> int:
        return len(self.order_id)


class CurrentBook:
    """The snapshot being finished, its orders as loaded (any order): what the inference reads
    of it. Its BookState (sorted by id, for the next ingest) is built once the trades are
    known, off the ingest's critical path."""

    def __init__(self, orders: np.ndarray, *, at: int) -> None:
        self.at = at
        self.orders = orders
        self.order_id = orders["order_id"]
        self.location_id = orders["location_id"]
        self.type_id = orders["type_id"]
        self.is_buy_order = orders["is_buy_order"]
        self.volume_remain = orders["volume_remain"]
        self.volume_total = orders["volume_total"]
        self.cents = _cents(orders["price"])

    def __len__(self) -> int:
        return len(self.orders)

    def issued(self, rows: np.ndarray) -> np.ndarray:
        """Unix seconds of the orders at ``rows`` (only the new orders need them)."""
        return issued_seconds(self.orders[rows])


def _cents(price: np.ndarray) -> np.ndarray:
    return np.minimum(np.rint(price * 100), MAX_CENTS).astype(np.int64)


def snapshot_time(snapshot: MarketSnapshot) -> int:
    """The moment a snapshot shows the book at: ESI's Last-Modified, else the fetch time."""
    moment = snapshot.last_modified or snapshot.fetched_at
    return int(moment.timestamp())


def state_from_orders(orders: np.ndarray, *, at: int, book: SortedBook | None = None) -> BookState:
    """The state of a book given as ORDER_DTYPE columns (any order); ``book`` is their
    :func:`book_sort` when the caller has it already."""
    book = book if book is not None else book_sort(orders)
    at_best = np.empty(len(orders), dtype=bool)
    at_best[book.order] = book.at_best
    by_id = np.argsort(orders["order_id"], kind="stable")
    issued = issued_seconds(orders)[by_id]
    return BookState(
        at=at,
        order_id=orders["order_id"][by_id],
        location_id=orders["location_id"][by_id],
        type_id=orders["type_id"][by_id].astype(np.int32),
        is_buy_order=orders["is_buy_order"][by_id],
        cents=_cents(orders["price"][by_id]),
        volume_remain=orders["volume_remain"][by_id],
        expires=issued + orders["duration"][by_id] * SECONDS_A_DAY,
        at_best=at_best[by_id],
    )


def _state_key(snapshot: MarketSnapshot) -> str:
    # The fetch time as well as the id: a test database (or a restored one) reuses ids.
    return (
        f"market:book-state:v1:{snapshot.region_id}:{snapshot.id}:"
        f"{snapshot.fetched_at.timestamp():.6f}"
    )


def state_save(snapshot: MarketSnapshot, state: BookState) -> None:
    """Keep the snapshot's state for the next ingest of its region. A cache that is away only
    costs the next ingest a read of this snapshot's orders."""
    from market.ingest.snapshots import CACHE_ERRORS

    try:
        cache.set(
            _state_key(snapshot),
            pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL),
            STATE_TTL_SECONDS,
        )
    except CACHE_ERRORS as exc:
        log.warning("could not keep the book state of snapshot %s: %s", snapshot.pk, exc)


def state_load(snapshot: MarketSnapshot) -> BookState | None:
    """The state kept for ``snapshot``, or None (never kept, expired, or the cache is away)."""
    from market.ingest.snapshots import CACHE_ERRORS

    try:
        data = cache.get(_state_key(snapshot))
    except CACHE_ERRORS as exc:
        log.warning("could not read the book state of snapshot %s: %s", snapshot.pk, exc)
        return None
    if data is None:
        return None
    try:
        state = pickle.loads(data)
    except (pickle.UnpicklingError, AttributeError, TypeError, ValueError) as exc:
        log.warning("the book state of snapshot %s is unreadable: %s", snapshot.pk, exc)
        return None
    return state if isinstance(state, BookState) else None


def state_from_database(snapshot: MarketSnapshot) -> BookState:
    """The state of a stored snapshot, from its orders in the database."""
    table = Order._meta.db_table
    postgres = connection.vendor == "postgresql"
    select = []
    for name in ORDER_DTYPE.names:
        if name == "price":
            select.append("price::float8" if postgres else "CAST(price AS REAL)")
        elif name == "issued" and postgres:
            # Microseconds since the Unix epoch, as ORDER_DTYPE keeps them (exact: numeric).
            select.append("(EXTRACT(EPOCH FROM issued) * 1000000)::bigint")
        else:
            select.append(name)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(select)} FROM {table} WHERE snapshot_id = %s", [snapshot.id]
        )
        rows = cursor.fetchall()
    range_at, issued_at = ORDER_DTYPE.names.index("range"), ORDER_DTYPE.names.index("issued")
    rows = [
        (
            *row[:range_at],
            RANGE_CODES[row[range_at]],
            *row[range_at + 1 : issued_at],
            row[issued_at] if postgres else _sqlite_issued(row[issued_at]),
        )
        for row in rows
    ]
    orders = np.array(rows, dtype=ORDER_DTYPE) if rows else np.empty(0, dtype=ORDER_DTYPE)
    return state_from_orders(orders, at=snapshot_time(snapshot))


def _sqlite_issued(value: datetime | str) -> int:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
