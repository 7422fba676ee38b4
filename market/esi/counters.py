"""The ESI client's counters for ``/healthz``: requests, 304s, cache hits, retries and errors by
status, kept in the shared cache so they sum over every worker (:func:`esi_counters`)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from django.core.cache import BaseCache, caches

CACHE_PREFIX = "esi:"
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
