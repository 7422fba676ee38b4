"""ESI's universe routes for item types, mounted with the ESI replay under ``/esi``: what Lenny
asks ESI about the types the order books sell that its SDE does not know (``market.universe``).

Shapes from ESI's OpenAPI spec (https://esi.evetech.net/meta/openapi.json; the older swagger's
``post_universe_names``, ``get_universe_types_type_id``, ``get_universe_groups_group_id``,
``get_universe_categories_category_id``):

- ``POST /universe/names/`` — body: a JSON array of 1 to 1,000 unique ids; answers
  ``[{"category": "inventory_type", "id": …, "name": …}]`` in the order asked. "All IDs must
  resolve to a name, or nothing will be returned": one unknown id answers 404
  ``{"error": "Ensure all IDs are valid before resolving."}``. A body that is not such an array
  answers 400. (Only item types resolve here; ESI also resolves characters, stations, ….)
- ``GET /universe/types/{type_id}/`` — ``type_id``, ``name``, ``description``, ``group_id``,
  ``market_group_id`` (only for types sold on the market), ``volume``, ``packaged_volume``,
  ``portion_size``, ``published`` (of ESI's optional fields, the ones Lenny reads); 404
  ``{"error": "Type not found!"}``.
- ``GET /universe/groups/{group_id}/`` — ``group_id``, ``name``, ``category_id``, ``published``,
  ``types``; 404 ``{"error": "Group not found!"}``.
- ``GET /universe/categories/{category_id}/`` — ``category_id``, ``name``, ``published``,
  ``groups``; 404 ``{"error": "Category not found!"}``.

The GET routes expire daily at 11:05 UTC, as ESI's do: ``Expires`` is the next 11:05,
``Last-Modified`` the last one, with a quoted ``ETag`` (a 304 for a matching
``If-None-Match``) and ESI's error-limit headers (a 404 counts against the error limit; past it
every route answers 420, as the market routes do).

What the replay knows is real data: the SDE it serves (the shared export in
``../shared/fixtures/eve/sde`` when present, else the repo's slice in ``data/sde``), overlaid
with ``data/universe`` (see its README): the types the replay's books sell that the 2019 SDE
lacks, from a 2025 Fuzzwork dump, the sample history's types the repo slice lacks, the groups
and categories they need, and the packaged volumes (``invVolumes``) of the types sold. A type's
``packaged_volume`` is its ``invVolumes`` figure, else its volume, as ESI answers. The dumps have
no descriptions: ``description`` is empty.

Knobs: ``server.state["universe"]`` is the :class:`UniverseReplay`; ``configure(unknown_types=…)``
makes ESI answer 404 for those type ids as for a type it does not know, ``source`` picks the SDE
under the overlay (``"auto"``, ``"sample"``, ``"full"`` or a folder). ``reset()`` (the
``upstreams`` fixture) forgets both.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from lenny.replay import ReplayRequest, ReplayResponse, ReplayServer
from market.replay.history import history_refreshed_at
from market.replay.sde import sde_folder_resolve
from market.sde import TABLES_BY_NAME, sde_table_parse

PREFIX = "/esi"
DATA_FOLDER = Path(__file__).resolve().parent / "data" / "universe"
NAMES_MAX = 1000  # ids in one POST /universe/names/
INT32_MAX = 2**31 - 1
CATEGORY_TYPE = "inventory_type"


@dataclass(frozen=True)
class UniverseData:
    """ESI-shaped records of every type, group and category the replay knows."""

    types: dict[int, dict[str, Any]]
    groups: dict[int, dict[str, Any]]
    categories: dict[int, dict[str, Any]]


def _tables(folder: Path) -> dict[str, dict[int, dict[str, Any]]]:
    """The folder's invTypes, invGroups, invCategories and invVolumes, each by id (parsed as the
    SDE importer parses them: by header, case-insensitively, UTF-8 or Windows-1252)."""
    tables: dict[str, dict[int, dict[str, Any]]] = {}
    for name in ("invTypes", "invGroups", "invCategories", "invVolumes"):
        path = folder / f"{name}.csv"
        rows: dict[int, dict[str, Any]] = {}
        if path.is_file():
            parsed = sde_table_parse(TABLES_BY_NAME[name], path.read_bytes(), filename=path.name)
            for row in parsed.rows:
                record = dict(zip(parsed.fields, row, strict=True))
                rows[record["id"]] = record
        tables[name] = rows
    return tables


def universe_build(sde_folder: Path, overlay: Path = DATA_FOLDER) -> UniverseData:
    """The SDE folder's records with the overlay's on top, shaped as ESI answers them."""
    base, extra = _tables(sde_folder), _tables(overlay)
    merged = {name: {**base[name], **extra[name]} for name in base}
    volumes = merged["invVolumes"]
    types: dict[int, dict[str, Any]] = {}
    members: dict[int, list[int]] = {}
    for type_id, row in merged["invTypes"].items():
        volume = row.get("volume")
        packaged = volumes.get(type_id, {}).get("packaged_volume", volume)
        record = {
            "description": "",
            "group_id": row["group_id"],
            "name": row["name"],
            "published": bool(row["published"]),
            "type_id": type_id,
        }
        if row.get("market_group_id") is not None:
            record["market_group_id"] = row["market_group_id"]
        if volume is not None:
            record["volume"] = volume
        if packaged is not None:
            record["packaged_volume"] = packaged
        if row.get("portion_size") is not None:
            record["portion_size"] = row["portion_size"]
        types[type_id] = dict(sorted(record.items()))
        if row["group_id"] is not None:
            members.setdefault(row["group_id"], []).append(type_id)
    groups = {
        group_id: {
            "category_id": row["category_id"],
            "group_id": group_id,
            "name": row["name"],
            "published": bool(row["published"]),
            "types": sorted(members.get(group_id, [])),
        }
        for group_id, row in merged["invGroups"].items()
    }
    in_category: dict[int, list[int]] = {}
    for group in groups.values():
        in_category.setdefault(group["category_id"], []).append(group["group_id"])
    categories = {
        category_id: {
            "category_id": category_id,
            "groups": sorted(in_category.get(category_id, [])),
            "name": row["name"],
            "published": bool(row["published"]),
        }
        for category_id, row in merged["invCategories"].items()
    }
    return UniverseData(types, groups, categories)


class UniverseReplay:
    """The universe routes; limits, headers and errors are the ESI replay's (``esi``)."""

    def __init__(self, esi: Any) -> None:
        self.esi = esi
        self._lock = threading.Lock()
        self._built: tuple[tuple, UniverseData] | None = None
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.source: str | Path = "auto"
            self.unknown_types: set[int] = set()

    def configure(
        self, *, unknown_types: Any = None, source: str | Path | None = None
    ) -> UniverseReplay:
        if source is not None:
            sde_folder_resolve(source)
        with self._lock:
            if unknown_types is not None:
                self.unknown_types = {int(t) for t in unknown_types}
            if source is not None:
                self.source = source
        return self

    def data(self) -> UniverseData:
        """Built once per SDE folder (the shared export takes about a second to parse)."""
        folder = sde_folder_resolve(self.source)
        types_file = folder / "invTypes.csv"
        key = (str(folder), types_file.stat().st_mtime if types_file.exists() else 0)
        with self._lock:
            if self._built is not None and self._built[0] == key:
                return self._built[1]
        data = universe_build(folder)
        with self._lock:
            self._built = (key, data)
        return data

    def _known_type(self, type_id: int) -> dict[str, Any] | None:
        with self._lock:
            if type_id in self.unknown_types:
                return None
        return self.data().types.get(type_id)

    # --- routes --------------------------------------------------------------------------------
    def names_view(self, req: ReplayRequest) -> ReplayResponse:
        refused = self.esi._refused(req, rated=False)
        if refused:
            return refused
        ids, problem = _ids_read(req.body)
        if problem:
            return self.esi._error(400, problem, rated=False)
        answer = []
        for type_id in ids:
            known = self._known_type(type_id)
            if known is None:
                return self.esi._error(
                    404, "Ensure all IDs are valid before resolving.", rated=False
                )
            answer.append({"category": CATEGORY_TYPE, "id": type_id, "name": known["name"]})
        return self._fresh(req, answer, cacheable=False)

    def type_view(self, req: ReplayRequest) -> ReplayResponse:
        return self._one(req, "type_id", self._known_type, "Type not found!")

    def group_view(self, req: ReplayRequest) -> ReplayResponse:
        return self._one(req, "group_id", self.data().groups.get, "Group not found!")

    def category_view(self, req: ReplayRequest) -> ReplayResponse:
        return self._one(req, "category_id", self.data().categories.get, "Category not found!")

    def _one(self, req: ReplayRequest, param: str, find: Any, missing: str) -> ReplayResponse:
        refused = self.esi._refused(req, rated=False)
        if refused:
            return refused
        value = int(req.params[param])
        if not 0 < value <= INT32_MAX:
            return self.esi._error(
                400, f"{param} must be a positive int32, not {value}", rated=False
            )
        record = find(value)
        if record is None:
            return self.esi._error(404, missing, rated=False)
        return self._fresh(req, record, cacheable=True)

    def _fresh(self, req: ReplayRequest, data: Any, *, cacheable: bool) -> ReplayResponse:
        refreshed = history_refreshed_at(time.time())
        body = json.dumps(data, separators=(",", ":")).encode()
        response = self.esi._answer(
            req,
            body,
            last_modified=refreshed.timestamp(),
            expires=(refreshed + timedelta(days=1)).timestamp(),
            rated=False,
        )
        response.headers["Content-Language"] = "en"
        if not cacheable:
            # An answer to a POST depends on its body: ESI keeps no validators for it.
            for name in ("ETag", "Expires", "Last-Modified"):
                response.headers.pop(name, None)
            response.headers["Cache-Control"] = "no-store"
        return response


def _ids_read(body: bytes) -> tuple[list[int], str]:
    """The ids of a /universe/names/ body, or the reason it is refused (ESI's 400)."""
    try:
        ids = json.loads(body or b"")
    except ValueError:
        return [], "The request body is not a JSON array of ids"
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in ids
    ):
        return [], "The request body must be a JSON array of integer ids"
    if not ids:
        return [], "At least one id is required"
    if len(ids) > NAMES_MAX:
        return [], f"At most {NAMES_MAX} ids can be resolved at once, not {len(ids)}"
    if len(set(ids)) != len(ids):
        return [], "Duplicate ids are not allowed"
    if not all(0 < i <= INT32_MAX for i in ids):
        return [], "Every id must be a positive int32"
    return ids, ""


def universe_register(server: ReplayServer, esi: Any) -> UniverseReplay:
    replay = UniverseReplay(esi)
    server.state["universe"] = replay
    server.on_reset(replay.reset)
    universe = rf"{PREFIX}/universe"
    server.add_route("POST", rf"{universe}/names/?", replay.names_view)
    server.add_route("GET", rf"{universe}/types/(?P<type_id>\d+)/?", replay.type_view)
    server.add_route("GET", rf"{universe}/groups/(?P<group_id>\d+)/?", replay.group_view)
    server.add_route("GET", rf"{universe}/categories/(?P<category_id>\d+)/?", replay.category_view)
    return replay
