"""A Redis cache that lets web pages answer while Redis is down, and the embedded set-up's file
cache.

Lenny's pages use the cache for speed-ups, rate limits and short-lived locks, never as the only
copy of anything, so a page can do without it. While a web request is being served (see
`lenny.middleware.ServiceOutageMiddleware`) a Redis error is logged and taken as a miss: `get`
returns the default, `set` and `delete` do nothing, `add` reports success so a lock or a
rate limit does not turn into a refusal for everyone. Outside a request (workers, management
commands) the error is raised as usual: a background job must fail and record why rather than
carry on without its locks and shared limits.
"""

from __future__ import annotations

import contextvars
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

T = TypeVar("T")

_degrading: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "lenny_cache_degrading", default=False
)
# One warning per process every this many seconds: a page makes dozens of cache calls.
WARNING_INTERVAL = 30.0
# After an error, requests skip Redis for this long instead of each waiting out its timeout: a
# Redis that hangs would otherwise cost every cache call of every page the socket timeout.
SKIP_SECONDS = 5.0


@contextmanager
def cache_errors_tolerated() -> Iterator[None]:
    """Within this block a cache outage reads as misses instead of raising."""
    token = _degrading.set(True)
    try:
        yield
    finally:
        _degrading.reset(token)


@contextmanager
def cache_errors_raised() -> Iterator[None]:
    """Within this block a cache outage raises even in a web request (a health probe's case)."""
    token = _degrading.set(False)
    try:
        yield
    finally:
        _degrading.reset(token)


class ReusedClientRedisCacheClient(RedisCacheClient):
    """Django's Redis cache client, keeping one ``redis.Redis`` per connection pool.

    Django builds a new ``redis.Redis`` for every cache call, and building one (it copies a table
    of about 170 response callbacks) took 190 µs of CPU here, more than the round trip it was
    built for (150 µs): a page's ten cache calls paid 2 ms for it, a Forge fetch's 200 calls 40 ms
    on the threads that compete with its decoding. A ``redis.Redis`` is safe to share between
    threads (each command takes a connection from the pool), and the pool reopens connections
    after a fork or an outage, so keeping one changes nothing else.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(
                connection_pool=self._get_connection_pool(write)
            )
        return client


class DegradingRedisCache(RedisCache):
    """Django's RedisCache; in a web request a Redis error is a miss (see the module docstring)."""

    last_warning_at = 0.0  # shared: one warning per process, not per thread
    skip_until = 0.0  # per instance, i.e. per thread and per configured cache

    def __init__(self, server: str, params: dict) -> None:
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient

    def _tolerant(self, operation: str, call: Callable[[], T], fallback: T) -> T:
        degrading = _degrading.get()
        if degrading and time.monotonic() < self.skip_until:
            return fallback
        try:
            return call()
        except (RedisError, OSError) as error:
            now = time.monotonic()
            self.skip_until = now + SKIP_SECONDS
            if not degrading:
                raise
            if now - DegradingRedisCache.last_warning_at >= WARNING_INTERVAL:
                DegradingRedisCache.last_warning_at = now
                logger.warning("cache unavailable (%s: %s); serving without it", operation, error)
            return fallback

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None) -> bool:
        return self._tolerant(
            "add", lambda: super(DegradingRedisCache, self).add(key, value, timeout, version), True
        )

    def get(self, key, default=None, version=None) -> Any:
        return self._tolerant(
            "get", lambda: super(DegradingRedisCache, self).get(key, default, version), default
        )

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None) -> None:
        self._tolerant(
            "set", lambda: super(DegradingRedisCache, self).set(key, value, timeout, version), None
        )

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None) -> bool:
        return self._tolerant(
            "touch", lambda: super(DegradingRedisCache, self).touch(key, timeout, version), False
        )

    def delete(self, key, version=None) -> bool:
        return self._tolerant(
            "delete", lambda: super(DegradingRedisCache, self).delete(key, version), False
        )

    def get_many(self, keys, version=None) -> dict:
        return self._tolerant(
            "get_many", lambda: super(DegradingRedisCache, self).get_many(keys, version), {}
        )

    def has_key(self, key, version=None) -> bool:
        return self._tolerant(
            "has_key", lambda: super(DegradingRedisCache, self).has_key(key, version), False
        )

    def incr(self, key, delta=1, version=None) -> int:
        # A counter that cannot be read counts from zero: rate limits built on it let the
        # request through rather than refusing everyone.
        return self._tolerant(
            "incr", lambda: super(DegradingRedisCache, self).incr(key, delta, version), delta
        )

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None) -> list:
        return self._tolerant(
            "set_many",
            lambda: super(DegradingRedisCache, self).set_many(data, timeout, version),
            [],
        )

    def delete_many(self, keys, version=None) -> None:
        self._tolerant(
            "delete_many", lambda: super(DegradingRedisCache, self).delete_many(keys, version), None
        )

    def clear(self) -> bool:
        return self._tolerant("clear", lambda: super(DegradingRedisCache, self).clear(), False)


class EmbeddedFileCache(FileBasedCache):
    """The embedded set-up's shared cache (no Redis): Django's file cache, culled with care.

    Django's keeps 300 entries and, once there are more, deletes a third of them at random on
    the next ``set``, listing the whole directory on every ``set`` to find out. Here the cache
    holds the stores' politeness state, their checked listings (30 minutes), ESI's cache
    headers and the workers' locks: the demo passed 300 within minutes and forgot them at
    random, so stores were asked again long before their answers were due to expire. So the
    bound is 100,000 entries, looked at once a minute per process; the expired entries go first,
    and the random third only if the live ones are still too many.
    """

    CULL_INTERVAL = 60.0

    def __init__(self, dir: str, params: dict[str, Any]) -> None:
        options = params.setdefault("OPTIONS", {})
        options.setdefault("MAX_ENTRIES", 100_000)
        super().__init__(dir, params)
        self._culled_at = 0.0

    def _cull(self) -> None:
        now = time.monotonic()
        if now - self._culled_at < self.CULL_INTERVAL:
            return
        self._culled_at = now
        files = self._list_cache_files()
        if len(files) < self._max_entries:
            return
        live = []
        for name in files:
            try:
                with open(name, "rb") as f:
                    if not self._is_expired(f):  # deletes the file when it is
                        live.append(name)
            except FileNotFoundError:
                pass  # another process deleted it meanwhile
        if len(live) >= self._max_entries:
            for name in random.sample(live, len(live) // self._cull_frequency):
                self._delete(name)
