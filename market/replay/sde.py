"""The SDE replay: Fuzzwork's dump (``https://www.fuzzwork.co.uk/dump/latest/``), mounted under
``/sde`` on the replay server, so the demo and the tests download the SDE the way a fresh
install does.

- ``GET|HEAD /sde/<table>.csv`` and ``/sde/<table>.csv.bz2`` — the table as CSV, or compressed
  on the fly to bzip2 as Fuzzwork serves it; 404 for a table the source lacks.
- Every answer carries a quoted ``ETag`` (a hash of the bytes served) and ``Last-Modified``
  (the file's modification time); ``If-None-Match`` (which wins when both are sent, as RFC 9110
  says) or ``If-Modified-Since`` answer 304 while the file is unchanged.

Knobs: ``server.state["sde"]`` is the :class:`SdeReplay`. ``source`` picks the files:
``"auto"`` (default: the whole shared export in ``../shared/fixtures/eve/sde`` when present,
else the repo's small slice in ``market/replay/data/sde``), ``"sample"``, ``"full"`` or a folder.
``table_change(table, content)`` serves new content for one table from then on (a new ETag and
Last-Modified), ``table_remove(table)`` makes it a 404. ``reset()`` (the ``upstreams`` fixture
runs it) forgets both and goes back to ``"auto"``. Faults (truncated bodies, errors, hangs) come
from the replay framework: ``server.fault(r"^/sde/invTypes", truncate=True)``.
"""

from __future__ import annotations

import bz2
import hashlib
import threading
import time
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

from django.conf import settings

from lenny.replay import ReplayRequest, ReplayResponse, ReplayServer

PREFIX = "/sde"


SAMPLE_FOLDER = Path(__file__).resolve().parent / "data" / "sde"


def _sample_folder() -> Path:
    return SAMPLE_FOLDER


def _full_folder() -> Path:
    return Path(settings.BASE_DIR).parent / "shared" / "fixtures" / "eve" / "sde"


def sde_folder_resolve(source: str | Path | None) -> Path:
    """``"auto"``/empty, ``"sample"``, ``"full"`` or a folder of ``<table>.csv`` files."""
    if source in (None, "", "auto"):
        full = _full_folder()
        return full if (full / "invTypes.csv").exists() else _sample_folder()
    if source == "sample":
        return _sample_folder()
    if source == "full":
        return _full_folder()
    return Path(source)


class SdeReplay:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Compressing the 2.4 MB invTypes.csv takes a moment: keep each distinct body's bz2.
        self._compressed: dict[str, bytes] = {}
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.source: str | Path = "auto"
            self._changed: dict[str, tuple[bytes, int]] = {}
            self._removed: set[str] = set()

    def configure(self, *, source: str | Path) -> SdeReplay:
        sde_folder_resolve(source)
        with self._lock:
            self.source = source
        return self

    def table_change(self, table: str, content: bytes | str) -> None:
        """Serve ``content`` for ``table`` from now on, modified now."""
        body = content.encode() if isinstance(content, str) else content
        with self._lock:
            # One second later than anything served before, so If-Modified-Since sees it too.
            previous = max((t for _, t in self._changed.values()), default=0)
            self._changed[table] = (body, max(int(time.time()), previous + 1))
            self._removed.discard(table)

    def table_remove(self, table: str) -> None:
        with self._lock:
            self._removed.add(table)

    def table(self, table: str) -> tuple[bytes, int] | None:
        """(CSV bytes, modification time in whole seconds), or None when the source lacks it."""
        with self._lock:
            if table in self._removed:
                return None
            if table in self._changed:
                return self._changed[table]
            folder = sde_folder_resolve(self.source)
        path = folder / f"{table}.csv"
        if not path.is_file():
            return None
        return path.read_bytes(), int(path.stat().st_mtime)

    def _bz2(self, body: bytes, digest: str) -> bytes:
        with self._lock:
            compressed = self._compressed.get(digest)
        if compressed is None:
            compressed = bz2.compress(body)
            with self._lock:
                self._compressed[digest] = compressed
        return compressed

    def file_view(self, req: ReplayRequest) -> ReplayResponse:
        table, compressed = req.params["table"], bool(req.params.get("bz2"))
        found = self.table(table)
        if found is None:
            return ReplayResponse.html("<h1>Not Found</h1>", status=404)
        body, modified = found
        digest = hashlib.sha256(body).hexdigest()[:20]
        etag = f'"{digest}{"-bz2" if compressed else ""}"'
        headers = {"ETag": etag, "Last-Modified": formatdate(modified, usegmt=True)}
        if _not_modified(req, etag, modified):
            return ReplayResponse(304, b"", headers)
        if compressed:
            body = self._bz2(body, digest)
            headers["Content-Type"] = "application/x-bzip2"
        else:
            headers["Content-Type"] = "text/csv"
        return ReplayResponse(200, body, headers)


def _not_modified(req: ReplayRequest, etag: str, modified: int) -> bool:
    if_none_match = req.headers.get("If-None-Match")
    if if_none_match:
        candidates = {c.strip() for c in if_none_match.split(",")}
        return bool({"*", etag, f"W/{etag}"} & candidates)
    if_modified_since = req.headers.get("If-Modified-Since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError):
            return False  # an unreadable date is ignored, as servers do
        return modified <= since
    return False


def sde_register(server: ReplayServer) -> None:
    replay = SdeReplay()
    server.state["sde"] = replay
    server.on_reset(replay.reset)
    route = rf"{PREFIX}/(?P<table>[A-Za-z]+)\.csv(?P<bz2>\.bz2)?"
    server.add_route("GET", route, replay.file_view)
    server.add_route("HEAD", route, replay.file_view)
