"""A fresh install's card catalog: fetched at once while it is empty, with its progress shown.

The daily ``scryfall-catalog-refresh`` job downloads and imports Scryfall's bulk file; a new
install would wait for it until 05:17. The ``scryfall-catalog-bootstrap`` job (every minute, one
query while the catalog has cards) runs that same job at once while the catalog is empty, and
after a failed attempt waits ``CATALOG_RETRY`` before the next. The refresh writes its progress to
the cache (its import is one transaction: the cards appear all at once at the end), which the
stores pages show instead of an instruction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from lenny.lib.import_status import ProgressCache
from lenny.models import JobRun
from stores.models import Card

CATALOG_REFRESH_JOB = "scryfall-catalog-refresh"
PROGRESS_KEY = "catalog:progress"
# A worker that dies mid-run leaves no "importing" notice behind for longer than this.
PROGRESS_TTL = 15 * 60
PROGRESS = ProgressCache(PROGRESS_KEY, PROGRESS_TTL, "catalog progress")
# Writes at most this often: the download reports every megabyte.
PROGRESS_INTERVAL = 1.0
CATALOG_RETRY = timedelta(minutes=15)


def catalog_is_empty() -> bool:
    return not Card.objects.exists()


class CatalogProgress:
    """The ``on_progress`` callback of ``catalog_refresh``: the latest figures in the cache."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {
            "phase": "starting",
            "done": 0,
            "total": None,
            "started": timezone.now().isoformat(),
        }
        self._written = 0.0
        self._write()

    def _write(self) -> None:
        self._written = time.monotonic()
        PROGRESS.write(self.state)

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        new_phase = phase != self.state["phase"]
        self.state.update(phase=phase, done=done, total=total)
        if new_phase or time.monotonic() - self._written >= PROGRESS_INTERVAL:
            self._write()

    def clear(self) -> None:
        PROGRESS.clear()


def catalog_progress() -> dict[str, Any] | None:
    return PROGRESS.read()


def catalog_last_failure() -> JobRun | None:
    """The refresh job's record when its last run failed (and none succeeded since)."""
    run = JobRun.objects.filter(name=CATALOG_REFRESH_JOB).first()
    if run is None or run.last_failure is None:
        return None
    if run.last_success is not None and run.last_success > run.last_failure:
        return None
    return run


def catalog_retry_at(run: JobRun | None) -> datetime | None:
    return run.last_failure + CATALOG_RETRY if run and run.last_failure else None


def catalog_bootstrap_wait() -> JobRun | None:
    """The failed run when the next attempt is not due yet, else None."""
    run = catalog_last_failure()
    retry_at = catalog_retry_at(run)
    return run if retry_at and retry_at > timezone.now() else None


@dataclass(frozen=True)
class CatalogStatus:
    empty: bool
    progress: dict[str, Any] | None
    failure: JobRun | None

    @property
    def importing(self) -> bool:
        return self.progress is not None

    @property
    def failed(self) -> bool:
        return self.failure is not None

    @property
    def retry_at(self) -> datetime | None:
        return catalog_retry_at(self.failure)

    @property
    def progress_text(self) -> str:
        """ "downloading, 120 of 290 MB" / "importing, 41% read"."""
        p = self.progress or {}
        phase, done, total = p.get("phase", "starting"), p.get("done", 0), p.get("total")
        if phase == "starting":
            return "asking Scryfall for its bulk file"
        if phase == "downloading":
            megabytes = f"{done / 1e6:,.0f}"
            return (
                f"downloading, {megabytes} of {total / 1e6:,.0f} MB"
                if total
                else (f"downloading, {megabytes} MB")
            )
        percent = f"{100 * done / total:.0f}%" if total else "?"
        return f"importing, {percent} read"


def catalog_status() -> CatalogStatus:
    """Where the import stands, as the notice shows it: only while the catalog is empty (so
    the pages of a filled catalog ask the cache nothing)."""
    empty = catalog_is_empty()
    return CatalogStatus(
        empty=empty,
        progress=catalog_progress() if empty else None,
        failure=catalog_last_failure() if empty else None,
    )
