"""The ESI replay: the market routes of EVE's ESI, mounted under ``/esi`` on the replay server.

Routes (with ESI's headers: ``X-Pages``, quoted ``ETag``, ``Expires`` and ``Last-Modified`` as
HTTP dates, ``Cache-Control``, ``X-ESI-Error-Limit-Remain``/``-Reset``, ``X-Ratelimit-*``, and a
304 for a matching ``If-None-Match``):

- ``/markets/{region_id}/orders/?order_type=all|buy|sell[&type_id=][&page=]`` — order snapshots
  generated from the real hub history (``market/replay/orders.py``), 1000 orders a page.
- ``/markets/{region_id}/history/?type_id=`` — the real daily history, dates shifted so the last
  day is the day before the latest 11:05 UTC refresh; 404 ``{"error": "Type not found!"}`` for a
  type without history there.
- ``/markets/{region_id}/types/[?page=]`` — the types with orders in the current snapshot.
- ``/markets/prices/`` — average and adjusted prices of every type with history.
- ``/markets/structures/{id}/``, ``/universe/structures/{id}/``, ``/universe/structures/`` —
  two player structures with a bearer token (``market/replay/structures.py``).
- ``/universe/names/``, ``/universe/types/{type_id}/``, ``/universe/groups/{group_id}/``,
  ``/universe/categories/{category_id}/`` — the item types' names and volumes
  (``market/replay/universe.py``).

Knobs: ``server.state["esi"]`` is the :class:`EsiReplay`. Set attributes directly or through
``configure(**knobs)`` (in-process), or ``POST /esi/_replay/state`` with the knobs as JSON
(demo, benchmarks running the replay in another process; ``GET`` shows them). ``reset()`` (run by
the ``upstreams`` fixture) puts every knob back to its default and restarts the clocks.

- ``history`` — ``"auto"`` (default, or the ``ESI_REPLAY_HISTORY`` setting): the full archive in
  ``../shared/fixtures/eve/history`` when present, else the real sample in
  ``market/replay/data/history``; ``"sample"`` (tests: small, loads at once), ``"full"``, a path.
- ``scale`` — order-book size: 1.0 (default) is one open order per trade a day in the history,
  ~400k orders / ~405 pages for The Forge with the full archive.
- ``orders`` — ``{region_id: n}``: exactly n orders in that region's book, whatever the scale
  (tests: ``{10000002: 2500}`` with ``page_size=500`` gives five pages).
- ``regions`` — the size table of a many-region simulation (``benchmarks/all_regions.py``):
  ``{region_id: {"orders": n, "types": k, "stations": [[station_id, system_id], …]}}``. The
  region's book has n orders over its k most-traded types; a region the history archive lacks
  borrows the hubs' trading (``market.replay.regions``); ``stations`` (optional) are where its
  orders sit (default: the region's stations in the repo's hub-station file). ``orders`` above
  wins over it for the regions it names.
- ``page_size`` — orders (and types) per page, 1000 like ESI.
- ``expiry_seconds`` — how long a snapshot lives (300). Once it has expired, the next request
  sees the next snapshot: new ``Last-Modified``, new ``Expires``, orders moved on. Tests call
  ``roll_over(region_id)`` to get the next snapshot at once. ``backdate(region_id, seconds)``
  serves the snapshot of that many seconds ago and holds it; ``advance(region_id, n)`` then
  steps n snapshots on, n times ``expiry_seconds`` later, as if that much time had passed (the
  demo's short series of past snapshots; tests of what changed between two), until the clock
  reaches the present and runs with the wall clock again.
- ``publish_delay`` — seconds after Expires during which the expired snapshot is still served
  (0): a client that asks then gets a 304 and a later Expires, as from ESI.
- ``error_limit``/``error_window`` — 100 errors per 60 s; past that every route answers 420.
- ``rate_limit`` — the token bucket of the market routes, ``"12000/15m"``; a 2xx costs 2 tokens,
  a 3xx 1, a 4xx 5, a 5xx 0 (ESI's costs); an empty bucket answers 429 with ``Retry-After``.
- ``history_rate`` — ``"300/1m"``: history requests a minute; more answer 429 with
  ``Retry-After``.

A fault injected under ``/esi`` (``server.fault(…, status=502)``) is answered as ESI answers
errors: it counts against the error limit, pays its tokens and carries both limits' headers
(unless the fault sets them itself), so faults on demand drive the limits as real errors do.

``snapshot(region_id)`` generates (or returns) the current snapshot, so a benchmark can warm it
up; ``clock(region_id)`` tells its number, ``Last-Modified`` and ``Expires``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from email.utils import formatdate
from typing import Any

from django.conf import settings

from lenny.replay import ReplayRequest, ReplayResponse, ReplayServer
from market.esi import rate_parse
from market.replay.history import (
    FIELDS_PER_DAY,
    HistoryArchive,
    Station,
    history_archive,
    history_path_resolve,
    history_refreshed_at,
    prices_render,
    stations_load,
)
from market.replay.orders import MAX_ORDERS, OrderBook, Snapshot, default_size
from market.replay.regions import trading_borrow
from market.replay.sde import sde_register
from market.replay.structures import structures_register
from market.replay.universe import universe_register

PREFIX = "/esi"
REGION_IDS = range(10_000_000, 11_000_000)
PRICES_PERIOD = 3600
COMPATIBILITY_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TOKEN_COST = {2: 2, 3: 1, 4: 5, 5: 0}  # tokens per response class, as ESI charges them
RATE_GROUP = "market"
# Filtered views (buy/sell, one type) kept per snapshot.
MAX_FILTERS = 64
ERROR_LIMITED = (
    "This software has exceeded the error limit for ESI. If you are a developer/maintainer, "
    "please make a greater effort in the future to receive valid responses."
)

DEFAULTS: dict[str, Any] = {
    "scale": 1.0,
    "page_size": 1000,
    "expiry_seconds": 300,
    "publish_delay": 0,
    "error_limit": 100,
    "error_window": 60,
    "rate_limit": "12000/15m",
    "history_rate": "300/1m",
}


def http_date(timestamp: float) -> str:
    return formatdate(timestamp, usegmt=True)


@dataclass
class Clock:
    """Which snapshot a region is on. Times are whole seconds, like the HTTP dates."""

    number: int
    last_modified: int
    expires: int
    # Held in the past by backdate(): only advance() moves it.
    held: bool = False


class _Current:
    """A region's generated snapshot and the filtered views asked of it."""

    def __init__(self, key: tuple, snapshot: Snapshot) -> None:
        self.key = key
        self.snapshot = snapshot
        self.views: dict[tuple[str, int | None], list[bytes]] = {}
        self.type_ids = sorted(set(snapshot.type_ids))

    def view(self, order_type: str, type_id: int | None) -> list[bytes]:
        if order_type == "all" and type_id is None:
            return self.snapshot.orders
        key = (order_type, type_id)
        lines = self.views.get(key)
        if lines is None:
            snap = self.snapshot
            want_buy = {"all": None, "buy": 1, "sell": 0}[order_type]
            lines = [
                line
                for line, t, buy in zip(snap.orders, snap.type_ids, snap.is_buy, strict=True)
                if (type_id is None or t == type_id) and (want_buy is None or buy == want_buy)
            ]
            if len(self.views) >= MAX_FILTERS:
                self.views.clear()
            self.views[key] = lines
        return lines


class EsiReplay:
    """State and routes of the ESI replay. One per replay server: ``server.state["esi"]``."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._region_locks: dict[int, threading.Lock] = {}
        self._books: dict[tuple, OrderBook] = {}
        self._current: dict[int, _Current] = {}
        self._prices: tuple[tuple, bytes] | None = None
        self._stations = None
        self.reset()

    # --- knobs ---------------------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self.history: str = getattr(settings, "ESI_REPLAY_HISTORY", "") or "auto"
            self.orders: dict[int, int] = {}
            self.regions: dict[int, RegionSpec] = {}
            for name, value in DEFAULTS.items():
                setattr(self, name, value)
            self._clocks: dict[int, Clock] = {}
            self._errors: deque[float] = deque()
            self._tokens: deque[tuple[float, int]] = deque()
            self._history_requests: deque[float] = deque()

    def configure(self, **knobs: Any) -> EsiReplay:
        unknown = set(knobs) - {"history", "orders", "regions", *DEFAULTS}
        if unknown:
            raise ValueError(f"unknown ESI replay knobs: {', '.join(sorted(unknown))}")
        checked = {}
        for name, value in knobs.items():
            if name == "orders":
                checked[name] = {int(region): int(n) for region, n in value.items()}
                if any(n < 0 for n in checked[name].values()):
                    raise ValueError("orders must not be negative")
            elif name == "regions":
                checked[name] = regions_parse(value)
            elif name in ("rate_limit", "history_rate"):
                rate_parse(value)
                checked[name] = value
            elif name == "history":
                history_path_resolve(value)  # fails now, naming the file, rather than per request
                checked[name] = value
            elif name == "scale":
                checked[name] = float(value)
            else:
                checked[name] = int(value)
                if checked[name] < (1 if name in ("page_size", "expiry_seconds") else 0):
                    raise ValueError(f"{name} cannot be {value!r}")
        with self._lock:
            for name, value in checked.items():
                setattr(self, name, value)
        return self

    def knobs(self) -> dict[str, Any]:
        return {
            "history": self.history,
            "orders": self.orders,
            "regions": {
                region_id: {"orders": s.orders, "types": s.types, "stations": len(s.stations)}
                for region_id, s in self.regions.items()
            },
            **{name: getattr(self, name) for name in DEFAULTS},
        }

    # --- data ----------------------------------------------------------------------------------
    def archive(self) -> HistoryArchive:
        return history_archive(history_path_resolve(self.history))

    def _region_stations(self, region_id: int):
        with self._lock:
            if self._stations is None:
                self._stations = stations_load()
            return self._stations.get(region_id, [])

    def clock(self, region_id: int) -> Clock:
        """The region's current snapshot clock, moved on past every expired snapshot.

        Within ``publish_delay`` seconds after Expires the old snapshot is still served, with
        Expires pushed to the end of the delay, as ESI does while the next one is being built.
        """
        now = int(time.time())
        period = max(1, int(self.expiry_seconds))
        delay = max(0, int(self.publish_delay))
        with self._lock:
            clock = self._clocks.get(region_id)
            if clock is None:
                clock = self._clocks[region_id] = Clock(0, now, now + period)
            elif clock.held:
                return Clock(**asdict(clock))
            elif now >= clock.expires + delay:
                passed = max(1, (now - delay - clock.last_modified) // period)
                clock.number += passed
                clock.last_modified += passed * period
                clock.expires = clock.last_modified + period
            announced = Clock(**asdict(clock))
            if now >= clock.expires:
                announced.expires = clock.expires + delay
            return announced

    def roll_over(self, region_id: int) -> Clock:
        """Publish the region's next snapshot now (its Last-Modified at least a second later)."""
        now = int(time.time())
        with self._lock:
            current = self.clock(region_id)
            clock = self._clocks[region_id]
            clock.number = current.number + 1
            clock.last_modified = max(now, current.last_modified + 1)
            clock.expires = clock.last_modified + max(1, int(self.expiry_seconds))
            clock.held = False
            return Clock(**asdict(clock))

    def backdate(self, region_id: int, seconds: int) -> Clock:
        """Serve the region's snapshot of ``seconds`` ago (Last-Modified then) and hold it there
        until :meth:`advance` moves it on."""
        now = int(time.time())
        with self._lock:
            self.clock(region_id)
            clock = self._clocks[region_id]
            clock.last_modified = now - max(0, int(seconds))
            clock.expires = clock.last_modified + max(1, int(self.expiry_seconds))
            clock.held = clock.expires <= now
            return Clock(**asdict(clock))

    def advance(self, region_id: int, snapshots: int = 1) -> Clock:
        """The region's snapshot ``snapshots`` versions on, ``snapshots`` times expiry_seconds later:
        the book as it moved on in that time. A held clock that reaches the present runs with
        the wall clock again."""
        now = int(time.time())
        period = max(1, int(self.expiry_seconds))
        steps = max(1, int(snapshots))
        with self._lock:
            self.clock(region_id)
            clock = self._clocks[region_id]
            clock.number += steps
            clock.last_modified += steps * period
            clock.expires = clock.last_modified + period
            clock.held = clock.expires <= now
            return Clock(**asdict(clock))

    def _book(self, region_id: int) -> OrderBook:
        path = history_path_resolve(self.history)
        archive = history_archive(path)
        trading = archive.trading(region_id)
        spec = self.regions.get(region_id)
        stations = self._region_stations(region_id)
        if spec is not None:
            if not trading:
                trading = trading_borrow(archive, types=spec.types, orders=spec.orders)
            elif spec.types < len(trading):
                top = sorted(trading, key=lambda t: (-t.daily_trades, t.type_id))[: spec.types]
                trading = sorted(top, key=lambda t: t.type_id)
            stations = list(spec.stations) or stations
        size = self.orders.get(region_id)
        if size is None:
            size = spec.orders if spec is not None else default_size(trading, self.scale)
        key = (path, region_id, size, spec)
        with self._lock:
            book = self._books.get(key)
        if book is None:
            book = OrderBook(region_id=region_id, trading=trading, stations=stations, size=size)
            with self._lock:
                # Books of other sizes are dropped: a test's knobs must not pin memory.
                for old in [k for k in self._books if k[1] == region_id]:
                    del self._books[old]
                self._books[key] = book
        return book

    def _snapshot_current(self, region_id: int) -> tuple[Clock, _Current]:
        with self._lock:
            region_lock = self._region_locks.setdefault(region_id, threading.Lock())
        # One generation per region at a time; the other regions are served meanwhile.
        with region_lock:
            clock = self.clock(region_id)
            book = self._book(region_id)
            period = max(1, int(self.expiry_seconds))
            key = (id(book), clock.number, clock.last_modified, period)
            current = self._current.get(region_id)
            if current is None or current.key != key:
                snapshot = book.snapshot(
                    clock.number, last_modified=clock.last_modified, period=period
                )
                current = self._current[region_id] = _Current(key, snapshot)
            return clock, current

    def snapshot(self, region_id: int) -> Snapshot:
        """The region's current snapshot, generated now if it is not yet."""
        return self._snapshot_current(region_id)[1].snapshot

    # --- limits --------------------------------------------------------------------------------
    def _limit_state(self, now: float) -> tuple[int, int]:
        """(errors left, seconds until the window resets)."""
        window = float(self.error_window)
        while self._errors and self._errors[0] <= now - window:
            self._errors.popleft()
        remain = max(0, int(self.error_limit) - len(self._errors))
        reset = math.ceil(self._errors[0] + window - now) if self._errors else int(window)
        return remain, max(1, reset)

    def _limit_headers(self, status: int) -> dict[str, str]:
        now = time.time()
        with self._lock:
            if status >= 400:
                self._errors.append(now)
            remain, reset = self._limit_state(now)
        return {"X-ESI-Error-Limit-Remain": str(remain), "X-ESI-Error-Limit-Reset": str(reset)}

    def _bucket(self, now: float) -> tuple[int, float, int]:
        limit, window = rate_parse(self.rate_limit)
        while self._tokens and self._tokens[0][0] <= now - window:
            self._tokens.popleft()
        return limit, window, sum(cost for _, cost in self._tokens)

    def _rate_refused(self) -> ReplayResponse | None:
        """A 429 when the market bucket cannot pay for a successful answer."""
        now = time.time()
        with self._lock:
            limit, window, used = self._bucket(now)
            if used + TOKEN_COST[2] <= limit:
                return None
            # Wait until enough of the oldest spending leaves the window.
            need, freed, retry = used + TOKEN_COST[2] - limit, 0, window
            for at, cost in self._tokens:
                freed += cost
                if freed >= need:
                    retry = at + window - now
                    break
        headers = {
            "Retry-After": str(max(1, math.ceil(retry))),
            **self._rate_headers(429, charge=False),
        }
        return ReplayResponse.error(429, "Too many requests", headers)

    def _rate_headers(self, status: int, *, charge: bool = True) -> dict[str, str]:
        now = time.time()
        cost = TOKEN_COST[status // 100] if charge else 0
        with self._lock:
            limit, window, used = self._bucket(now)
            if cost:
                self._tokens.append((now, cost))
                used += cost
        window_text = f"{int(window // 60)}m" if window % 60 == 0 else f"{int(window)}s"
        return {
            "X-Ratelimit-Group": RATE_GROUP,
            "X-Ratelimit-Limit": f"{limit}/{window_text}",
            "X-Ratelimit-Remaining": str(max(0, limit - used)),
            "X-Ratelimit-Used": str(cost),
        }

    def _history_refused(self) -> ReplayResponse | None:
        limit, window = rate_parse(self.history_rate)
        now = time.time()
        with self._lock:
            while self._history_requests and self._history_requests[0] <= now - window:
                self._history_requests.popleft()
            if len(self._history_requests) < limit:
                self._history_requests.append(now)
                return None
            retry = self._history_requests[0] + window - now
        return ReplayResponse.error(
            429,
            f"Too many market history requests: at most {limit} in {window:g} s",
            {"Retry-After": str(max(1, math.ceil(retry)))},
        )

    def fault_finish(self, resp: ReplayResponse) -> ReplayResponse:
        """An injected fault under ``/esi``, answered as ESI answers errors: an error (4xx/5xx)
        counts against the error limit and every answer carries the limit headers and pays its
        tokens, unless the fault sets those headers itself (a 420 or 429 of its own). Past the
        error limit it is a 420, as every other answer is then."""
        given = {name.lower() for name in resp.headers}
        if "x-esi-error-limit-remain" not in given:
            # ESI looks at the error limit before anything else: past it, every answer is a 420.
            with self._lock:
                remain, reset = self._limit_state(time.time())
            if remain <= 0:
                return ReplayResponse.error(
                    420,
                    ERROR_LIMITED,
                    {"X-ESI-Error-Limit-Remain": "0", "X-ESI-Error-Limit-Reset": str(reset)},
                )
            resp.headers.update(self._limit_headers(resp.status))
        if "x-ratelimit-remaining" not in given and resp.status not in (420, 429):
            resp.headers.update(self._rate_headers(resp.status))
        return resp

    # --- responses -----------------------------------------------------------------------------
    def _answer(
        self,
        req: ReplayRequest,
        body: bytes,
        *,
        last_modified: float,
        expires: float,
        pages: int | None = None,
        rated: bool = True,
    ) -> ReplayResponse:
        etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
        status = 304 if _etag_matches(req.headers.get("If-None-Match"), etag) else 200
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "Cache-Control": "public",
            "ETag": etag,
            "Expires": http_date(expires),
            "Last-Modified": http_date(last_modified),
            "X-Esi-Request-Id": str(uuid.uuid4()),
            **self._limit_headers(status),
        }
        if rated:
            headers.update(self._rate_headers(status))
        if pages is not None:
            headers["X-Pages"] = str(pages)
        return ReplayResponse(status, b"" if status == 304 else body, headers)

    def _error(self, status: int, message: str, *, rated: bool = True) -> ReplayResponse:
        headers = {"X-Esi-Request-Id": str(uuid.uuid4()), **self._limit_headers(status)}
        if rated:
            headers.update(self._rate_headers(status))
        return ReplayResponse.error(status, message, headers)

    def _refused(self, req: ReplayRequest, *, rated: bool = True) -> ReplayResponse | None:
        """What every route checks first: the error limit, the rate limit, the request's form."""
        now = time.time()
        with self._lock:
            remain, reset = self._limit_state(now)
        if remain <= 0:
            return ReplayResponse.error(
                420,
                ERROR_LIMITED,
                {"X-ESI-Error-Limit-Remain": "0", "X-ESI-Error-Limit-Reset": str(reset)},
            )
        compatibility = req.headers.get("X-Compatibility-Date")
        if compatibility is not None and not COMPATIBILITY_DATE.match(compatibility):
            return self._error(400, f"Invalid X-Compatibility-Date: {compatibility!r}")
        if rated:
            return self._rate_refused()
        return None

    def _region(self, req: ReplayRequest, *, rated: bool = True) -> int | ReplayResponse:
        """A regional route's region, once the request passes `_refused`; else the refusal."""
        refused = self._refused(req, rated=rated)
        if refused:
            return refused
        region_id = int(req.params["region_id"])
        if region_id not in REGION_IDS:
            return self._error(404, "Region not found!")
        return region_id

    # --- routes --------------------------------------------------------------------------------
    def orders_view(self, req: ReplayRequest) -> ReplayResponse:
        region_id = self._region(req)
        if isinstance(region_id, ReplayResponse):
            return region_id
        order_type = req.arg("order_type", "all")
        if order_type not in ("all", "buy", "sell"):
            return self._error(400, f"order_type must be all, buy or sell, not {order_type!r}")
        try:
            type_id = _int_arg(req, "type_id")
            page = _int_arg(req, "page") or 1
        except ValueError as exc:
            return self._error(400, str(exc))
        clock, current = self._snapshot_current(region_id)
        return self._paged(req, current.view(order_type, type_id), page, clock=clock)

    def types_view(self, req: ReplayRequest) -> ReplayResponse:
        region_id = self._region(req)
        if isinstance(region_id, ReplayResponse):
            return region_id
        try:
            page = _int_arg(req, "page") or 1
        except ValueError as exc:
            return self._error(400, str(exc))
        clock, current = self._snapshot_current(region_id)
        items = [str(t).encode() for t in current.type_ids]
        return self._paged(req, items, page, clock=clock)

    def _paged(
        self, req: ReplayRequest, items: list[bytes], page: int, *, clock: Clock
    ) -> ReplayResponse:
        size = max(1, int(self.page_size))
        pages = max(1, math.ceil(len(items) / size))
        if page > pages:
            return self._error(404, "Requested page does not exist!")
        body = b"[" + b",".join(items[(page - 1) * size : page * size]) + b"]"
        return self._answer(
            req, body, last_modified=clock.last_modified, expires=clock.expires, pages=pages
        )

    def history_view(self, req: ReplayRequest) -> ReplayResponse:
        region_id = self._region(req, rated=False)
        if isinstance(region_id, ReplayResponse):
            return region_id
        try:
            type_id = _int_arg(req, "type_id")
        except ValueError as exc:
            return self._error(400, str(exc), rated=False)
        if type_id is None:
            return self._error(400, "Missing required parameter type_id", rated=False)
        too_many = self._history_refused()
        if too_many:
            return too_many
        archive = self.archive()
        series = archive.get(region_id, type_id)
        if series is None:
            return self._error(404, "Type not found!", rated=False)
        refreshed = history_refreshed_at(time.time())
        last_day = (refreshed - timedelta(days=1)).date()
        shift = last_day.toordinal() - archive.last_day
        rows = []
        for i, day in enumerate(series.days):
            average, lowest, highest, volume, count = series.values[
                i * FIELDS_PER_DAY : (i + 1) * FIELDS_PER_DAY
            ]
            rows.append(
                {
                    "average": average,
                    "date": date.fromordinal(day + shift).isoformat(),
                    "highest": highest,
                    "lowest": lowest,
                    "order_count": int(count),
                    "volume": int(volume),
                }
            )
        body = json.dumps(rows, separators=(",", ":")).encode()
        return self._answer(
            req,
            body,
            last_modified=refreshed.timestamp(),
            expires=(refreshed + timedelta(days=1)).timestamp(),
            rated=False,
        )

    def prices_view(self, req: ReplayRequest) -> ReplayResponse:
        refused = self._refused(req)
        if refused:
            return refused
        now = time.time()
        hour = int(now // PRICES_PERIOD) * PRICES_PERIOD
        path = history_path_resolve(self.history)
        with self._lock:
            cached = self._prices
        if cached is None or cached[0] != (path, hour):
            cached = ((path, hour), prices_render(history_archive(path)))
            with self._lock:
                self._prices = cached
        return self._answer(
            req, cached[1], last_modified=hour, expires=hour + PRICES_PERIOD, rated=True
        )

    def state_view(self, req: ReplayRequest) -> ReplayResponse:
        """Knobs over HTTP: GET shows them, POST sets them; ``roll_over``/``warm`` take region ids,
        ``backdate`` {region id: seconds} and ``advance`` {region id: snapshots}."""
        if req.method == "POST":
            data = dict(req.json() or {})
            roll = data.pop("roll_over", [])
            warm = data.pop("warm", [])
            backdate = data.pop("backdate", {})
            advance = data.pop("advance", {})
            try:
                self.configure(**data)
            except (TypeError, ValueError, FileNotFoundError) as exc:
                return ReplayResponse.error(400, str(exc))
            for region_id in roll:
                self.roll_over(int(region_id))
            for region_id, seconds in backdate.items():
                self.backdate(int(region_id), int(seconds))
            for region_id, snapshots in advance.items():
                self.advance(int(region_id), int(snapshots))
            for region_id in warm:
                self.snapshot(int(region_id))
        with self._lock:
            regions = list(self._clocks)
        clocks = {str(region): asdict(self.clock(region)) for region in regions}
        return ReplayResponse.json({"knobs": self.knobs(), "clocks": clocks})


@dataclass(frozen=True)
class RegionSpec:
    """One row of the ``regions`` knob."""

    orders: int
    types: int
    stations: tuple[Station, ...] = ()


def regions_parse(value: Any) -> dict[int, RegionSpec]:
    """The ``regions`` knob, checked: a clear error naming the region and field that is wrong."""
    if not isinstance(value, dict):
        raise ValueError("regions must be an object of region id: {orders, types, stations}")
    parsed = {}
    for key, row in value.items():
        try:
            region_id = int(key)
        except (TypeError, ValueError):
            raise ValueError(f"regions: {key!r} is not a region id") from None
        if region_id not in REGION_IDS or not isinstance(row, dict):
            raise ValueError(f"regions: {key!r} needs a region id and an object")
        try:
            orders = int(row["orders"])
            types = int(row.get("types") or max(1, orders))
            stations = tuple(Station(int(s), int(y)) for s, y in row.get("stations") or ())
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"regions[{key}]: orders, types or stations invalid ({exc})") from None
        if not 0 <= orders <= MAX_ORDERS or types < 1:
            raise ValueError(f"regions[{key}]: orders must be 0..{MAX_ORDERS}, types at least 1")
        parsed[region_id] = RegionSpec(orders, types, stations)
    return parsed


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = [c.strip() for c in header.split(",")]
    return "*" in candidates or etag in candidates or f"W/{etag}" in candidates


def _int_arg(req: ReplayRequest, name: str) -> int | None:
    value = req.arg(name)
    if value is None or value == "":
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return int(value)


def register(server: ReplayServer) -> None:
    replay = EsiReplay()
    server.state["esi"] = replay
    server.on_reset(replay.reset)
    server.on_fault(PREFIX + "/", replay.fault_finish)
    region = rf"{PREFIX}/markets/(?P<region_id>\d+)"
    server.add_route("GET", rf"{region}/orders/?", replay.orders_view)
    server.add_route("GET", rf"{region}/history/?", replay.history_view)
    server.add_route("GET", rf"{region}/types/?", replay.types_view)
    server.add_route("GET", rf"{PREFIX}/markets/prices/?", replay.prices_view)
    universe_register(server, replay)  # names, types, groups, categories
    structures_register(server, replay)  # two player structures' markets and names
    sde_register(server)  # Fuzzwork's SDE dump, under /sde
    server.add_route("GET", rf"{PREFIX}/_replay/state", replay.state_view)
    server.add_route("POST", rf"{PREFIX}/_replay/state", replay.state_view)
