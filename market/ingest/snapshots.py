"""Market data services: region order snapshots and market history, from ESI into the database.

Order snapshots are swapped in atomically. Every snapshot's orders carry its id and readers ask
for the region's current snapshot inside the same statement (``Order.objects.current``), so they
see the old book or the new one, never a mix. On PostgreSQL the orders are COPYed into a fresh
table page by page as ESI's pages arrive, then indexed, summarised into ``BestPrice`` and
attached as a partition of ``market_order`` in the transaction that makes the snapshot current;
the superseded partition is then detached concurrently and dropped, so replacing 400k orders
leaves no dead rows and never blocks a reader. On SQLite (the embedded default), whose one write
lock every writer shares (web requests, the ORM task broker, the other jobs), the new snapshot's
rows are inserted in short transactions under a snapshot id no reader asks for yet, the snapshot
is made current in one more short transaction, and the old rows are then deleted in short
transactions too: no other writer waits behind the ingest for more than a moment. A failed or
partial fetch leaves nothing but a failed ``MarketSnapshot`` record.
"""

from __future__ import annotations

import csv
import io
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal
from itertools import repeat
from typing import TYPE_CHECKING, Annotated, Literal, TextIO

import msgspec
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, DecimalField, F, Max, Sum
from django.utils import timezone

from market.esi import EsiClient, EsiError, EsiNotFound
from market.hubs import HUBS
from market.models import (
    BestPrice,
    HistoryDay,
    MarketSnapshot,
    Order,
    TypeRegionStats,
    history_landed,
    snapshot_landed,
)

if TYPE_CHECKING:
    from psycopg import Copy

log = logging.getLogger(__name__)

ORDERS_PATH = "/markets/{region_id}/orders/"
HISTORY_PATH = "/markets/{region_id}/history/"
TYPES_PATH = "/markets/{region_id}/types/"
HUB_STATION_BY_REGION = {hub.region_id: hub.station_id for hub in HUBS}
# Metadata of superseded and failed fetches kept per region, for the admin and /healthz.
SNAPSHOT_RECORDS_KEPT = 50
# SQLite: rows written or deleted per transaction (~30-60 ms of holding the write lock) …
SQLITE_CHUNK_ROWS = 2000
# … and after each, the ingest pauses about as long as it held the lock, so a writer that waits
# (SQLite's busy handler retries every few ms to 100 ms) gets its turn well within a second.
SQLITE_YIELD_SHARE = 1.0
# SQLite: a snapshot still loading after this long was left by a run that died; its rows go.
SQLITE_LOAD_ABANDONED_AFTER = timedelta(hours=1)

# --- ESI payloads (validated while decoded: a bad page is an error, never a bad row) ---------

Int32 = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
Id = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
# NUMERIC(20,2) holds less than 10^18; ESI caps prices far below that.
Price = Annotated[float, msgspec.Meta(ge=0, lt=1e17)]
OrderRange = Literal[
    "station", "solarsystem", "region", "1", "2", "3", "4", "5", "10", "20", "30", "40"
]


class EsiOrder(msgspec.Struct, gc=False):
    # Field order = the COPY column order below; astuple() hands them over in one C call.
    order_id: Id
    type_id: Int32
    location_id: Id
    system_id: Int32
    is_buy_order: bool
    price: Price
    volume_remain: Int32
    volume_total: Int32
    min_volume: Int32
    range: OrderRange
    duration: Int32
    # Kept as ESI's text: PostgreSQL's COPY parses and validates it far faster than Python can
    # build and re-format 400k datetimes (and rejects a malformed one, naming line and column).
    issued: Annotated[str, msgspec.Meta(min_length=10, max_length=40)]


class EsiHistoryDay(msgspec.Struct):
    date: date
    average: Price
    highest: Price
    lowest: Price
    order_count: Annotated[int, msgspec.Meta(ge=0)]
    volume: Annotated[int, msgspec.Meta(ge=0)]


ORDER_COLUMNS = tuple(EsiOrder.__struct_fields__)
_orders_decoder = msgspec.json.Decoder(list[EsiOrder])


class MarketDataError(Exception):
    """ESI sent data Lenny will not store; the message names the page and the field."""


class SnapshotError(Exception):
    """A region's snapshot could not be replaced; the previous one is still current."""


try:
    from redis.exceptions import RedisError

    _REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError,)
except ImportError:  # the embedded default needs no Redis client
    _REDIS_ERRORS = ()
# What the shared cache (the ESI client's cache, limits and counters) raises when it is gone:
# Redis's errors, or the file cache's OSError. The ESI client wraps its own network errors.
CACHE_ERRORS: tuple[type[Exception], ...] = (*_REDIS_ERRORS, OSError)


def orders_page_decode(number: int, body: bytes) -> list[EsiOrder]:
    """Page ``number``'s orders, validated; raises MarketDataError naming the page."""
    try:
        return _orders_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise MarketDataError(f"page {number}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise MarketDataError(f"page {number}: not valid JSON ({exc})") from exc


def orders_decode(pages: Iterable[bytes]) -> Iterator[list[EsiOrder]]:
    """Each page's orders, validated; raises MarketDataError naming the page."""
    for number, body in enumerate(pages, start=1):
        yield orders_page_decode(number, body)


def orders_first_seen(orders: list[EsiOrder], seen: set[int]) -> list[EsiOrder]:
    """The orders whose id is not in ``seen`` (nor earlier in ``orders``), adding them to it: an
    order that moved between pages while ESI built them appears twice, and the first copy wins."""
    ids = {order.order_id for order in orders}
    if len(ids) == len(orders) and seen.isdisjoint(ids):
        seen |= ids  # a page without repeats: the usual case, without a Python loop
        return orders
    fresh = []
    for order in orders:
        if order.order_id not in seen:
            seen.add(order.order_id)
            fresh.append(order)
    return fresh


def orders_unique(pages: Iterable[bytes]) -> Iterator[list[EsiOrder]]:
    """Each page's orders, validated, without repeats (the first copy wins)."""
    seen: set[int] = set()
    for orders in orders_decode(pages):
        yield orders_first_seen(orders, seen)


_rows_encoder = msgspec.json.Encoder()


def orders_csv(orders: list[EsiOrder]) -> bytes:
    """The orders as CSV lines in ORDER_COLUMNS order, for ``COPY … (FORMAT csv)``.

    msgspec writes the rows as JSON arrays in one C call, ``[[1,34,…,"region",90,"2026-…"],[…]]``,
    which is CSV once the brackets are gone and each ``],[`` is a line break: numbers and
    ``true``/``false`` read the same, and strings are double-quoted. That holds unless a string
    has a backslash (JSON's escapes are not CSV's) or a ``],[`` of its own; such pages (only a
    hostile ``issued`` can do it) go through the csv module instead.
    """
    if not orders:
        return b""
    astuple = msgspec.structs.astuple
    rows = [astuple(order) for order in orders]
    encoded = _rows_encoder.encode(rows)
    if b"\\" not in encoded and encoded.count(b"],[") == len(rows) - 1:
        return encoded[2:-2].replace(b"],[", b"\n") + b"\n"
    buffer = io.StringIO()
    # Every string quoted, so an empty one stays a string (unquoted empty is NULL in COPY CSV).
    csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC).writerows(rows)
    return buffer.getvalue().encode()


BEST_PRICE_COLUMNS = (
    "location_id",
    "type_id",
    "best_bid",
    "best_ask",
    "bid_count",
    "ask_count",
    "best_bid_volume",
    "best_ask_volume",
    "bid_volume",
    "ask_volume",
)


class OrderBookTops:
    """The top of every (location, type) book, summed page by page from the orders.

    Built for speed in plain Python: a book is a position in flat columns rather than a list of
    its own, found by one integer key, so the 80k books of The Forge leave no small containers
    for the garbage collector to walk again and again (that walking took a third of the time).
    """

    def __init__(self) -> None:
        # location_id << 32 | type_id (type ids are int32) → the book's position in the columns
        self._positions: dict[int, int] = {}
        self._best_bid: list[float | None] = []
        self._best_bid_volume: list[int] = []
        self._bids: list[int] = []
        self._bid_volume: list[int] = []
        self._best_ask: list[float | None] = []
        self._best_ask_volume: list[int] = []
        self._asks: list[int] = []
        self._ask_volume: list[int] = []

    def __len__(self) -> int:
        return len(self._positions)

    def add(self, orders: Iterable[EsiOrder | _BookTopsOrder]) -> None:
        positions = self._positions
        best_bid, best_bid_volume = self._best_bid, self._best_bid_volume
        bids, bid_volume = self._bids, self._bid_volume
        best_ask, best_ask_volume = self._best_ask, self._best_ask_volume
        asks, ask_volume = self._asks, self._ask_volume
        prices = (best_bid, best_ask)
        counts = (best_bid_volume, bids, bid_volume, best_ask_volume, asks, ask_volume)
        for order in orders:
            key = order.location_id << 32 | order.type_id
            i = positions.get(key)
            if i is None:
                i = positions[key] = len(positions)
                for column in prices:
                    column.append(None)
                for column in counts:
                    column.append(0)
            price, volume = order.price, order.volume_remain
            if order.is_buy_order:
                best = best_bid[i]
                if best is None or price > best:
                    best_bid[i], best_bid_volume[i] = price, volume
                elif price == best:
                    best_bid_volume[i] += volume
                bids[i] += 1
                bid_volume[i] += volume
            else:
                best = best_ask[i]
                if best is None or price < best:
                    best_ask[i], best_ask_volume[i] = price, volume
                elif price == best:
                    best_ask_volume[i] += volume
                asks[i] += 1
                ask_volume[i] += volume

    def rows(self, *prefix: object) -> Iterator[tuple]:
        """Tuples of ``prefix`` then BEST_PRICE_COLUMNS, sorted by location and type."""
        keys = sorted(self._positions)
        at = [self._positions[key] for key in keys]
        columns = (
            self._best_bid,
            self._best_ask,
            self._bids,
            self._asks,
            self._best_bid_volume,
            self._best_ask_volume,
            self._bid_volume,
            self._ask_volume,
        )
        return zip(
            *(repeat(value) for value in prefix),
            [key >> 32 for key in keys],
            [key & 0xFFFFFFFF for key in keys],
            *([column[i] for i in at] for column in columns),
            strict=False,  # the repeats are endless
        )


# --- Order snapshots -------------------------------------------------------------------------


@dataclass
class SnapshotOutcome:
    region_id: int
    # stored: a new snapshot is current; fresh: the current one has not expired, nothing sent;
    # unchanged: ESI said 304; superseded: a newer snapshot landed meanwhile.
    status: Literal["stored", "fresh", "unchanged", "superseded"]
    snapshot: MarketSnapshot | None
    seconds: float = 0.0

    def summary(self) -> str:
        snap = self.snapshot
        if self.status == "stored" and snap is not None:
            return (
                f"region {self.region_id}: {snap.pages} pages, {snap.orders:,} orders, "
                f"{snap.seconds:.1f} s"
            )
        if self.status == "fresh" and snap is not None and snap.expires:
            left = max(0, round((snap.expires - timezone.now()).total_seconds()))
            return f"region {self.region_id}: current snapshot has not expired ({left} s left), nothing fetched"
        if self.status == "unchanged":
            return f"region {self.region_id}: unchanged since the last snapshot (304)"
        if self.status == "superseded":
            return (
                f"region {self.region_id}: a newer snapshot landed meanwhile, this one was dropped"
            )
        return f"region {self.region_id}: {self.status}"


def snapshot_fetch(
    *, region_id: int, force: bool = False, client: EsiClient | None = None
) -> SnapshotOutcome:
    """Fetch the region's order book from ESI and make it the current snapshot.

    Does nothing while the current snapshot has not expired (unless ``force``). Each page is
    stored as soon as it arrived (see :class:`SnapshotLoad`), and the snapshot becomes current
    only once every page came, all from one ESI snapshot. On any failure the previous snapshot
    stays current, a failed MarketSnapshot records why, and SnapshotError is raised.
    """
    started = time.monotonic()
    current = MarketSnapshot.objects.filter(region_id=region_id, is_current=True).first()
    if current is not None and current.is_fresh() and not force:
        return SnapshotOutcome(region_id, "fresh", current)
    latest = MarketSnapshot.objects.for_region(region_id).first()
    # Without a stored book, or after a failed store, "unchanged" from the cache would be a lie.
    conditional = (
        not force
        and current is not None
        and latest is not None
        and latest.status != MarketSnapshot.Status.FAILED
    )
    client = client or EsiClient()
    load = SnapshotLoad(region_id=region_id, started=started)
    try:
        with load:
            result = client.get_paged(
                ORDERS_PATH.format(region_id=region_id),
                params={"order_type": "all"},
                conditional=conditional,
                raw=True,
                sink=load,
            )
            if result.not_modified:
                if current is not None and result.expires and result.expires != current.expires:
                    current.expires = result.expires
                    current.save(update_fields=["expires"])
                status = "fresh" if result.from_cache else "unchanged"
                return SnapshotOutcome(region_id, status, current, time.monotonic() - started)
            snapshot = load.finish(last_modified=result.last_modified, expires=result.expires)
    except (EsiError, MarketDataError, DatabaseError, *CACHE_ERRORS) as exc:
        seconds = time.monotonic() - started
        message = _failure_message(exc)
        MarketSnapshot.objects.create(
            region_id=region_id,
            status=MarketSnapshot.Status.FAILED,
            pages=load.pages,
            seconds=seconds,
            error=message[:2000],
        )
        log.warning("market snapshot of region %s failed: %s", region_id, message)
        raise SnapshotError(
            f"region {region_id}: snapshot not replaced ({message}); "
            "the previous snapshot is still current"
        ) from exc
    _snapshot_tidy(snapshot, started=started)
    status = "stored" if snapshot.is_current else "superseded"
    return SnapshotOutcome(region_id, status, snapshot, snapshot.seconds)


def _failure_message(exc: Exception) -> str:
    if isinstance(exc, DatabaseError):
        return f"database error: {str(exc).strip()}"
    if isinstance(exc, CACHE_ERRORS):
        # Not the error's own text: it names the cache's host and port, and pages show this.
        which = "Redis" if _REDIS_ERRORS and isinstance(exc, _REDIS_ERRORS) else "the cache"
        return (
            f"the shared cache ({which}) became unavailable during the fetch "
            f"({type(exc).__name__}); nothing was stored"
        )
    return str(exc) or type(exc).__name__


def snapshot_store(
    *,
    region_id: int,
    pages: Iterable[bytes],
    last_modified: datetime | None,
    expires: datetime | None,
    started: float | None = None,
) -> MarketSnapshot:
    """Store raw ESI order pages as the region's new current snapshot, with its aggregates.

    The swap is atomic for readers (see :class:`SnapshotLoad`); a bad page or a database error
    leaves the previous snapshot current and raises.
    """
    started = time.monotonic() if started is None else started
    with SnapshotLoad(region_id=region_id, started=started) as load:
        for number, body in enumerate(pages, start=1):
            load.page(number, body)
        snapshot = load.finish(last_modified=last_modified, expires=expires)
    _snapshot_tidy(snapshot, started=started)
    return snapshot


class SnapshotLoad:
    """A region's next snapshot, loaded page by page as ESI's pages arrive: the
    :class:`~market.esi.PageSink` that :func:`snapshot_fetch` hands to ``get_paged``.

    Each page is validated and stripped of repeated orders as it comes. On PostgreSQL it is
    then COPYed at once into the snapshot's own table, so the database digests page 1 while
    page 400 is still on its way; on SQLite (the embedded default) the orders wait for
    :meth:`finish`, so a fetch that fails (or restarts) on its way wrote nothing.

    On PostgreSQL all the writing happens in one transaction, opened at the first write and
    committed by :meth:`finish` once the snapshot is current. On SQLite :meth:`finish` writes
    the rows in many short transactions, under the new snapshot's id, and makes it current in
    one more, so SQLite's single write lock is never held for long. Use the load as a context
    manager: leaving it on an error aborts the COPY and rolls the transaction back (SQLite:
    deletes what was written), so nothing of a failed fetch remains, and readers see nothing of
    this snapshot before it is whole and current.
    """

    def __init__(self, *, region_id: int, started: float | None = None) -> None:
        self.region_id = region_id
        self.started = time.monotonic() if started is None else started
        self.pages = 0
        self.orders = 0
        self._postgres = connection.vendor == "postgresql"
        self._transaction: ExitStack | None = None
        self._copying: ExitStack | None = None
        self._copy: Copy | None = None
        self._snapshot: MarketSnapshot | None = None
        self._finished = False
        self._seen: set[int] = set()
        # Each page, for the book tops (and on SQLite the inserts) in finish(): see page().
        self._loaded: list[bytes | list[EsiOrder]] = []

    def __enter__(self) -> SnapshotLoad:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if not self._postgres:
            if self._snapshot is not None and not self._finished:
                _sqlite_load_discard(self._snapshot)
            return
        copying, self._copying, self._copy = self._copying, None, None
        transaction_, self._transaction = self._transaction, None
        if transaction_ is None:
            return  # finished (committed), or nothing was written
        # Not finished, because of an error or a caller that gave up: nothing of it may stay.
        if exc is None:
            exc = RuntimeError("the snapshot load was left before finish()")
            exc_type = type(exc)
            transaction.set_rollback(True)
        try:
            if copying is not None:
                # psycopg ends the COPY with the error, so the transaction can roll back.
                copying.__exit__(exc_type, exc, tb)
        except Exception as cleanup:  # the error that brought us here is the one to report
            log.debug("ending the abandoned COPY failed too: %s", cleanup)
        finally:
            transaction_.__exit__(exc_type, exc, tb)

    # --- the page sink ----------------------------------------------------------------------
    def page(self, number: int, body: bytes) -> None:
        decoded = orders_page_decode(number, body)
        orders = orders_first_seen(decoded, self._seen)
        if self._postgres:
            rows = orders_csv(orders)
            if self._copy is None:
                self._copy_begin()
            with connection.wrap_database_errors:
                self._copy.write(rows)
            # The body is kept rather than its orders: it is half their size, and reading just
            # the five fields the book tops need from it again is quick. A page that lost
            # repeated orders keeps the orders left instead.
            self._loaded.append(body if orders is decoded else orders)
        else:
            self._loaded.append(orders)
        self.pages += 1
        self.orders += len(orders)

    def restart(self) -> None:
        """ESI's snapshot rolled over under page 1: empty the table, every page comes again."""
        if self._copy is not None:
            self._copy_end()
            with connection.cursor() as cursor:
                # In the transaction that created it, so the next COPY may still FREEZE.
                cursor.execute(f"TRUNCATE {_partition_name(self._snapshot.id)}")
        self._seen = set()
        self._loaded = []
        self.pages = self.orders = 0

    # --- storing ------------------------------------------------------------------------------
    def _begin(self) -> MarketSnapshot:
        """Open the transaction and create the snapshot's record (and its table). On SQLite
        only the record: its rows are written in transactions of their own."""
        if not self._postgres:
            self._snapshot = MarketSnapshot.objects.create(
                region_id=self.region_id, status=MarketSnapshot.Status.OK
            )
            return self._snapshot
        self._transaction = ExitStack()
        self._transaction.enter_context(transaction.atomic())
        snapshot = MarketSnapshot.objects.create(
            region_id=self.region_id, status=MarketSnapshot.Status.OK
        )
        if self._postgres:
            partition = _partition_name(snapshot.id)
            with connection.cursor() as cursor:
                # A crash before the WAL reaches disk loses this swap, never consistency: the
                # previous snapshot stays current and the next run fetches again.
                cursor.execute("SET LOCAL synchronous_commit = off")
                # snapshot_id comes from the column default: the rows are ESI's fields alone.
                # The CHECK lets ATTACH PARTITION skip its validation scan; added to the empty
                # table, it costs no scan of its own either.
                cursor.execute(f"CREATE TABLE {partition} (LIKE market_order)")
                cursor.execute(
                    f"ALTER TABLE {partition} ALTER COLUMN snapshot_id "
                    f"SET DEFAULT {int(snapshot.id)}, "
                    f"ADD CONSTRAINT {partition}_snapshot CHECK (snapshot_id = {int(snapshot.id)})"
                )
        self._snapshot = snapshot
        return snapshot

    def _copy_begin(self) -> None:
        snapshot = self._snapshot or self._begin()
        copying = ExitStack()
        with connection.wrap_database_errors:
            cursor = copying.enter_context(connection.cursor())
            # FREEZE: the table is new in this transaction, so its rows can be written already
            # visible to all; the first readers then do not rewrite every page to set hint bits.
            # CSV: see orders_csv.
            self._copy = copying.enter_context(
                cursor.copy(
                    f"COPY {_partition_name(snapshot.id)} ({', '.join(ORDER_COLUMNS)}) "
                    "FROM STDIN (FORMAT csv, FREEZE)"
                )
            )
        self._copying = copying

    def _copy_end(self) -> None:
        copying, self._copying, self._copy = self._copying, None, None
        if copying is not None:
            # PostgreSQL reports a value it refuses (naming line and column) here at the latest.
            with connection.wrap_database_errors:
                copying.close()

    def finish(self, *, last_modified: datetime | None, expires: datetime | None) -> MarketSnapshot:
        """Index and summarise the loaded orders and make them the region's current snapshot,
        unless a newer one landed meanwhile (then this one is dropped as superseded); commit."""
        snapshot = self._snapshot or self._begin()
        snapshot.last_modified = last_modified
        snapshot.expires = expires
        snapshot.pages = self.pages
        snapshot.orders = self.orders
        if not self._postgres:
            return self._sqlite_finish(snapshot)
        # The book tops are summed and encoded on another thread while PostgreSQL builds the
        # indexes: this thread only waits on the socket then, so both get a core.
        with ThreadPoolExecutor(1, thread_name_prefix="book-tops") as pool:
            best_prices = pool.submit(_best_prices_csv, snapshot, self._loaded)
            self._copy_end()
            _partition_index(snapshot)
            _best_prices_copy(best_prices.result())
        self._loaded = []
        _snapshot_swap(snapshot, started=self.started)
        transaction_, self._transaction = self._transaction, None
        transaction_.close()  # commit
        return snapshot

    def _sqlite_finish(self, snapshot: MarketSnapshot) -> MarketSnapshot:
        # Readers ask for the current snapshot's id, so rows under this one stay unseen until
        # the swap below, however many transactions they take to write.
        _orders_insert(snapshot, self._loaded)
        _best_prices_insert(snapshot, self._loaded)
        self._loaded = []
        with transaction.atomic():
            dropped = _snapshot_swap(snapshot, started=self.started)
        self._finished = True
        if dropped is not None:
            try:
                _sqlite_rows_delete(dropped)
            except DatabaseError as exc:
                # The new snapshot is current whatever happens here; the next tidy-up retries.
                log.warning("could not delete the rows of snapshot %s yet: %s", dropped, exc)
        return snapshot


def _snapshot_swap(snapshot: MarketSnapshot, *, started: float) -> int | None:
    """Make the stored snapshot the region's current one, unless a newer one landed meanwhile
    (then it is dropped as superseded). On SQLite, returns the id of the snapshot whose rows are
    no longer wanted (the previous one, or this one when superseded), for the caller to delete
    after this transaction, in chunks."""
    postgres = connection.vendor == "postgresql"
    previous = _current_locked(snapshot.region_id)
    if (
        previous is not None
        and previous.last_modified
        and snapshot.last_modified
        and previous.last_modified > snapshot.last_modified
    ):
        # Another run stored a newer book while this one was fetching: keep that one.
        snapshot.status = MarketSnapshot.Status.SUPERSEDED
        snapshot.seconds = time.monotonic() - started
        snapshot.save()
        if not postgres:
            return snapshot.id
        BestPrice.objects.filter(snapshot=snapshot).delete()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {_partition_name(snapshot.id)}")
        return None
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute(
                f"ALTER TABLE market_order ATTACH PARTITION {_partition_name(snapshot.id)} "
                f"FOR VALUES IN ({int(snapshot.id)})"
            )
    if previous is not None:
        MarketSnapshot.objects.filter(pk=previous.pk).update(
            is_current=False, status=MarketSnapshot.Status.SUPERSEDED
        )
        if postgres:
            BestPrice.objects.filter(snapshot_id=previous.pk).delete()
    snapshot.is_current = True
    snapshot.seconds = time.monotonic() - started
    snapshot.save()
    transaction.on_commit(lambda: snapshot_landed.send(sender=MarketSnapshot, snapshot=snapshot))
    return None if postgres or previous is None else previous.pk


def _snapshot_tidy(snapshot: MarketSnapshot, *, started: float) -> None:
    """Housekeeping after the swap committed: the new snapshot is in whatever happens here."""
    try:
        if connection.vendor == "postgresql":
            partitions_prune()
        else:
            _sqlite_orphans_delete()
        _records_prune(snapshot.region_id)
        snapshot.seconds = time.monotonic() - started
        MarketSnapshot.objects.filter(pk=snapshot.pk).update(seconds=snapshot.seconds)
    except DatabaseError as exc:
        log.warning(
            "market snapshot %s stored, but cleaning up after it failed: %s", snapshot.pk, exc
        )


def _current_locked(region_id: int) -> MarketSnapshot | None:
    if connection.vendor == "postgresql":
        # Two runs for one region take turns from here on; different regions do not wait.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [0x4C454E, region_id])
    return MarketSnapshot.objects.filter(region_id=region_id, is_current=True).first()


def _partition_name(snapshot_id: int) -> str:
    return f"market_order_s{int(snapshot_id)}"


def _partition_index(snapshot: MarketSnapshot) -> None:
    # Built once over the loaded table: much less work than keeping them up to date row by row
    # during the COPY. They match the parent's, so attaching adopts them.
    partition = _partition_name(snapshot.id)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {partition} ADD PRIMARY KEY (snapshot_id, order_id)")
        cursor.execute(f"CREATE INDEX ON {partition} (snapshot_id, type_id)")


def _orders_insert(snapshot: MarketSnapshot, pages: list[list[EsiOrder]]) -> None:
    """SQLite: the snapshot's orders, SQLITE_CHUNK_ROWS to a transaction."""
    columns = ("snapshot_id", *ORDER_COLUMNS)
    sql = (
        f"INSERT INTO market_order ({', '.join(columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    adapt_datetime = connection.ops.adapt_datetimefield_value
    issued = ORDER_COLUMNS.index("issued")

    def rows() -> Iterator[list]:
        # In (type, order) order: each short transaction then appends to the type index instead
        # of rewriting pages all over it (the same pages again in every transaction).
        for order in sorted(
            (order for orders in pages for order in orders),
            key=lambda order: (order.type_id, order.order_id),
        ):
            values = [snapshot.id, *msgspec.structs.astuple(order)]
            values[issued + 1] = adapt_datetime(
                _issued_parse(order.issued, order_id=order.order_id)
            )
            yield values

    _sqlite_chunks_insert(sql, rows())


def _sqlite_chunks_insert(sql: str, rows: Iterable[Iterable]) -> None:
    chunk: list[Iterable] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= SQLITE_CHUNK_ROWS:
            _sqlite_write(lambda cursor, chunk=chunk: cursor.executemany(sql, chunk))
            chunk = []
    if chunk:
        _sqlite_write(lambda cursor: cursor.executemany(sql, chunk))


def _sqlite_write(statement: Callable[..., object]) -> int:
    """Run ``statement(cursor)`` in a short transaction of its own, then give the write lock to
    whoever waits for it for about as long as it was held; returns the rows it touched."""
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        statement(cursor)
        touched = cursor.rowcount
    held = time.monotonic() - started
    if not connection.in_atomic_block:  # inside an outer transaction nobody could get in
        time.sleep(held * SQLITE_YIELD_SHARE * random.uniform(0.75, 1.5))
    return touched


def _sqlite_rows_delete(snapshot_id: int) -> None:
    """SQLite: a snapshot's orders and book tops, deleted SQLITE_CHUNK_ROWS to a transaction."""
    for table in (Order._meta.db_table, BestPrice._meta.db_table):
        sql = (
            f"DELETE FROM {table} WHERE rowid IN "
            f"(SELECT rowid FROM {table} WHERE snapshot_id = %s LIMIT {SQLITE_CHUNK_ROWS})"
        )
        while _sqlite_write(lambda cursor, sql=sql: cursor.execute(sql, [snapshot_id])) > 0:
            pass


def _sqlite_load_discard(snapshot: MarketSnapshot) -> None:
    """SQLite: what an unfinished load wrote (its rows, its record)."""
    try:
        _sqlite_rows_delete(snapshot.id)
        MarketSnapshot.objects.filter(pk=snapshot.pk, is_current=False).delete()
    except DatabaseError as exc:
        # The rows are under an id no reader asks for; the next snapshot's tidy-up deletes them.
        log.warning("could not delete the rows of unfinished snapshot %s: %s", snapshot.pk, exc)


def _sqlite_orphans_delete() -> None:
    """SQLite: rows no snapshot wants any more (a run that died while loading or deleting)."""
    wanted = set(MarketSnapshot.objects.filter(is_current=True).values_list("id", flat=True)) | set(
        # Loads still under way (another run, another region)
        MarketSnapshot.objects.filter(
            is_current=False,
            status=MarketSnapshot.Status.OK,
            fetched_at__gte=timezone.now() - SQLITE_LOAD_ABANDONED_AFTER,
        ).values_list("id", flat=True)
    )
    present: set[int] = set()
    with connection.cursor() as cursor:
        for table in (Order._meta.db_table, BestPrice._meta.db_table):
            cursor.execute(f"SELECT DISTINCT snapshot_id FROM {table}")
            present.update(row[0] for row in cursor.fetchall())
    for snapshot_id in sorted(present - wanted):
        MarketSnapshot.objects.filter(
            pk=snapshot_id, is_current=False, status=MarketSnapshot.Status.OK
        ).update(status=MarketSnapshot.Status.FAILED, error="the load was interrupted")
        _sqlite_rows_delete(snapshot_id)


def _issued_parse(text: str, *, order_id: int) -> datetime:
    try:
        issued = datetime.fromisoformat(text)
    except ValueError:
        raise MarketDataError(f"order {order_id}: issued {text!r} is not a date and time") from None
    return issued if issued.tzinfo else issued.replace(tzinfo=UTC)


BEST_PRICE_TABLE_COLUMNS = ("snapshot_id", "region_id", *BEST_PRICE_COLUMNS)


class _BookTopsOrder(msgspec.Struct, gc=False):
    """What the book tops read of an order (from a page validated before)."""

    location_id: int
    type_id: int
    is_buy_order: bool
    price: float
    volume_remain: int


_book_tops_decoder = msgspec.json.Decoder(list[_BookTopsOrder])


def _book_tops(pages: list[bytes | list[EsiOrder]]) -> OrderBookTops:
    """The book tops of pages given as their orders or as their (already validated) bodies."""
    tops = OrderBookTops()
    for page in pages:
        tops.add(_book_tops_decoder.decode(page) if isinstance(page, bytes) else page)
    return tops


def _best_prices_csv(snapshot: MarketSnapshot, pages: list[bytes | list[EsiOrder]]) -> bytes:
    """The snapshot's BestPrice rows as CSV (numbers, and ``null`` for no price; see
    orders_csv), in primary-key order: the new rows then append at the index's right edge
    instead of splitting pages all over it."""
    rows = list(_book_tops(pages).rows(snapshot.id, snapshot.region_id))
    if not rows:
        return b""
    return _rows_encoder.encode(rows)[2:-2].replace(b"],[", b"\n") + b"\n"


def _best_prices_copy(data: bytes) -> None:
    columns = ", ".join(BEST_PRICE_TABLE_COLUMNS)
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.copy(
            f"COPY market_bestprice ({columns}) FROM STDIN (FORMAT csv, NULL 'null')"
        ) as copy,
    ):
        if data:
            copy.write(data)


def _best_prices_insert(snapshot: MarketSnapshot, pages: list[bytes | list[EsiOrder]]) -> None:
    """SQLite: the snapshot's book tops, SQLITE_CHUNK_ROWS to a transaction."""
    _sqlite_chunks_insert(
        f"INSERT INTO market_bestprice ({', '.join(BEST_PRICE_TABLE_COLUMNS)}) "
        f"VALUES ({', '.join(['%s'] * len(BEST_PRICE_TABLE_COLUMNS))})",
        _book_tops(pages).rows(snapshot.id, snapshot.region_id),
    )


def partitions_prune() -> list[str]:
    """Detach and drop order partitions whose snapshot is no longer current.

    Outside a transaction the detach is CONCURRENTLY, so readers of market_order never wait;
    a partition that cannot be dropped now (lock held too long) is left for the next run.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT child.relname, inh.inhdetachpending
            FROM pg_inherits inh
            JOIN pg_class child ON child.oid = inh.inhrelid
            WHERE inh.inhparent = 'market_order'::regclass
            """
        )
        partitions = cursor.fetchall()
    current = set(MarketSnapshot.objects.current().values_list("id", flat=True))
    dropped = []
    for name, detach_pending in partitions:
        if (
            not name.startswith("market_order_s")
            or int(name.removeprefix("market_order_s")) in current
        ):
            continue
        try:
            _partition_drop(name, detach_pending=detach_pending)
        except DatabaseError as exc:
            log.warning("could not drop old order partition %s yet: %s", name, exc)
            continue
        dropped.append(name)
    return dropped


def _partition_drop(name: str, *, detach_pending: bool) -> None:
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            # Tests run inside a transaction, where CONCURRENTLY is not allowed.
            cursor.execute(f"DROP TABLE {name}")
            return
        cursor.execute("SET lock_timeout = '10s'")
        try:
            how = "FINALIZE" if detach_pending else "CONCURRENTLY"
            cursor.execute(f"ALTER TABLE market_order DETACH PARTITION {name} {how}")
            cursor.execute(f"DROP TABLE {name}")
        finally:
            cursor.execute("RESET lock_timeout")


def _records_prune(region_id: int) -> None:
    keep = list(
        MarketSnapshot.objects.for_region(region_id)
        .order_by("-fetched_at")
        .values_list("pk", flat=True)[:SNAPSHOT_RECORDS_KEPT]
    )
    MarketSnapshot.objects.for_region(region_id).filter(is_current=False).exclude(
        pk__in=keep
    ).delete()


# --- Market history ----------------------------------------------------------------------------

# ESI publishes the previous day's history at its daily refresh, 11:05 UTC.
HISTORY_REFRESH_AT = dt_time(11, 5, tzinfo=UTC)
HISTORY_WRITE_BATCH = 50
HISTORY_FETCH_THREADS = 4
# Consecutive failures (other than "no history") after which ESI is taken to be down.
HISTORY_MAX_CONSECUTIVE_ERRORS = 10
# A long history run announces what it stored this often (seconds), not only at its end, so the
# desk's daily volumes follow the history as it arrives.
HISTORY_LANDED_EVERY = 30.0


def history_refresh_cutoff(now: datetime) -> datetime:
    """The moment of ESI's latest daily history refresh at or before ``now``."""
    now = now.astimezone(UTC)
    today = datetime.combine(now.date(), HISTORY_REFRESH_AT)
    return today if now >= today else today - timedelta(days=1)


def history_window_end(now: datetime) -> date:
    """The last day ESI's history can hold at ``now``: the day before its latest refresh."""
    return history_refresh_cutoff(now).date() - timedelta(days=1)


@dataclass
class HistoryOutcome:
    region_id: int
    types: int = 0
    days: int = 0
    without_history: int = 0
    unchanged: int = 0
    failed: dict[int, str] = field(default_factory=dict)
    remaining: int = 0
    seconds: float = 0.0
    aborted: str = ""

    def summary(self) -> str:
        text = (
            f"region {self.region_id}: {self.types:,} types, {self.days:,} days stored, "
            f"{self.without_history:,} without history, {self.unchanged:,} unchanged"
        )
        if self.failed:
            examples = "; ".join(f"type {t}: {e}" for t, e in list(self.failed.items())[:3])
            text += f", {len(self.failed):,} failed ({examples})"
        if self.remaining:
            text += f", {self.remaining:,} left for the next run"
        if self.aborted:
            text += f"; stopped: {self.aborted}"
        return text + f", {self.seconds:.1f} s"


def history_types_due(
    *, region_id: int, now: datetime | None = None, client: EsiClient | None = None
) -> list[int]:
    """Types traded in the region whose history was not fetched since ESI's latest refresh.

    "Traded" means on the market at the region's hub station in the current snapshot (anywhere
    in the region for other regions); without a snapshot, ESI's list of the region's types.
    """
    now = now or timezone.now()
    current = BestPrice.objects.current(region_id=region_id)
    hub_station = HUB_STATION_BY_REGION.get(region_id)
    if hub_station is not None:
        current = current.filter(location_id=hub_station)
    traded = set(current.values_list("type_id", flat=True))
    if (
        not traded
        and not MarketSnapshot.objects.filter(region_id=region_id, is_current=True).exists()
    ):
        result = (client or EsiClient()).get_paged(
            TYPES_PATH.format(region_id=region_id), conditional=False
        )
        traded = {int(t) for t in result.data or []}
    fresh = set(
        TypeRegionStats.objects.filter(
            region_id=region_id, history_fetched_at__gte=history_refresh_cutoff(now)
        ).values_list("type_id", flat=True)
    )
    return sorted(traded - fresh)


@dataclass
class _Fetched:
    type_id: int
    days: list[EsiHistoryDay] | None = None  # None: ESI says "not modified"
    missing: bool = False  # ESI has no history for this type
    error: str = ""
    skipped: bool = False  # not asked: past the deadline, or ESI looked down


def history_fetch(
    *,
    region_id: int,
    type_ids: Iterable[int] | None = None,
    deadline: float | None = None,
    client: EsiClient | None = None,
    progress: Callable[[int], None] | None = None,
) -> HistoryOutcome:
    """Fetch and upsert the daily history of ``type_ids`` (default: the types due) in a region.

    Stops starting new requests at ``deadline`` (a ``time.monotonic()`` value); what is left is
    counted in ``remaining`` and picked up by the next run.
    """
    started = time.monotonic()
    client = client or EsiClient()
    now = timezone.now()
    types = (
        list(type_ids)
        if type_ids is not None
        else history_types_due(region_id=region_id, now=now, client=client)
    )
    outcome = HistoryOutcome(region_id)
    # "Unchanged" (from the client's cache or a 304) is only trusted for a type whose stored
    # history already reaches the newest day ESI can have: then it cannot hide a missed write.
    up_to_date = set(
        TypeRegionStats.objects.filter(
            region_id=region_id, last_history_date__gte=history_window_end(now)
        ).values_list("type_id", flat=True)
    )
    give_up = threading.Event()
    errors_in_a_row = [0]
    errors_lock = threading.Lock()

    def fetch(type_id: int) -> _Fetched:
        if give_up.is_set() or (deadline is not None and time.monotonic() > deadline):
            return _Fetched(type_id, skipped=True)
        try:
            result = client.get(
                HISTORY_PATH.format(region_id=region_id),
                params={"type_id": type_id},
                conditional=type_id in up_to_date,
            )
        except EsiNotFound:
            return _Fetched(type_id, missing=True)
        except EsiError as exc:
            with errors_lock:
                errors_in_a_row[0] += 1
                if errors_in_a_row[0] >= HISTORY_MAX_CONSECUTIVE_ERRORS:
                    give_up.set()
            return _Fetched(type_id, error=str(exc) or type(exc).__name__)
        with errors_lock:
            errors_in_a_row[0] = 0
        if result.not_modified:
            return _Fetched(type_id)
        try:
            return _Fetched(type_id, msgspec.convert(result.data, list[EsiHistoryDay]))
        except msgspec.ValidationError as exc:
            return _Fetched(type_id, error=f"unexpected history data: {exc}")

    batch: list[_Fetched] = []
    landed: list[int] = []  # types stored since history_landed was last sent
    last_landed = time.monotonic()

    def store() -> None:
        nonlocal batch, landed, last_landed
        _history_store(region_id, batch, outcome, now=now)
        landed += [item.type_id for item in batch if item.days]
        batch = []
        if landed and time.monotonic() - last_landed >= HISTORY_LANDED_EVERY:
            _history_landed_send(region_id, landed)
            landed, last_landed = [], time.monotonic()

    with ThreadPoolExecutor(HISTORY_FETCH_THREADS, thread_name_prefix="esi-history") as pool:
        for fetched in pool.map(fetch, types):
            if progress:
                progress(1)
            if fetched.skipped:
                outcome.remaining += 1
            elif fetched.error:
                outcome.failed[fetched.type_id] = fetched.error
            else:
                batch.append(fetched)
                if len(batch) >= HISTORY_WRITE_BATCH:
                    store()
    if batch:
        store()
    if landed:
        _history_landed_send(region_id, landed)
    if give_up.is_set():
        outcome.aborted = f"{HISTORY_MAX_CONSECUTIVE_ERRORS} failures in a row, ESI looks down"
    outcome.seconds = time.monotonic() - started
    return outcome


def _history_landed_send(region_id: int, type_ids: list[int]) -> None:
    """Tell what is derived from the region's history (``market.warmup``) once it committed."""
    type_ids = list(type_ids)
    transaction.on_commit(
        lambda: history_landed.send(sender=HistoryDay, region_id=region_id, type_ids=type_ids)
    )


_HISTORY_COLUMNS = ("region_id", "type_id", "date", "average", "highest", "lowest", "volume")
_HISTORY_UPSERT = (
    f"INSERT INTO {HistoryDay._meta.db_table} ({', '.join(_HISTORY_COLUMNS)}, order_count) "
    f"VALUES ({', '.join(['%s'] * (len(_HISTORY_COLUMNS) + 1))}) "
    "ON CONFLICT (region_id, type_id, date) DO UPDATE SET average = excluded.average, "
    "highest = excluded.highest, lowest = excluded.lowest, volume = excluded.volume, "
    "order_count = excluded.order_count"
)


def _history_store(
    region_id: int, batch: list[_Fetched], outcome: HistoryOutcome, *, now: datetime
) -> None:
    # Plain rows and one upsert statement rather than model instances through bulk_create: the
    # ORM spent nine tenths of a history run building and compiling 90 rows per type.
    adapt_date = connection.ops.adapt_datefield_value
    rows = [
        (
            region_id,
            item.type_id,
            adapt_date(day.date),
            _isk(day.average),
            _isk(day.highest),
            _isk(day.lowest),
            day.volume,
            day.order_count,
        )
        for item in batch
        if item.days
        for day in item.days
    ]
    with transaction.atomic():
        if rows:
            with connection.cursor() as cursor:
                cursor.executemany(_HISTORY_UPSERT, rows)
        stats_refresh(region_id=region_id, type_ids=[item.type_id for item in batch], now=now)
    for item in batch:
        if item.missing:
            outcome.without_history += 1
        elif item.days is None:
            outcome.unchanged += 1
        outcome.types += 1
    outcome.days += len(rows)


def _isk(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal("0.01"))


def stats_refresh(*, region_id: int, type_ids: list[int], now: datetime | None = None) -> None:
    """Recompute TypeRegionStats of ``type_ids`` from the stored history, and mark them fetched."""
    now = now or timezone.now()
    end = history_window_end(now)
    start = end - timedelta(days=TypeRegionStats.WINDOW_DAYS - 1)
    history = HistoryDay.objects.filter(region_id=region_id, type_id__in=type_ids)
    window = {
        row["type_id"]: row
        for row in history.filter(date__gte=start, date__lte=end)
        .values("type_id")
        .annotate(
            total_volume=Sum("volume"),
            total_isk=Sum(
                F("volume") * F("average"),
                output_field=DecimalField(max_digits=30, decimal_places=2),
            ),
            days=Count("date"),
        )
    }
    last_dates = dict(
        history.values("type_id").annotate(last=Max("date")).values_list("type_id", "last")
    )
    days_in_window = Decimal(TypeRegionStats.WINDOW_DAYS)
    stats = []
    for type_id in type_ids:
        row = window.get(type_id)
        volume = Decimal(row["total_volume"]) if row else Decimal(0)
        isk = Decimal(str(row["total_isk"])) if row else Decimal(0)
        stats.append(
            TypeRegionStats(
                region_id=region_id,
                type_id=type_id,
                avg_daily_volume=(volume / days_in_window).quantize(Decimal("0.01")),
                avg_daily_isk=(isk / days_in_window).quantize(Decimal("0.01")),
                avg_price=(isk / volume).quantize(Decimal("0.01")) if volume else None,
                days_traded=row["days"] if row else 0,
                last_history_date=last_dates.get(type_id),
                history_fetched_at=now,
                has_history=type_id in last_dates,
            )
        )
    TypeRegionStats.objects.bulk_create(
        stats,
        update_conflicts=True,
        unique_fields=["region_id", "type_id"],
        update_fields=[
            "avg_daily_volume",
            "avg_daily_isk",
            "avg_price",
            "days_traded",
            "last_history_date",
            "history_fetched_at",
            "has_history",
        ],
    )


def history_refresh(
    *, deadline: float | None = None, region_ids: Iterable[int] | None = None
) -> list[HistoryOutcome]:
    """The daily job: each hub region's due types, The Forge first, until ``deadline``."""
    client = EsiClient()
    outcomes = []
    for region_id in region_ids or [hub.region_id for hub in HUBS]:
        if deadline is not None and time.monotonic() > deadline:
            break
        outcomes.append(history_fetch(region_id=region_id, deadline=deadline, client=client))
    return outcomes


# --- Offline demo --------------------------------------------------------------------------------


def demo_data_load(*, stdout: TextIO) -> None:
    """The offline demo's market data, from the upstreams the settings point at (the replay).

    The SDE (downloaded from LENNY_SDE_URL, the replay's dump, as a fresh install gets it: the
    shared export when it is there, else the repo's small slice), every hub's order book, and
    the history of every type on the market at each hub, so the desk opens with the daily
    volumes it prices by (``market.replay.demo_load`` lifts the history rate limit of the
    replay and the client for this).
    """
    from market.sde_source import sde_source_refresh

    stdout.write(f"  {sde_source_refresh().summary()}\n")
    client = EsiClient()
    for hub in HUBS:
        stdout.write(f"  {snapshot_fetch(region_id=hub.region_id, client=client).summary()}\n")
    for hub in HUBS:
        # Without a type list: every type on the market at the hub that has no fresh history.
        outcome = history_fetch(region_id=hub.region_id, client=client)
        stdout.write(f"  history: {outcome.summary()}\n")
