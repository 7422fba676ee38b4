"""ESI's market payloads, validated while decoded: a bad page is an error, never a bad row."""

from __future__ import annotations

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
    # Field order = ORDER_COLUMNS, the COPY's column order; astuple() hands them over in one C
    # call.
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
    # Kept as ESI's text here: ``market.ingest.columns`` reads a whole page's with array
    # arithmetic, far faster than 400k datetimes built one by one.
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


def orders_rows(orders: list[EsiOrder]) -> list[tuple]:
    """Each order's fields as a tuple in ORDER_COLUMNS order (one C call each)."""
    astuple = msgspec.structs.astuple
    return [astuple(order) for order in orders]
