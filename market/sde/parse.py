"""Parsing SDE tables (pure: bytes in, rows out): files are decoded (UTF-8, else Windows-1252),
columns matched by header name, and every malformed row reported, naming file and line."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from market.sde.files import SdeFile
from market.sde.tables import (
    MAX_ERRORS_REPORTED,
    NULL_MARKERS,
    PARSERS,
    TABLES,
    SdeFileError,
    TableSpec,
)

# --- Parsing (pure) ---------------------------------------------------------------------------


def csv_decode(raw: bytes, *, filename: str) -> tuple[str, str]:
    """(text, encoding name). UTF-8 first, then Windows-1252; anything else is an error."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError as utf8_error:
        try:
            return raw.decode("cp1252"), "Windows-1252"
        except UnicodeDecodeError as cp1252_error:
            line = raw.count(b"\n", 0, cp1252_error.start) + 1
            byte = raw[cp1252_error.start]
            raise SdeFileError(
                filename,
                [(line, f"byte 0x{byte:02X} is neither UTF-8 nor Windows-1252 text")],
            ) from utf8_error


@dataclass
class ParsedTable:
    spec: TableSpec
    filename: str
    encoding: str
    fields: tuple[str, ...]  # the model fields the file provides
    rows: list[tuple[Any, ...]]  # values in ``fields`` order
    lines: list[int]  # the line each row starts on


def sde_table_parse(spec: TableSpec, raw: bytes, *, filename: str) -> ParsedTable:
    text, encoding = csv_decode(raw, filename=filename)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise SdeFileError(filename, [(None, "the file is empty")]) from None
    positions = {name.strip().lower(): index for index, name in enumerate(header)}
    columns, indexes, problems = [], [], []
    for column in spec.columns:
        index = positions.get(column.header.lower())
        if index is None:
            if not column.optional_header:
                problems.append((1, f"no column {column.header} in the header"))
            continue
        columns.append(column)
        indexes.append(index)
    if problems:
        raise SdeFileError(filename, problems)

    parsers = [PARSERS[c.kind] for c in columns]
    key_positions = [i for i, c in enumerate(columns) if c.field in spec.key]
    seen_keys: dict[tuple, int] = {}
    rows: list[tuple[Any, ...]] = []
    lines: list[int] = []
    line = 1
    try:
        for record in reader:
            start, line = line + 1, reader.line_num
            if not record:
                continue
            if len(record) != len(header):
                problems.append((start, f"{len(record)} fields where the header has {len(header)}"))
                continue
            values = []
            for column, index, (parse, expected) in zip(columns, indexes, parsers, strict=True):
                text_value = record[index]
                if text_value in NULL_MARKERS:
                    if column.required:
                        problems.append((start, f"{column.header} is empty"))
                    values.append(column.null_value())
                    continue
                try:
                    values.append(parse(text_value))
                except ValueError:
                    problems.append((start, f"{column.header} {text_value!r} is not {expected}"))
                    values.append(None)
            key = tuple(values[i] for i in key_positions)
            if None in key:
                continue  # already reported as empty or malformed
            if key in seen_keys:
                problems.append(
                    (start, f"{spec.noun} {_key_text(key)} again (first on line {seen_keys[key]})")
                )
            seen_keys.setdefault(key, start)
            rows.append(tuple(values))
            lines.append(start)
            if len(problems) >= MAX_ERRORS_REPORTED:
                break
    except csv.Error as exc:
        problems.append((reader.line_num, f"unreadable CSV: {exc}"))
    if problems:
        raise SdeFileError(filename, problems[:MAX_ERRORS_REPORTED])
    return ParsedTable(spec, filename, encoding, tuple(c.field for c in columns), rows, lines)


def _key_text(key: tuple) -> str:
    return " → ".join(str(part) for part in key)


def sde_parse(files: Iterable[SdeFile]) -> list[ParsedTable]:
    """Parse every file, in import order; raises SdeFileError for the first malformed one."""
    by_table = {f.table: f for f in files}
    return [
        sde_table_parse(spec, by_table[spec.name].raw, filename=by_table[spec.name].filename)
        for spec in TABLES
        if spec.name in by_table
    ]
