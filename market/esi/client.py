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
import os
import random
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3
from django.conf import settings
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_environ_proxies
from urllib3.exceptions import NewConnectionError

from market.esi.counters import CACHE_PREFIX, _cache, _error_counter, _Tally
from market.esi.errors import (
    EsiAuthError,
    EsiError,
    EsiNotFound,
    EsiRolledOver,
    EsiTimeout,
    _error_message,
)
from market.esi.headers import _as_datetime, _http_time, _int_header, route_template
from market.esi.limits import EsiLimits, _LimitsView
from market.esi.pages import PageSink, Parse, _Page, _PagedCall, _PagesKept

# One logger for the whole ESI client (its limits log to it too).
log = logging.getLogger("market.esi")

# Kept a day past Expires so the ETag still saves a download after the data expired.
URL_ENTRY_GRACE = 86_400
# The Forge has ~400 pages of orders; a far larger X-Pages is a broken answer, not a to-do list.
MAX_PAGES = 5000


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

    def post(self, path: str, *, body: Any, params: dict | None = None) -> EsiResult:
        """One POST with a JSON ``body`` (``/universe/names/``): never cached, since what it
        answers depends on the body; retried and limited like a GET."""
        tally = _Tally()
        try:
            payload = json.dumps(body, separators=(",", ":")).encode()
            page = self._fetch(
                path,
                dict(params or {}),
                {"Content-Type": "application/json"},
                parse="json",
                tally=tally,
                view=_LimitsView(),
                body=payload,
            )
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
        self._entry_save(key, entry)

    def _entry_save(self, key: str, entry: dict) -> None:
        ttl = max(0.0, (entry["expires"] or time.time()) - time.time()) + URL_ENTRY_GRACE
        self.cache.set(key, entry, int(ttl))

    def _from_cache(self, path: str, entry: dict, tally: _Tally) -> EsiResult:
        tally.add("cache_hits")
        self._log(path, None, "-", "hit", 0.0, 0)
        return self._not_modified(entry, from_cache=True)

    def _unchanged(self, key: str, entry: dict | None, page: _Page) -> EsiResult:
        # A 304 carries the new Expires: the next call may again skip the request until then.
        entry = entry or {"etag": page.etag, "expires": None, "last_modified": None, "pages": 1}
        refreshed = {
            **entry,
            "expires": page.expires or entry["expires"],
            "last_modified": page.last_modified or entry["last_modified"],
        }
        self._entry_save(key, refreshed)
        return self._not_modified(refreshed, from_cache=False)

    @staticmethod
    def _not_modified(entry: dict, *, from_cache: bool) -> EsiResult:
        """A 304 answered from a cache entry (``from_cache``: no request was made at all)."""
        return EsiResult(
            data=None,
            status=304,
            not_modified=True,
            expires=_as_datetime(entry["expires"]),
            last_modified=_as_datetime(entry["last_modified"]),
            etag=entry["etag"],
            pages=entry["pages"],
            from_cache=from_cache,
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
        body: bytes | None = None,
    ) -> _Page:
        """One request (a GET, or a POST of ``body``), retried; the parsed page or an error."""
        url = self.base_url + path
        if body is None:
            request, sent = ("GET", url), {"fields": params}
        else:
            request, sent = (
                ("POST", f"{url}?{urlencode(params)}" if params else url),
                {"body": body},
            )
        route = route_template(path)
        page_number = params.get("page")
        # ESI keeps an authenticated route's bucket per character: only the public routes' one
        # bucket (the market's) is what every worker spends together.
        public = "Authorization" not in headers
        attempts = self.max_retries + 1
        problem = ""
        status: int | None = None
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                tally.add("retries")
            self.limits.before_request(route, tally, view, count_tokens=public)
            started = time.monotonic()
            tally.add("requests")
            try:
                response = self.http.request(
                    *request,
                    headers={**self.headers, **headers},
                    timeout=self.timeout,
                    preload_content=False,
                    **sent,
                )
                # The whole body in one read, which also hands the connection back to the pool.
                body = response.read(decode_content=True)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                self.limits.request_done(lost=True)
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
            except BaseException:
                self.limits.request_done(lost=True)
                raise
            elapsed = (time.monotonic() - started) * 1000
            status = response.status
            try:
                self.limits.observe(route, status, response.headers, view, count_tokens=public)
            finally:
                self.limits.request_done(response.headers, status=response.status)
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
