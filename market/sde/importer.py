"""Import of EVE's static data export (SDE) from Fuzzwork-style CSV tables.

Two steps. ``sde_parse`` reads every table (pure: bytes in, rows out) and stops on the first file
with malformed rows, naming its file and lines, before anything is written. ``sde_import`` then
loads the tables parents first, each in its own transaction, writing only rows that are new or
changed, so a second run changes nothing.

Files are matched to tables by name (``invTypes.csv``, optionally ``.bz2``/``.gz`` compressed),
columns by header name, case-insensitively. Files come in UTF-8 (with or without a BOM) or, older
ones, Windows-1252; a byte that is neither is an error, never a silent replacement character.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import math
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import requests
from django.apps import apps
from django.conf import settings
from django.db import transaction

# The literal the SDE dumps use for NULL, besides an empty field.
NULL_MARKERS = frozenset({"", "None"})
MAX_ERRORS_REPORTED = 10
WRITE_BATCH = 2000


class SdeError(Exception):
    """An SDE source that cannot be imported; the message says which file and why."""


class SdeFileError(SdeError):
    def __init__(self, filename: str, problems: list[tuple[int | None, str]]) -> None:
        self.filename = filename
        self.problems = problems
        lines = [
            f"{filename} line {line}: {msg}" if line else f"{filename}: {msg}"
            for line, msg in problems
        ]
        super().__init__("\n".join(lines))


# --- Table specifications ---------------------------------------------------------------------


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        # Some exports write whole numbers as "12.0".
        number = float(text)
        if not number.is_integer():
            raise ValueError from None
        return int(number)


def _parse_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError
    return number


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in {"1", "true", "t", "yes"}:
        return True
    if lowered in {"0", "false", "f", "no"}:
        return False
    raise ValueError


PARSERS: dict[str, tuple[Callable[[str], Any], str]] = {
    "int": (_parse_int, "a whole number"),
    "float": (_parse_float, "a number"),
    "bool": (_parse_bool, "0 or 1"),
    "text": (str, "text"),
}


@dataclass(frozen=True)
class Column:
    header: str  # as Fuzzwork spells it; matched case-insensitively
    field: str  # the model attribute (attname for foreign keys)
    kind: Literal["int", "float", "bool", "text"]
    required: bool = False  # the value may not be NULL
    optional_header: bool = False  # the column may be absent from the file; then it is not written

    def null_value(self) -> Any:
        # Text and flags are NOT NULL in the models: the SDE's NULL means "none" / "no" there.
        return {"text": "", "bool": False}.get(self.kind)


@dataclass(frozen=True)
class Reference:
    field: str  # attname holding the parent's id
    table: str  # the parent table's name
    noun: str  # for the report: "group", "market group"
    on_missing: Literal["clear", "skip"]


@dataclass(frozen=True)
class TableSpec:
    name: str
    model_label: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ("id",)
    references: tuple[Reference, ...] = ()
    # Adds columns to rows another table created (invVolumes → Type.packaged_volume).
    update_only: bool = False
    noun: str = "row"
    # Not part of every SDE dump: its absence is not worth a mention.
    optional: bool = False

    @property
    def model(self):
        return apps.get_model(self.model_label)


def _ref(field: str, table: str, noun: str, on_missing: Literal["clear", "skip"]) -> Reference:
    return Reference(field, table, noun, on_missing)


# Parents before children: references are checked against what is already in the database.
TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "invCategories",
        "market.Category",
        (
            Column("categoryID", "id", "int", required=True),
            Column("categoryName", "name", "text"),
            Column("published", "published", "bool"),
        ),
        noun="category",
    ),
    TableSpec(
        "invGroups",
        "market.Group",
        (
            Column("groupID", "id", "int", required=True),
            Column("categoryID", "category_id", "int"),
            Column("groupName", "name", "text"),
            Column("published", "published", "bool"),
        ),
        references=(_ref("category_id", "invCategories", "category", "clear"),),
        noun="group",
    ),
    TableSpec(
        "invMarketGroups",
        "market.MarketGroup",
        (
            Column("marketGroupID", "id", "int", required=True),
            Column("parentGroupID", "parent_id", "int"),
            Column("marketGroupName", "name", "text"),
            Column("description", "description", "text", optional_header=True),
            Column("hasTypes", "has_types", "bool"),
        ),
        references=(_ref("parent_id", "invMarketGroups", "parent market group", "clear"),),
        noun="market group",
    ),
    TableSpec(
        "invTypes",
        "market.Type",
        (
            Column("typeID", "id", "int", required=True),
            Column("groupID", "group_id", "int"),
            Column("typeName", "name", "text"),
            Column("volume", "volume", "float"),
            Column("packagedVolume", "packaged_volume", "float", optional_header=True),
            Column("portionSize", "portion_size", "int", optional_header=True),
            Column("published", "published", "bool"),
            Column("marketGroupID", "market_group_id", "int"),
        ),
        references=(
            _ref("group_id", "invGroups", "group", "clear"),
            _ref("market_group_id", "invMarketGroups", "market group", "clear"),
        ),
        noun="type",
    ),
    TableSpec(
        "invVolumes",
        "market.Type",
        (
            Column("typeID", "id", "int", required=True),
            Column("volume", "packaged_volume", "float"),
        ),
        update_only=True,
        noun="packaged volume",
        optional=True,
    ),
    TableSpec(
        "mapRegions",
        "market.Region",
        (Column("regionID", "id", "int", required=True), Column("regionName", "name", "text")),
        noun="region",
    ),
    TableSpec(
        "mapConstellations",
        "market.Constellation",
        (
            Column("constellationID", "id", "int", required=True),
            Column("constellationName", "name", "text"),
            Column("regionID", "region_id", "int", required=True),
        ),
        references=(_ref("region_id", "mapRegions", "region", "skip"),),
        noun="constellation",
    ),
    TableSpec(
        "mapSolarSystems",
        "market.SolarSystem",
        (
            Column("solarSystemID", "id", "int", required=True),
            Column("solarSystemName", "name", "text"),
            Column("constellationID", "constellation_id", "int", required=True),
            Column("regionID", "region_id", "int", required=True),
            Column("security", "security", "float", required=True),
        ),
        references=(
            _ref("region_id", "mapRegions", "region", "skip"),
            _ref("constellation_id", "mapConstellations", "constellation", "skip"),
        ),
        noun="solar system",
    ),
    TableSpec(
        "mapSolarSystemJumps",
        "market.SystemJump",
        (
            Column("fromSolarSystemID", "from_system_id", "int", required=True),
            Column("toSolarSystemID", "to_system_id", "int", required=True),
        ),
        key=("from_system_id", "to_system_id"),
        references=(
            _ref("from_system_id", "mapSolarSystems", "solar system", "skip"),
            _ref("to_system_id", "mapSolarSystems", "solar system", "skip"),
        ),
        noun="jump",
    ),
    TableSpec(
        "staStations",
        "market.Station",
        (
            Column("stationID", "id", "int", required=True),
            Column("stationName", "name", "text"),
            Column("solarSystemID", "system_id", "int", required=True),
            Column("regionID", "region_id", "int", required=True),
            Column("corporationID", "corporation_id", "int"),
            Column("stationTypeID", "station_type_id", "int"),
        ),
        references=(
            _ref("system_id", "mapSolarSystems", "solar system", "skip"),
            _ref("region_id", "mapRegions", "region", "skip"),
        ),
        noun="station",
    ),
)
TABLES_BY_NAME = {spec.name: spec for spec in TABLES}


# --- Reading sources --------------------------------------------------------------------------


@dataclass(frozen=True)
class SdeFile:
    table: str
    filename: str
    raw: bytes


def _decompress(filename: str, raw: bytes) -> bytes:
    try:
        if filename.endswith(".bz2"):
            return bz2.decompress(raw)
        if filename.endswith(".gz"):
            return gzip.decompress(raw)
    except (OSError, ValueError, EOFError) as exc:
        raise SdeFileError(filename, [(None, f"cannot decompress: {exc}")]) from exc
    return raw


SUFFIXES = (".csv", ".csv.bz2", ".csv.gz")


def sde_files_read(*, source: str, tables: Iterable[str] | None = None) -> list[SdeFile]:
    """The SDE tables found at ``source``: a folder or an http(s) base URL."""
    wanted = list(tables or TABLES_BY_NAME)
    if source.startswith(("http://", "https://")):
        return _files_download(source.rstrip("/"), wanted)
    folder = Path(source)
    if not folder.is_dir():
        raise SdeError(f"{source}: not a folder (give a folder of CSV files or an http(s) URL)")
    by_lower_name = {path.name.lower(): path for path in folder.iterdir() if path.is_file()}
    found = []
    for table in wanted:
        for suffix in SUFFIXES:
            path = by_lower_name.get(f"{table}{suffix}".lower())
            if path is not None:
                found.append(SdeFile(table, path.name, _decompress(path.name, path.read_bytes())))
                break
    return found


def _files_download(base_url: str, tables: list[str]) -> list[SdeFile]:
    with tempfile.TemporaryDirectory(prefix="lenny-sde-") as folder:
        downloads = sde_download(base_url=base_url, tables=tables, dest=Path(folder))
        return [
            SdeFile(d.table, d.path.name, d.path.read_bytes())
            for d in downloads
            if d.path is not None
        ]


# Fuzzwork's dump serves every table as ``<table>.csv`` and ``<table>.csv.bz2`` under
# https://www.fuzzwork.co.uk/dump/latest/ (the list of files: EVE University wiki, "Static Data
# Export", https://wiki.eveuniversity.org/Static_Data_Export, "Content of each table"). The bz2
# file is ~8x smaller, so it is asked for first.
DOWNLOAD_SUFFIXES = (".csv.bz2", ".csv")
DOWNLOAD_CHUNK = 1 << 16


@dataclass(frozen=True)
class SdeDownload:
    """One table at the source: ``path`` is its decompressed CSV, None when the source answered
    304 (unchanged since the validators it was sent)."""

    table: str
    filename: str  # as served, e.g. invTypes.csv.bz2
    url: str
    path: Path | None
    etag: str = ""
    last_modified: str = ""

    @property
    def changed(self) -> bool:
        return self.path is not None

    def validators(self) -> dict[str, str]:
        return {"etag": self.etag, "last_modified": self.last_modified}


def sde_download(
    *,
    base_url: str,
    tables: Iterable[str],
    dest: Path,
    validators: dict[str, dict[str, str]] | None = None,
    on_file: Callable[[SdeDownload], None] | None = None,
) -> list[SdeDownload]:
    """Download the SDE tables from ``base_url`` into ``dest`` as plain CSV, streaming and
    decompressing on the way.

    With ``validators`` ({filename: {"etag", "last_modified"}} from an earlier download) each
    request is conditional, and a 304 comes back as an unchanged table without a file. A
    required table the source does not have, an HTTP error or a body that ends early raise
    SdeError: the caller then imports nothing.
    """
    validators = validators or {}
    found: list[SdeDownload] = []
    with requests.Session() as session:
        session.headers["User-Agent"] = settings.LENNY_USER_AGENT
        for table in tables:
            download = _table_download(session, base_url.rstrip("/"), table, dest, validators)
            if download is None:
                if not TABLES_BY_NAME[table].optional:
                    raise SdeError(
                        f"{base_url}: the source has no {table}.csv.bz2 or {table}.csv (HTTP 404)"
                    )
                continue
            found.append(download)
            if on_file:
                on_file(download)
    return found


def _table_download(
    session: requests.Session,
    base_url: str,
    table: str,
    dest: Path,
    validators: dict[str, dict[str, str]],
) -> SdeDownload | None:
    for suffix in DOWNLOAD_SUFFIXES:
        filename = f"{table}{suffix}"
        url = f"{base_url}/{filename}"
        known = validators.get(filename) or {}
        headers = {}
        if known.get("etag"):
            headers["If-None-Match"] = known["etag"]
        if known.get("last_modified"):
            headers["If-Modified-Since"] = known["last_modified"]
        try:
            with session.get(
                url, headers=headers, stream=True, timeout=settings.UPSTREAM_TIMEOUT
            ) as response:
                if response.status_code == 404:
                    _ = response.content  # read, so the connection serves the next file
                    continue
                etag = response.headers.get("ETag", "")
                last_modified = response.headers.get("Last-Modified", "")
                if response.status_code == 304 and known:
                    # A 304 may leave a validator out; the ones sent still describe the file.
                    return SdeDownload(
                        table,
                        filename,
                        url,
                        None,
                        etag or known.get("etag", ""),
                        last_modified or known.get("last_modified", ""),
                    )
                if response.status_code != 200:
                    raise SdeError(f"{url}: download failed: HTTP {response.status_code}")
                path = dest / f"{table}.csv"
                _body_save(response, filename, path)
        except requests.RequestException as exc:
            raise SdeError(f"{url}: download failed: {exc}") from exc
        return SdeDownload(table, filename, url, path, etag, last_modified)
    return None


def _body_save(response: requests.Response, filename: str, path: Path) -> None:
    """Write the body to ``path``, bz2-decompressed for a .bz2 file; a body shorter than its
    Content-Length or a compressed stream without its end marker is a truncated download."""
    decompressor = bz2.BZ2Decompressor() if filename.endswith(".bz2") else None
    received = 0
    with open(path, "wb") as out:
        for chunk in response.iter_content(DOWNLOAD_CHUNK):
            received += len(chunk)
            if decompressor is None:
                out.write(chunk)
                continue
            try:
                while chunk:
                    # bzip2 files may hold several streams back to back (pbzip2 writes them).
                    if decompressor.eof:
                        decompressor = bz2.BZ2Decompressor()
                    out.write(decompressor.decompress(chunk))
                    chunk = decompressor.unused_data if decompressor.eof else b""
            except (OSError, ValueError, EOFError) as exc:
                raise SdeFileError(filename, [(None, f"cannot decompress: {exc}")]) from exc
    length = response.headers.get("Content-Length", "")
    plain = not response.headers.get("Content-Encoding")
    if plain and length.isdigit() and received != int(length):
        raise SdeFileError(
            filename, [(None, f"truncated download: {received:,} of {int(length):,} bytes")]
        )
    if decompressor is not None and not decompressor.eof:
        raise SdeFileError(filename, [(None, "truncated download: the bz2 stream ends early")])


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


# --- Loading ----------------------------------------------------------------------------------


@dataclass
class TableReport:
    table: str
    filename: str
    encoding: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # "kept without group (group not in invGroups)" → example ids
    problems: dict[str, list[Any]] = field(default_factory=dict)
    problem_counts: dict[str, int] = field(default_factory=dict)
    not_in_file: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def note(self, reason: str, key: Any) -> None:
        self.problem_counts[reason] = self.problem_counts.get(reason, 0) + 1
        examples = self.problems.setdefault(reason, [])
        if len(examples) < 5:
            examples.append(key)

    def summary(self) -> str:
        parts = [
            f"{self.created:,} new",
            f"{self.updated:,} changed",
            f"{self.unchanged:,} unchanged",
        ]
        text = f"{self.filename} ({self.encoding}): {self.rows:,} rows: " + ", ".join(parts)
        for reason, count in self.problem_counts.items():
            examples = ", ".join(str(k) for k in self.problems[reason])
            more = ", …" if count > len(self.problems[reason]) else ""
            text += f"; {count:,} {reason} (e.g. {examples}{more})"
        if self.not_in_file:
            text += f"; {self.not_in_file:,} in the database but not in the file (kept)"
        return text


@dataclass
class ImportReport:
    tables: list[TableReport]
    missing: list[str]
    seconds: float

    @property
    def changed(self) -> bool:
        return any(t.changed for t in self.tables)


ProgressCallback = Callable[[str, int], None]


def _existing_ids(table_name: str) -> set:
    return set(TABLES_BY_NAME[table_name].model.objects.values_list("pk", flat=True))


def sde_table_load(table: ParsedTable, *, progress: ProgressCallback | None = None) -> TableReport:
    """Write one parsed table in one transaction: new rows created, changed rows updated."""
    spec, model = table.spec, table.spec.model
    report = TableReport(spec.name, table.filename, table.encoding, rows=len(table.rows))
    positions = {name: i for i, name in enumerate(table.fields)}
    key_index = [positions[k] for k in spec.key]

    # References are checked against the parent's rows in the database, plus this file's own
    # rows for a table that refers to itself (market groups' parents).
    parent_ids = {}
    for ref in spec.references:
        ids = _existing_ids(ref.table)
        if ref.table == spec.name:
            ids = ids | {row[key_index[0]] for row in table.rows}
        parent_ids[ref.field] = ids

    accepted: list[tuple[Any, ...]] = []
    for row in table.rows:
        values = list(row)
        skip = False
        for ref in spec.references:
            index = positions[ref.field]
            parent = values[index]
            if parent is None or parent in parent_ids[ref.field]:
                continue
            key = _key_text(tuple(values[i] for i in key_index))
            if ref.on_missing == "skip":
                report.note(f"skipped, {ref.noun} not in {ref.table}", key)
                skip = True
                break
            report.note(f"kept without {ref.noun}, not in {ref.table}", key)
            values[index] = None
        if not skip:
            accepted.append(tuple(values))

    key_fields = [table.fields[i] for i in key_index]
    value_fields = [f for f in table.fields if f not in spec.key]
    existing = {
        row[: len(key_fields)]: row[len(key_fields) :]
        for row in model.objects.values_list(*key_fields, *value_fields).iterator(chunk_size=5000)
    }
    to_create, to_update = [], []
    for values in accepted:
        key = tuple(values[i] for i in key_index)
        current = existing.get(key)
        new_values = tuple(values[positions[f]] for f in value_fields)
        if current is None:
            if spec.update_only:
                report.note("skipped, type not in invTypes", _key_text(key))
                continue
            to_create.append(values)
        elif current != new_values:
            to_update.append(values)
        else:
            report.unchanged += 1
    if not spec.update_only:
        in_file = {tuple(row[i] for i in key_index) for row in table.rows}
        report.not_in_file = len(existing.keys() - in_file)
    report.created, report.updated = len(to_create), len(to_update)
    if progress:
        progress(spec.name, report.unchanged + (len(table.rows) - len(accepted)))

    with transaction.atomic():
        for batch in _batches(to_create, WRITE_BATCH):
            model.objects.bulk_create(
                [model(**dict(zip(table.fields, v, strict=True))) for v in batch]
            )
            if progress:
                progress(spec.name, len(batch))
        for batch in _batches(to_update, WRITE_BATCH):
            objects = [model(**dict(zip(table.fields, v, strict=True))) for v in batch]
            if value_fields:
                model.objects.bulk_update(objects, value_fields, batch_size=500)
            if progress:
                progress(spec.name, len(batch))
    return report


def _batches(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def sde_import(
    *,
    source: str,
    tables: Iterable[str] | None = None,
    progress: ProgressCallback | None = None,
    on_parsed: Callable[[list[ParsedTable]], None] | None = None,
) -> ImportReport:
    """Import the SDE tables found at ``source`` (folder or URL). Malformed files raise
    SdeFileError before anything is written; each table then loads in its own transaction."""
    started = time.monotonic()
    wanted = list(tables or TABLES_BY_NAME)
    unknown = [t for t in wanted if t not in TABLES_BY_NAME]
    if unknown:
        raise SdeError(
            f"unknown SDE tables: {', '.join(unknown)} (known: {', '.join(TABLES_BY_NAME)})"
        )
    files = sde_files_read(source=source, tables=wanted)
    if not files:
        raise SdeError(f"{source}: none of the SDE tables found (expected files like invTypes.csv)")
    parsed = sde_parse(files)
    if on_parsed:
        on_parsed(parsed)
    reports = [sde_table_load(t, progress=progress) for t in parsed]
    found = {f.table for f in files}
    missing = [t for t in wanted if t not in found and not TABLES_BY_NAME[t].optional]
    return ImportReport(reports, missing, time.monotonic() - started)
