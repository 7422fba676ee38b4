"""Ready-made book tops for every web worker, built the moment a snapshot lands.

``market.ingest`` sends ``snapshot_landed`` after a region's new snapshot commits (in the worker
that fetched it). The receiver reads the region's hub book top once and puts it in the shared
cache (``market.queries.book_tops_publish``), so the first page or API call after a new snapshot,
in whichever web worker, decodes it in milliseconds instead of reading and joining the hub's
best prices itself. Connected in ``MarketConfig.ready``.

``history_landed`` (sent when new market history of a region commits) moves the region's history
version on (``market.queries.history_version_bump``), which every cached book, priced
station-trading table and hauling plan of the region is keyed by, and shares the book tops with
their new daily volumes at once: the desk shows the history's numbers without waiting for the
next snapshot.

When types are resolved from ESI (``market.universe``), ``types_changed_warm`` does the same for
the regions selling them: their names, categories and volumes are part of the book tops, so the
version moves on and the books are shared again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from market.hubs import HUBS
from market.models import BestPrice, MarketSnapshot
from market.queries import StationRef, book_tops_publish, haul_book_publish, history_version_bump

log = logging.getLogger("market.desk")


def book_tops_warm(*, region_id: int, history_version: str | None = None) -> int:
    """Share the current book top of the region's hub(s), and the whole book as hauling reads
    it (once per snapshot); returns how many types the tops hold."""
    types = 0
    for hub in HUBS:
        if hub.region_id == region_id:
            station = StationRef.from_hub(hub)
            types += len(book_tops_publish(station, history_version=history_version).tops)
            haul_book_publish(station)
    return types


def structure_book_warm(*, structure_id: int) -> int:
    """Share a tracked structure's book tops and hauling book, as a hub's (its own snapshot)."""
    from market.models import Structure
    from market.structures.queries import structure_ref

    structure = Structure.objects.filter(pk=structure_id, region_id__isnull=False).first()
    if structure is None:
        return 0
    station = structure_ref(structure)
    types = len(book_tops_publish(station).tops)
    haul_book_publish(station)
    return types


def snapshot_landed_warm(sender: Any, snapshot: MarketSnapshot, **kwargs: Any) -> None:
    started = time.monotonic()
    try:
        if snapshot.structure_id:
            types = structure_book_warm(structure_id=snapshot.structure_id)
        else:
            types = book_tops_warm(region_id=snapshot.region_id)
    except Exception:
        # The snapshot is in whatever happens here: the first reader then reads it itself.
        log.exception("sharing the book tops of snapshot %s failed", snapshot.pk)
        return
    log.info(
        "desk book tops shared book=%s snapshot=%s types=%s ms=%.0f",
        snapshot.book_label,
        snapshot.pk,
        types,
        (time.monotonic() - started) * 1000,
    )


def history_landed_warm(sender: Any, region_id: int, **kwargs: Any) -> None:
    started = time.monotonic()
    try:
        version = history_version_bump(region_id=region_id)
    except Exception:
        # Without the shared cache nothing is shared either: the books age out by themselves.
        log.exception("new history of region %s: the history version could not move on", region_id)
        return
    try:
        types = book_tops_warm(region_id=region_id, history_version=version)
    except Exception:
        log.exception("sharing the book tops of region %s after new history failed", region_id)
        return
    log.info(
        "desk book tops shared after new history region=%s types=%s ms=%.0f",
        region_id,
        types,
        (time.monotonic() - started) * 1000,
    )


def types_changed_warm(*, type_ids: list[int]) -> list[int]:
    """Names or volumes of ``type_ids`` changed: re-key and re-share the desk's caches of every
    region whose current snapshot sells one of them. Returns those regions."""
    current = MarketSnapshot.objects.filter(is_current=True).values("id")
    regions: set[int] = set()
    for start in range(0, len(type_ids), 500):
        regions |= set(
            BestPrice.objects.filter(
                snapshot_id__in=current, type_id__in=type_ids[start : start + 500]
            )
            .values_list("region_id", flat=True)
            .distinct()
        )
    for region_id in sorted(regions):
        try:
            version = history_version_bump(region_id=region_id)
            book_tops_warm(region_id=region_id, history_version=version)
        except Exception:
            # The caches age out by themselves (BOOK_TTL_SECONDS) if this fails.
            log.exception(
                "new type names in region %s: the desk caches were not refreshed", region_id
            )
    return sorted(regions)
