"""A snapshot's orders as numpy columns: what the ingest COPYs (``pgcopy``), and what the book
tops and the liquidity inference compute over, vectorised, instead of looping over 400k Python
objects.

Each page's orders become one structured array as the page arrives (:func:`orders_array`), and
:func:`order_columns` joins the pages. Every field of an order is there, already converted: the
range as its index in ``RANGES`` and ``issued`` as microseconds since the Unix epoch, so each
text is read once, here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import get_args

import numpy as np

from market.ingest.payloads import ORDER_COLUMNS, EsiOrder, MarketDataError, OrderRange, orders_rows
from market.ingest.pgcopy import Column, copy_data, numeric_parts
from market.ingest.sqlite import _issued_parse

# Every field of an order, in ORDER_COLUMNS order. ``range`` is an index into RANGES; ``issued``
# is microseconds since 1970-01-01 UTC (exact: PostgreSQL keeps microseconds too).
ORDER_DTYPE = np.dtype(
    [
        ("order_id", "i8"),
        ("type_id", "i4"),
        ("location_id", "i8"),
        ("system_id", "i4"),
        ("is_buy_order", "?"),
        ("price", "f8"),
        ("volume_remain", "i8"),
        ("volume_total", "i8"),
        ("min_volume", "i8"),
        ("range", "u1"),
        ("duration", "i8"),
        ("issued", "i8"),
    ]
)
assert ORDER_DTYPE.names == ORDER_COLUMNS, "ORDER_DTYPE follows EsiOrder's fields"
ORDER_EMPTY = np.empty(0, dtype=ORDER_DTYPE)
RANGES: tuple[str, ...] = get_args(OrderRange)
RANGE_CODES = {name: code for code, name in enumerate(RANGES)}
_RANGE_BYTES = tuple(name.encode() for name in RANGES)
SECONDS_A_DAY = 86_400
MICROSECONDS = 1_000_000
ESI_ISSUED_LENGTH = len("2026-01-02T03:04:05Z")
_RANGE = ORDER_COLUMNS.index("range")
_ISSUED = ORDER_COLUMNS.index("issued")
_NUMBERS = [(name, i) for i, name in enumerate(ORDER_COLUMNS) if i not in (_RANGE, _ISSUED)]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def orders_array(rows: list[tuple]) -> np.ndarray:
    """Orders given as :func:`~market.ingest.payloads.orders_rows` tuples (ESI's fields, as
    validated by the decoder), as ORDER_DTYPE. Column by column: one transposition, then each
    column converted in C, several times quicker than tuple by tuple. An ``issued`` that is not
    a date and time raises MarketDataError naming the order."""
    array = np.empty(len(rows), dtype=ORDER_DTYPE)
    if not rows:
        return array
    columns = list(zip(*rows, strict=True))
    for name, position in _NUMBERS:
        array[name] = columns[position]
    array["range"] = np.fromiter(map(RANGE_CODES.__getitem__, columns[_RANGE]), np.uint8, len(rows))
    array["issued"] = issued_microseconds(columns[_ISSUED], array["order_id"])
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


def issued_seconds(orders: np.ndarray) -> np.ndarray:
    """Each order's ``issued`` as whole Unix seconds (int64)."""
    return orders["issued"] // MICROSECONDS


# "2026-01-02T03:04:05Z": the separators' positions, and each digit's weight in year, month,
# day, hours, minutes and seconds.
_ESI_TEMPLATE = np.frombuffer(b"0000-00-00T00:00:00Z", dtype=np.uint8)
_ESI_DIGIT = np.frombuffer(b"1111-11-11T11:11:11Z", dtype=np.uint8) == ord("1")
_ESI_WEIGHTS = np.zeros((ESI_ISSUED_LENGTH, 6))  # float: numpy multiplies those fastest
for _field, _positions in enumerate(((0, 1, 2, 3), (5, 6), (8, 9), (11, 12), (14, 15), (17, 18))):
    for _power, _position in enumerate(reversed(_positions)):
        _ESI_WEIGHTS[_position, _field] = 10**_power


def issued_microseconds(texts: Sequence[str], order_ids: np.ndarray) -> np.ndarray:
    """ESI's ``issued`` texts as microseconds since the Unix epoch (int64). ESI's form
    (``2026-01-02T03:04:05Z``) is read with array arithmetic over the texts' bytes; anything
    else goes through ``datetime.fromisoformat`` one by one, and an unreadable one raises
    MarketDataError naming the order (``order_ids[i]`` is text ``i``'s)."""
    n = len(texts)
    micros = np.empty(n, dtype=np.int64)
    if not n:
        return micros
    blob = "".join(texts).encode()
    if len(blob) == n * ESI_ISSUED_LENGTH and set(map(len, texts)) == {ESI_ISSUED_LENGTH}:
        raw = np.frombuffer(blob, dtype=np.uint8).reshape(n, ESI_ISSUED_LENGTH)
        seconds, usual = _esi_seconds(raw)
        micros[:] = seconds * MICROSECONDS
        slow = np.flatnonzero(~usual).tolist()
    else:  # some text is not of ESI's length (or not ASCII): each one on its own
        slow = range(n)
    for i in slow:
        micros[i] = _issued_microseconds_slow(texts[i], order_id=int(order_ids[i]))
    return micros


def _esi_seconds(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unix seconds of (n, 20) bytes in ESI's form, and which rows really were in it."""
    digits = raw - _ESI_TEMPLATE  # the digits' values where ESI puts digits (wraps below "0")
    usual = np.all(np.where(_ESI_DIGIT, digits <= 9, digits == 0), axis=1)
    # Exact: at most 9999 in float64.
    year, month, day, hours, minutes, seconds = (digits @ _ESI_WEIGHTS).astype(np.int64).T
    # Out of range (a 31st of February, 24:00) is left to the slow path, which refuses it.
    usual &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= _month_days(year, month))
    usual &= (hours <= 23) & (minutes <= 59) & (seconds <= 59)
    clock = hours * 3600 + minutes * 60 + seconds
    return _days_from_civil(year, month, day) * SECONDS_A_DAY + clock, usual


def _month_days(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 0, 12)]
    return days + (leap & (month == 2))


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's days_from_civil)."""
    year = year - (month <= 2)
    era = np.floor_divide(year, 400)
    year_of_era = year - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def _issued_microseconds_slow(text: str, *, order_id: int) -> int:
    try:
        return (_issued_parse(text, order_id=order_id) - _EPOCH) // timedelta(microseconds=1)
    except OverflowError:
        raise MarketDataError(f"order {order_id}: issued {text!r} is not a date and time") from None


def orders_copy_data(pages: Sequence[np.ndarray], *, header: bool, trailer: bool) -> bytes:
    """ORDER_DTYPE arrays as binary COPY data of the ORDER_COLUMNS (see ``pgcopy``)."""
    orders = pages[0] if len(pages) == 1 else np.concatenate(pages) if pages else ORDER_EMPTY
    whole, hundredths = numeric_parts(orders["price"])
    kinds = {
        "order_id": "int8",
        "type_id": "int4",
        "location_id": "int8",
        "system_id": "int4",
        "is_buy_order": "bool",
        "volume_remain": "int4",
        "volume_total": "int4",
        "min_volume": "int4",
        "duration": "int4",
        "issued": "timestamptz",
    }
    columns = []
    for name in ORDER_COLUMNS:
        if name == "price":
            columns.append(Column("numeric", whole, hundredths=hundredths))
        elif name == "range":
            columns.append(Column("text", orders["range"], texts=_RANGE_BYTES))
        else:
            columns.append(Column(kinds[name], orders[name]))
    return copy_data(columns, header=header, trailer=trailer)
