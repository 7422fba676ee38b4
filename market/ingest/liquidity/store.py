"""Writing what a pair of snapshots told: StationTradeDay rows added to, the region's ObservedDay
extended (a player structure's own book: its ``StructureObservedDay``). Called inside the transaction that makes the newer snapshot current, so the figures
and the book they came from land together or not at all.

PostgreSQL: the pair's rows are COPYed into a temporary table, then added to the day's rows in
one ``INSERT … ON CONFLICT DO UPDATE``. SQLite: one ``executemany`` of the same upsert, a few
thousand rows, inside the swap's short transaction.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db import connection

from market.ingest.liquidity.inference import (
    ISK_COLUMNS,
    UNIT_COLUMNS,
    PairTrades,
    cents_text,
    rows_csv,
)
from market.ingest.sqlite import SQLITE_CHUNK_ROWS, _sqlite_write
from market.models import ObservedDay, StationTradeDay, Structure, StructureObservedDay

# StationTradeDay and ObservedDay rows are kept this long (the API reads up to 35 days back).
KEEP_DAYS = 35

_TRADE_TABLE = StationTradeDay._meta.db_table
_OBSERVED_TABLE = ObservedDay._meta.db_table
_STRUCTURE_OBSERVED_TABLE = StructureObservedDay._meta.db_table
_PAIR_TABLE = "market_pair_trades"
_FIGURES = (*UNIT_COLUMNS, *ISK_COLUMNS)


def _added(target: str, source: str) -> str:
    return ", ".join(f"{name} = {target}.{name} + {source}.{name}" for name in _FIGURES)


def _day(day: date) -> date | str:
    # SQLite's driver no longer adapts dates by default (Python 3.12); its dates are ISO text.
    return day if connection.vendor == "postgresql" else day.isoformat()


def _own_books(region_id: int) -> set[int]:
    """The region's structures tracked with a book of their own: their trades are counted from
    their own snapshots, never twice (ESI's region book lists the orders of public ones too)."""
    return set(Structure.objects.tracked().filter(region_id=region_id).values_list("pk", flat=True))


def pair_trades_write(pair: PairTrades, *, region_id: int, structure_id: int = 0) -> None:
    """Add the pair's trades to their days' rows and its time to the region's observed day (to
    the structure's, for a structure's own book)."""
    # Every row, as the inference's thread encoded them, unless some belong to another book.
    rows: list[tuple] | None = None
    if structure_id:
        rows = [row for row in pair.rows() if row[0] == structure_id]
    else:
        own = _own_books(region_id)
        if own:
            rows = [row for row in pair.rows() if row[0] not in own]
    if connection.vendor == "postgresql":
        _postgres_write(
            pair.copy_csv if rows is None else rows_csv(rows), region_id=region_id, day=pair.date
        )
    else:
        _sqlite_trades_write(
            pair.rows() if rows is None else rows, region_id=region_id, day=pair.date
        )
    with connection.cursor() as cursor:
        if structure_id:
            cursor.execute(
                f"INSERT INTO {_STRUCTURE_OBSERVED_TABLE} (structure_id, region_id, date, "
                f"observed_seconds, pairs) VALUES (%s, %s, %s, %s, 1) "
                f"ON CONFLICT (structure_id, date) DO UPDATE SET observed_seconds = "
                f"{_STRUCTURE_OBSERVED_TABLE}.observed_seconds + excluded.observed_seconds, "
                f"pairs = {_STRUCTURE_OBSERVED_TABLE}.pairs + 1",
                [structure_id, region_id, _day(pair.date), pair.observed_seconds],
            )
            return
        cursor.execute(
            f"INSERT INTO {_OBSERVED_TABLE} (region_id, date, observed_seconds, pairs) "
            f"VALUES (%s, %s, %s, 1) ON CONFLICT (region_id, date) DO UPDATE SET "
            f"observed_seconds = {_OBSERVED_TABLE}.observed_seconds + excluded.observed_seconds, "
            f"pairs = {_OBSERVED_TABLE}.pairs + 1",
            [region_id, _day(pair.date), pair.observed_seconds],
        )


def _sqlite_trades_write(rows: list[tuple], *, region_id: int, day: date) -> None:
    if not rows:
        return
    figures = len(UNIT_COLUMNS)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {_TRADE_TABLE} (region_id, date, location_id, type_id, "
            f"{', '.join(_FIGURES)}) VALUES ({', '.join(['%s'] * (4 + len(_FIGURES)))}) "
            f"ON CONFLICT (location_id, type_id, date) DO UPDATE SET "
            f"{_added(_TRADE_TABLE, 'excluded')}",
            [
                (
                    region_id,
                    day.isoformat(),
                    *row[: 2 + figures],
                    *(cents_text(c) for c in row[2 + figures :]),
                )
                for row in rows
            ],
        )


def _postgres_write(csv: bytes, *, region_id: int, day: date) -> None:
    if not csv:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_PAIR_TABLE} (location_id bigint, type_id integer, "
            + ", ".join(f"{name} bigint" for name in UNIT_COLUMNS)
            + ", "
            + ", ".join(f"{name} numeric(24, 2)" for name in ISK_COLUMNS)
            + ") ON COMMIT DROP"
        )
        # Left over from an earlier pair in the same transaction (tests store several books).
        cursor.execute(f"TRUNCATE {_PAIR_TABLE}")
        with (
            connection.wrap_database_errors,
            cursor.copy(f"COPY {_PAIR_TABLE} FROM STDIN (FORMAT csv)") as copy,
        ):
            copy.write(csv)
        cursor.execute(
            f"INSERT INTO {_TRADE_TABLE} (region_id, date, location_id, type_id, "
            f"{', '.join(_FIGURES)}) SELECT %s, %s, location_id, type_id, {', '.join(_FIGURES)} "
            f"FROM {_PAIR_TABLE} ON CONFLICT (location_id, type_id, date) DO UPDATE SET "
            f"{_added(_TRADE_TABLE, 'excluded')}",
            [region_id, day],
        )


def liquidity_prune(*, region_id: int, today: date, structure_id: int = 0) -> None:
    """Delete the region's figures older than KEEP_DAYS (SQLite: in short transactions); after
    a structure's book, the structure's watched days too."""
    cutoff = today - timedelta(days=KEEP_DAYS)
    if structure_id:
        StructureObservedDay.objects.filter(structure_id=structure_id, date__lt=cutoff).delete()
    if connection.vendor == "postgresql":
        StationTradeDay.objects.filter(region_id=region_id, date__lt=cutoff).delete()
        ObservedDay.objects.filter(region_id=region_id, date__lt=cutoff).delete()
        return
    for table in (_TRADE_TABLE, _OBSERVED_TABLE):
        sql = (
            f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} "
            f"WHERE region_id = %s AND date < %s LIMIT {SQLITE_CHUNK_ROWS})"
        )
        params = [region_id, cutoff.isoformat()]
        while _sqlite_write(lambda cursor, sql=sql, params=params: cursor.execute(sql, params)):
            pass
