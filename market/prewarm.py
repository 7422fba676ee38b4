"""Each web process makes the desk's costly views ready the moment a new snapshot is current, so
that no trader's request pays for them.

``market.warmup`` shares a new snapshot's book tops through the cache (in the worker that
fetched it), but every web process still has to decode a hub's tops (some 30 ms for Jita's
7,000 types) and price them with the trader's fees (another 25 ms) before its first answer
on the new snapshot: a first view of station trading took 130-150 ms where a warm one takes
65. Here a daemon thread in each web process polls which snapshots are current (one indexed
query) and the history versions (one cache read) every ``POLL_SECONDS``; when a region has
moved on, it makes again what this process was last asked for that reads the region
(``market.queries.caches._recent``: station trading and hauling plans, with the traders' own
fees and filters) and each hub's default station-trading view. A request that arrives while
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
from django.db import connections

from accounts.fees import DEFAULT_FEE_RATES
from market.hubs import HUBS
from market.models import MarketSnapshot
from market.queries import StationRef, history_versions, station_trading
from market.queries.caches import _recent

log = logging.getLogger("market.desk")

# How soon after a swap a web process starts on the new snapshot; the poll is one indexed
# query and one cache read.
POLL_SECONDS = 2.0

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
    """What one web process has made ready, by region: the snapshot and history version it
    last prepared (``round`` prepares the regions that moved on)."""

    def __init__(self) -> None:
        self._prepared: dict[int, tuple[Any, ...]] = {}

    def round(self) -> list[int]:
        """Prepare every region whose current snapshot or history moved on since the last
        round; returns those regions."""
        current = {
            region_id: (snapshot_id, fetched_at)
            # The region books only: a structure's book is current beside its region's.
            for region_id, snapshot_id, fetched_at in MarketSnapshot.objects.current()
            .regions()
            .values_list("region_id", "id", "fetched_at")
        }
        versions = history_versions(current)
        moved = [
            region_id
            for region_id, snapshot in current.items()
            if self._prepared.get(region_id) != (*snapshot, versions[region_id])
        ]
        if moved:
            desk_views_prepare(region_ids=moved)
            for region_id in moved:
                self._prepared[region_id] = (*current[region_id], versions[region_id])
        return moved


def desk_views_prepare(*, region_ids: Iterable[int]) -> int:
    """Make the views that read ``region_ids`` for their current snapshots: what this process
    was asked for lately, then each of their hubs' default station trading. Returns how many
    views were made; one that fails is logged and the others are still made."""
    regions = set(region_ids)
    calls = _recent.reading(regions)
    calls += [
        _station_trading_default(StationRef.from_hub(hub))
        for hub in HUBS
        if hub.region_id in regions
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


def _loop() -> None:
    prewarm = DeskPrewarm()
    failing = False
    while True:
        started = time.monotonic()
        try:
            moved = prewarm.round()
            if moved:
                log.info(
                    "desk views prepared regions=%s ms=%.0f",
                    ",".join(map(str, moved)),
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
