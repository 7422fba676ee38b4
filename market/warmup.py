"""Ready-made book tops for every web worker, built the moment a snapshot lands.

``market.ingest`` sends ``snapshot_landed`` after a region's new snapshot commits (in the worker
that fetched it). The receiver reads the region's hub book top once and puts it in the shared
cache (``market.queries.book_tops_publish``), so the first page or API call after a new snapshot,
in whichever web worker, decodes it in milliseconds instead of reading and joining the hub's
best prices itself. Connected in ``MarketConfig.ready``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from market.hubs import HUBS
from market.models import MarketSnapshot
from market.queries import StationRef, book_tops_publish

log = logging.getLogger("market.desk")


def book_tops_warm(*, region_id: int) -> int:
    """Share the current book top of the region's hub(s); returns how many types it holds."""
    types = 0
    for hub in HUBS:
        if hub.region_id == region_id:
            types += len(book_tops_publish(StationRef.from_hub(hub)).tops)
    return types


def snapshot_landed_warm(sender: Any, snapshot: MarketSnapshot, **kwargs: Any) -> None:
    started = time.monotonic()
    try:
        types = book_tops_warm(region_id=snapshot.region_id)
    except Exception:
        # The snapshot is in whatever happens here: the first reader then reads it itself.
        log.exception("sharing the book tops of snapshot %s failed", snapshot.pk)
        return
    log.info(
        "desk book tops shared region=%s snapshot=%s types=%s ms=%.0f",
        snapshot.region_id,
        snapshot.pk,
        types,
        (time.monotonic() - started) * 1000,
    )
