"""The ESI replay's player structures: two market structures with books derived from a hub's.

Routes (ESI's shapes, from the ESI swagger, esi.evetech.net/latest/swagger.json):

- ``GET /markets/structures/{structure_id}/[?page=]`` — the structure's orders, paged like the
  region book, with a bearer token whose character may use the market there and the scope
  ``esi-markets.structure_markets.v1``;
- ``GET /universe/structures/{structure_id}/`` — ``name``, ``owner_id``, ``position``,
  ``solar_system_id``, ``type_id``, with the scope ``esi-universe.read_structures.v1``;
- ``GET /universe/structures/?filter=market`` — the public structures with a market (no token).

Tokens are checked against the replay SSO's issued access tokens (``accounts.replay``), as the
ledger's character routes do: no token or an unknown/expired one is a 401, a token without the
route's scope or whose character has no access to the structure a 403
(``{"error": "Forbidden"}``, as ESI words it for a structure without docking rights).

The books follow The Forge's generated book (``market.replay.orders``): a share of the types at
the hub, a share of their orders, relocated to the structure with new order ids and the prices
scaled (a Perimeter tower sells at about Jita's prices, a null-sec staging market dearer), on the
same clock, so they move between snapshots like the hub's (fills, reprices, vanished orders).

Knobs: ``access`` — {structure_id: [character ids]} of who may dock besides everyone for a
public structure (the null-sec one: nobody by default); ``set via configure(access=...)``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from accounts.scopes import STRUCTURE_MARKETS_SCOPE, UNIVERSE_STRUCTURES_SCOPE
from lenny.replay import ReplayRequest, ReplayResponse, ReplayServer

FORGE = 10000002
JITA_STATION = 60003760


@dataclass(frozen=True)
class ReplayStructure:
    structure_id: int
    name: str
    solar_system_id: int
    owner_id: int
    type_id: int  # 35834 Keepstar, 35833 Fortizar (SDE invTypes)
    public: bool
    price_factor: float
    # One in this many types of the hub book, and one in this many of their orders.
    type_every: int
    order_every: int


# Perimeter's tower is real (id from ESI's public structure list); the null-sec one stands for a
# staging keepstar (1DQ1-A is in Delve). Owners are illustrative corporation ids.
PERIMETER_TTT = ReplayStructure(
    1028858195912,
    "Perimeter - Tranquility Trading Tower",
    30000144,
    98599770,
    35834,
    public=True,
    price_factor=1.0,
    type_every=3,
    order_every=2,
)
NULLSEC_KEEPSTAR = ReplayStructure(
    1030049082711,
    "1DQ1-A - Imperial Palace",
    30004759,
    1354830081,
    35834,
    public=False,
    price_factor=1.22,
    type_every=5,
    order_every=3,
)
STRUCTURES = {s.structure_id: s for s in (PERIMETER_TTT, NULLSEC_KEEPSTAR)}
# Added to the hub order's id: unique across the hub's and both structures' books.
ORDER_ID_OFFSET = {PERIMETER_TTT.structure_id: 10**15, NULLSEC_KEEPSTAR.structure_id: 2 * 10**15}


class StructureReplay:
    def __init__(self, server: ReplayServer, esi: Any) -> None:
        self.server = server
        self.esi = esi
        self._lock = threading.Lock()
        self._books: dict[int, tuple[tuple, list[bytes]]] = {}
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.access: dict[int, set[int]] = {s: set() for s in STRUCTURES}
            self._books = {}

    def configure(self, *, access: dict[int, list[int]]) -> StructureReplay:
        with self._lock:
            for structure_id, characters in access.items():
                self.access[int(structure_id)] = {int(c) for c in characters}
        return self

    def may_dock(self, structure: ReplayStructure, character_id: int) -> bool:
        return structure.public or character_id in self.access.get(structure.structure_id, set())

    # --- the token ---------------------------------------------------------------------------
    def _authorized(self, req: ReplayRequest, scope: str) -> int | ReplayResponse:
        """The token's character when it may call the route, else ESI's refusal."""
        scheme, _, token = (req.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self.esi._error(401, "authorization not provided")
        issued = self.server.state.get("sso", {}).get("access_tokens", {}).get(token.strip())
        if issued is None:
            return self.esi._error(401, "authentication failure")
        if issued["expires_at"] < time.time():
            return self.esi._error(401, "token is expired")
        if scope not in issued["scopes"]:
            return self.esi._error(403, "token not valid for scope")
        return int(issued["character_id"])

    def _structure(self, req: ReplayRequest, scope: str) -> ReplayStructure | ReplayResponse:
        refused = self.esi._refused(req)
        if refused:
            return refused
        character_id = self._authorized(req, scope)
        if isinstance(character_id, ReplayResponse):
            return character_id
        structure = STRUCTURES.get(int(req.params["structure_id"]))
        if structure is None:
            # ESI says 403 for a structure it will not tell about, unknown ones included.
            return self.esi._error(403, "Forbidden")
        if not self.may_dock(structure, character_id):
            return self.esi._error(403, "Forbidden")
        return structure

    # --- the books -----------------------------------------------------------------------------
    def orders(self, structure: ReplayStructure) -> tuple[Any, list[bytes]]:
        """The structure's current orders, derived from The Forge's current snapshot."""
        clock, current = self.esi._snapshot_current(FORGE)
        key = (current.key, structure.structure_id)
        with self._lock:
            cached = self._books.get(structure.structure_id)
            if cached is not None and cached[0] == key:
                return clock, cached[1]
        snapshot = current.snapshot
        factor = structure.price_factor
        offset = ORDER_ID_OFFSET[structure.structure_id]
        lines: list[bytes] = []
        for index, line in enumerate(snapshot.orders):
            type_id = snapshot.type_ids[index]
            if type_id % structure.type_every or index % structure.order_every:
                continue
            order = json.loads(line)
            if order["location_id"] != JITA_STATION:
                continue
            order["order_id"] += offset
            order["location_id"] = structure.structure_id
            order["system_id"] = structure.solar_system_id
            order["price"] = round(order["price"] * factor, 2)
            lines.append(json.dumps(order, separators=(",", ":")).encode())
        with self._lock:
            self._books[structure.structure_id] = (key, lines)
        return clock, lines

    # --- routes --------------------------------------------------------------------------------
    def market_view(self, req: ReplayRequest) -> ReplayResponse:
        structure = self._structure(req, STRUCTURE_MARKETS_SCOPE)
        if isinstance(structure, ReplayResponse):
            return structure
        text = req.arg("page") or "1"
        if not text.isdigit() or int(text) < 1:
            return self.esi._error(400, f"page must be a positive integer, not {text!r}")
        clock, lines = self.orders(structure)
        return self.esi._paged(req, lines, int(text), clock=clock)

    def structure_view(self, req: ReplayRequest) -> ReplayResponse:
        structure = self._structure(req, UNIVERSE_STRUCTURES_SCOPE)
        if isinstance(structure, ReplayResponse):
            return structure
        body = {
            "name": structure.name,
            "owner_id": structure.owner_id,
            "position": {"x": 1.0e12, "y": 2.0e10, "z": -3.0e11},
            "solar_system_id": structure.solar_system_id,
            "type_id": structure.type_id,
        }
        now = time.time()
        return self.esi._answer(
            req, json.dumps(body).encode(), last_modified=now, expires=now + 3600
        )

    def public_view(self, req: ReplayRequest) -> ReplayResponse:
        refused = self.esi._refused(req)
        if refused:
            return refused
        wanted = req.arg("filter")
        if wanted not in (None, "market", "manufacturing_basic"):
            return self.esi._error(400, f"filter must be market or manufacturing_basic: {wanted!r}")
        ids = sorted(s.structure_id for s in STRUCTURES.values() if s.public)
        now = time.time()
        return self.esi._answer(
            req, json.dumps(ids).encode(), last_modified=now, expires=now + 3600
        )


def structures_register(server: ReplayServer, esi: Any) -> StructureReplay:
    replay = StructureReplay(server, esi)
    server.state["structures"] = replay
    server.on_reset(replay.reset)
    server.add_route("GET", r"/esi/markets/structures/(?P<structure_id>\d+)/?", replay.market_view)
    server.add_route(
        "GET", r"/esi/universe/structures/(?P<structure_id>\d+)/?", replay.structure_view
    )
    server.add_route("GET", r"/esi/universe/structures/?", replay.public_view)
    return replay
