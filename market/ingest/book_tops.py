"""The top of every (location, type) book of a snapshot, summed page by page, stored as
``BestPrice`` rows: COPYed on PostgreSQL, inserted in short transactions on SQLite."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import repeat
from typing import TYPE_CHECKING

import msgspec
from django.db import connection

from market.ingest.payloads import EsiOrder, _rows_encoder
from market.ingest.sqlite import _sqlite_chunks_insert
from market.models import MarketSnapshot

if TYPE_CHECKING:
    pass

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
