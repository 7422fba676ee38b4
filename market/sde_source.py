"""Keeping the SDE in step with its source (``LENNY_SDE_URL``, Fuzzwork's latest dump by default).

- A fresh install fills itself: while the SDE is empty, the ``sde-bootstrap`` job (every minute)
  downloads and imports it at once; after a failure it waits (1, 2, 4 … up to 60 minutes) before
  the next attempt, so a source that is down is not hammered.
- Afterwards ``sde-refresh`` asks the source with conditional requests (``If-None-Match`` /
  ``If-Modified-Since`` from the validators of the files imported last) and re-imports only the
  files that changed. An empty SDE ignores the validators: a 304 must not leave it empty.
- Every file is downloaded and checked before anything is imported, so a failed or truncated
  download writes nothing and keeps the data there is; the failure is recorded on the
  :class:`~market.models.SdeSource` row with the time of the next attempt.
- While a run works, its progress is in the cache (the import's transactions hide the rows
  until each table commits) for the pages' "Importing static data…" notice.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from lenny.lib.import_status import ProgressCache
from market.models import SdeSource, Station, Type
from market.sde import (
    TABLES,
    TABLES_BY_NAME,
    ImportReport,
    ParsedTable,
    SdeDownload,
    sde_download,
    sde_import,
)

PROGRESS_KEY = "sde:progress"
# A worker that dies mid-run leaves no "importing" notice behind for longer than this.
PROGRESS_TTL = 15 * 60
PROGRESS = ProgressCache(PROGRESS_KEY, PROGRESS_TTL, "SDE progress")
RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(minutes=60)


def sde_source_url() -> str:
    return settings.LENNY_SDE_URL.rstrip("/")


def sde_is_empty() -> bool:
    """No types or no stations: the market pages have nothing to show."""
    return not (Type.objects.exists() and Station.objects.exists())


def sde_retry_delay(failures: int) -> timedelta:
    """The wait after ``failures`` failures in a row: doubling from a minute, at most an hour."""
    return min(RETRY_FIRST * 2 ** max(failures - 1, 0), RETRY_MAX)


@dataclass
class SdeRefreshOutcome:
    url: str
    downloads: list[SdeDownload]
    report: ImportReport | None  # None: every file was unchanged

    def summary(self) -> str:
        if self.report is None:
            return f"SDE at {self.url} unchanged ({len(self.downloads)} files checked)"
        rows = sum(t.rows for t in self.report.tables)
        created = sum(t.created for t in self.report.tables)
        updated = sum(t.updated for t in self.report.tables)
        files = ", ".join(d.filename for d in self.downloads if d.changed)
        return (
            f"SDE imported from {self.url} ({files}): {rows:,} rows read, {created:,} new, "
            f"{updated:,} changed in {self.report.seconds:.1f} s"
        )


class _Progress:
    """Writes the run's progress to the cache; a cache outage only costs the notice."""

    def __init__(self, url: str, files_total: int) -> None:
        self.state: dict[str, Any] = {
            "url": url,
            "phase": "downloading",
            "started": timezone.now().isoformat(),
            "files_done": 0,
            "files_total": files_total,
            "table": "",
            "noun": "",
            "rows_done": 0,
            "rows_total": 0,
        }
        self.row_totals: dict[str, int] = {}
        self.tables: list[str] = []
        self._write()

    def _write(self) -> None:
        PROGRESS.write(self.state)

    def downloaded(self, download: SdeDownload) -> None:
        self.state["files_done"] += 1
        self.state["table"] = download.filename
        self._write()

    def parsed(self, parsed: list[ParsedTable]) -> None:
        self.tables = [t.spec.name for t in parsed]
        self.row_totals = {t.spec.name: len(t.rows) for t in parsed}
        self.state.update(phase="importing", files_done=0, files_total=len(parsed))
        self._write()

    def rows(self, table: str, count: int) -> None:
        if table != self.state["table"]:
            self.state.update(
                table=table,
                noun=TABLES_BY_NAME[table].noun,
                files_done=self.tables.index(table) + 1 if table in self.tables else 0,
                rows_done=0,
                rows_total=self.row_totals.get(table, 0),
            )
        self.state["rows_done"] += count
        self._write()

    def clear(self) -> None:
        PROGRESS.clear()


def sde_progress() -> dict[str, Any] | None:
    """The progress of the run going on now, or None."""
    return PROGRESS.read()


def sde_source_refresh(*, url: str | None = None, force: bool = False) -> SdeRefreshOutcome:
    """Check the source and import the files that changed since the last import (every file
    when ``force`` or when the SDE is empty). Raises on failure after recording it."""
    url = (url or sde_source_url()).rstrip("/")
    source, _ = SdeSource.objects.get_or_create(url=url)
    force = force or sde_is_empty()
    tables = [spec.name for spec in TABLES]
    progress = _Progress(url, len(tables))
    try:
        with tempfile.TemporaryDirectory(prefix="lenny-sde-") as folder:
            downloads = sde_download(
                base_url=url,
                tables=tables,
                dest=Path(folder),
                validators=None if force else source.validators,
                on_file=progress.downloaded,
            )
            changed = [d.table for d in downloads if d.changed]
            report = None
            if changed:
                report = sde_import(
                    source=folder,
                    tables=changed,
                    progress=progress.rows,
                    on_parsed=progress.parsed,
                )
    except Exception as exc:
        _failure_record(source, exc)
        raise
    finally:
        progress.clear()
    outcome = SdeRefreshOutcome(url, downloads, report)
    _success_record(source, outcome)
    return outcome


def _success_record(source: SdeSource, outcome: SdeRefreshOutcome) -> None:
    now = timezone.now()
    validators = dict(source.validators)
    validators.update({d.filename: d.validators() for d in outcome.downloads})
    fields: dict[str, Any] = {
        "validators": validators,
        "checked_at": now,
        "failures": 0,
        "failed_at": None,
        "error": "",
        "retry_at": None,
    }
    if outcome.report is not None:
        fields.update(imported_at=now, summary=outcome.summary())
    SdeSource.objects.filter(pk=source.pk).update(**fields)


def _failure_record(source: SdeSource, exc: Exception) -> None:
    now = timezone.now()
    failures = source.failures + 1
    SdeSource.objects.filter(pk=source.pk).update(
        checked_at=now,
        failures=failures,
        failed_at=now,
        error=str(exc)[:2000] or type(exc).__name__,
        retry_at=now + sde_retry_delay(failures),
    )


def sde_bootstrap_wait() -> SdeSource | None:
    """The source row when the last attempt failed and the next is not due yet, else None."""
    source = SdeSource.objects.filter(url=sde_source_url()).first()
    if source and source.error and source.retry_at and source.retry_at > timezone.now():
        return source
    return None


# --- What the pages show --------------------------------------------------------------------


@dataclass(frozen=True)
class SdeStatus:
    empty: bool
    url: str
    progress: dict[str, Any] | None
    source: SdeSource | None

    @property
    def importing(self) -> bool:
        return self.progress is not None

    @property
    def failed(self) -> bool:
        return bool(self.source and self.source.error)

    @property
    def retry_at(self) -> datetime | None:
        return self.source.retry_at if self.source else None

    @property
    def progress_text(self) -> str:
        """ "4 of 9 files, 12,000 of 33,735 types" or "downloading, 3 of 10 files"."""
        p = self.progress or {}
        files = f"{p.get('files_done', 0)} of {p.get('files_total', 0)} files"
        if p.get("phase") != "importing":
            return f"downloading, {files}"
        rows = ""
        if p.get("rows_total"):
            noun = p.get("noun") or "row"
            rows = f", {p['rows_done']:,} of {p['rows_total']:,} {noun}s"
        return f"{files}{rows}"


def sde_status() -> SdeStatus:
    """For the pages: is there static data, is an import running, did the last attempt fail."""
    url = sde_source_url()
    return SdeStatus(
        empty=sde_is_empty(),
        url=url,
        progress=sde_progress(),
        source=SdeSource.objects.filter(url=url).first(),
    )
