"""Scryfall over HTTP: a paced client (at most one request per ``SCRYFALL_REQUEST_INTERVAL``,
backing off on 429 and 5xx) and resumable downloads of its bulk files."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from django.conf import settings

log = logging.getLogger(__name__)

# (phase: "downloading" or "importing", bytes done, bytes in all or None when unknown)
CatalogProgressCallback = Callable[[str, int, int | None], None]


class ScryfallError(Exception):
    pass


ACCEPT = "application/json;q=0.9,*/*;q=0.8"
_pace_lock = threading.Lock()
_last_request = 0.0


def _pace() -> None:
    """At most one request per SCRYFALL_REQUEST_INTERVAL from this process (Scryfall asks for
    no more than 10 per second)."""
    global _last_request
    with _pace_lock:
        wait = _last_request + settings.SCRYFALL_REQUEST_INTERVAL - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        _last_request = time.monotonic()


class ScryfallClient:
    def __init__(self, base_url: str | None = None) -> None:
        self.base_url = (base_url or settings.SCRYFALL_BASE_URL).rstrip("/") + "/"
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": settings.LENNY_USER_AGENT, "Accept": ACCEPT})

    def url(self, path_or_url: str) -> str:
        return urljoin(self.base_url, path_or_url.lstrip("/"))

    def request(self, url: str, *, attempts: int = 4, **kwargs: Any) -> requests.Response:
        """GET with pacing; waits SCRYFALL_BACKOFF_SECONDS on 429 (and on 5xx) and tries again."""
        kwargs.setdefault("timeout", settings.UPSTREAM_TIMEOUT)
        for attempt in range(1, attempts + 1):
            _pace()
            response = self.session.get(url, **kwargs)
            if response.status_code != 429 and response.status_code < 500:
                return response
            response.close()
            if attempt < attempts:
                log.warning("Scryfall answered %s for %s; backing off", response.status_code, url)
                time.sleep(settings.SCRYFALL_BACKOFF_SECONDS)
        raise ScryfallError(
            f"Scryfall answered {response.status_code} for {url} {attempts} times in a row"
        )

    def get_json(self, path_or_url: str, **params: Any) -> Any:
        url = self.url(path_or_url)
        response = self.request(url, params=params or None)
        try:
            data = response.json()
        except ValueError:
            raise ScryfallError(f"{url} answered {response.status_code} without JSON") from None
        if response.status_code != 200 or (
            isinstance(data, dict) and data.get("object") == "error"
        ):
            details = data.get("details") if isinstance(data, dict) else None
            raise ScryfallError(f"{url} answered {response.status_code}: {details or data}")
        return data

    def bulk_data(self, bulk_type: str) -> dict[str, Any]:
        listing = self.get_json("bulk-data")
        for item in listing.get("data", []):
            if item.get("type") == bulk_type:
                return item
        known = ", ".join(sorted(i.get("type", "?") for i in listing.get("data", [])))
        raise ScryfallError(f"Scryfall has no bulk file of type {bulk_type!r} (it has: {known})")

    def sets(self) -> list[dict[str, Any]]:
        page = self.get_json("sets")
        sets = list(page.get("data", []))
        while page.get("has_more") and page.get("next_page"):
            page = self.get_json(page["next_page"])
            sets.extend(page.get("data", []))
        return sets

    def download(
        self,
        url: str,
        *,
        dest: Path,
        attempts: int = 5,
        on_progress: CatalogProgressCallback | None = None,
    ) -> Path:
        """Download ``url`` to ``dest`` through ``dest.part``, resuming an interrupted download
        with an HTTP Range request (also across runs). The bytes are kept as served: a gzipped
        file stays gzipped for the importer to detect. ``on_progress("downloading", bytes,
        total)`` follows it."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        problem = "no attempt made"
        for _ in range(attempts):
            have = part.stat().st_size if part.exists() else 0
            headers = {"Range": f"bytes={have}-", "Accept": "*/*"} if have else {"Accept": "*/*"}
            try:
                with self.request(url, stream=True, headers=headers) as response:
                    total = _download_total(response, have)
                    if response.status_code == 416 and total == have:
                        break  # the part file already holds the whole file
                    if response.status_code not in (200, 206) or total is None:
                        if response.status_code == 416:
                            part.unlink(missing_ok=True)
                            problem = "the partial download no longer fits the file"
                            continue
                        raise ScryfallError(f"{url} answered {response.status_code}")
                    mode = "ab" if response.status_code == 206 else "wb"
                    with open(part, mode) as fh:
                        for chunk in response.raw.stream(1 << 20, decode_content=False):
                            fh.write(chunk)
                            if on_progress:
                                on_progress("downloading", fh.tell(), total)
                if part.stat().st_size == total:
                    break
                problem = f"got {part.stat().st_size} of {total} bytes"
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            log.warning("download of %s interrupted (%s); resuming", url, problem)
        else:
            raise ScryfallError(f"download of {url} failed after {attempts} attempts: {problem}")
        part.replace(dest)
        return dest


def _download_total(response: requests.Response, have: int) -> int | None:
    """The full size of the file being downloaded, or None when the answer cannot be used."""
    content_range = response.headers.get("Content-Range", "")
    if response.status_code == 206:
        match = re.fullmatch(r"bytes (\d+)-\d+/(\d+)", content_range.strip())
        if not match or int(match.group(1)) != have:
            return None
        return int(match.group(2))
    if response.status_code == 416:
        match = re.fullmatch(r"bytes \*/(\d+)", content_range.strip())
        return int(match.group(1)) if match else None
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _file_name(url: str, fallback: str) -> str:
    name = Path(urlsplit(url).path).name
    return name if re.fullmatch(r"[\w.-]{1,120}", name) else fallback


def catalog_download(
    *,
    url: str,
    client: ScryfallClient | None = None,
    dest_dir: Path | None = None,
    on_progress: CatalogProgressCallback | None = None,
) -> Path:
    client = client or ScryfallClient()
    dest_dir = dest_dir or Path(settings.SCRYFALL_DOWNLOAD_DIR)
    return client.download(
        url, dest=dest_dir / _file_name(url, "scryfall-download.json"), on_progress=on_progress
    )
