"""The SQLite path of the snapshot swap (the embedded default): SQLite has one write lock that every
writer shares, so the ingest writes and deletes in short transactions and yields the lock between
them (see :mod:`market.ingest.snapshots`)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import msgspec
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from market.ingest.payloads import ORDER_COLUMNS, EsiOrder, MarketDataError
from market.models import BestPrice, MarketSnapshot, Order

log = logging.getLogger("market.ingest")

# SQLite: rows written or deleted per transaction (~30-60 ms of holding the write lock) …
SQLITE_CHUNK_ROWS = 2000
# … and after each, the ingest pauses about as long as it held the lock, so a writer that waits
# (SQLite's busy handler retries every few ms to 100 ms) gets its turn well within a second.
SQLITE_YIELD_SHARE = 1.0
# SQLite: a snapshot still loading after this long was left by a run that died; its rows go.
SQLITE_LOAD_ABANDONED_AFTER = timedelta(hours=1)


@contextmanager
def sqlite_yields_off() -> Iterator[None]:
    """While nothing else writes (the demo's load, before its web server and workers start), the
    ingest need not pause between its short transactions: it takes half the time."""
    global SQLITE_YIELD_SHARE
    share, SQLITE_YIELD_SHARE = SQLITE_YIELD_SHARE, 0.0
    try:
        yield
    finally:
        SQLITE_YIELD_SHARE = share


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
    if not connection.in_atomic_block and SQLITE_YIELD_SHARE:
        # (inside an outer transaction nobody could get in anyway)
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
