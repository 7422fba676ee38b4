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
  :class:`EsiRolledOver`; a :class:`PageSink` gets each page as soon as it and the pages before
  it arrived, so a caller can store page 1 while page 400 is still on its way;
- limits are shared by every worker through the cache: the error limit
  (``X-ESI-Error-Limit-Remain``/``-Reset``: stop at ``ESI_ERROR_LIMIT_MARGIN``, wait out a 420),
  the token buckets (``X-Ratelimit-*``; wait out a 429's ``Retry-After``), and the market-history
  limit (``ESI_HISTORY_RATE``); the requests of one call share one look at them
  (``LIMITS_REFRESH``) rather than asking the cache three times a page;
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
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlencode, urlsplit

import urllib3
from django.conf import settings
from django.core.cache import BaseCache, caches
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_environ_proxies
from urllib3.exceptions import NewConnectionError

log = logging.getLogger(__name__)

CACHE_PREFIX = "esi:"
# Kept a day past Expires so the ETag still saves a download after the data expired.
URL_ENTRY_GRACE = 86_400
HISTORY_ROUTE = "/markets/{region_id}/history/"
# The Forge has ~400 pages of orders; a far larger X-Pages is a broken answer, not a to-do list.
MAX_PAGES = 5000
# Parts of the window the history limiter counts in; finer is fairer but costs cache reads.
HISTORY_SLOTS = 12
# Seconds the requests of one call (the ~400 pages of a paged fetch) trust their last look at the
# limits every worker shares, and re-share a token count that only confirms what is known. Each
# look is a cache round trip: taking one per page cost more CPU than receiving the page.
LIMITS_REFRESH = 0.1
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


class _LimitsView:
    """One client call's view of the shared limits, shared by the call's requests.

    It is read from the cache when it is older than ``LIMITS_REFRESH``, and what the call itself
    writes lands in it at once: a 420 or 429 holds the call's other pages immediately, another
    worker's pause reaches them within ``LIMITS_REFRESH``. Every call starts with a fresh read.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state: dict[str, Any] = {}
        self.keys: frozenset[str] = frozenset()
        self.read_at: float | None = None


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

    def _state(self, keys: list[str], view: _LimitsView | None) -> dict[str, Any]:
        if view is None:
            return self.cache.get_many(keys)
        with view.lock:
            if (
                view.read_at is None
                or time.monotonic() - view.read_at >= LIMITS_REFRESH
                or not view.keys.issuperset(keys)
            ):
                view.state = self.cache.get_many(keys)
                view.keys = frozenset(keys)
                view.read_at = time.monotonic()
            return view.state

    def _share(
        self,
        key: str,
        value: dict,
        timeout: float,
        view: _LimitsView | None,
        *,
        news: Callable[[dict], bool] | None = None,
    ) -> None:
        """Write ``value`` for every worker, unless the view says that it tells them nothing
        new (``news(known)`` is False)."""
        if view is not None:
            with view.lock:
                known = view.state.get(key)
                if news is not None and known is not None and not news(known):
                    return
                view.state[key] = value
        self.cache.set(key, value, timeout)

    def wait_needed(
        self, route: str, now: float, view: _LimitsView | None = None
    ) -> tuple[float, str]:
        """Seconds to wait before a request to ``route`` may go out, and why."""
        group = self._group(route)
        keys = [self.ERRORS, self.PAUSED]
        if group:
            keys += [f"{CACHE_PREFIX}limit:rate:{group}", f"{CACHE_PREFIX}limit:paused:{group}"]
        state = self._state(keys, view)
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

    def before_request(self, route: str, tally: _Tally, view: _LimitsView | None = None) -> None:
        deadline = time.monotonic() + self.max_wait
        while True:
            delay, reason = self.wait_needed(route, time.time(), view)
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

    def observe(
        self,
        route: str,
        status: int,
        headers: Mapping[str, str],
        view: _LimitsView | None = None,
    ) -> None:
        now = time.time()
        remain = _int_header(headers, "X-ESI-Error-Limit-Remain")
        reset = _int_header(headers, "X-ESI-Error-Limit-Reset")
        if remain is not None and reset is not None:
            reset_at = now + reset
            self._share(
                self.ERRORS,
                {"remain": remain, "reset_at": reset_at},
                reset + 1,
                view,
                # The same count in the same window (its reset is in whole seconds) is no news.
                news=lambda known: (
                    known["remain"] != remain or abs(known["reset_at"] - reset_at) >= 1.5
                ),
            )
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
                # Near the margin every count is shared; above it, one every LIMITS_REFRESH.
                near = self.token_margin + limit // 10
                self._share(
                    f"{CACHE_PREFIX}limit:rate:{group}",
                    {"remaining": remaining, "limit": limit, "window": window, "at": now},
                    int(window) + 1,
                    view,
                    news=lambda known: (
                        remaining <= near
                        or (known["limit"], known["window"]) != (limit, window)
                        or now - known["at"] >= LIMITS_REFRESH
                    ),
                )
        if status == 420:
            pause = max(1, reset if reset is not None else 60)
            why = "ESI's error limit was reached (420)"
            self._share(self.PAUSED, {"until": now + pause, "why": why}, pause + 1, view)
            self._share(self.ERRORS, {"remain": 0, "reset_at": now + pause}, pause + 1, view)
        elif status == 429:
            retry_after = _int_header(headers, "Retry-After")
            pause = max(1, retry_after if retry_after is not None else 60)
            # Without a group the bucket is unknown: pause every request to be safe.
            key = f"{CACHE_PREFIX}limit:paused:{group}" if group else self.PAUSED
            why = f"rate limit of {group or route} (429, Retry-After {pause} s)"
            self._share(key, {"until": now + pause, "why": why}, pause + 1, view)

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
def _connection_pools(base_url: str, max_in_flight: int) -> urllib3.PoolManager:
    """Keep-alive connections to ESI, set up the way requests would (its CA bundle, or the one
    in REQUESTS_CA_BUNDLE; the proxy in HTTPS_PROXY unless NO_PROXY names the host), but used
    through urllib3 directly: requests' own work per request cost about as much CPU as urllib3
    receiving a whole 240 KB page, and the environment is read once here, not for each page.
    """
    options = {
        "num_pools": 4,
        "maxsize": max_in_flight,
        "retries": False,  # _fetch retries itself; and a redirect comes back as it is
        "cert_reqs": "CERT_REQUIRED",
        "ca_certs": os.environ.get("REQUESTS_CA_BUNDLE")
        or os.environ.get("CURL_CA_BUNDLE")
        or DEFAULT_CA_BUNDLE_PATH,
    }
    proxy = get_environ_proxies(base_url).get(urlsplit(base_url).scheme)
    return urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)


class PageSink(Protocol):
    """Takes the pages of :meth:`EsiClient.get_paged` while the later ones are still on their way,
    so a caller can store page 1 while page 400 is in flight.

    Both methods are called from the thread that called ``get_paged`` (a sink may use that
    thread's database connection). A page is handed over once it and every page before it have
    arrived with page 1's Last-Modified, so the pages come in page order, each once, and all from
    one snapshot. Everything handed over stays provisional until ``get_paged`` returns: it may
    still fail (a page that never comes, a snapshot that keeps changing), and it raises whatever
    the sink raised, after cancelling the pages not yet sent.
    """

    def page(self, number: int, data: Any) -> None:
        """Page ``number``: its body as bytes with ``raw``, else its items."""

    def restart(self) -> None:
        """The snapshot rolled over under page 1: forget every page handed over so far; they all
        come again, from page 1, from the new snapshot."""


class _PagesKept:
    """The sink of a plain ``get_paged``: keeps every page for ``data``."""

    def __init__(self) -> None:
        self.pages: dict[int, Any] = {}

    def page(self, number: int, data: Any) -> None:
        self.pages[number] = data

    def restart(self) -> None:
        self.pages.clear()


@dataclass
class _Page:
    status: int
    body: bytes
    data: Any
    etag: str | None
    expires: float | None
    last_modified: float | None
    pages: int


@dataclass
class _PagedCall:
    """One ``get_paged`` call: what every page request of it shares."""

    path: str
    params: dict
    token: str | None
    raw: bool
    sink: PageSink
    tally: _Tally
    view: _LimitsView
    fetch: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        # The keywords of EsiClient._fetch for a page.
        parse: Parse = "shallow" if self.raw else "array"
        self.fetch = {"parse": parse, "tally": self.tally, "view": self.view}

    def hand_over(self, number: int, page: _Page) -> None:
        self.sink.page(number, page.body if self.raw else page.data)


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
        self.http = _connection_pools(self.base_url, self.max_in_flight)
        self.headers = {
            "User-Agent": settings.LENNY_USER_AGENT,
            "X-Compatibility-Date": settings.ESI_COMPATIBILITY_DATE,
            "Accept": "application/json",
            **urllib3.util.make_headers(accept_encoding=True),
        }

    def close(self) -> None:
        self.http.clear()

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
            page = self._fetch(path, params, headers, parse="json", tally=tally, view=_LimitsView())
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
        sink: PageSink | None = None,
    ) -> EsiResult:
        """Every page of a paged URL, all from one snapshot (one Last-Modified). ``data`` is the
        pages' items joined in page order, or with ``raw`` each page's body as bytes.

        With a ``sink``, ``data`` is None and the pages go to the sink instead, while the later
        ones are still on their way: see :class:`PageSink`.
        """
        params = {k: v for k, v in (params or {}).items() if k != "page"}
        key = self._entry_key(path, params, token)
        tally = _Tally()
        try:
            entry = self.cache.get(key)
            if conditional and entry and entry["expires"] and entry["expires"] > time.time():
                return self._from_cache(path, entry, tally)
            etag = entry["etag"] if conditional and entry else None
            kept = _PagesKept() if sink is None else None
            call = _PagedCall(path, params, token, raw, sink or kept, tally, _LimitsView())
            first = self._pages_stream(call, etag=etag, entry=entry)
            if first.status == 304:
                return self._unchanged(key, entry, first)
            data: Any = None
            if kept is not None:
                ordered = [kept.pages[n] for n in range(1, first.pages + 1)]
                data = ordered if raw else [item for items in ordered for item in items]
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
    def _pages_stream(self, call: _PagedCall, *, etag: str | None, entry: dict | None) -> _Page:
        """Page 1 (conditional on ``etag``), then every page it announces, into the call's sink
        in page order, all with page 1's Last-Modified. Returns page 1: a 304 when unchanged.

        A page behind page 1 (a cache node that still has the previous snapshot) is held back
        and fetched again; a page ahead of it means the snapshot rolled over under page 1, so
        the sink restarts and every page is fetched again. Each of these re-fetches waits
        ``rollover_wait`` first, and after ``rollover_retries`` of them the call gives up.
        """
        first = self._fetch(
            call.path, {**call.params, "page": 1}, self._headers(call.token, etag), **call.fetch
        )
        if first.status == 304:
            if entry and (first.last_modified or 0) <= (entry["last_modified"] or 0):
                return first
            # Page 1 is the same but the snapshot is newer: the other pages may not be.
            first = self._page_one(call)
        refetches = 0
        while True:
            if first.pages > MAX_PAGES:
                raise EsiError(
                    f"ESI {call.path} announced {first.pages} pages (X-Pages); Lenny fetches at "
                    f"most {MAX_PAGES}",
                    status=first.status,
                    url=self.base_url + call.path,
                )
            used, stale = self._pages_rest(call, first, refetches)
            refetches += used
            if stale is None:
                return first
            # A page is ahead of page 1: the snapshot rolled over mid-fetch.
            self._rollover_wait(call, first, stale, refetches, every_page=True)
            refetches += 1
            call.sink.restart()
            first = self._page_one(call)

    def _pages_rest(
        self, call: _PagedCall, first: _Page, refetches: int
    ) -> tuple[int, list | None]:
        """Page 1 and the pages after it, of page 1's snapshot, into the sink. Returns the
        re-fetches it used and, when a page turned out to be ahead of page 1, the pages that
        disagreed (else None)."""
        arrived = {1: first}
        next_number = 1

        def hand_over_in_order() -> None:
            nonlocal next_number
            while next_number in arrived:
                call.hand_over(next_number, arrived.pop(next_number))
                next_number += 1

        numbers = list(range(2, first.pages + 1))
        used = 0
        while True:
            behind: list[tuple[int, _Page]] = []
            with self._pages_many(call, numbers) as pages:
                # Page 1 goes to the sink once the others are on their way.
                hand_over_in_order()
                for number, page in pages:
                    if page.last_modified == first.last_modified:
                        arrived[number] = page
                        hand_over_in_order()
                    elif (page.last_modified or 0) > (first.last_modified or 0):
                        return used, [(number, page)]
                    else:
                        behind.append((number, page))
            if not behind:
                return used, None
            self._rollover_wait(call, first, behind, refetches + used, every_page=False)
            used += 1
            numbers = sorted(number for number, _ in behind)

    def _rollover_wait(
        self,
        call: _PagedCall,
        first: _Page,
        disagreeing: list[tuple[int, _Page]],
        refetches: int,
        *,
        every_page: bool,
    ) -> None:
        """Log the disagreement and wait before fetching again, or give up with EsiRolledOver."""
        if refetches >= self.rollover_retries:
            moments = sorted(
                {_as_datetime(p.last_modified) for p in [first, *(p for _, p in disagreeing)]},
                key=str,
            )
            raise EsiRolledOver(
                f"ESI {call.path} kept changing while its {first.pages} pages were fetched "
                f"(Last-Modified {', '.join(str(m) for m in moments)}); gave up after "
                f"{self.rollover_retries} re-fetches",
                status=200,
                url=self.base_url + call.path,
            )
        numbers = sorted(number for number, _ in disagreeing)
        log.warning(
            "esi route=%s rolled over mid-fetch: %d of %d pages differ in Last-Modified; "
            "fetching %s again in %.2fs",
            route_template(call.path),
            len(numbers),
            first.pages,
            "every page" if every_page else f"pages {numbers[:10]}",
            self.rollover_wait,
        )
        call.tally.add("rolled_over")
        time.sleep(self.rollover_wait)

    def _page_one(self, call: _PagedCall) -> _Page:
        headers = self._headers(call.token, None)
        return self._fetch(call.path, {**call.params, "page": 1}, headers, **call.fetch)

    @contextmanager
    def _pages_many(
        self, call: _PagedCall, numbers: list[int]
    ) -> Iterator[Iterator[tuple[int, _Page]]]:
        """The pages ``numbers``, sent ``max_in_flight`` at a time from here on, as each
        arrives. Leaving the block early (or a page failing) sends none of those still waiting."""
        if not numbers:
            yield iter(())
            return
        headers = self._headers(call.token, None)
        pool = ThreadPoolExecutor(
            max_workers=min(self.max_in_flight, len(numbers)), thread_name_prefix="esi-page"
        )
        try:
            futures = {
                pool.submit(
                    self._fetch, call.path, {**call.params, "page": n}, headers, **call.fetch
                ): n
                for n in numbers
            }
            # A failed page raises here and fails the call.
            yield ((futures[future], future.result()) for future in as_completed(futures))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

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
        view: _LimitsView | None = None,
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
            self.limits.before_request(route, tally, view)
            started = time.monotonic()
            tally.add("requests")
            try:
                response = self.http.request(
                    "GET",
                    url,
                    fields=params,
                    headers={**self.headers, **headers},
                    timeout=self.timeout,
                    preload_content=False,
                )
                # The whole body in one read, which also hands the connection back to the pool.
                body = response.read(decode_content=True)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                elapsed = (time.monotonic() - started) * 1000
                # To urllib3 a refused connection is a kind of ConnectTimeoutError too.
                timed_out = isinstance(exc, urllib3.exceptions.TimeoutError) and not isinstance(
                    exc, NewConnectionError
                )
                if timed_out:
                    tally.add("timeouts")
                    status, problem = None, f"no answer within {self.timeout:g} s"
                else:
                    tally.add(_error_counter(None))
                    status, problem = None, f"the connection broke ({type(exc).__name__})"
                state = "timeout" if timed_out else "broken"
                self._log(path, page_number, state, "miss", elapsed, attempt)
                if attempt < attempts:
                    time.sleep(self._backoff(attempt))
                continue
            elapsed = (time.monotonic() - started) * 1000
            status = response.status
            self.limits.observe(route, status, response.headers, view)
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
    def _page(response: urllib3.BaseHTTPResponse, body: bytes, data: Any) -> _Page:
        headers = response.headers
        return _Page(
            status=response.status,
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
