"""What the desk keeps between requests: each process's memos, and each region's history version
in the shared cache.

A memo is a small LRU with a time to live; its keys carry what makes a value current (snapshot
ids, history versions), so a new snapshot or new history is simply a new key. The history
version names what is derived from a region's history in every cache (book tops, priced
station-trading tables, hauling plans).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

from django.core.cache import cache

log = logging.getLogger("market.desk")

# A book top is re-read after this long even within one snapshot: history (and so the daily
# volumes) is refreshed during the day while a snapshot lives.
BOOK_TTL_SECONDS = 300
# The stargate graph and the market-group tree change with an SDE import, a few times a year.
SDE_TTL_SECONDS = 600


# --- in-process memo -----------------------------------------------------------------------------

Value_ = TypeVar("Value_")


class _Memo:
    """A small thread-safe LRU with a time to live, for values that are costly to build but
    cheap to hold; keys carry what makes a value current (snapshot ids), so entries go stale
    only by age.

    One build per key at a time: the threads that ask for a key while it is being built wait
    for that build instead of each doing the same work (after a new snapshot, every client of a
    worker asks for the same hub at once; so does the pre-warm thread, ``market.prewarm``)."""

    def __init__(self, size: int, ttl: float) -> None:
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._size = size
        self._ttl = ttl
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Event] = {}

    def get(self, key: Hashable, build: Callable[[], Value_]) -> Value_:
        found = self.peek(key)
        if found is not None:
            return found
        with self._lock:
            building = self._building.get(key)
            leader = building is None
            if leader:
                building = self._building[key] = threading.Event()
        if not leader:
            building.wait()
            found = self.peek(key)
            if found is not None:
                return found
            return build()  # the build it waited for failed: its own try, as before
        try:
            value = build()
            self.put(key, value)
            return value
        finally:
            with self._lock:
                del self._building[key]
            building.set()

    def peek(self, key: Hashable) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and time.monotonic() - entry[0] < self._ttl:
                self._entries.move_to_end(key)
                return entry[1]
        return None

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# Pages kept per view (a view is one snapshot, fees and filters; most visits see page 1), as
# the page's HTML and the API's JSON.
FRAGMENTS_KEPT = 8
Fragment = TypeVar("Fragment")


class Fragments:
    """For a desk query's answer whose ``fragments`` dict lives as long as the memoized view it
    came from (the same snapshot, fees and filters): what a page or an API answer makes of some
    of its rows, made once (``fragment``)."""

    fragments: dict

    def fragment(self, key: Hashable, make: Callable[[], Fragment]) -> Fragment:
        """``make()``, or what it made for ``key`` (which rows, shown how) before: the next
        trader asking for the same and the polls reuse it. At most FRAGMENTS_KEPT are kept; two
        threads may both make a missing one, alike."""
        found = self.fragments.get(key)
        if found is None:
            found = make()
            if len(self.fragments) < FRAGMENTS_KEPT:
                self.fragments[key] = found
        return found


# A book a desk view reads: ("region", region id) for a region's book, ("structure", structure
# id) for a tracked structure's own (``MarketSnapshot.structure_id``).
Book = tuple[str, int]


def region_book(region_id: int) -> Book:
    return ("region", region_id)


def structure_book(structure_id: int) -> Book:
    return ("structure", structure_id)


def book_of(station: Any) -> Book:
    """The book a ``StationRef`` reads its prices from."""
    if station.is_structure:
        return structure_book(station.station_id)
    return region_book(station.region_id)


class _Recent:
    """The last few distinct calls of the desk's costly queries in this process (station
    trading, hauling plans), each with the books it reads (``Book``: a region's, or a tracked
    structure's own), so that ``market.prewarm`` can make them again the moment one of those
    books has a new snapshot: what traders were looking at is ready before they ask for it
    again."""

    def __init__(self, size: int) -> None:
        self._calls: OrderedDict[Hashable, tuple[frozenset[Book], Callable[[], object]]] = (
            OrderedDict()
        )
        self._size = size
        self._lock = threading.Lock()

    def note(self, key: Hashable, books: Iterable[Book], call: Callable[[], object]) -> None:
        with self._lock:
            self._calls[key] = (frozenset(books), call)
            self._calls.move_to_end(key)
            while len(self._calls) > self._size:
                self._calls.popitem(last=False)

    def reading(self, books: Iterable[Book]) -> list[Callable[[], object]]:
        """The calls that read one of ``books``, the most recent first."""
        wanted = set(books)
        with self._lock:
            return [call for read, call in reversed(self._calls.values()) if read & wanted]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()


_books = _Memo(size=12, ttl=BOOK_TTL_SECONDS)
_trading = _Memo(size=8, ttl=BOOK_TTL_SECONDS)
# One trip's plan per entry, and whole sorted answers: "any hub to any hub" alone is 21 entries.
_hauls = _Memo(size=96, ttl=BOOK_TTL_SECONDS)
# Each hub's whole order book as hauling reads it (``market.queries.haul_books``), per snapshot.
_haul_books = _Memo(size=10, ttl=BOOK_TTL_SECONDS)
_sde = _Memo(size=4, ttl=SDE_TTL_SECONDS)
# An item page's figures at each hub, per type (a few hundred types are most of the visits).
_quotes = _Memo(size=512, ttl=BOOK_TTL_SECONDS)
# Pages of a type's orders as the orders API writes them (at most 100 rows each, ~25 KB).
_order_pages = _Memo(size=256, ttl=BOOK_TTL_SECONDS)
# What ``market.prewarm`` makes again for each new snapshot, per process.
_recent = _Recent(size=12)


def caches_clear(*, keep_sde: bool = False) -> None:
    """Forget what this process keeps (tests; after an SDE import in a shell). ``keep_sde``
    forgets only what depends on the snapshots, as a new snapshot does (benchmarks)."""
    snapshots = (_books, _trading, _hauls, _haul_books, _quotes, _order_pages)
    for memo in snapshots if keep_sde else (*snapshots, _sde):
        memo.clear()
    if not keep_sde:
        _recent.clear()


# --- history versions ---------------------------------------------------------------------------


def _history_version_key(region_id: int) -> str:
    return f"market:history-version:{region_id}"


def history_versions(region_ids: Iterable[int]) -> dict[int, str]:
    """Each region's history version: it changes whenever new history of the region lands
    (``market.warmup``), and names what is derived from the history in the caches. "0" until
    the first history lands, or when the shared cache is unavailable (then the derived values
    still age out after BOOK_TTL_SECONDS)."""
    keys = {_history_version_key(region_id): region_id for region_id in region_ids}
    try:
        found = cache.get_many(list(keys))
    except Exception:
        log.warning("could not read the history versions", exc_info=True)
        found = {}
    return {region_id: str(found.get(key, "0")) for key, region_id in keys.items()}


def history_version_bump(*, region_id: int) -> str:
    """A new history version for the region (new history landed); returns it."""
    version = f"{time.time_ns():x}"
    cache.set(_history_version_key(region_id), version, None)
    return version
