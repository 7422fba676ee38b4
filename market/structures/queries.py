"""What the desk reads about tracked structures: market locations a user may see (the hubs and
the visible structures, as ``StationRef``), one location by id, and a structure's current book.

A structure is a ``StationRef`` with ``is_structure`` set: ``station_book``, the hauling books and
the station liquidity read its own snapshot (``StationRef.book_structure_id``), not its region's.
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from market.models import MarketSnapshot, SolarSystem, Structure
from market.queries.stations import HUB_STATIONS, StationRef, region_name, station_get
from market.structures.models import FIRST_STRUCTURE_ID

User = AbstractBaseUser | AnonymousUser | None
# Ids above this do not fit the database's bigint: a hostile URL, answered like an unknown id.
MAX_ID = 2**63 - 1


def structure_id_valid(structure_id: int) -> bool:
    return FIRST_STRUCTURE_ID <= structure_id <= MAX_ID


def structure_ref(structure: Structure) -> StationRef:
    """The structure as a market location (its region must be known)."""
    return StationRef(
        station_id=structure.structure_id,
        name=structure.display_name,
        system_id=structure.solar_system_id or 0,
        region_id=structure.region_id or 0,
        region_name=region_name(structure.region_id) if structure.region_id else "",
        is_structure=True,
    )


def structures_visible(user: User) -> list[StationRef]:
    """The tracked structures the user may see whose region is known, by name."""
    return [
        structure_ref(structure)
        for structure in Structure.objects.visible_to(user)
        .tracked()
        .filter(region_id__isnull=False, solar_system_id__isnull=False)
        .order_by("name", "structure_id")
    ]


def market_locations(user: User) -> list[StationRef]:
    """Every market location the user may pick: the five hubs, then the visible structures."""
    return [*HUB_STATIONS, *structures_visible(user)]


def location_get(location_id: int, *, user: User) -> StationRef | None:
    """A hub, an NPC station of the SDE, or a tracked structure the user may see; None for
    anything else (a private structure of someone else is None, as unknown)."""
    if not 0 < location_id <= MAX_ID:
        return None
    if location_id < FIRST_STRUCTURE_ID:
        # NPC stations' ids are far below the structures' (60-64 million): a structure id
        # costs one query, not two.
        return station_get(location_id)
    structure = (
        Structure.objects.visible_to(user)
        .tracked()
        .filter(pk=location_id, region_id__isnull=False)
        .first()
    )
    return structure_ref(structure) if structure is not None else None


def structure_get_or_404(structure_id: int, *, user: User) -> Structure:
    """The structure if the user may see it (tracked or not); 404 otherwise, the same answer
    for a private structure of someone else as for an unknown id."""
    if not structure_id_valid(structure_id):
        raise Http404("no such structure")
    structure = (
        Structure.objects.visible_to(user)
        .select_related("character", "added_by")
        .filter(pk=structure_id)
        .first()
    )
    if structure is None:
        raise Http404("no such structure")
    return structure


def structure_current_snapshot(structure_id: int) -> MarketSnapshot | None:
    """The structure's current book's snapshot (None before its first successful fetch)."""
    return MarketSnapshot.objects.for_structure(structure_id).filter(is_current=True).first()


def structure_names(location_ids: list[int]) -> dict[int, str]:
    """{structure id: name} of the known structures among ``location_ids`` (the ledger's
    location column), whoever may see them: a pilot's own orders name their structure."""
    ids = [location_id for location_id in location_ids if structure_id_valid(location_id)]
    return {
        structure_id: name
        for structure_id, name in Structure.objects.filter(pk__in=ids)
        .exclude(name="")
        .values_list("pk", "name")
    }


def system_names(system_ids: list[int]) -> dict[int, str]:
    return dict(SolarSystem.objects.filter(pk__in=system_ids).values_list("pk", "name"))
