"""Stations the desk prices: the five hubs (known without the SDE) and any NPC station of the
imported SDE, with their regions' names.
"""

from __future__ import annotations

from dataclasses import dataclass

from market.hubs import HUBS, HUBS_BY_KEY, HUBS_BY_STATION, Hub, hub_short_name
from market.models import MarketSnapshot, Region, Station


@dataclass(frozen=True)
class StationRef:
    """A market location: a hub, an NPC station, or a tracked player structure
    (``is_structure``: its book is its own snapshot, ``market.structures``)."""

    station_id: int
    name: str
    system_id: int
    region_id: int
    region_name: str
    is_structure: bool = False

    @property
    def book_structure_id(self) -> int:
        """``MarketSnapshot.structure_id`` of the book this location's prices are read from:
        0 (its region's book) for a station, its own id for a structure."""
        return self.station_id if self.is_structure else 0

    @property
    def book_key(self) -> tuple[int, int]:
        """(region id, structure id) of the book this location reads (``book_ages``)."""
        return (self.region_id, self.book_structure_id)

    @classmethod
    def from_hub(cls, hub: Hub) -> StationRef:
        return cls(hub.station_id, hub.name, hub.system_id, hub.region_id, hub.region_name)

    @property
    def hub(self) -> Hub | None:
        return HUBS_BY_STATION.get(self.station_id)

    @property
    def short_name(self) -> str:
        """ "Jita" for a hub, the station's name otherwise."""
        return hub_short_name(self.hub) if self.hub else self.name


HUB_STATIONS: tuple[StationRef, ...] = tuple(StationRef.from_hub(hub) for hub in HUBS)
DEFAULT_STATION = StationRef.from_hub(HUBS_BY_KEY["jita"])


def station_get(station_id: int) -> StationRef | None:
    """A hub (known without the SDE) or any NPC station of the imported SDE."""
    hub = HUBS_BY_STATION.get(station_id)
    if hub is not None:
        return StationRef.from_hub(hub)
    row = (
        Station.objects.filter(pk=station_id)
        .values_list("name", "system_id", "region_id", "region__name")
        .first()
    )
    if row is None:
        return None
    return StationRef(station_id, *row)


def region_name(region_id: int) -> str:
    for hub in HUBS:
        if hub.region_id == region_id:
            return hub.region_name
    name = Region.objects.filter(pk=region_id).values_list("name", flat=True).first()
    return name or f"region {region_id}"


def region_known(region_id: int) -> bool:
    return (
        any(hub.region_id == region_id for hub in HUBS)
        or Region.objects.filter(pk=region_id).exists()
        or MarketSnapshot.objects.filter(region_id=region_id).exists()
    )
