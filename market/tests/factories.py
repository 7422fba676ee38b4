"""Small hand-made markets for the desk's page and API tests.

Books go in through the real ingest (``snapshot_store`` with ESI-shaped pages), so the tests read
what production reads: the current snapshot's orders and its best-price aggregates.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import count
from pathlib import Path

from django.utils import timezone

from market.hubs import HUBS_BY_KEY
from market.ingest import history_window_end, snapshot_store
from market.models import HistoryDay, MarketGroup, MarketSnapshot, Type, TypeRegionStats
from market.replay.sde import SAMPLE_FOLDER
from market.sde import sde_import

SDE_SAMPLE = SAMPLE_FOLDER
SHARED_SDE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "eve" / "sde"
FORGE = 10000002
DOMAIN = 10000043
JITA_STATION = 60003760

JITA = HUBS_BY_KEY["jita"]
AMARR = HUBS_BY_KEY["amarr"]
DODIXIE = HUBS_BY_KEY["dodixie"]
RENS = HUBS_BY_KEY["rens"]
HEK = HUBS_BY_KEY["hek"]
# An NPC station in The Forge that is not the hub (the small SDE sample has it).
PERIMETER_STATION, PERIMETER_SYSTEM = 60000358, 30000144
# New Eden's whole map (regions, constellations, systems, gates), compact, for jump counts.
MAP = Path(__file__).resolve().parent / "data" / "desk"

_order_ids = count(7_000_000_000)


def order(
    type_id: int,
    price: str | Decimal,
    volume: int,
    *,
    buy: bool = False,
    hub=JITA,
    location_id: int | None = None,
    system_id: int | None = None,
    min_volume: int = 1,
    range: str = "region",
    issued: str = "2026-11-20T10:00:00Z",
    order_id: int | None = None,
) -> dict:
    """One order as ESI sends it, at ``hub``'s station unless ``location_id`` says otherwise."""
    return {
        "order_id": order_id or next(_order_ids),
        "type_id": type_id,
        "location_id": location_id or hub.station_id,
        "system_id": system_id or hub.system_id,
        "is_buy_order": buy,
        "price": float(price),
        "volume_remain": volume,
        "volume_total": volume,
        "min_volume": min_volume,
        "range": range,
        "duration": 90,
        "issued": issued,
    }


def book_store(
    region_id: int, orders: list[dict], *, age: timedelta = timedelta(minutes=3)
) -> MarketSnapshot:
    """Make ``orders`` the region's current snapshot, ``age`` old and due in 5 minutes."""
    last_modified = (timezone.now() - age).replace(microsecond=0)
    return snapshot_store(
        region_id=region_id,
        pages=[json.dumps(orders).encode()],
        last_modified=last_modified,
        expires=last_modified + timedelta(minutes=5),
    )


def daily_volume(region_id: int, type_id: int, volume: str | int, isk: str | int = 0) -> None:
    TypeRegionStats.objects.update_or_create(
        region_id=region_id,
        type_id=type_id,
        defaults={
            "avg_daily_volume": Decimal(volume),
            "avg_daily_isk": Decimal(isk),
            "has_history": True,
            "days_traded": 30,
            "last_history_date": history_window_end(timezone.now()),
            "history_fetched_at": timezone.now(),
        },
    )


def market_type(
    type_id: int,
    name: str,
    *,
    volume: float = 0.01,
    packaged_volume: float | None = None,
    group: MarketGroup | None = None,
) -> Type:
    item, _ = Type.objects.update_or_create(
        pk=type_id,
        defaults={
            "name": name,
            "volume": volume,
            "packaged_volume": packaged_volume,
            "market_group": group,
            "published": True,
        },
    )
    return item


def history(region_id: int, type_id: int, days: int, *, end: date | None = None) -> list[date]:
    """``days`` days of made-up but consistent history ending on the last day ESI can have."""
    end = end or history_window_end(timezone.now())
    rows = []
    for back in range(days):
        day = end - timedelta(days=back)
        average = Decimal(100 + back)
        rows.append(
            HistoryDay(
                region_id=region_id,
                type_id=type_id,
                date=day,
                average=average,
                highest=average + 5,
                lowest=average - 5,
                volume=1000 + back,
                order_count=10 + back,
            )
        )
    HistoryDay.objects.bulk_create(rows)
    return sorted(row.date for row in rows)


def map_load() -> None:
    """Every region, constellation, system and stargate of New Eden (January 2026 SDE)."""
    sde_import(
        source=str(MAP),
        tables=["mapRegions", "mapConstellations", "mapSolarSystems", "mapSolarSystemJumps"],
    )


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
