"""ESI's answers about item types, validated as they are converted (pure).

Shapes from ESI's OpenAPI spec (https://esi.evetech.net/meta/openapi.json; in the older swagger
``post_universe_names_200_ok``, ``get_universe_types_type_id_ok``,
``get_universe_groups_group_id_ok``, ``get_universe_categories_category_id_ok``). Only the fields
Lenny stores are read; the others (description, dogma, icon, mass, …) are ignored. A field of
the wrong type, a missing required one, a negative or non-finite volume, a name longer than the
column: an error naming what is wrong, never a bad row.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import msgspec

TypeId = Annotated[int, msgspec.Meta(gt=0, le=2**31 - 1)]
# Group and category 0 exist ("#System"); ids are ESI's int32.
ParentId = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# m³: finite and not negative (NaN fails both bounds). The largest real volume is a Keepstar's.
Volume = Annotated[float, msgspec.Meta(ge=0, lt=1e12)]


class EsiName(msgspec.Struct, frozen=True):
    """One entry of ``POST /universe/names/``."""

    id: TypeId
    name: Name
    category: str


class EsiType(msgspec.Struct, frozen=True):
    """``GET /universe/types/{type_id}/``: ``market_group_id`` "only exists for types that can be
    put on the market"; ``volume`` and ``packaged_volume`` are optional in the spec."""

    type_id: TypeId
    name: Name
    group_id: ParentId
    published: bool
    market_group_id: ParentId | None = None
    volume: Volume | None = None
    packaged_volume: Volume | None = None
    portion_size: Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)] | None = None


class EsiGroup(msgspec.Struct, frozen=True):
    """``GET /universe/groups/{group_id}/``."""

    group_id: ParentId
    name: Name
    category_id: ParentId
    published: bool


class EsiCategory(msgspec.Struct, frozen=True):
    """``GET /universe/categories/{category_id}/``."""

    category_id: ParentId
    name: Name
    published: bool


class UniverseDataError(Exception):
    """ESI answered something Lenny will not store; the message says what and why."""


Shape = TypeVar("Shape")


def payload_convert(data: Any, shape: type[Shape], *, what: str) -> Shape:
    """``data`` (parsed JSON) as ``shape``, or UniverseDataError naming ``what`` was asked."""
    try:
        return msgspec.convert(data, shape)
    except msgspec.ValidationError as exc:
        raise UniverseDataError(f"{what}: unexpected answer ({exc})") from exc


def names_convert(data: Any, *, asked: set[int]) -> dict[int, str]:
    """The item types' names in a ``/universe/names/`` answer, for the ids that were asked."""
    entries = payload_convert(data, list[EsiName], what="POST /universe/names/")
    return {
        entry.id: entry.name
        for entry in entries
        if entry.category == "inventory_type" and entry.id in asked
    }


def type_convert(data: Any, *, type_id: int) -> EsiType:
    """A ``/universe/types/{type_id}/`` answer, which must be about ``type_id``."""
    record = payload_convert(data, EsiType, what=f"/universe/types/{type_id}/")
    if record.type_id != type_id:
        raise UniverseDataError(
            f"/universe/types/{type_id}/: the answer is about type {record.type_id}"
        )
    return record
