"""PostgreSQL's binary COPY format, written from numpy columns in a few array operations.

The format (https://www.postgresql.org/docs/current/sql-copy.html, "Binary Format"): an
11-byte signature, a 32-bit flags field and a 32-bit header-extension length; then per row a
16-bit field count and, per field, a 32-bit length (-1 for NULL) followed by that many bytes of
the type's binary representation ("send"/"recv" in PostgreSQL's sources), all big-endian; then
a 16-bit -1. The representations used here:

- ``int4``/``int8``: two's complement; ``bool``: one byte, 0 or 1;
- ``timestamptz``: int64 microseconds since 2000-01-01 00:00:00 UTC (``timestamp_recv``);
- ``numeric``: int16 ndigits, weight, sign (0 positive) and dscale, then ndigits int16 digits in
  base 10,000, the first one times 10,000^weight (``numeric_recv``). Every price here is written
  with the same six digits (five for the whole ISK, below 10^20, and one for the cents) and
  weight 4, so every row has the same width: PostgreSQL strips the leading and trailing zero
  digits when it stores the value (``make_result``), and ``numeric(20,2)`` checks the precision
  on the true digits (``apply_typmod``), so 5.00 is stored exactly as the text "5.00" would be;
- ``varchar``: the text's UTF-8 bytes.

Compared with CSV, nothing is formatted as text by the client and parsed again by the server:
each value is converted once, here, with array arithmetic.

Rows whose width differs (a NULL, a text of another length) are written in groups of one width
each: the rows of a COPY may come in any order, since a table has none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

import numpy as np

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
# Unix time of PostgreSQL's epoch, 2000-01-01 00:00:00 UTC, in microseconds.
POSTGRES_EPOCH_US = 946_684_800 * 1_000_000
NUMERIC_DIGITS = 6  # five base-10,000 digits for the whole part, one for the cents
NUMERIC_BYTES = 2 * (4 + NUMERIC_DIGITS)

Kind = Literal["int4", "int8", "bool", "numeric", "timestamptz", "text"]
_WIDTH = {"int4": 4, "int8": 8, "bool": 1, "numeric": NUMERIC_BYTES, "timestamptz": 8}
_DTYPE = {"int4": ">i4", "int8": ">i8", "bool": "u1"}


@dataclass
class Column:
    """One column of rows to COPY.

    ``values``: integers for int4/int8/bool; for numeric, hundredths (cents) as an int64 pair
    ``(whole, hundredths)`` given in ``values`` and ``hundredths``; for timestamptz,
    microseconds since the Unix epoch; for text, indexes into ``texts``. ``null``: True where
    the value is NULL (None: never).
    """

    kind: Kind
    values: np.ndarray
    null: np.ndarray | None = None
    hundredths: np.ndarray | None = None
    texts: Sequence[bytes] = ()


def numeric_parts(price: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative floats (as msgspec read them from JSON) as the whole units and the
    hundredths PostgreSQL stores for them in a ``numeric(…, 2)``: their shortest decimal text
    rounded half away from zero, as ``'5.675'::numeric(20,2)`` is 5.68. Almost every price has
    at most two decimals and is read with array arithmetic; the others one by one."""
    cents = np.rint(price * 100)
    # Below 2^53 cents are exact in float64; a price with at most two decimals is then the float
    # nearest to cents / 100, exactly as the JSON text was.
    plain = (cents < 2**53) & (cents / 100 == price)
    whole = np.zeros(len(price), dtype=np.int64)
    hundredths = np.zeros(len(price), dtype=np.int64)
    cents_plain = cents[plain].astype(np.int64)
    whole[plain], hundredths[plain] = np.divmod(cents_plain, 100)
    for i in np.flatnonzero(~plain).tolist():
        exact = Decimal(repr(float(price[i]))).quantize(Decimal("0.01"), ROUND_HALF_UP)
        value = int(exact * 100)
        whole[i], hundredths[i] = divmod(value, 100)
    return whole, hundredths


def copy_data(columns: Sequence[Column], *, header: bool = False, trailer: bool = False) -> bytes:
    """The rows as binary COPY data: every column has one value a row. ``header``/``trailer``:
    begin with the signature / end with the end marker (a COPY sent in several writes has each
    once)."""
    parts = [SIGNATURE] if header else []
    n = len(columns[0].values) if columns else 0
    if n:
        parts.append(_rows(columns, n))
    if trailer:
        parts.append(TRAILER)
    return b"".join(parts)


def _rows(columns: Sequence[Column], n: int) -> bytes:
    """Every row at the widest its fields can be, in one record array of plain big-endian
    integers (numpy copies those fastest); then the rows of each shape (where a text is shorter
    or a value NULL), without the bytes that shape leaves out."""
    fields: list[tuple[str, str]] = [("count", ">i2")]
    values: list[tuple[str, np.ndarray | int]] = [("count", len(columns))]
    shape = np.zeros(n, dtype=np.int64)  # the row's widths of the varying fields, as one number
    varying: list[tuple[str, int, np.ndarray]] = []  # (first part, widest, widths)
    for c, column in enumerate(columns):
        parts = _parts(c, column)
        fields += [(f"l{c}", ">i4"), *((name, dtype) for name, dtype, _ in parts)]
        values += [(name, value) for name, _, value in parts]
        widths = None
        if column.kind == "text":
            widths = np.array([len(t) for t in column.texts], dtype=np.int64)[column.values]
        if column.null is not None:
            widths = np.where(column.null, -1, _WIDTH[column.kind] if widths is None else widths)
        if widths is None:
            values.append((f"l{c}", _WIDTH[column.kind]))
            continue
        values.append((f"l{c}", widths))
        widest = sum(np.dtype(dtype).itemsize for _, dtype, _ in parts)
        varying.append((parts[0][0], widest, widths))
        shape = shape * 1024 + widths + 1
    records = np.empty(n, dtype=np.dtype(fields))
    for name, value in values:
        records[name] = value
    data = records.view(np.uint8).reshape(n, records.dtype.itemsize)
    if not varying:
        return data.tobytes()
    blocks = []
    shapes = np.unique(shape)
    for value in shapes.tolist():
        rows = np.flatnonzero(shape == value) if len(shapes) > 1 else slice(None)
        first = rows[0] if len(shapes) > 1 else 0
        keep = np.ones(records.dtype.itemsize, dtype=bool)
        for name, widest, widths in varying:
            start = records.dtype.fields[name][1]
            keep[start + max(int(widths[first]), 0) : start + widest] = False
        edges = np.flatnonzero(np.diff(np.concatenate(([False], keep, [False])).astype(np.int8)))
        block = data if len(shapes) == 1 else data.take(rows, axis=0)
        runs = [block[:, a:b] for a, b in zip(edges[::2], edges[1::2], strict=True)]
        blocks.append(np.concatenate(runs, axis=1).tobytes())
    return b"".join(blocks)


def _parts(c: int, column: Column) -> list[tuple[str, str, np.ndarray | int]]:
    """A column's value as (name, big-endian integer type, values) parts."""
    if column.kind == "text":
        # The texts' bytes, NUL-padded to whole 8- then 4-byte integers (only the text's own
        # bytes are kept: see _rows).
        width = -(-max(map(len, column.texts)) // 4) * 4
        padded = [t.ljust(width, b"\0") for t in column.texts]
        parts = []
        for at in range(0, width, 8):
            size = min(8, width - at)
            table = np.array([int.from_bytes(t[at : at + size], "big") for t in padded])
            parts.append((f"v{c}_{at}", f">u{size}", table.astype(np.uint64)[column.values]))
        return parts
    if column.kind == "numeric":
        whole, hundredths = column.values, column.hundredths
        # ndigits 6, weight 4, sign 0 (positive), dscale 2; then the digits, 10^16 first.
        head = (NUMERIC_DIGITS << 48) | ((NUMERIC_DIGITS - 2) << 32) | 2
        high, low = np.divmod(whole, 10**16)
        packed = np.zeros(len(whole), dtype=np.int64)
        for power in (12, 8, 4, 0):
            packed = (packed << 16) | (low // 10**power % 10_000)
        return [
            (f"v{c}", ">i8", head),
            (f"v{c}_0", ">i2", high),
            (f"v{c}_1", ">i8", packed),
            (f"v{c}_5", ">i2", hundredths * 100),
        ]
    if column.kind == "timestamptz":
        return [(f"v{c}", ">i8", column.values - POSTGRES_EPOCH_US)]
    return [(f"v{c}", _DTYPE[column.kind], column.values)]
