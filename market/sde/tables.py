"""The SDE tables Lenny imports: their files, columns, keys and references, parents first; and
the errors an SDE source that cannot be imported raises."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from django.apps import apps

# The literal the SDE dumps use for NULL, besides an empty field.
NULL_MARKERS = frozenset({"", "None"})
MAX_ERRORS_REPORTED = 10


class SdeError(Exception):
    """An SDE source that cannot be imported; the message says which file and why."""


class SdeFileError(SdeError):
    def __init__(self, filename: str, problems: list[tuple[int | None, str]]) -> None:
        self.filename = filename
        self.problems = problems
        lines = [
            f"{filename} line {line}: {msg}" if line else f"{filename}: {msg}"
            for line, msg in problems
        ]
        super().__init__("\n".join(lines))


# --- Table specifications ---------------------------------------------------------------------


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        # Some exports write whole numbers as "12.0".
        number = float(text)
        if not number.is_integer():
            raise ValueError from None
        return int(number)


def _parse_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError
    return number


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in {"1", "true", "t", "yes"}:
        return True
    if lowered in {"0", "false", "f", "no"}:
        return False
    raise ValueError


PARSERS: dict[str, tuple[Callable[[str], Any], str]] = {
    "int": (_parse_int, "a whole number"),
    "float": (_parse_float, "a number"),
    "bool": (_parse_bool, "0 or 1"),
    "text": (str, "text"),
}


@dataclass(frozen=True)
class Column:
    header: str  # as Fuzzwork spells it; matched case-insensitively
    field: str  # the model attribute (attname for foreign keys)
    kind: Literal["int", "float", "bool", "text"]
    required: bool = False  # the value may not be NULL
    optional_header: bool = False  # the column may be absent from the file; then it is not written

    def null_value(self) -> Any:
        # Text and flags are NOT NULL in the models: the SDE's NULL means "none" / "no" there.
        return {"text": "", "bool": False}.get(self.kind)


@dataclass(frozen=True)
class Reference:
    field: str  # attname holding the parent's id
    table: str  # the parent table's name
    noun: str  # for the report: "group", "market group"
    on_missing: Literal["clear", "skip"]


@dataclass(frozen=True)
class TableSpec:
    name: str
    model_label: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ("id",)
    references: tuple[Reference, ...] = ()
    # Adds columns to rows another table created (invVolumes → Type.packaged_volume).
    update_only: bool = False
    noun: str = "row"
    # Not part of every SDE dump: its absence is not worth a mention.
    optional: bool = False

    @property
    def model(self):
        return apps.get_model(self.model_label)


def _ref(field: str, table: str, noun: str, on_missing: Literal["clear", "skip"]) -> Reference:
    return Reference(field, table, noun, on_missing)


# Parents before children: references are checked against what is already in the database.
TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "invCategories",
        "market.Category",
        (
            Column("categoryID", "id", "int", required=True),
            Column("categoryName", "name", "text"),
            Column("published", "published", "bool"),
        ),
        noun="category",
    ),
    TableSpec(
        "invGroups",
        "market.Group",
        (
            Column("groupID", "id", "int", required=True),
            Column("categoryID", "category_id", "int"),
            Column("groupName", "name", "text"),
            Column("published", "published", "bool"),
        ),
        references=(_ref("category_id", "invCategories", "category", "clear"),),
        noun="group",
    ),
    TableSpec(
        "invMarketGroups",
        "market.MarketGroup",
        (
            Column("marketGroupID", "id", "int", required=True),
            Column("parentGroupID", "parent_id", "int"),
            Column("marketGroupName", "name", "text"),
            Column("description", "description", "text", optional_header=True),
            Column("hasTypes", "has_types", "bool"),
        ),
        references=(_ref("parent_id", "invMarketGroups", "parent market group", "clear"),),
        noun="market group",
    ),
    TableSpec(
        "invTypes",
        "market.Type",
        (
            Column("typeID", "id", "int", required=True),
            Column("groupID", "group_id", "int"),
            Column("typeName", "name", "text"),
            Column("volume", "volume", "float"),
            Column("packagedVolume", "packaged_volume", "float", optional_header=True),
            Column("portionSize", "portion_size", "int", optional_header=True),
            Column("published", "published", "bool"),
            Column("marketGroupID", "market_group_id", "int"),
        ),
        references=(
            _ref("group_id", "invGroups", "group", "clear"),
            _ref("market_group_id", "invMarketGroups", "market group", "clear"),
        ),
        noun="type",
    ),
    TableSpec(
        "invVolumes",
        "market.Type",
        (
            Column("typeID", "id", "int", required=True),
            Column("volume", "packaged_volume", "float"),
        ),
        update_only=True,
        noun="packaged volume",
        optional=True,
    ),
    TableSpec(
        "mapRegions",
        "market.Region",
        (Column("regionID", "id", "int", required=True), Column("regionName", "name", "text")),
        noun="region",
    ),
    TableSpec(
        "mapConstellations",
        "market.Constellation",
        (
            Column("constellationID", "id", "int", required=True),
            Column("constellationName", "name", "text"),
            Column("regionID", "region_id", "int", required=True),
        ),
        references=(_ref("region_id", "mapRegions", "region", "skip"),),
        noun="constellation",
    ),
    TableSpec(
        "mapSolarSystems",
        "market.SolarSystem",
        (
            Column("solarSystemID", "id", "int", required=True),
            Column("solarSystemName", "name", "text"),
            Column("constellationID", "constellation_id", "int", required=True),
            Column("regionID", "region_id", "int", required=True),
            Column("security", "security", "float", required=True),
        ),
        references=(
            _ref("region_id", "mapRegions", "region", "skip"),
            _ref("constellation_id", "mapConstellations", "constellation", "skip"),
        ),
        noun="solar system",
    ),
    TableSpec(
        "mapSolarSystemJumps",
        "market.SystemJump",
        (
            Column("fromSolarSystemID", "from_system_id", "int", required=True),
            Column("toSolarSystemID", "to_system_id", "int", required=True),
        ),
        key=("from_system_id", "to_system_id"),
        references=(
            _ref("from_system_id", "mapSolarSystems", "solar system", "skip"),
            _ref("to_system_id", "mapSolarSystems", "solar system", "skip"),
        ),
        noun="jump",
    ),
    TableSpec(
        "staStations",
        "market.Station",
        (
            Column("stationID", "id", "int", required=True),
            Column("stationName", "name", "text"),
            Column("solarSystemID", "system_id", "int", required=True),
            Column("regionID", "region_id", "int", required=True),
            Column("corporationID", "corporation_id", "int"),
            Column("stationTypeID", "station_type_id", "int"),
        ),
        references=(
            _ref("system_id", "mapSolarSystems", "solar system", "skip"),
            _ref("region_id", "mapRegions", "region", "skip"),
        ),
        noun="station",
    ),
)
TABLES_BY_NAME = {spec.name: spec for spec in TABLES}
