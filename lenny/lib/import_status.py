"""The notice a page shows while the data it needs is still being imported.

A fresh install has no static data (the market's SDE) and no card catalog (the stores'): the
workers fetch them at once, and until they are there the pages say so, polling every few seconds.
Each app supplies an :class:`ImportNotice` (its facts: its wording, its poll URL, its status and
its template, which extends ``_import_status.html`` and words the failure and the wait); the
notice, its polling and the reload once the data is there are the same for both, and so is
:class:`ProgressCache`, where a running import leaves its progress for the notice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from lenny.lib.htmx import refresh_page

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProgressCache:
    """A running import's progress, kept in the cache for the notice to read.

    Best effort: a cache outage only costs the notice, never the import. ``ttl``: a worker that
    dies mid-run leaves no "importing" notice behind for longer than this.
    """

    key: str
    ttl: int
    what: str  # "SDE progress", for the log

    def write(self, state: dict[str, Any]) -> None:
        try:
            cache.set(self.key, state, timeout=self.ttl)
        except Exception:
            log.warning("%s not written to the cache", self.what, exc_info=True)

    def clear(self) -> None:
        try:
            cache.delete(self.key)
        except Exception:
            log.warning("%s not cleared from the cache", self.what, exc_info=True)

    def read(self) -> dict[str, Any] | None:
        """The progress of the run going on now, or None."""
        try:
            return cache.get(self.key)
        except Exception:
            return None


class ImportStatus(Protocol):
    """Where an import stands, as the notice reads it."""

    @property
    def empty(self) -> bool: ...
    @property
    def importing(self) -> bool: ...
    @property
    def failed(self) -> bool: ...
    @property
    def retry_at(self) -> datetime | None: ...
    @property
    def progress_text(self) -> str: ...


@dataclass(frozen=True)
class ImportNotice:
    """One app's "importing …" notice: its own facts; the rest is ``_import_status.html``."""

    template: str  # extends _import_status.html
    element_id: str
    poll_url: str  # the URL name of the view answering with `view`
    importing: str  # "Importing static data…"
    when_done: str  # what the page offers once the import is done
    missing: str  # "No static data yet"
    command_use: str  # what a staff member can do instead, and with which command
    command: str
    status: Callable[[], ImportStatus]

    def context(self, request: HttpRequest | None) -> dict[str, Any]:
        """The import's progress, or why the data is missing and when the workers try again;
        nothing (``show`` false) once the data is there."""
        status = self.status()
        return {
            "notice": self,
            "status": status,
            "show": status.empty,
            "staff": bool(request and request.user.is_staff),
        }

    def view(self, request: HttpRequest) -> HttpResponse:
        """The notice again; once the data is there, an htmx reload so the page can use it."""
        context = self.context(request)
        if not context["show"]:
            return refresh_page()
        return render(request, self.template, context)
