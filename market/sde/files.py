"""Reading SDE sources: a folder of ``<table>.csv`` files (optionally ``.bz2``/``.gz``
compressed), or a URL whose tables are downloaded first (Fuzzwork's dump, or the replay's)."""

from __future__ import annotations

import bz2
import gzip
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import requests
from django.conf import settings

from market.sde.tables import TABLES_BY_NAME, SdeError, SdeFileError

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
