"""ESI's limits, shared by every worker through the cache: the error limit
(``X-ESI-Error-Limit-Remain``/``-Reset``: stop at ``ESI_ERROR_LIMIT_MARGIN``, wait out a 420), the
token buckets (``X-Ratelimit-*``; wait out a 429's ``Retry-After``), and the market-history limit
(``ESI_HISTORY_RATE``); the requests of one call share one look at them (``LIMITS_REFRESH``)
rather than asking the cache three times a page.

A token bucket's ``X-Ratelimit-Remaining`` tells what was spent by the requests already
answered, not by those still on their way: with several workers on several hosts, each with 20
pages in flight, waiting only on it lets the requests in flight overrun the bucket (two workers
fetching at once met ESI's 429). So every request also takes its tokens, before it is sent, from
a count all workers share: the bucket's window in ``TOKEN_SLOTS`` slots, counted like the history
limit (two slots more than the window), never beyond the bucket's limit less the margin. A call
of a big bucket (ESI's market one: 12,000 tokens) takes ``TOKENS_PREPAID`` tokens at a time (one
cache round trip per ten pages rather than two a page) and spends them within one slot or gives
them back; a 4xx costs ESI 5 tokens rather than 2, and the 3 more are added once it is
answered. Only public routes count there: ESI keeps an authenticated route's bucket per
character, and the count is per bucket group."""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from django.core.cache import BaseCache

from market.esi.counters import CACHE_PREFIX, _incr, _Tally
from market.esi.errors import EsiError
from market.esi.headers import _int_header, rate_parse

# One logger for the whole ESI client.
log = logging.getLogger("market.esi")

HISTORY_ROUTE = "/markets/{region_id}/history/"
# Parts of the window the history limiter counts in; finer is fairer but costs cache reads.
HISTORY_SLOTS = 12
# Seconds the requests of one call (the ~400 pages of a paged fetch) trust their last look at the
# limits every worker shares, and re-share a token count that only confirms what is known. Each
# look is a cache round trip: taking one per page cost more CPU than receiving the page.
LIMITS_REFRESH = 0.1
# How often a request held back by the requests on their way looks again (each answer frees one).
IN_FLIGHT_POLL = 0.02

# This process's requests sent and not yet answered, every client and thread together. ESI counts
# an error when it answers, after Lenny looked at the limit: only as many may be on their way, all
# workers together, as errors are left above the margin, or the pages in flight of two workers
# that all fail take the limit past zero (a 420 for every worker). So a request goes out only
# with an error permit: a worker takes permits from a count every worker shares (ERRORS_HELD, in
# batches of PERMITS_BATCH: one cache round trip per batch, not per page), never beyond the errors
# left above the margin; a request answered without an error frees its permit for the next one,
# an error (or an answer that never came, which ESI may still count) spends it, and a worker
# gives back what it holds once it has nothing on its way.
_in_flight = 0
_in_flight_lock = threading.Lock()
# Error permits this process holds in the shared count (each request on its way holds one).
_permits = 0
PERMITS_BATCH = 10
# A worker that died holding permits leaves them counted until nobody took any for this long.
PERMITS_KEEP = 300
# The error limit as this process's own answers told it, updated with the count above in one
# step (the shared count is read apart from it and may lag by an answer or two).
_answered_errors: dict[str, float] | None = None


# The token count's window in slots; finer slots waste less of the bucket to the padding.
TOKEN_SLOTS = 20
# Tokens one call takes from the shared count at a time (ten 2xx pages).
TOKENS_PREPAID = 20
# ESI's cost of an answer by its class (what X-Ratelimit-Used says): what a request is counted
# at before it goes out (a 2xx), and what a 4xx costs once answered.
TOKEN_COST_EXPECTED = 2
TOKEN_COST_CLIENT_ERROR = 5

_history_lock = threading.Lock()
_tokens_lock = threading.Lock()


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
        # Tokens this call took from the shared count and has not spent yet, per bucket: how
        # many, when and under which key (they are spent within one slot or given back).
        self.prepaid: dict[str, tuple[int, float, str]] = {}


class EsiLimits:
    """ESI's error limit, its token buckets, 420/429 pauses and the market-history limit, kept in
    the cache so every worker on every machine sees what one of them learned."""

    ERRORS = CACHE_PREFIX + "limit:errors"
    ERRORS_HELD = CACHE_PREFIX + "limit:errors_held"
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
        fresh: bool = False,
    ) -> None:
        """Write ``value`` for every worker, unless the view says that it tells them nothing
        new (``news(known)`` is False); with ``fresh``, unless what every worker shares says so
        too (one more read: another worker may have written a lower count since this view's
        look, which a higher one from here must not overwrite)."""
        if view is not None:
            with view.lock:
                known = view.state.get(key)
                if news is not None and known is not None and not news(known):
                    return
                view.state[key] = value
        if fresh and news is not None:
            shared = self.cache.get(key)
            if shared is not None and not news(shared):
                if view is not None:
                    with view.lock:
                        view.state[key] = shared
                return
        self.cache.set(key, value, timeout)

    def _keys(self, group: str | None) -> list[str]:
        """What a request to a route of ``group`` looks at: one read for all of it."""
        keys = [self.ERRORS, self.PAUSED]
        if group:
            keys += [f"{CACHE_PREFIX}limit:rate:{group}", f"{CACHE_PREFIX}limit:paused:{group}"]
        return keys

    def wait_needed(
        self, route: str, now: float, view: _LimitsView | None = None
    ) -> tuple[float, str]:
        """Seconds to wait before a request to ``route`` may go out, and why."""
        group = self._group(route)
        keys = self._keys(group)
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

    def before_request(
        self,
        route: str,
        tally: _Tally,
        view: _LimitsView | None = None,
        *,
        count_tokens: bool = True,
    ) -> None:
        """Wait until a request to ``route`` may go out; with ``count_tokens`` (a public route),
        take its tokens from the count every worker shares."""
        deadline = time.monotonic() + self.max_wait
        held_back = False  # by the requests on their way: said once, not every poll
        while True:
            delay, reason = self.wait_needed(route, time.time(), view)
            polling = False
            if delay <= 0:
                delay, reason = self._in_flight_take(route, view)
                polling = delay > 0
            if delay <= 0:
                break
            if time.monotonic() + delay > deadline:
                raise EsiError(
                    f"ESI asked Lenny to hold off for {delay:.0f} s ({reason}), longer than "
                    f"ESI_MAX_WAIT={self.max_wait:g} s"
                )
            if not (polling and held_back):
                tally.add("limit_waits")
                log.info("esi waiting %.2fs before %s: %s", delay, route, reason)
            held_back = held_back or polling
            time.sleep(delay)
        try:
            if route == HISTORY_ROUTE:
                self._history_take(deadline, tally)
            group = self._group(route) if count_tokens else None
            if group:
                # The look wait_needed() just took (the same keys): no second cache read.
                rate = self._state(self._keys(group), view).get(f"{CACHE_PREFIX}limit:rate:{group}")
                if rate:
                    self._tokens_take(group, rate, deadline, tally, view)
        except BaseException:
            self.request_done()  # it never goes out
            raise

    def _in_flight_take(self, route: str, view: _LimitsView | None) -> tuple[float, str]:
        """Count a request on its way, with an error permit, unless the errors it could bring
        (with every worker's others on their way) would reach the margin: then how long to wait
        before looking again."""
        global _in_flight, _permits
        shared = self._state(self._keys(self._group(route)), view).get(self.ERRORS)
        with _in_flight_lock:
            known = self._errors_known(shared)
            if known is None:  # no answer told the limit yet: the first one will
                _in_flight += 1
                return 0.0, ""
            if known - _in_flight <= self.error_margin:
                return IN_FLIGHT_POLL, (
                    f"{_in_flight} requests on their way with ESI's error limit at {known}"
                )
            if _in_flight >= _permits:
                taken, held = self._permits_take(known)
                _permits += taken
                if not taken:
                    return IN_FLIGHT_POLL, (
                        f"{held} requests of all workers on their way with ESI's error limit "
                        f"at {known}"
                    )
            _in_flight += 1
        return 0.0, ""

    def _errors_known(self, shared: dict | None) -> int | None:
        """The lowest count of errors left that the shared state or this process's own answers
        tell for the current window (None: neither knows). Under _in_flight_lock."""
        now = time.time()
        known = [
            errors["remain"]
            for errors in (shared, _answered_errors)
            if errors and errors["reset_at"] > now
        ]
        return min(known) if known else None

    def _permits_take(self, known: int) -> tuple[int, int]:
        """Take up to PERMITS_BATCH permits from the shared count, never past the errors left
        above the margin: (how many were taken, how many every worker holds). The errors left
        are read again after the count: an error spends its permit after it is shared, so any
        error the count no longer holds is in what is read."""
        held = _incr(self.cache, self.ERRORS_HELD, PERMITS_BATCH, PERMITS_KEEP)
        self.cache.touch(self.ERRORS_HELD, PERMITS_KEEP)
        fresh = self._errors_known(self.cache.get(self.ERRORS))
        left = (min(known, fresh) if fresh is not None else known) - self.error_margin
        over = min(PERMITS_BATCH, max(0, held - left))
        if over:
            self.cache.decr(self.ERRORS_HELD, over)
        return PERMITS_BATCH - over, held - over

    def _permits_give_back(self, count: int) -> None:
        """Return ``count`` permits to the shared count (they left with an error, or unused)."""
        if count:
            with contextlib.suppress(ValueError):  # the count expired: nothing to give back to
                self.cache.decr(self.ERRORS_HELD, count)

    @staticmethod
    def answered_forget() -> None:
        """Forget what this process's answers told of the error limit, and its permits (the
        shared counts were cleared: a test's fresh replay ESI)."""
        global _answered_errors, _permits
        with _in_flight_lock:
            _answered_errors = None
            _permits = 0

    def request_done(
        self,
        headers: Mapping[str, str] | None = None,
        *,
        status: int | None = None,
        lost: bool = False,
    ) -> None:
        """The request counted by before_request() was answered (``headers`` and ``status``,
        after observe()), was sent and got no answer (``lost``), or never went out (neither)."""
        global _in_flight, _answered_errors, _permits
        remain = _int_header(headers, "X-ESI-Error-Limit-Remain") if headers else None
        reset = _int_header(headers, "X-ESI-Error-Limit-Reset") if headers else None
        with _in_flight_lock:
            _in_flight = max(0, _in_flight - 1)
            if remain is not None and reset is not None:
                reset_at = time.time() + reset
                known = _answered_errors
                if known is None or remain < known["remain"] or reset_at - known["reset_at"] >= 1.5:
                    _answered_errors = {"remain": remain, "reset_at": reset_at}
            # An error spends its permit; ESI may count one for an answer that never came.
            errored = lost or (status is not None and status >= 400)
            give_back = _permits if not _in_flight else min(_permits, int(errored))
            _permits -= give_back
        self._permits_give_back(give_back)

    def observe(
        self,
        route: str,
        status: int,
        headers: Mapping[str, str],
        view: _LimitsView | None = None,
        *,
        count_tokens: bool = True,
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
                # Within one window (its reset is in whole seconds) only a lower count is news:
                # answers come back out of order, and an earlier one's higher count must not
                # hide the errors counted since. A later reset is a new window.
                news=lambda known: remain < known["remain"] or reset_at - known["reset_at"] >= 1.5,
                # Only when it is news here, which is at an error or a new window: rare.
                fresh=True,
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
        if count_tokens and group and 400 <= status < 500 and status not in (420, 429):
            # Counted at a 2xx's cost before it went out; ESI charges a 4xx more.
            rate = self._state(self._keys(group), view).get(f"{CACHE_PREFIX}limit:rate:{group}")
            if rate:
                slot = rate["window"] / TOKEN_SLOTS
                _incr(
                    self.cache,
                    f"{CACHE_PREFIX}tokens:{group}:{int(now // slot)}",
                    TOKEN_COST_CLIENT_ERROR - TOKEN_COST_EXPECTED,
                    math.ceil(rate["window"] + 3 * slot) + 1,
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

    def _tokens_take(
        self,
        group: str,
        rate: dict,
        deadline: float,
        tally: _Tally,
        view: _LimitsView | None,
    ) -> None:
        """Take a request's tokens from the count every worker shares (see the module docstring),
        waiting for the next slot while the bucket's window is full."""
        limit, window = int(rate["limit"]), float(rate["window"])
        slot = window / TOKEN_SLOTS
        cost = TOKEN_COST_EXPECTED
        if view is not None:
            with view.lock:
                left, taken_at, taken_key = view.prepaid.pop(group, (0, 0.0, ""))
                if left >= cost and time.time() - taken_at < slot:
                    view.prepaid[group] = (left - cost, taken_at, taken_key)
                    return
            if left:
                # Not spent within their slot: given back, they never went to ESI.
                with contextlib.suppress(ValueError):  # that slot has left the count already
                    self.cache.decr(taken_key, left)
        # Batches only where the bucket is big enough not to miss what a batch holds back.
        batch = cost
        if view is not None:
            batch = max(cost, min(TOKENS_PREPAID, limit // 100))
        allowed = max(cost, limit - self.token_margin)
        while True:
            now = time.time()
            current = int(now // slot)
            key = f"{CACHE_PREFIX}tokens:{group}:{current}"
            keys = [
                f"{CACHE_PREFIX}tokens:{group}:{s}"
                for s in range(current - TOKEN_SLOTS - 1, current + 1)
            ]
            with _tokens_lock:
                _incr(self.cache, key, batch, math.ceil(window + 3 * slot) + 1)
                spent = sum(int(v) for v in self.cache.get_many(keys).values())
                if spent <= allowed:
                    break
                self.cache.decr(key, batch)
            if batch > cost and spent - batch + cost <= allowed:
                batch = cost  # the window has room for this request, not for a batch
                continue
            delay = (current + 1) * slot - now + 0.001
            if time.monotonic() + delay > deadline:
                raise EsiError(
                    f"ESI's {group} rate limit ({limit} tokens per {window:g} s) stayed full for "
                    f"ESI_MAX_WAIT={self.max_wait:g} s"
                )
            tally.add("limit_waits")
            time.sleep(delay)
        if view is not None and batch > cost:
            with view.lock:
                view.prepaid[group] = (batch - cost, now, key)

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
