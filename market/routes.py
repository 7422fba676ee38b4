"""Jump counts between solar systems over the stargate graph of the SDE.

``JumpGraph`` is built once from (from_system, to_system) pairs and each system's true security,
then answers ``jumps(origin, destination, route)`` by breadth-first search. Two preferences:

- ``shortest``: the fewest gate jumps, through any space.
- ``secure``: the fewest jumps through high-sec only, every system on the way (both ends
  included) having a rounded security of at least 0.5. None when no such route exists.

Rounding follows EVE: true security to one decimal, half up, so 0.45 is high-sec 0.5 and
0.4499 is low-sec 0.4; a positive security below 0.05 shows as 0.1, never 0.0.

One search from an origin gives the distance to every system, so each (origin, preference) is
searched once and kept (a bounded, thread-safe cache): a page asking for the five hubs' routes
costs at most ten searches in the life of the process.

Build one from the database rows (``SystemJump``, ``SolarSystem.security``) or from the SDE's
CSV files with ``JumpGraph.from_csv``.
"""

from __future__ import annotations

import csv
import gzip
import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Literal

from market.trading import TradingInputError

Route = Literal["shortest", "secure"]
ROUTES: tuple[str, ...] = ("shortest", "secure")

HIGH_SEC = Decimal("0.5")
_TENTH = Decimal("0.1")
_HALF_TENTH = Decimal("0.05")


def security_rounded(security: float | Decimal | str) -> Decimal:
    """Security status as EVE shows it (one decimal)."""
    # str() first: the float 0.45 must round as the 0.45 the SDE wrote, not as 0.4499999…
    true_security = Decimal(str(security))
    if 0 < true_security < _HALF_TENTH:
        return _TENTH
    return true_security.quantize(_TENTH, rounding=ROUND_HALF_UP)


def is_high_sec(security: float | Decimal | str | None) -> bool:
    return security is not None and security_rounded(security) >= HIGH_SEC


class JumpGraph:
    def __init__(
        self,
        *,
        pairs: Iterable[tuple[int, int]],
        security: Mapping[int, float | Decimal | str | None],
        cache_size: int = 64,
    ) -> None:
        neighbours: dict[int, set[int]] = {}
        for origin, destination in pairs:
            # Gates work both ways; the SDE lists each direction, but one is enough here.
            neighbours.setdefault(origin, set()).add(destination)
            neighbours.setdefault(destination, set()).add(origin)
        self._neighbours: dict[int, tuple[int, ...]] = {
            system: tuple(sorted(linked)) for system, linked in neighbours.items()
        }
        self._high_sec = frozenset(
            system for system, status in security.items() if is_high_sec(status)
        )
        self._systems = frozenset(security) | frozenset(self._neighbours)
        self._cache: OrderedDict[tuple[int, str], dict[int, int]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @classmethod
    def from_csv(cls, jumps_path: str | Path, systems_path: str | Path) -> JumpGraph:
        """From the SDE's ``mapSolarSystemJumps.csv`` and ``mapSolarSystems.csv`` (or .gz)."""
        pairs = _csv_columns(jumps_path, {"fromSolarSystemID": int, "toSolarSystemID": int})
        security = dict(
            _csv_columns(systems_path, {"solarSystemID": int, "security": _optional_decimal})
        )
        return cls(pairs=pairs, security=security)

    def __contains__(self, system_id: int) -> bool:
        return system_id in self._systems

    def __len__(self) -> int:
        return len(self._systems)

    def is_high_sec(self, system_id: int) -> bool:
        return system_id in self._high_sec

    def jumps(self, origin: int, destination: int, route: Route = "shortest") -> int | None:
        """Gate jumps from ``origin`` to ``destination``; None when no route of that kind exists."""
        if route not in ROUTES:
            raise TradingInputError("route", f"must be one of {', '.join(ROUTES)}, got {route!r}")
        for param, system in (("origin", origin), ("destination", destination)):
            if system not in self._systems:
                raise TradingInputError(param, f"unknown solar system {system!r}")
        if route == "secure" and not (origin in self._high_sec and destination in self._high_sec):
            return None
        if origin == destination:
            return 0
        return self._distances(origin, route).get(destination)

    def _distances(self, origin: int, route: str) -> dict[int, int]:
        key = (origin, route)
        with self._lock:
            known = self._cache.get(key)
            if known is not None:
                self._cache.move_to_end(key)
                return known
        distances = self._search(origin, self._high_sec if route == "secure" else None)
        with self._lock:
            self._cache[key] = distances
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return distances

    def _search(self, origin: int, allowed: frozenset[int] | None) -> dict[int, int]:
        neighbours = self._neighbours
        distances = {origin: 0}
        frontier = [origin]
        depth = 0
        while frontier:
            depth += 1
            reached = []
            for system in frontier:
                for linked in neighbours.get(system, ()):
                    if linked not in distances and (allowed is None or linked in allowed):
                        distances[linked] = depth
                        reached.append(linked)
            frontier = reached
        return distances


def _optional_decimal(text: str) -> Decimal | None:
    return None if text in ("", "None") else Decimal(text)


def _csv_columns(path: str | Path, columns: Mapping[str, Callable[[str], Any]]) -> list[tuple]:
    """The named columns of a CSV (plain or gzipped), found by header name case-insensitively,
    each converted by its function; a bad value is reported by file and line."""
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    reader = csv.reader(io.StringIO(raw.decode("utf-8-sig")))
    header = [name.strip().lower() for name in next(reader, [])]
    missing = [name for name in columns if name.lower() not in header]
    if missing:
        raise ValueError(f"{path.name}: no column {', '.join(missing)} in the header")
    picks = [(header.index(name.lower()), convert) for name, convert in columns.items()]
    rows = []
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        try:
            rows.append(tuple(convert(row[position].strip()) for position, convert in picks))
        except (IndexError, ValueError, ArithmeticError):
            raise ValueError(f"{path.name} line {line}: cannot read {row!r}") from None
    return rows
