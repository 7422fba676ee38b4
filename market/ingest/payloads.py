"""ESI's market payloads, validated while decoded: a bad page is an error, never a bad row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Annotated, Literal

import msgspec

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
    return orders_rows_csv(orders_rows(orders))


def orders_rows(orders: list[EsiOrder]) -> list[tuple]:
    """Each order's fields as a tuple in ORDER_COLUMNS order (one C call each)."""
    astuple = msgspec.structs.astuple
    return [astuple(order) for order in orders]


def orders_rows_csv(rows: list[tuple]) -> bytes:
    """:func:`orders_csv` of rows already made by :func:`orders_rows`."""
    if not rows:
        return b""
    encoded = _rows_encoder.encode(rows)
    if b"\\" not in encoded and encoded.count(b"],[") == len(rows) - 1:
        return encoded[2:-2].replace(b"],[", b"\n") + b"\n"
    buffer = io.StringIO()
    # Every string quoted, so an empty one stays a string (unquoted empty is NULL in COPY CSV).
    csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC).writerows(rows)
    return buffer.getvalue().encode()
