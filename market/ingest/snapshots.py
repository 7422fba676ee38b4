"""Order snapshots of a region's book, or of a player structure's, from ESI into the database.

A structure's book (``market.structures``) goes through the same load and swap as a region's:
its snapshot has ``structure_id`` set and ``region_id`` = the structure's region, it is current
beside the region's, and its previous snapshot (not the region's) is what it is compared with.

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

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import numpy as np
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from market.esi import EsiClient, EsiError
from market.ingest.background import background_submit
from market.ingest.book_tops import _best_prices_copy, _best_prices_insert, best_prices_partition
from market.ingest.columns import orders_array, orders_copy_data
from market.ingest.liquidity import (
    PairTrades,
    SnapshotSummary,
    liquidity_prune,
    pair_trades_write,
    snapshot_summarise,
    summary_complete,
    summary_submit,
)
from market.ingest.payloads import (
    ORDER_COLUMNS,
    EsiOrder,
    MarketDataError,
    orders_first_seen,
    orders_page_decode,
    orders_rows,
)
from market.ingest.sqlite import (
    _orders_insert,
    _sqlite_load_discard,
    _sqlite_orphans_delete,
    _sqlite_rows_delete,
)
from market.models import MarketSnapshot, snapshot_landed

if TYPE_CHECKING:
    from psycopg import Copy

log = logging.getLogger("market.ingest")

ORDERS_PATH = "/markets/{region_id}/orders/"
# Metadata of superseded and failed fetches kept per region, for the admin and /healthz.
SNAPSHOT_RECORDS_KEPT = 50
# Orders converted and sent to the COPY at a time: a few pages, so the array operations are not
# paid per page of 1,000, and PostgreSQL still gets them while ESI's later pages come.
COPY_BATCH_ROWS = 2000


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


@dataclass
class SnapshotOutcome:
    region_id: int
    # stored: a new snapshot is current; fresh: the current one has not expired, nothing sent;
    # unchanged: ESI said 304; superseded: a newer snapshot landed meanwhile.
    status: Literal["stored", "fresh", "unchanged", "superseded"]
    snapshot: MarketSnapshot | None
    seconds: float = 0.0
    # 0 for a region's book, else the structure whose book this is.
    structure_id: int = 0

    def summary(self) -> str:
        snap = self.snapshot
        book = f"structure {self.structure_id}" if self.structure_id else f"region {self.region_id}"
        if self.status == "stored" and snap is not None:
            return f"{book}: {snap.pages} pages, {snap.orders:,} orders, {snap.seconds:.1f} s"
        if self.status == "fresh" and snap is not None and snap.expires:
            left = max(0, round((snap.expires - timezone.now()).total_seconds()))
            return f"{book}: current snapshot has not expired ({left} s left), nothing fetched"
        if self.status == "unchanged":
            return f"{book}: unchanged since the last snapshot (304)"
        if self.status == "superseded":
            return f"{book}: a newer snapshot landed meanwhile, this one was dropped"
        return f"{book}: {self.status}"


def snapshot_fetch(
    *, region_id: int, force: bool = False, client: EsiClient | None = None
) -> SnapshotOutcome:
    """Fetch the region's order book from ESI and make it the current snapshot.

    Does nothing while the current snapshot has not expired (unless ``force``). Each page is
    stored as soon as it arrived (see :class:`SnapshotLoad`), and the snapshot becomes current
    only once every page came, all from one ESI snapshot. On any failure the previous snapshot
    stays current, a failed MarketSnapshot records why, and SnapshotError is raised.
    """
    return book_fetch(
        region_id=region_id,
        path=ORDERS_PATH.format(region_id=region_id),
        params={"order_type": "all"},
        force=force,
        client=client,
    )


def book_fetch(
    *,
    region_id: int,
    path: str,
    structure_id: int = 0,
    params: dict | None = None,
    token: str | None = None,
    force: bool = False,
    client: EsiClient | None = None,
) -> SnapshotOutcome:
    """:func:`snapshot_fetch` for any paged order book: a region's (``structure_id`` 0) or a
    player structure's (``path`` its ESI route, ``token`` its character's access token)."""
    started = time.monotonic()
    books = MarketSnapshot.objects.for_book(region_id=region_id, structure_id=structure_id)
    current = books.filter(is_current=True).first()
    if current is not None and current.is_fresh() and not force:
        return SnapshotOutcome(region_id, "fresh", current, structure_id=structure_id)
    latest = books.first()
    # Without a stored book, or after a failed store, "unchanged" from the cache would be a lie.
    conditional = (
        not force
        and current is not None
        and latest is not None
        and latest.status != MarketSnapshot.Status.FAILED
    )
    client = client or EsiClient()
    load = SnapshotLoad(region_id=region_id, structure_id=structure_id, started=started)
    book = f"structure {structure_id}" if structure_id else f"region {region_id}"
    try:
        with load:
            result = client.get_paged(
                path,
                params=params or {},
                token=token,
                conditional=conditional,
                raw=True,
                sink=load,
            )
            if result.not_modified:
                if current is not None and result.expires and result.expires != current.expires:
                    current.expires = result.expires
                    current.save(update_fields=["expires"])
                status = "fresh" if result.from_cache else "unchanged"
                return SnapshotOutcome(
                    region_id, status, current, time.monotonic() - started, structure_id
                )
            snapshot = load.finish(last_modified=result.last_modified, expires=result.expires)
    except (EsiError, MarketDataError, DatabaseError, *CACHE_ERRORS) as exc:
        seconds = time.monotonic() - started
        message = _failure_message(exc)
        MarketSnapshot.objects.create(
            region_id=region_id,
            structure_id=structure_id,
            status=MarketSnapshot.Status.FAILED,
            pages=load.pages,
            seconds=seconds,
            error=message[:2000],
        )
        log.warning("market snapshot of %s failed: %s", book, message)
        if isinstance(exc, DatabaseError) and connection.vendor == "postgresql":
            _partitions_heal()
        raise SnapshotError(
            f"{book}: snapshot not replaced ({message}); the previous snapshot is still current"
        ) from exc
    _after_landing(_snapshot_tidy, snapshot)
    status = "stored" if snapshot.is_current else "superseded"
    return SnapshotOutcome(region_id, status, snapshot, snapshot.seconds, structure_id)


def _partitions_heal() -> None:
    """After a database error, drop the partitions no current snapshot owns. Normally the tidy-up
    after each landed snapshot does it; but a table left under the name of the next snapshot
    (a database flushed or restored with its sequences set back, while the partitions stayed)
    makes every ingest fail before it lands, so the tidy-up would never come."""
    try:
        dropped = partitions_prune()
    except DatabaseError as exc:
        log.warning("could not drop the partitions of old snapshots: %s", exc)
        return
    if dropped:
        log.info("dropped %d partitions of snapshots no longer current", len(dropped))


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
    structure_id: int = 0,
) -> MarketSnapshot:
    """Store raw ESI order pages as the region's (or the structure's) new current snapshot, with
    its aggregates.

    The swap is atomic for readers (see :class:`SnapshotLoad`); a bad page or a database error
    leaves the previous snapshot current and raises.
    """
    started = time.monotonic() if started is None else started
    with SnapshotLoad(region_id=region_id, structure_id=structure_id, started=started) as load:
        for number, body in enumerate(pages, start=1):
            load.page(number, body)
        snapshot = load.finish(last_modified=last_modified, expires=expires)
    _after_landing(_snapshot_tidy, snapshot)
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

    def __init__(
        self, *, region_id: int, structure_id: int = 0, started: float | None = None
    ) -> None:
        self.region_id = region_id
        self.structure_id = structure_id
        self.started = time.monotonic() if started is None else started
        self.pages = 0
        self.orders = 0
        self._postgres = connection.vendor == "postgresql"
        self._transaction: ExitStack | None = None
        self._copying: ExitStack | None = None
        self._copy: Copy | None = None
        self._snapshot: MarketSnapshot | None = None
        # The book's current snapshot when this one began: the one it is compared with.
        self._previous: MarketSnapshot | None = None
        self._finished = False
        self._seen: set[int] = set()
        # Each page, for the book tops (and on SQLite the inserts) in finish(): see page().
        self._loaded: list[np.ndarray | list[EsiOrder]] = []
        # PostgreSQL: orders not COPYed yet (sent COPY_BATCH_ROWS at a time), and whether the
        # next data sent begins the COPY (its signature).
        self._unsent: list[EsiOrder] = []
        self._copy_header = True

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
            # Converted and COPYed a few pages at a time (see _copy_send).
            self._unsent.extend(orders)
            if len(self._unsent) >= COPY_BATCH_ROWS:
                self._copy_send()
        else:
            self._loaded.append(orders)
        self.pages += 1
        self.orders += len(orders)

    def restart(self) -> None:
        """ESI's snapshot rolled over under page 1: empty the table, every page comes again."""
        self._unsent = []
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
        self._previous = (
            MarketSnapshot.objects.for_book(
                region_id=self.region_id, structure_id=self.structure_id
            )
            .filter(is_current=True)
            .first()
        )
        book = {"region_id": self.region_id, "structure_id": self.structure_id}
        if not self._postgres:
            self._snapshot = MarketSnapshot.objects.create(**book, status=MarketSnapshot.Status.OK)
            return self._snapshot
        self._transaction = ExitStack()
        self._transaction.enter_context(transaction.atomic())
        snapshot = MarketSnapshot.objects.create(**book, status=MarketSnapshot.Status.OK)
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
            # Binary: see market.ingest.pgcopy.
            self._copy = copying.enter_context(
                cursor.copy(
                    f"COPY {_partition_name(snapshot.id)} ({', '.join(ORDER_COLUMNS)}) "
                    "FROM STDIN (FORMAT binary, FREEZE)"
                )
            )
        self._copying = copying
        self._copy_header = True

    def _copy_send(self, *, last: bool = False) -> None:
        """Send the orders not sent yet (``last``: and the end of the COPY's data)."""
        self._copy_write(self._unsent_columns(), last=last)

    def _unsent_columns(self) -> np.ndarray:
        """The orders not sent yet as numpy columns, every field converted once: what the COPY
        sends, and what finish() computes the book tops over (kept in ``_loaded``)."""
        columns = orders_array(orders_rows(self._unsent))
        self._unsent = []
        if len(columns):
            self._loaded.append(columns)
        return columns

    def _copy_write(self, columns: np.ndarray, *, last: bool) -> None:
        if not len(columns) and not last:
            return
        if self._copy is None:
            if not len(columns):
                return  # no COPY was begun, and none is needed
            self._copy_begin()
        # In PostgreSQL's binary form (see market.ingest.pgcopy).
        data = orders_copy_data([columns], header=self._copy_header, trailer=last)
        self._copy_header = False
        with connection.wrap_database_errors:
            self._copy.write(data)

    def _copy_end(self, last: np.ndarray | None = None) -> None:
        """End the COPY, after the orders not sent yet (or ``last``, made of them already)."""
        self._copy_write(self._unsent_columns() if last is None else last, last=True)
        copying, self._copying, self._copy = self._copying, None, None
        if copying is not None:
            # PostgreSQL reports a value it refuses here at the latest.
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
        # The book tops and the trades since the previous snapshot are computed and encoded on
        # another thread while PostgreSQL builds the indexes (this thread only waits on the
        # socket then, so both get a core), the trades while the book tops are COPYed; the
        # state kept for the next ingest is left to that thread once the trades are known.
        previous = self._previous
        tops_ready: Future[SnapshotSummary] = Future()
        trades_ready: Future[SnapshotSummary] = Future()
        landed: Future[bool] = Future()
        last = self._unsent_columns()  # every page is in _loaded from here on
        summary_submit(
            snapshot,
            self._loaded,
            previous=previous,
            copy=True,
            tops_ready=tops_ready,
            trades_ready=trades_ready,
            landed=landed,
        )
        try:
            self._copy_end(last)
            _partition_index(snapshot)
            _best_prices_copy(snapshot, tops_ready.result().best_prices_data)
            summary = trades_ready.result()
            self._loaded = []
            summary_complete(summary, previous=previous)
            _snapshot_swap(snapshot, started=self.started, trades=summary.trades, compared=previous)
            transaction_, self._transaction = self._transaction, None
            transaction_.close()  # commit
            landed.set_result(snapshot.is_current)
        finally:
            if not landed.done():
                landed.set_result(False)  # rolled back by __exit__: no state to keep
        return snapshot

    def _sqlite_finish(self, snapshot: MarketSnapshot) -> MarketSnapshot:
        # Readers ask for the current snapshot's id, so rows under this one stay unseen until
        # the swap below, however many transactions they take to write.
        _orders_insert(snapshot, self._loaded)
        previous = self._previous
        summary = snapshot_summarise(snapshot, self._loaded, previous=previous)
        _best_prices_insert(snapshot, summary.tops)
        self._loaded = []
        summary_complete(summary, previous=previous)  # its orders are deleted after the swap
        with transaction.atomic():
            dropped = _snapshot_swap(
                snapshot, started=self.started, trades=summary.trades, compared=previous
            )
        self._finished = True
        if snapshot.is_current and summary.state_keep is not None:
            summary.state_keep()
        if dropped is not None:
            try:
                _sqlite_rows_delete(dropped)
            except DatabaseError as exc:
                # The new snapshot is current whatever happens here; the next tidy-up retries.
                log.warning("could not delete the rows of snapshot %s yet: %s", dropped, exc)
        return snapshot


def _snapshot_swap(
    snapshot: MarketSnapshot,
    *,
    started: float,
    trades: PairTrades | None = None,
    compared: MarketSnapshot | None = None,
) -> int | None:
    """Make the stored snapshot the region's current one, unless a newer one landed meanwhile
    (then it is dropped as superseded), with the ``trades`` inferred against ``compared``, the
    snapshot that was current when this one began (written only if it still was: another run's
    snapshot landed in between has had its own pair counted). On SQLite, returns the id of the
    snapshot whose rows are no longer wanted (the previous one, or this one when superseded),
    for the caller to delete after this transaction, in chunks."""
    postgres = connection.vendor == "postgresql"
    previous = _current_locked(snapshot)
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
        with connection.cursor() as cursor:
            cursor.execute(
                f"DROP TABLE {_partition_name(snapshot.id)}, {best_prices_partition(snapshot)}"
            )
        return None
    if postgres:
        with connection.cursor() as cursor:
            # Both were indexed like their parents and carry the CHECK that spares the scan.
            for parent, partition in (
                ("market_order", _partition_name(snapshot.id)),
                ("market_bestprice", best_prices_partition(snapshot)),
            ):
                cursor.execute(
                    f"ALTER TABLE {parent} ATTACH PARTITION {partition} "
                    f"FOR VALUES IN ({int(snapshot.id)})"
                )
    if trades is not None and previous is not None and compared is not None:
        if previous.pk == compared.pk:
            pair_trades_write(
                trades, region_id=snapshot.region_id, structure_id=snapshot.structure_id
            )
        else:
            log.info(
                "%s: snapshot %s landed meanwhile; the trades since %s are not counted",
                snapshot.book_label,
                previous.pk,
                compared.pk,
            )
    if previous is not None:
        MarketSnapshot.objects.filter(pk=previous.pk).update(
            is_current=False, status=MarketSnapshot.Status.SUPERSEDED
        )
    snapshot.is_current = True
    snapshot.seconds = time.monotonic() - started
    snapshot.save()
    transaction.on_commit(lambda: _landed_announce(snapshot))
    return None if postgres or previous is None else previous.pk


def _landed_announce(snapshot: MarketSnapshot) -> None:
    _after_landing(snapshot_landed.send, sender=MarketSnapshot, snapshot=snapshot)


def _after_landing(function: Callable, /, *args, **kwargs) -> None:
    """Run what follows a swap's commit (the ``snapshot_landed`` receivers, the tidy-up): on
    PostgreSQL on the landings thread (``market.ingest.background``), so the ingest is done when
    its book is current, not when the desk's warm-up is or the old partitions are dropped; that
    thread reads the committed snapshot through its own connection. Inside an enclosing
    transaction (tests) another connection would not see the snapshot yet, and on SQLite a
    second writer would only contend for its one write lock: there it runs here, at once."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        background_submit("landings", function, *args, **kwargs)
    else:
        function(*args, **kwargs)


def _snapshot_tidy(snapshot: MarketSnapshot) -> None:
    """Housekeeping after the swap committed: the new snapshot is in whatever happens here (its
    ``seconds`` count until its book was current)."""
    try:
        if connection.vendor == "postgresql":
            partitions_prune()
        else:
            _sqlite_orphans_delete()
        _records_prune(snapshot)
        liquidity_prune(
            region_id=snapshot.region_id,
            structure_id=snapshot.structure_id,
            today=timezone.now().date(),
        )
    except DatabaseError as exc:
        log.warning(
            "market snapshot %s stored, but cleaning up after it failed: %s", snapshot.pk, exc
        )


def _current_locked(snapshot: MarketSnapshot) -> MarketSnapshot | None:
    if connection.vendor == "postgresql":
        # Two runs for one book take turns from here on; different books do not wait. A
        # structure's lock is its 64-bit id, a key space apart from the (int, int) pairs.
        with connection.cursor() as cursor:
            if snapshot.structure_id:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [snapshot.structure_id])
            else:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", [0x4C454E, snapshot.region_id]
                )
    return (
        MarketSnapshot.objects.for_book(
            region_id=snapshot.region_id, structure_id=snapshot.structure_id
        )
        .filter(is_current=True)
        .first()
    )


def _partition_name(snapshot_id: int) -> str:
    return f"market_order_s{int(snapshot_id)}"


def _partition_index(snapshot: MarketSnapshot) -> None:
    # Built once over the loaded table: much less work than keeping them up to date row by row
    # during the COPY. They match the parent's, so attaching adopts them.
    partition = _partition_name(snapshot.id)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {partition} ADD PRIMARY KEY (snapshot_id, order_id)")
        cursor.execute(f"CREATE INDEX ON {partition} (snapshot_id, type_id)")


# The tables partitioned by snapshot, and the prefix of their partitions' names.
PARTITIONED = (("market_order", "market_order_s"), ("market_bestprice", "market_bestprice_s"))


def partitions_prune() -> list[str]:
    """Detach and drop the order and book-top partitions whose snapshot is no longer current.

    Outside a transaction the detach is CONCURRENTLY, so readers never wait; a partition that
    cannot be dropped now (lock held too long) is left for the next run.
    """
    # The partitions first, the current snapshots after: a partition is attached in the
    # transaction that makes its snapshot current, so any partition listed here is either
    # current by the next statement or superseded for good. The other order drops the book of a
    # snapshot that commits in between (another region's ingest, the next hub of the same
    # process while this runs on the landings thread), and the detaches below, each waiting
    # for the transactions in flight, make "in between" last seconds: its tops read empty.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT parent.relname, child.relname, inh.inhdetachpending
            FROM pg_inherits inh
            JOIN pg_class child ON child.oid = inh.inhrelid
            JOIN pg_class parent ON parent.oid = inh.inhparent
            WHERE inh.inhparent = ANY(%s::regclass[])
            """,
            [[parent for parent, _ in PARTITIONED]],
        )
        partitions = cursor.fetchall()
    current = set(MarketSnapshot.objects.current().values_list("id", flat=True))
    prefixes = dict(PARTITIONED)
    dropped = []
    for parent, name, detach_pending in sorted(partitions):
        prefix = prefixes[parent]
        if not name.startswith(prefix) or int(name.removeprefix(prefix)) in current:
            continue
        try:
            _partition_drop(parent, name, detach_pending=detach_pending)
        except DatabaseError as exc:
            log.warning("could not drop old partition %s yet: %s", name, exc)
            continue
        dropped.append(name)
    return dropped


def _partition_drop(parent: str, name: str, *, detach_pending: bool) -> None:
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            # Tests run inside a transaction, where CONCURRENTLY is not allowed.
            cursor.execute(f"DROP TABLE {name}")
            return
        cursor.execute("SET lock_timeout = '10s'")
        try:
            how = "FINALIZE" if detach_pending else "CONCURRENTLY"
            cursor.execute(f"ALTER TABLE {parent} DETACH PARTITION {name} {how}")
            cursor.execute(f"DROP TABLE {name}")
        finally:
            cursor.execute("RESET lock_timeout")


def _records_prune(snapshot: MarketSnapshot) -> None:
    books = MarketSnapshot.objects.for_book(
        region_id=snapshot.region_id, structure_id=snapshot.structure_id
    )
    keep = list(books.order_by("-fetched_at").values_list("pk", flat=True)[:SNAPSHOT_RECORDS_KEPT])
    books.filter(is_current=False).exclude(pk__in=keep).delete()
