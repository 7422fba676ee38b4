"""A snapshot's orders as numpy columns: what the book tops and the liquidity inference compute
over, vectorised, instead of looping over 400k Python objects.

Each page's orders become one structured array as the page arrives (from the tuples its COPY
rows are made of, so nothing is decoded twice), and :func:`order_columns` joins the pages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from market.ingest.payloads import ORDER_COLUMNS, EsiOrder, MarketDataError, orders_rows
from market.ingest.sqlite import _issued_parse

# What the computations read of an order. ``issued`` stays ESI's text (at most 40 characters,
# as the payload allows) until :func:`issued_seconds` reads it.
ORDER_DTYPE = np.dtype(
    [
        ("order_id", "i8"),
        ("type_id", "i4"),
        ("location_id", "i8"),
        ("is_buy_order", "?"),
        ("price", "f8"),
        ("volume_remain", "i8"),
        ("volume_total", "i8"),
        ("min_volume", "i8"),
        ("duration", "i8"),
        ("issued", "S40"),
    ]
)
SECONDS_A_DAY = 86_400
ESI_ISSUED_LENGTH = len("2026-01-02T03:04:05Z")
_POSITIONS = [(name, ORDER_COLUMNS.index(name)) for name in ORDER_DTYPE.names]


def orders_array(rows: list[tuple]) -> np.ndarray:
    """Orders given as :func:`~market.ingest.payloads.orders_rows` tuples, as ORDER_DTYPE.

    Column by column (one transposition, then each column converted in C): several times
    quicker than converting tuple by tuple."""
    array = np.zeros(len(rows), dtype=ORDER_DTYPE)
    if not rows:
        return array
    columns = list(zip(*rows, strict=True))
    for name, position in _POSITIONS[:-1]:
        array[name] = columns[position]
    issued = columns[_POSITIONS[-1][1]]
    blob = "".join(issued).encode()
    if len(blob) == ESI_ISSUED_LENGTH * len(rows) and set(map(len, issued)) == {ESI_ISSUED_LENGTH}:
        # ESI's form, all ASCII: the page's dates are one buffer of fixed-width strings.
        array["issued"] = np.frombuffer(blob, dtype=f"S{ESI_ISSUED_LENGTH}")
    else:
        # Anything else as UTF-8 (a hostile one, outside ASCII, is then refused by
        # issued_seconds(), and by PostgreSQL's COPY first).
        array["issued"] = [text.encode("utf-8", "replace")[:40] for text in issued]
    return array


def order_columns(pages: Iterable[np.ndarray | Sequence[EsiOrder]]) -> np.ndarray:
    """The pages' orders (arrays from :func:`orders_array`, or the orders themselves) as one
    ORDER_DTYPE array, in page order."""
    parts = [
        page if isinstance(page, np.ndarray) else orders_array(orders_rows(list(page)))
        for page in pages
    ]
    if not parts:
        return np.empty(0, dtype=ORDER_DTYPE)
    return np.concatenate(parts)


# "2026-01-02T03:04:05Z": the separators' positions.
_SEPARATORS = {4: "-", 7: "-", 10: "T", 13: ":", 16: ":", 19: "Z"}


def issued_seconds(orders: np.ndarray) -> np.ndarray:
    """Each order's ``issued`` as Unix seconds (int64). ESI's form (``2026-01-02T03:04:05Z``)
    is read with array arithmetic; anything else goes through ``datetime.fromisoformat`` one by
    one, and an unreadable one raises MarketDataError naming the order."""
    n = len(orders)
    if not n:
        return np.empty(0, dtype=np.int64)
    raw = _text_bytes(orders, "issued")
    usual = raw[:, ESI_ISSUED_LENGTH] == 0 if raw.shape[1] > ESI_ISSUED_LENGTH else np.ones(n, bool)
    for position, char in _SEPARATORS.items():
        usual &= raw[:, position] == ord(char)

    def number(*positions: int) -> np.ndarray:
        nonlocal usual
        value = np.zeros(n, dtype=np.int64)
        for position in positions:
            digit = raw[:, position] - np.uint8(ord("0"))  # wraps below "0": > 9 too
            usual &= digit <= 9
            value = value * 10 + digit
        return value

    year, month, day = number(0, 1, 2, 3), number(5, 6), number(8, 9)
    clock = number(11, 12) * 3600 + number(14, 15) * 60 + number(17, 18)
    usual &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)
    seconds = _days_from_civil(year, month, day) * SECONDS_A_DAY + clock
    for i in np.flatnonzero(~usual).tolist():
        seconds[i] = _issued_seconds_slow(orders["issued"][i], order_id=int(orders["order_id"][i]))
    return seconds


def _text_bytes(orders: np.ndarray, name: str) -> np.ndarray:
    """A text field's bytes as an (n, width) uint8 view of the records, without a copy when the
    records are contiguous."""
    width = orders.dtype[name].itemsize
    if orders.flags.c_contiguous:
        return np.ndarray(
            (len(orders), width),
            dtype=np.uint8,
            buffer=orders,
            offset=orders.dtype.fields[name][1],
            strides=(orders.itemsize, 1),
        )
    return np.ascontiguousarray(orders[name]).view(np.uint8).reshape(len(orders), width)


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's days_from_civil)."""
    year = year - (month <= 2)
    era = np.floor_divide(year, 400)
    year_of_era = year - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def _issued_seconds_slow(raw: bytes, *, order_id: int) -> int:
    text = bytes(raw).decode("utf-8", "replace")
    try:
        return int(_issued_parse(text, order_id=order_id).timestamp())
    except (ValueError, OverflowError):
        raise MarketDataError(f"order {order_id}: issued {text!r} is not a date and time") from None
