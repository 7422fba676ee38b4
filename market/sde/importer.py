"""Import of EVE's static data export (SDE) from Fuzzwork-style CSV tables.

Two steps. ``sde_parse`` reads every table (pure: bytes in, rows out) and stops on the first file
with malformed rows, naming its file and lines, before anything is written. ``sde_import`` then
loads the tables parents first, each in its own transaction, writing only rows that are new or
changed, so a second run changes nothing. Types that were resolved from ESI and are in the
imported ``invTypes`` become SDE types (``market.universe.types_from_sde``).

Files are matched to tables by name (``invTypes.csv``, optionally ``.bz2``/``.gz`` compressed),
columns by header name, case-insensitively. Files come in UTF-8 (with or without a BOM) or, older
ones, Windows-1252; a byte that is neither is an error, never a silent replacement character.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from market.sde.files import sde_files_read
from market.sde.parse import ParsedTable, _key_text, sde_parse
from market.sde.tables import TABLES_BY_NAME, SdeError
from market.universe import types_from_sde

WRITE_BATCH = 2000

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
    for table in parsed:
        if table.spec.name == "invTypes":
            # Types resolved from ESI that this SDE now includes become SDE types.
            key = table.fields.index("id")
            types_from_sde(type_ids=(row[key] for row in table.rows))
    found = {f.table for f in files}
    missing = [t for t in wanted if t not in found and not TABLES_BY_NAME[t].optional]
    return ImportReport(reports, missing, time.monotonic() - started)
