"""The top of every (location, type) book of a snapshot, stored as ``BestPrice`` rows: COPYed on
PostgreSQL, inserted in short transactions on SQLite.

Computed with numpy over the snapshot's order columns (:mod:`market.ingest.columns`): the orders
are sorted once by location, type, side and price (best first), so each side of each book is a
run of rows whose first row is the best price. Besides the best prices, counts and volumes:

- **depth price** (``depth_bid``/``depth_ask``): the volume-weighted average price of the best
  5 % of the side's units, the last order counted only in part so that exactly 5 % are; when
  5 % is under one unit, one unit is counted (the depth price is then the best price). Exact:
  in integer cents, the 5 % is ``units / 20``, so twenty times every weight is a whole number
  and the average is one integer division, rounded half-even to the cent (the rule of
  ``lenny.lib.money.isk_store``). Example: asks of 10 units at 5.00 and 90 at 6.00 — 5 % of
  100 units is 5, all at 5.00: depth 5.00. Asks of 2 at 5.00 and 98 at 6.00: 2 at 5.00 and 3
  at 6.00, (10.00 + 18.00) / 5 = 5.60.
- ``best_bid_min_volume``: the smallest ``min_volume`` among the buy orders at the best bid (1
  without bids): a seller of fewer units fills none of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import repeat

import numpy as np
from django.db import connection

from lenny.lib.money import CENT, isk_decimal
from market.ingest.columns import order_columns
from market.ingest.payloads import EsiOrder
from market.ingest.pgcopy import Column, copy_data, numeric_parts
from market.ingest.sqlite import _sqlite_chunks_insert
from market.models import MarketSnapshot

# The classic top of a book (what OrderBookTops.rows() gives) …
BOOK_TOP_COLUMNS = (
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
# … and every column of a BestPrice row the ingest writes.
BEST_PRICE_COLUMNS = (*BOOK_TOP_COLUMNS, "depth_bid", "depth_ask", "best_bid_min_volume")
BEST_PRICE_COPY_COLUMNS = ("region_id", *BEST_PRICE_COLUMNS)
BEST_PRICE_TABLE_COLUMNS = ("snapshot_id", *BEST_PRICE_COPY_COLUMNS)

# The share of a side's units the depth price averages over: 1 / DEPTH_DIVISOR (5 %).
DEPTH_DIVISOR = 20
# Cents beyond this are not exact in float64 (prices above ~90 trillion ISK); such sides, and
# sides whose integer sums could overflow int64, are computed with Decimal instead.
EXACT_CENTS = 2**53
SAFE_SUM = 2**62


SORTED_FIELDS = ("location_id", "type_id", "is_buy_order", "price", "volume_remain", "min_volume")


@dataclass
class SortedBook:
    """A snapshot's orders sorted by (location, type, side, best price first), with where each
    side of each book starts. ``order`` maps sorted rows back to the input rows."""

    orders: dict[str, np.ndarray]  # SORTED_FIELDS of the orders, each column sorted
    order: np.ndarray  # the permutation that sorted them
    starts: np.ndarray  # first row of each (location, type, side) run
    lengths: np.ndarray
    cents: np.ndarray  # each sorted row's price in cents (0 where not exact: see EXACT_CENTS)
    inexact: np.ndarray  # each sorted row: True when its cents are not exact
    run_best: np.ndarray  # each sorted row: the best price of its run (float)

    @property
    def at_best(self) -> np.ndarray:
        """Each sorted row: True when its price is the best of its side at its station."""
        return self.orders["price"] == self.run_best


def book_sort(orders: np.ndarray) -> SortedBook:
    is_buy = orders["is_buy_order"]
    # Sells first, then buys; lowest ask first, highest bid first (equal prices in any order:
    # nothing computed here depends on it).
    order = np.lexsort(
        (
            np.where(is_buy, -orders["price"], orders["price"]),
            (orders["type_id"].astype(np.int64) << 1) | is_buy,
            orders["location_id"],
        )
    )
    # Column by column: only what the book tops read, not whole records.
    rows = {name: orders[name][order] for name in SORTED_FIELDS}
    location, type_id, buy = rows["location_id"], rows["type_id"], rows["is_buy_order"]
    new_run = np.ones(len(location), dtype=bool)
    if len(location):
        new_run[1:] = (
            (location[1:] != location[:-1]) | (type_id[1:] != type_id[:-1]) | (buy[1:] != buy[:-1])
        )
    starts = np.flatnonzero(new_run)
    lengths = np.diff(np.append(starts, len(location)))
    cents_float = np.rint(rows["price"] * 100)
    inexact = cents_float >= EXACT_CENTS
    cents = np.where(inexact, 0, cents_float).astype(np.int64)
    run_best = np.repeat(rows["price"][starts], lengths)
    return SortedBook(rows, order, starts, lengths, cents, inexact, run_best)


@dataclass
class BookTops:
    """Per (location, type) book, sorted by location then type: numpy columns."""

    location_id: np.ndarray
    type_id: np.ndarray
    has_bid: np.ndarray
    has_ask: np.ndarray
    best_bid: np.ndarray
    best_ask: np.ndarray
    bid_count: np.ndarray
    ask_count: np.ndarray
    best_bid_volume: np.ndarray
    best_ask_volume: np.ndarray
    bid_volume: np.ndarray
    ask_volume: np.ndarray
    depth_bid: np.ndarray  # cents / 100: its shortest repr is the exact cents
    depth_ask: np.ndarray
    best_bid_min_volume: np.ndarray
    # {book: Decimal} where the depth price was computed exactly instead (see EXACT_CENTS)
    depth_exact: dict[str, dict[int, Decimal]]

    def __len__(self) -> int:
        return len(self.location_id)

    def rows(self, *prefix: object, columns: Sequence[str] = BEST_PRICE_COLUMNS) -> Iterator:
        values = []
        for name in columns:
            plain = getattr(self, name).tolist()
            side = _SIDE_OF_COLUMN.get(name)
            if side is not None:
                present = getattr(self, side).tolist()
                plain = [v if has else None for v, has in zip(plain, present, strict=True)]
            for book, exact in self.depth_exact.get(name, {}).items():
                plain[book] = exact
            values.append(plain)
        return zip(*(repeat(value) for value in prefix), *values, strict=False)


_SIDE_OF_COLUMN = {
    "best_bid": "has_bid",
    "depth_bid": "has_bid",
    "best_ask": "has_ask",
    "depth_ask": "has_ask",
}


def book_tops_compute(book: SortedBook) -> BookTops:
    rows = book.orders
    starts, lengths = book.starts, book.lengths
    n_runs = len(starts)
    if not n_runs:
        empty = np.zeros(0, dtype=np.int64)
        return BookTops(*([empty] * 15), depth_exact={})
    volume = rows["volume_remain"]
    first = {name: column[starts] for name, column in rows.items()}
    run_is_buy = first["is_buy_order"]
    # Runs of one book are adjacent (sells then buys): a book starts where location or type change.
    new_book = np.ones(n_runs, dtype=bool)
    new_book[1:] = (first["location_id"][1:] != first["location_id"][:-1]) | (
        first["type_id"][1:] != first["type_id"][:-1]
    )
    book_of_run = np.cumsum(new_book) - 1
    n_books = int(book_of_run[-1]) + 1
    book_first = {name: column[new_book] for name, column in first.items()}

    run_volume = np.add.reduceat(volume, starts)
    at_best = book.at_best
    best_volume = np.add.reduceat(np.where(at_best, volume, 0), starts)
    least = np.iinfo(np.int64).max
    min_volume_at_best = np.minimum.reduceat(np.where(at_best, rows["min_volume"], least), starts)
    depth_cents, exact = _depth_prices(book, run_volume)
    bid_runs, ask_runs = run_is_buy, ~run_is_buy

    def per_book(values: np.ndarray, runs: np.ndarray, empty: object) -> np.ndarray:
        out = np.full(n_books, empty, dtype=values.dtype)
        out[book_of_run[runs]] = values[runs]
        return out

    has_bid = np.zeros(n_books, dtype=bool)
    has_bid[book_of_run[bid_runs]] = True
    has_ask = np.zeros(n_books, dtype=bool)
    has_ask[book_of_run[ask_runs]] = True
    depth_exact: dict[str, dict[int, Decimal]] = {"depth_bid": {}, "depth_ask": {}}
    for run, value in exact.items():
        side = "depth_bid" if run_is_buy[run] else "depth_ask"
        depth_exact[side][int(book_of_run[run])] = value
    depth = depth_cents / 100
    return BookTops(
        location_id=book_first["location_id"],
        type_id=book_first["type_id"],
        has_bid=has_bid,
        has_ask=has_ask,
        best_bid=per_book(first["price"], bid_runs, 0.0),
        best_ask=per_book(first["price"], ask_runs, 0.0),
        bid_count=per_book(lengths, bid_runs, 0),
        ask_count=per_book(lengths, ask_runs, 0),
        best_bid_volume=per_book(best_volume, bid_runs, 0),
        best_ask_volume=per_book(best_volume, ask_runs, 0),
        bid_volume=per_book(run_volume, bid_runs, 0),
        ask_volume=per_book(run_volume, ask_runs, 0),
        depth_bid=per_book(depth, bid_runs, 0.0),
        depth_ask=per_book(depth, ask_runs, 0.0),
        best_bid_min_volume=per_book(min_volume_at_best, bid_runs, 1),
        depth_exact=depth_exact,
    )


def _depth_prices(book: SortedBook, run_volume: np.ndarray) -> tuple[np.ndarray, dict]:
    """Each run's depth price in cents (see the module docstring), and {run: Decimal} for the
    rare run computed exactly in Python instead."""
    starts, lengths = book.starts, book.lengths
    rows = book.orders
    volume = rows["volume_remain"]
    units = np.repeat(run_volume, lengths)  # the run's units, on each of its rows (= 20 x 5 %)
    before = np.cumsum(volume) - volume
    before -= np.repeat(before[starts], lengths)  # units of the run ahead of each row
    # Twenty times the units each row gives to the 5 %: whole numbers, as 20 x 5 % = 100 %.
    taken = np.clip(units - DEPTH_DIVISOR * before, 0, DEPTH_DIVISOR * volume)
    numerator = np.add.reduceat(book.cents * taken, starts)
    risky = (
        np.add.reduceat(book.cents.astype(np.float64) * taken, starts) >= SAFE_SUM
    ) | np.logical_or.reduceat(book.inexact, starts)
    divisor = np.maximum(run_volume, 1)
    quotient, remainder = np.divmod(numerator, divisor)
    twice = 2 * remainder
    quotient += (twice > divisor) | ((twice == divisor) & (quotient % 2 == 1))
    # Under 20 units, 5 % is under one unit: one unit counts, so the depth is the best price.
    depth_cents = np.where(run_volume < DEPTH_DIVISOR, book.cents[starts], quotient)
    exact = {}
    for run in np.flatnonzero(risky).tolist():
        start, end = int(starts[run]), int(starts[run] + lengths[run])
        exact[run] = depth_exact(
            [isk_decimal(p) for p in rows["price"][start:end].tolist()],
            volume[start:end].tolist(),
        )
    return depth_cents, exact


def depth_exact(prices: Sequence[Decimal], volumes: Sequence[int]) -> Decimal:
    """The depth price of one side given best first, in Decimal (the reference the array
    arithmetic follows; used where it could overflow)."""
    units = sum(volumes)
    if units < DEPTH_DIVISOR:
        return prices[0].quantize(CENT, ROUND_HALF_EVEN)
    share = Decimal(units) / DEPTH_DIVISOR
    left, total = share, Decimal(0)
    for price, volume in zip(prices, volumes, strict=True):
        take = min(Decimal(volume), left)
        total += price * take
        left -= take
        if left <= 0:
            break
    return (total / share).quantize(CENT, ROUND_HALF_EVEN)


class OrderBookTops:
    """The top of every (location, type) book of orders added page by page (the ingest uses
    :func:`book_tops_compute` over the whole snapshot's columns at once)."""

    def __init__(self) -> None:
        self._pages: list[list[EsiOrder]] = []
        self._tops: BookTops | None = None

    def add(self, orders: Iterable[EsiOrder]) -> None:
        self._pages.append(list(orders))
        self._tops = None

    def tops(self) -> BookTops:
        if self._tops is None:
            self._tops = book_tops_compute(book_sort(order_columns(self._pages)))
        return self._tops

    def __len__(self) -> int:
        return len(self.tops())

    def rows(self, *prefix: object) -> Iterator[tuple]:
        """Tuples of ``prefix`` then BOOK_TOP_COLUMNS, sorted by location and type."""
        return self.tops().rows(*prefix, columns=BOOK_TOP_COLUMNS)


def best_prices_copy_data(snapshot: MarketSnapshot, tops: BookTops) -> bytes:
    """The snapshot's BestPrice rows as binary COPY data (see ``pgcopy``) of
    BEST_PRICE_COPY_COLUMNS: their snapshot id is the partition's default."""
    prices = {}
    for name, side in (("best_bid", "has_bid"), ("best_ask", "has_ask")):
        prices[name] = (*numeric_parts(getattr(tops, name)), ~getattr(tops, side))
    for name, side in (("depth_bid", "has_bid"), ("depth_ask", "has_ask")):
        # cents / 100, whose shortest text is the exact cents; the rare Decimal as it is.
        whole, hundredths = numeric_parts(getattr(tops, name))
        for book, value in tops.depth_exact.get(name, {}).items():
            whole[book], hundredths[book] = divmod(int(value * 100), 100)
        prices[name] = (whole, hundredths, ~getattr(tops, side))
    n = len(tops)
    columns = []
    for name in BEST_PRICE_COPY_COLUMNS:
        if name in prices:
            whole, hundredths, null = prices[name]
            columns.append(Column("numeric", whole, null=null, hundredths=hundredths))
        elif name == "region_id":
            columns.append(Column("int4", np.full(n, snapshot.region_id, dtype=np.int64)))
        else:
            columns.append(Column(_BEST_PRICE_KINDS[name], getattr(tops, name)))
    return copy_data(columns, header=True, trailer=True)


_BEST_PRICE_KINDS = {
    "location_id": "int8",
    "type_id": "int4",
    "bid_count": "int4",
    "ask_count": "int4",
    "best_bid_volume": "int8",
    "best_ask_volume": "int8",
    "bid_volume": "int8",
    "ask_volume": "int8",
    "best_bid_min_volume": "int4",
}


def best_prices_partition(snapshot: MarketSnapshot) -> str:
    return f"market_bestprice_s{int(snapshot.id)}"


def _best_prices_copy(snapshot: MarketSnapshot, data: bytes) -> None:
    """PostgreSQL: the snapshot's BestPrice rows into a table of their own, indexed, for the
    swap to attach as a partition of ``market_bestprice`` (see ``_order_partition_create``: the
    same steps as the orders', for the same reasons: no index kept up to date row by row, and
    the superseded book tops are dropped with their table, not deleted row by row)."""
    partition = best_prices_partition(snapshot)
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.execute(f"CREATE TABLE {partition} (LIKE market_bestprice)")
        cursor.execute(
            f"ALTER TABLE {partition} ALTER COLUMN snapshot_id SET DEFAULT {int(snapshot.id)}, "
            f"ADD CONSTRAINT {partition}_snapshot CHECK (snapshot_id = {int(snapshot.id)})"
        )
        with cursor.copy(
            f"COPY {partition} ({', '.join(BEST_PRICE_COPY_COLUMNS)}) "
            "FROM STDIN (FORMAT binary, FREEZE)"
        ) as copy:
            copy.write(data)
        cursor.execute(
            f"ALTER TABLE {partition} ADD PRIMARY KEY (snapshot_id, location_id, type_id)"
        )
        cursor.execute(f"CREATE INDEX ON {partition} (snapshot_id, type_id)")


def _best_prices_insert(snapshot: MarketSnapshot, tops: BookTops) -> None:
    """SQLite: the snapshot's book tops, SQLITE_CHUNK_ROWS to a transaction."""
    _sqlite_chunks_insert(
        f"INSERT INTO market_bestprice ({', '.join(BEST_PRICE_TABLE_COLUMNS)}) "
        f"VALUES ({', '.join(['%s'] * len(BEST_PRICE_TABLE_COLUMNS))})",
        tops.rows(snapshot.id, snapshot.region_id),
    )
