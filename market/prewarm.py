"""Each web process makes the desk's costly views ready the moment a new snapshot is current, so
that no trader's request pays for them.

``market.warmup`` shares a new snapshot's book tops through the cache (in the worker that
fetched it), but every web process still has to decode a hub's tops (some 30 ms for Jita's
7,000 types) and price them with the trader's fees (another 25 ms) before its first answer
on the new snapshot: a first view of station trading took 130-150 ms where a warm one takes
65. Here a daemon thread in each web process polls which snapshots are current (one indexed
query) and the history versions (one cache read) every ``POLL_SECONDS``; when a book has
moved on (a region's, or a tracked structure's own: ``market.queries.caches.Book``), it makes
again what this process was last asked for that reads the book
(``market.queries.caches._recent``: station trading and hauling plans, with the traders' own
fees and filters) and each hub's default station-trading view. A structure's book also moves
on with its region's history version (its daily volumes are the region's). A request that arrives while
the thread is at work waits for the same build rather than doing it twice (``_Memo``).

Started from ``lenny.wsgi`` through the ``web_process_started`` signal (in gunicorn, in each
worker after the fork), never in management commands, workers or tests, and switched off with
``DESK_PREWARM=false``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db import connection, connections

from accounts.fees import DEFAULT_FEE_RATES
from market.hubs import HUBS
from market.models import MarketSnapshot
from market.queries import StationRef, history_versions, station_trading
from market.queries.caches import Book, _recent, region_book, structure_book
from market.structures.queries import structures_visible

log = logging.getLogger("market.desk")

# How soon after a swap a web process starts on the new snapshot; the poll is one indexed
# query and one cache read.
POLL_SECONDS = 2.0
# A pre-warm query never waits longer than this for a lock (a flush, a partition dropped):
# what it would make is made again in the next round, or by the first request.
LOCK_TIMEOUT = "5s"

_started = threading.Lock()
_thread: threading.Thread | None = None


def _station_trading_default(station: StationRef) -> Callable[[], object]:
    """A hub's station-trading view as an anonymous trader first sees it (the page's and the
    API's defaults, read from the same form)."""
    from market.forms import StationTradingForm

    form = StationTradingForm({"station_id": str(station.station_id)})
    form.is_valid()

    def call() -> object:
        return station_trading(
            station=station,
            rates=form.rates(DEFAULT_FEE_RATES),
            volume_cap=None,
            market_share=form.market_share(None),
            filters=form.filters(None),
        )

    return call


class DeskPrewarm:
    """What one web process has made ready, by book (a region's, a structure's own): the
    snapshot and history version it last prepared (``round`` prepares the books that moved
    on)."""

    def __init__(self) -> None:
        self._prepared: dict[Book, tuple[Any, ...]] = {}

    def round(self) -> list[Book]:
        """Prepare every book whose current snapshot or history moved on since the last round;
        returns those books (regions first)."""
        current = {
            (structure_book(structure_id) if structure_id else region_book(region_id)): (
                region_id,
                snapshot_id,
                fetched_at,
            )
            for region_id, structure_id, snapshot_id, fetched_at in MarketSnapshot.objects.filter(
                is_current=True
            )
            .order_by("structure_id", "region_id")
            .values_list("region_id", "structure_id", "id", "fetched_at")
        }
        versions = history_versions({region_id for region_id, *_ in current.values()})
        state = {
            book: (snapshot_id, fetched_at, versions[region_id])
            for book, (region_id, snapshot_id, fetched_at) in current.items()
        }
        moved = [book for book, now in state.items() if self._prepared.get(book) != now]
        if moved:
            desk_views_prepare(books=moved)
            for book in moved:
                self._prepared[book] = state[book]
        return moved


def desk_views_prepare(*, books: Iterable[Book]) -> int:
    """Make the views that read ``books`` for their current snapshots: what this process was
    asked for lately, then the default station trading of the hubs in the regions among them.
    Returns how many views were made; one that fails is logged and the others are still
    made."""
    books = set(books)
    calls = _recent.reading(books)
    calls += [
        _station_trading_default(StationRef.from_hub(hub))
        for hub in HUBS
        if region_book(hub.region_id) in books
    ]
    # A public structure's default view too, as a hub's (a private one's owner makes theirs).
    structure_ids = [book_id for kind, book_id in books if kind == "structure"]
    if structure_ids:
        calls += [
            _station_trading_default(station)
            for station in structures_visible(None)
            if station.station_id in structure_ids
        ]
    made = 0
    for call in calls:
        try:
            call()
            made += 1
        except Exception:
            # The view is then made by the first request that asks for it, as without this.
            log.exception("preparing a desk view for the new snapshot failed")
    return made


def _lock_timeout_set() -> None:
    """A round gives up waiting for a table lock after ``LOCK_TIMEOUT`` (and tries again in the
    next one) rather than queueing behind DDL for as long as it lasts."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")


def _loop() -> None:
    log.info("desk pre-warm started, polling every %.0f s", POLL_SECONDS)
    prewarm = DeskPrewarm()
    failing = False
    while True:
        started = time.monotonic()
        try:
            _lock_timeout_set()
            moved = prewarm.round()
            if moved:
                log.info(
                    "desk views prepared regions=%s structures=%s ms=%.0f",
                    ",".join(str(book_id) for kind, book_id in moved if kind == "region") or "-",
                    ",".join(str(book_id) for kind, book_id in moved if kind == "structure") or "-",
                    (time.monotonic() - started) * 1000,
                )
            failing = False
        except Exception:
            # The database or cache is away for a while: said once, and each round tries
            # again on a new connection (otherwise the thread keeps its one connection open).
            if not failing:
                log.warning("desk pre-warm paused: %s", "cannot read the snapshots", exc_info=True)
            failing = True
            connections.close_all()
        time.sleep(POLL_SECONDS)


def prewarm_start(sender: Any = None, **kwargs: Any) -> bool:
    """Start this process's pre-warm thread (once); False when switched off or running."""
    global _thread
    if not settings.DESK_PREWARM:
        return False
    with _started:
        if _thread is not None and _thread.is_alive():
            return False
        _thread = threading.Thread(target=_loop, name="desk-prewarm", daemon=True)
        _thread.start()
    return True
