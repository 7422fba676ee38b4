"""Politeness towards card stores, kept across every worker: per store, at most ``max_in_flight``
requests at once and ``per_minute`` requests a minute, and a pause for everyone after the store
says "too many".

Small shops run on small servers and block robots that hurry, so the limits hold for the whole
cluster, not per process. The state of a store's gate is one small record: the holders of its
in-flight slots (each with a lease, so a worker that dies gives its slot back), the earliest
time the next request may start, and a pause. Every change to it is atomic: a WATCH/MULTI
transaction on Redis, or a file lock around the cache on the embedded default (one machine).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches

KEY_PREFIX = "lenny:stores:gate:"
# A slot's lease: a request that takes longer than this is taken as dead and its slot reused.
LEASE_MARGIN = 30.0
# How often a request waiting for a free slot looks again.
POLL_INTERVAL = 0.02
# The state of a gate nobody used for a day is forgotten.
STATE_TTL = 86_400

Update = Callable[[dict[str, Any]], tuple[dict[str, Any], Any]]


class StoreBusy(Exception):
    """The store's limits kept a request waiting longer than it may wait."""


@dataclass(frozen=True)
class Limits:
    max_in_flight: int
    per_minute: int

    @property
    def interval(self) -> float:
        return 60.0 / self.per_minute


class PolitenessGate:
    """The politeness limits of one store, shared by every worker."""

    def __init__(self, *, key: str, limits: Limits, lease: float | None = None) -> None:
        if limits.max_in_flight < 1 or limits.per_minute < 1:
            raise ValueError(f"politeness limits must be positive, got {limits}")
        self.key = KEY_PREFIX + key
        self.limits = limits
        self.lease = lease if lease is not None else settings.STORE_REQUEST_TIMEOUT + LEASE_MARGIN
        self._state = _state_backend()

    @contextlib.contextmanager
    def request(self, *, deadline: float) -> Iterator[float]:
        """Hold one of the store's slots for one request; yields the seconds spent waiting.

        ``deadline`` is a ``time.time()``; StoreBusy when the request could not start by then.
        """
        token = uuid.uuid4().hex
        started_waiting = time.time()
        start = self._slot_take(token, deadline)
        try:
            while True:
                now = time.time()
                if start > deadline:
                    raise StoreBusy(self._busy_reason(start - now))
                if start > now:
                    time.sleep(start - now)
                # A pause that began while this request waited for its turn holds it too.
                paused_until = self._state.read(self.key).get("paused_until", 0.0)
                if paused_until <= time.time():
                    break
                start = paused_until
            yield time.time() - started_waiting
        finally:
            self._state.update(self.key, lambda state: (_without(state, token), None))

    def pause(self, seconds: float, why: str) -> None:
        """Hold every request to this store for ``seconds`` (after a 429 or "too many searches")."""
        until = time.time() + seconds

        def update(state: dict[str, Any]) -> tuple[dict[str, Any], None]:
            if until > state.get("paused_until", 0.0):
                state["paused_until"] = until
                state["paused_why"] = why
            return state, None

        self._state.update(self.key, update)

    def status(self) -> dict[str, Any]:
        """In flight now, and the pause if one holds (for the admin and /healthz)."""
        state = self._state.read(self.key)
        now = time.time()
        paused = state.get("paused_until", 0.0) > now
        return {
            "in_flight": sum(1 for expiry in state.get("holders", {}).values() if expiry > now),
            "paused_for": round(state["paused_until"] - now, 1) if paused else 0,
            "paused_why": state.get("paused_why", "") if paused else "",
        }

    def _slot_take(self, token: str, deadline: float) -> float:
        """Take a slot and book a start time; returns the start time (a ``time.time()``)."""
        limits, lease = self.limits, self.lease

        def update(state: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
            now = time.time()
            holders = {t: exp for t, exp in state.get("holders", {}).items() if exp > now}
            state["holders"] = holders
            if len(holders) >= limits.max_in_flight:
                return state, None
            start = max(now, state.get("next_at", 0.0), state.get("paused_until", 0.0))
            holders[token] = start + lease
            state["next_at"] = start + limits.interval
            return state, start

        while True:
            start = self._state.update(self.key, update)
            if start is not None:
                return start
            if time.time() >= deadline:
                raise StoreBusy(
                    f"all {limits.max_in_flight} of the store's request slots stayed busy"
                )
            time.sleep(POLL_INTERVAL * random.uniform(0.5, 1.5))

    def _busy_reason(self, wait: float) -> str:
        state = self._state.read(self.key)
        why = state.get("paused_why") if state.get("paused_until", 0.0) > time.time() else ""
        reason = why or f"at most {self.limits.per_minute} requests a minute"
        return f"the store's limits would hold the next request {wait:.0f} s ({reason})"


def _without(state: dict[str, Any], token: str) -> dict[str, Any]:
    state.get("holders", {}).pop(token, None)
    return state


# --- atomic state -----------------------------------------------------------------------------
class _RedisState:
    """Gate state as JSON in one Redis key, changed in WATCH/MULTI transactions."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)

    def read(self, key: str) -> dict[str, Any]:
        raw = self.client.get(key)
        return json.loads(raw) if raw else {}

    def update(self, key: str, change: Update) -> Any:
        result: list[Any] = []

        def transaction(pipe: Any) -> None:
            raw = pipe.get(key)
            state, value = change(json.loads(raw) if raw else {})
            pipe.multi()
            pipe.set(key, json.dumps(state), ex=STATE_TTL)
            result[:] = [value]

        self.client.transaction(transaction, key)
        return result[0]


class _LockedCacheState:
    """Gate state in the cache, changed under a file lock: the embedded default runs on one
    machine, where a lock file is shared by the web server and every worker."""

    _thread_lock = threading.Lock()

    def __init__(self) -> None:
        self.cache = caches["default"]
        lock_dir = settings.DATA_DIR / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        self.lock_path = lock_dir / "store-gates.lock"

    def read(self, key: str) -> dict[str, Any]:
        return dict(self.cache.get(key) or {})

    def update(self, key: str, change: Update) -> Any:
        with self._thread_lock, open(self.lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                state, value = change(self.read(key))
                self.cache.set(key, state, STATE_TTL)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return value


_backends: dict[str, _RedisState | _LockedCacheState] = {}
_backends_lock = threading.Lock()


def _state_backend() -> _RedisState | _LockedCacheState:
    url = settings.REDIS_URL
    with _backends_lock:
        backend = _backends.get(url)
        if backend is None:
            backend = _RedisState(url) if url else _LockedCacheState()
            _backends[url] = backend
        return backend
