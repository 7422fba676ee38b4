"""The ESI client every ESI call in Lenny goes through.

It is polite the way ESI asks clients to be:

- every request carries the ``User-Agent`` (``LENNY_USER_AGENT``), ``X-Compatibility-Date``
  (``ESI_COMPATIBILITY_DATE``) and a timeout (``UPSTREAM_TIMEOUT``);
- a URL is never requested again before its ``Expires``; after it, the request carries
  ``If-None-Match`` and a 304 means "unchanged" (ETag, Expires and Last-Modified per URL live in
  the Django cache, so every worker shares them);
- paged results: page 1 first, then the other ``X-Pages`` pages concurrently
  (``ESI_MAX_IN_FLIGHT``); pages that disagree on ``Last-Modified`` mean the snapshot rolled over
  mid-fetch, so the client waits and fetches again (``ESI_ROLLOVER_*``), then gives up with
  :class:`EsiRolledOver`;
- limits are shared by every worker through the cache: the error limit
  (``X-ESI-Error-Limit-Remain``/``-Reset``: stop at ``ESI_ERROR_LIMIT_MARGIN``, wait out a 420),
  the token buckets (``X-Ratelimit-*``; wait out a 429's ``Retry-After``), and the market-history
  limit (``ESI_HISTORY_RATE``);
- 5xx answers, timeouts and broken bodies are retried ``ESI_MAX_RETRIES`` times with jittered
  exponential backoff (``ESI_BACKOFF_BASE``/``_MAX``);
- one log line per request (route with its ids templated, page, status, cache, milliseconds) and
  counters in the cache for ``/healthz`` (:func:`esi_counters`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.core.cache import BaseCache, caches
from requests.adapters import HTTPAdapter

log = logging.getLogger(__name__)

CACHE_PREFIX = "esi:"
# Kept a day past Expires so the ETag still saves a download after the data expired.
URL_ENTRY_GRACE = 86_400
HISTORY_ROUTE = "/markets/{region_id}/history/"
# The Forge has ~400 pages of orders; a far larger X-Pages is a broken answer, not a to-do list.
MAX_PAGES = 5000
# Parts of the window the history limiter counts in; finer is fairer but costs cache reads.
HISTORY_SLOTS = 12
ID_NAMES = {
    "alliances": "alliance_id",
    "characters": "character_id",
    "contracts": "contract_id",
    "corporations": "corporation_id",
    "markets": "region_id",
    "orders": "order_id",
    "regions": "region_id",
    "stations": "station_id",
    "structures": "structure_id",
    "systems": "system_id",
    "types": "type_id",
}
COUNTERS = (
    "requests",
    "not_modified",
    "cache_hits",
    "retries",
    "timeouts",
    "rolled_over",
    "limit_waits",
)
ERROR_STATUSES = (400, 401, 403, 404, 420, 429, 500, 502, 503, 504)


# How a body is checked: parsed JSON, parsed JSON that must be a page's array, or (raw pages for
# a caller that parses them itself) only seen to be a whole array.
Parse = Literal["json", "array", "shallow"]


# --- errors and results --------------------------------------------------------------------------
class EsiError(Exception):
    """ESI did not give a usable answer. ``status`` is None when no HTTP answer came at all."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class EsiTimeout(EsiError):
    """Every attempt timed out."""


class EsiAuthError(EsiError):
    """401 or 403: the token is missing, expired, revoked or lacks the scope."""


class EsiNotFound(EsiError):
    """404 — for market history: the type was never traded in the region."""


class EsiRolledOver(EsiError):
    """The pages kept disagreeing on Last-Modified after every allowed re-fetch."""


@dataclass
class EsiResult:
    data: Any
    status: int
    not_modified: bool
    expires: datetime | None
    last_modified: datetime | None
    etag: str | None
    pages: int
    from_cache: bool


# --- small helpers ---------------------------------------------------------------------------------
def rate_parse(text: str) -> tuple[int, float]:
    """ESI's rate notation: ``"150/15m"`` → (150, 900.0). Units: s, m, h."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*([smh])\s*", text or "")
    if not match:
        raise ValueError(f"a rate is written like '150/15m', not {text!r}")
    count, amount, unit = match.groups()
    return int(count), float(int(amount) * {"s": 1, "m": 60, "h": 3600}[unit])


def route_template(path: str) -> str:
    """``/markets/10000002/orders/`` → ``/markets/{region_id}/orders/`` (for logs and limits)."""
    parts = path.split("/")
    for i, part in enumerate(parts):
        if part.isdigit():
            parts[i] = "{" + ID_NAMES.get(parts[i - 1] if i else "", "id") + "}"
    return "/".join(parts)


def _http_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _as_datetime(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def token_owner(token: str) -> str:
    """Who a token speaks for, for cache keys: the character of an EVE SSO JWT (its ``sub``,
    ``CHARACTER:EVE:<id>``), else a digest — never the token itself, which rotates."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        subject = str(claims["sub"])
        return "character:" + subject.rsplit(":", 1)[-1]
    except (IndexError, KeyError, TypeError, ValueError):
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:16]


def _cache() -> BaseCache:
    # One cache object for the client's threads: its connection pool is thread-safe, and
    # ``django.core.cache.cache`` would open a new connection in every worker thread.
    return caches["default"]


def _incr(cache: BaseCache, key: str, delta: int, timeout: float | None) -> int:
    try:
        return cache.incr(key, delta)
    except ValueError:
        cache.add(key, 0, timeout)
        try:
            return cache.incr(key, delta)
        except ValueError:  # expired in between: start again from this delta
            cache.set(key, delta, timeout)
            return delta


# --- counters --------------------------------------------------------------------------------------
class _Tally:
    """Counts of one client call, added to the shared counters once at the end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def flush(self, cache: BaseCache) -> None:
        with self._lock:
            counts, self._counts = self._counts, Counter()
        for name, n in counts.items():
            if n:
                _incr(cache, f"{CACHE_PREFIX}count:{name}", n, None)


def _error_counter(status: int | None) -> str:
    if status is None:
        return "error:none"
    return f"error:{status}" if status in ERROR_STATUSES else "error:other"


def esi_counters() -> dict[str, Any]:
    """Requests, 304s, cache hits, retries and errors by status, summed over every worker."""
    cache = _cache()
    error_names = [*map(str, ERROR_STATUSES), "other", "none"]
    keys = [f"{CACHE_PREFIX}count:{name}" for name in COUNTERS]
    error_keys = [f"{CACHE_PREFIX}count:error:{name}" for name in error_names]
    values = cache.get_many(keys + error_keys)
    report: dict[str, Any] = {
        name: int(values.get(key, 0)) for name, key in zip(COUNTERS, keys, strict=True)
    }
    report["errors"] = {
        name: int(values[key])
        for name, key in zip(error_names, error_keys, strict=True)
        if values.get(key)
    }
    return report


# --- limits shared by every worker -----------------------------------------------------------------
_history_lock = threading.Lock()


class EsiLimits:
    """ESI's error limit, its token buckets, 420/429 pauses and the market-history limit, kept in
    the cache so every worker on every machine sees what one of them learned."""

    ERRORS = CACHE_PREFIX + "limit:errors"
    PAUSED = CACHE_PREFIX + "limit:paused"

    def __init__(
        self,
        cache: BaseCache,
        *,
        error_margin: int,
        token_margin: int,
        max_wait: float,
        history_rate: str,
    ) -> None:
        self.cache = cache
        self.error_margin = error_margin
        self.token_margin = token_margin
        self.max_wait = max_wait
        self.history_limit, self.history_window = rate_parse(history_rate)
        self._groups: dict[str, str] = {}

    def _group(self, route: str) -> str | None:
        group = self._groups.get(route)
        if group is None:
            group = self.cache.get(f"{CACHE_PREFIX}limit:group:{route}")
            if group:
                self._groups[route] = group
        return group

    def wait_needed(self, route: str, now: float) -> tuple[float, str]:
        """Seconds to wait before a request to ``route`` may go out, and why."""
        group = self._group(route)
        keys = [self.ERRORS, self.PAUSED]
        if group:
            keys += [f"{CACHE_PREFIX}limit:rate:{group}", f"{CACHE_PREFIX}limit:paused:{group}"]
        state = self.cache.get_many(keys)
        waits = [(0.0, "")]
        paused = state.get(self.PAUSED)
        if paused:
            waits.append((paused["until"] - now, paused["why"]))
        errors = state.get(self.ERRORS)
        if errors and errors["remain"] <= self.error_margin:
            waits.append((errors["reset_at"] - now, f"ESI's error limit is at {errors['remain']}"))
        if group:
            group_paused = state.get(keys[3])
            if group_paused:
                waits.append((group_paused["until"] - now, group_paused["why"]))
            rate = state.get(keys[2])
            if rate and rate["remaining"] <= self.token_margin:
                # Tokens come back as the window slides; pace at the bucket's sustainable rate.
                pace = rate["window"] / max(1, rate["limit"]) * 2
                waits.append(
                    (rate["at"] + pace - now, f"rate limit of {group} is at {rate['remaining']}")
                )
        return max(waits)

    def before_request(self, route: str, tally: _Tally) -> None:
        deadline = time.monotonic() + self.max_wait
        while True:
            delay, reason = self.wait_needed(route, time.time())
            if delay <= 0:
                break
            if time.monotonic() + delay > deadline:
                raise EsiError(
                    f"ESI asked Lenny to hold off for {delay:.0f} s ({reason}), longer than "
                    f"ESI_MAX_WAIT={self.max_wait:g} s"
                )
            tally.add("limit_waits")
            log.info("esi waiting %.2fs before %s: %s", delay, route, reason)
            time.sleep(delay)
        if route == HISTORY_ROUTE:
            self._history_take(deadline, tally)

    def observe(self, route: str, status: int, headers: Mapping[str, str]) -> None:
        now = time.time()
        remain = _int_header(headers, "X-ESI-Error-Limit-Remain")
        reset = _int_header(headers, "X-ESI-Error-Limit-Reset")
        if remain is not None and reset is not None:
            self.cache.set(self.ERRORS, {"remain": remain, "reset_at": now + reset}, reset + 1)
        group = headers.get("X-Ratelimit-Group")
        if group:
            if self._groups.get(route) != group:
                self._groups[route] = group
                self.cache.set(f"{CACHE_PREFIX}limit:group:{route}", group, 86_400)
            remaining = _int_header(headers, "X-Ratelimit-Remaining")
            try:
                limit, window = rate_parse(headers.get("X-Ratelimit-Limit", ""))
            except ValueError:
                limit = window = None
            if remaining is not None and limit:
                self.cache.set(
                    f"{CACHE_PREFIX}limit:rate:{group}",
                    {"remaining": remaining, "limit": limit, "window": window, "at": now},
                    int(window) + 1,
                )
        if status == 420:
            pause = max(1, reset if reset is not None else 60)
            why = "ESI's error limit was reached (420)"
            self.cache.set(self.PAUSED, {"until": now + pause, "why": why}, pause + 1)
            self.cache.set(self.ERRORS, {"remain": 0, "reset_at": now + pause}, pause + 1)
        elif status == 429:
            retry_after = _int_header(headers, "Retry-After")
            pause = max(1, retry_after if retry_after is not None else 60)
            # Without a group the bucket is unknown: pause every request to be safe.
            key = f"{CACHE_PREFIX}limit:paused:{group}" if group else self.PAUSED
            why = f"rate limit of {group or route} (429, Retry-After {pause} s)"
            self.cache.set(key, {"until": now + pause, "why": why}, pause + 1)

    def _history_take(self, deadline: float, tally: _Tally) -> None:
        """Take one of the history limit's places, counted over a sliding window of slots.

        The count covers two slots more than the window: one so that no real sliding window
        ever holds more than the limit, one for the network's jitter between here and ESI. A
        request over the limit gives its place back and waits for the next slot.
        """
        slot = self.history_window / HISTORY_SLOTS
        while True:
            now = time.time()
            current = int(now // slot)
            key = f"{CACHE_PREFIX}history:{current}"
            counted = range(current - HISTORY_SLOTS - 1, current + 1)
            keys = [f"{CACHE_PREFIX}history:{s}" for s in counted]
            # Redis makes each step atomic across processes; the lock also makes the embedded
            # file cache (whose incr is a read and a write) exact between this process's threads.
            with _history_lock:
                # Whole seconds (cache timeouts are), past the last moment the slot is counted.
                _incr(self.cache, key, 1, math.ceil(self.history_window + 3 * slot) + 1)
                if sum(int(v) for v in self.cache.get_many(keys).values()) <= self.history_limit:
                    return
                self.cache.decr(key)
            delay = (current + 1) * slot - now + 0.001
            if time.monotonic() + delay > deadline:
                raise EsiError(
                    f"the market history limit ({self.history_limit} per "
                    f"{self.history_window:g} s) stayed full for ESI_MAX_WAIT={self.max_wait:g} s"
                )
            tally.add("limit_waits")
            time.sleep(delay)


# --- the client -------------------------------------------------------------------------------------
@dataclass
class _Page:
    status: int
    body: bytes
    data: Any
    etag: str | None
    expires: float | None
    last_modified: float | None
    pages: int


class EsiClient:
    def __init__(
        self,
        *,
        base_url: str | None = None,
        max_in_flight: int | None = None,
        timeout: float | None = None,
    ) -> None:
        self.base_url = (base_url or settings.ESI_BASE_URL).rstrip("/")
        self.max_in_flight = max(1, max_in_flight or settings.ESI_MAX_IN_FLIGHT)
        self.timeout = timeout or settings.UPSTREAM_TIMEOUT
        self.max_retries = max(0, settings.ESI_MAX_RETRIES)
        self.backoff_base = settings.ESI_BACKOFF_BASE
        self.backoff_max = settings.ESI_BACKOFF_MAX
        self.rollover_retries = max(0, settings.ESI_ROLLOVER_RETRIES)
        self.rollover_wait = settings.ESI_ROLLOVER_WAIT
        self.cache = _cache()
        self.limits = EsiLimits(
            self.cache,
            error_margin=settings.ESI_ERROR_LIMIT_MARGIN,
            token_margin=settings.ESI_RATE_LIMIT_MARGIN,
            max_wait=settings.ESI_MAX_WAIT,
            history_rate=settings.ESI_HISTORY_RATE,
        )
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.max_in_flight, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(
            {
                "User-Agent": settings.LENNY_USER_AGENT,
                "X-Compatibility-Date": settings.ESI_COMPATIBILITY_DATE,
                "Accept": "application/json",
            }
        )

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> EsiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- public interface -------------------------------------------------------------------------
    def get(
        self,
        path: str,
        *,
        params: dict | None = None,
        token: str | None = None,
        conditional: bool = True,
    ) -> EsiResult:
        """One URL. ``conditional``: nothing is sent before the cached Expires, and a 304 after
        it comes back as ``not_modified``; pass False when the data is needed regardless."""
        params = dict(params or {})
        key = self._entry_key(path, params, token)
        tally = _Tally()
        try:
            entry = self.cache.get(key)
            if conditional and entry and entry["expires"] and entry["expires"] > time.time():
                return self._from_cache(path, entry, tally)
            headers = self._headers(token, entry["etag"] if conditional and entry else None)
            page = self._fetch(path, params, headers, parse="json", tally=tally)
            if page.status == 304:
                return self._unchanged(key, entry, page)
            self._entry_store(key, page, page.pages)
            return self._result(page, page.data, page.pages)
        finally:
            tally.flush(self.cache)

    def get_paged(
        self,
        path: str,
        *,
        params: dict | None = None,
        token: str | None = None,
        conditional: bool = True,
        raw: bool = False,
    ) -> EsiResult:
        """Every page of a paged URL, all from one snapshot (one Last-Modified). ``data`` is the
        pages' items joined in page order, or with ``raw`` each page's body as bytes."""
        params = {k: v for k, v in (params or {}).items() if k != "page"}
        key = self._entry_key(path, params, token)
        tally = _Tally()
        try:
            entry = self.cache.get(key)
            if conditional and entry and entry["expires"] and entry["expires"] > time.time():
                return self._from_cache(path, entry, tally)
            etag = entry["etag"] if conditional and entry else None
            results = self._pages_fetch(path, params, token, etag=etag, raw=raw, tally=tally)
            first = results[1]
            if first.status == 304:
                if entry and (first.last_modified or 0) <= (entry["last_modified"] or 0):
                    return self._unchanged(key, entry, first)
                # Page 1 is the same but the snapshot is newer: the other pages may not be.
                results = self._pages_fetch(path, params, token, etag=None, raw=raw, tally=tally)
            results = self._pages_settle(path, params, token, results, raw=raw, tally=tally)
            first = results[1]
            ordered = [results[n] for n in range(1, first.pages + 1)]
            if raw:
                data: Any = [page.body for page in ordered]
            else:
                data = [item for page in ordered for item in page.data]
            self._entry_store(key, first, first.pages)
            return self._result(first, data, first.pages)
        finally:
            tally.flush(self.cache)

    def expiry(self, path: str, *, params: dict | None = None) -> datetime | None:
        """The cached Expires of an (unauthenticated) URL, None when it was never fetched."""
        params = {k: v for k, v in (params or {}).items() if k != "page"}
        entry = self.cache.get(self._entry_key(path, params, None))
        return _as_datetime(entry["expires"]) if entry else None

    # --- caching ----------------------------------------------------------------------------------
    def _entry_key(self, path: str, params: Mapping, token: str | None) -> str:
        query = urlencode(sorted((str(k), str(v)) for k, v in params.items()))
        owner = token_owner(token) if token else ""
        url = f"{self.base_url}{path}?{query}|{owner}"
        return f"{CACHE_PREFIX}url:" + hashlib.sha256(url.encode()).hexdigest()

    def _entry_store(self, key: str, page: _Page, pages: int) -> None:
        entry = {
            "etag": page.etag,
            "expires": page.expires,
            "last_modified": page.last_modified,
            "pages": pages,
        }
        ttl = max(0.0, (page.expires or time.time()) - time.time()) + URL_ENTRY_GRACE
        self.cache.set(key, entry, int(ttl))

    def _from_cache(self, path: str, entry: dict, tally: _Tally) -> EsiResult:
        tally.add("cache_hits")
        self._log(path, None, "-", "hit", 0.0, 0)
        return EsiResult(
            data=None,
            status=304,
            not_modified=True,
            expires=_as_datetime(entry["expires"]),
            last_modified=_as_datetime(entry["last_modified"]),
            etag=entry["etag"],
            pages=entry["pages"],
            from_cache=True,
        )

    def _unchanged(self, key: str, entry: dict | None, page: _Page) -> EsiResult:
        # A 304 carries the new Expires: the next call may again skip the request until then.
        entry = entry or {"etag": page.etag, "expires": None, "last_modified": None, "pages": 1}
        refreshed = {
            **entry,
            "expires": page.expires or entry["expires"],
            "last_modified": page.last_modified or entry["last_modified"],
        }
        ttl = max(0.0, (refreshed["expires"] or time.time()) - time.time()) + URL_ENTRY_GRACE
        self.cache.set(key, refreshed, int(ttl))
        return EsiResult(
            data=None,
            status=304,
            not_modified=True,
            expires=_as_datetime(refreshed["expires"]),
            last_modified=_as_datetime(refreshed["last_modified"]),
            etag=refreshed["etag"],
            pages=refreshed["pages"],
            from_cache=False,
        )

    @staticmethod
    def _result(page: _Page, data: Any, pages: int) -> EsiResult:
        return EsiResult(
            data=data,
            status=page.status,
            not_modified=False,
            expires=_as_datetime(page.expires),
            last_modified=_as_datetime(page.last_modified),
            etag=page.etag,
            pages=pages,
            from_cache=False,
        )

    # --- paging ------------------------------------------------------------------------------------
    def _pages_fetch(
        self,
        path: str,
        params: dict,
        token: str | None,
        *,
        etag: str | None,
        raw: bool,
        tally: _Tally,
    ) -> dict[int, _Page]:
        """Page 1 (conditional on ``etag``), then every other page it announces, concurrently."""
        parse: Parse = "shallow" if raw else "array"
        first = self._fetch(
            path, {**params, "page": 1}, self._headers(token, etag), parse=parse, tally=tally
        )
        if first.status == 304:
            return {1: first}
        if first.pages > MAX_PAGES:
            raise EsiError(
                f"ESI {path} announced {first.pages} pages (X-Pages); Lenny fetches at most "
                f"{MAX_PAGES}",
                status=first.status,
                url=self.base_url + path,
            )
        return {
            1: first,
            **self._pages_many(path, params, token, range(2, first.pages + 1), raw, tally),
        }

    def _pages_many(
        self,
        path: str,
        params: dict,
        token: str | None,
        numbers: Iterable[int],
        raw: bool,
        tally: _Tally,
    ) -> dict[int, _Page]:
        numbers = list(numbers)
        if not numbers:
            return {}
        headers = self._headers(token, None)
        parse: Parse = "shallow" if raw else "array"
        pool = ThreadPoolExecutor(
            max_workers=min(self.max_in_flight, len(numbers)), thread_name_prefix="esi-page"
        )
        try:
            futures = {
                pool.submit(
                    self._fetch, path, {**params, "page": n}, headers, parse=parse, tally=tally
                ): n
                for n in numbers
            }
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
                if future.exception() is not None:
                    # The result is lost anyway: do not send the pages still waiting.
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise future.exception()
            return {futures[f]: f.result() for f in futures}
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _pages_settle(
        self,
        path: str,
        params: dict,
        token: str | None,
        results: dict[int, _Page],
        *,
        raw: bool,
        tally: _Tally,
    ) -> dict[int, _Page]:
        """Re-fetch until every page carries page 1's Last-Modified, or give up."""
        for refetch in range(self.rollover_retries + 1):
            first = results[1]
            stale = sorted(n for n, p in results.items() if p.last_modified != first.last_modified)
            if not stale:
                return results
            if refetch == self.rollover_retries:
                break
            newest = max(p.last_modified or 0 for p in results.values())
            page_one_behind = (first.last_modified or 0) < newest
            log.warning(
                "esi route=%s rolled over mid-fetch: %d of %d pages differ in Last-Modified; "
                "fetching %s again in %.2fs",
                route_template(path),
                len(stale),
                len(results),
                "every page" if page_one_behind else f"pages {stale[:10]}",
                self.rollover_wait,
            )
            tally.add("rolled_over")
            time.sleep(self.rollover_wait)
            if page_one_behind:
                # Page 1 is from the old snapshot: the new one may even have another page count.
                results = self._pages_fetch(path, params, token, etag=None, raw=raw, tally=tally)
            else:
                results.update(self._pages_many(path, params, token, stale, raw, tally))
        moments = sorted({_as_datetime(p.last_modified) for p in results.values()}, key=str)
        raise EsiRolledOver(
            f"ESI {path} kept changing while its {len(results)} pages were fetched "
            f"(Last-Modified {', '.join(str(m) for m in moments)}); gave up after "
            f"{self.rollover_retries} re-fetches",
            status=200,
            url=self.base_url + path,
        )

    # --- one request, with retries --------------------------------------------------------------
    def _headers(self, token: str | None, etag: str | None) -> dict[str, str]:
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if etag:
            headers["If-None-Match"] = etag
        return headers

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)) * random.uniform(
            0.5, 1.5
        )

    def _fetch(
        self,
        path: str,
        params: dict,
        headers: dict[str, str],
        *,
        parse: Parse,
        tally: _Tally,
    ) -> _Page:
        url = self.base_url + path
        route = route_template(path)
        page_number = params.get("page")
        attempts = self.max_retries + 1
        problem = ""
        status: int | None = None
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                tally.add("retries")
            self.limits.before_request(route, tally)
            started = time.monotonic()
            tally.add("requests")
            try:
                response = self.session.get(
                    url, params=params, headers=headers, timeout=self.timeout
                )
                body = response.content
            except requests.Timeout:
                elapsed = (time.monotonic() - started) * 1000
                tally.add("timeouts")
                self._log(path, page_number, "timeout", "miss", elapsed, attempt)
                status, problem = None, f"no answer within {self.timeout:g} s"
                if attempt < attempts:
                    time.sleep(self._backoff(attempt))
                continue
            except requests.RequestException as exc:
                elapsed = (time.monotonic() - started) * 1000
                tally.add(_error_counter(None))
                self._log(path, page_number, "broken", "miss", elapsed, attempt)
                status, problem = None, f"the connection broke ({type(exc).__name__})"
                if attempt < attempts:
                    time.sleep(self._backoff(attempt))
                continue
            elapsed = (time.monotonic() - started) * 1000
            status = response.status_code
            self.limits.observe(route, status, response.headers)
            cache_state = "revalidated" if status == 304 else "miss"
            self._log(path, page_number, status, cache_state, elapsed, attempt)
            if status == 304:
                tally.add("not_modified")
                return self._page(response, b"", None)
            if status == 200:
                try:
                    data = self._parse(body, parse)
                except ValueError as exc:
                    tally.add(_error_counter(None))
                    problem = f"a malformed body ({exc})"
                    if attempt < attempts:
                        time.sleep(self._backoff(attempt))
                    continue
                return self._page(response, body, data)
            tally.add(_error_counter(status))
            message = _error_message(body) or response.reason
            if status in (420, 429):
                # The pause was recorded by observe(); before_request() waits it out.
                problem = f"{status} {message}"
                continue
            if status >= 500:
                problem = f"{status} {message}"
                if attempt < attempts:
                    time.sleep(self._backoff(attempt))
                continue
            target = f"{url}?{urlencode(params)}" if params else url
            if status in (401, 403):
                raise EsiAuthError(
                    f"ESI refused {target}: {status} {message}", status=status, url=url
                )
            if status == 404:
                raise EsiNotFound(f"ESI has no {target}: 404 {message}", status=404, url=url)
            raise EsiError(f"ESI rejected {target}: {status} {message}", status=status, url=url)
        target = f"{url}?{urlencode(params)}" if params else url
        text = f"ESI {target} failed after {attempts} attempts: {problem}"
        if status is None and problem.startswith("no answer"):
            raise EsiTimeout(text, status=None, url=url)
        raise EsiError(text, status=status, url=url)

    @staticmethod
    def _parse(body: bytes, parse: Parse) -> Any:
        if parse == "shallow":
            # The caller parses the pages itself; a cut-off array is still caught here.
            stripped = body.strip()
            if not (stripped.startswith(b"[") and stripped.endswith(b"]")):
                raise ValueError("not a complete JSON array")
            return None
        data = json.loads(body)
        if parse == "array" and not isinstance(data, list):
            raise ValueError(f"a page must be a JSON array, not {type(data).__name__}")
        return data

    @staticmethod
    def _page(response: requests.Response, body: bytes, data: Any) -> _Page:
        headers = response.headers
        return _Page(
            status=response.status_code,
            body=body,
            data=data,
            etag=headers.get("ETag"),
            expires=_http_time(headers.get("Expires")),
            last_modified=_http_time(headers.get("Last-Modified")),
            pages=max(1, _int_header(headers, "X-Pages") or 1),
        )

    def _log(
        self,
        path: str,
        page: Any,
        status: Any,
        cache_state: str,
        elapsed_ms: float,
        attempt: int,
    ) -> None:
        fields = {
            "route": route_template(path),
            "page": page if page is not None else "-",
            "status": status,
            "cache": cache_state,
            "ms": round(elapsed_ms, 1),
            "attempt": attempt,
        }
        log.info("esi %s", " ".join(f"{k}={v}" for k, v in fields.items()), extra={"esi": fields})


def _error_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"][:300]
    return ""
