"""Every market region at a realistic size, for the replay ESI: the size table and the books of
regions the history archive does not cover.

The real history archive (``../shared/fixtures/eve/history``) covers the five hub regions only,
so each region's size is derived in two ways (:func:`region_sizes_derive`):

- **hub regions** (in the archive): their book as the replay already builds it, one open order
  per trade a day over the last 30 days (``orders.default_size``; The Forge: ~392k trades a day,
  ~400k orders), and the types with history in those 30 days;
- **other regions**: the orders a hub region holds *outside its hub station*, per NPC station
  (the replay puts ``AT_HUB`` = 80 % of a region's orders at the hub, the rest spread over the
  region's other stations), median over the five hubs, times the region's NPC stations (from
  the SDE). A region with fewer NPC stations than the median of the non-hub regions (null-sec,
  whose markets are mostly in player structures) is given that median: its structures trade at
  least like an ordinary NPC region. Its type count is the types it trades on a day, by the
  hubs' own relation between orders and types traded a day (a power law fitted to the five
  hubs in log-log space: The Forge's ~400k orders trade ~8,000 types a day, Metropolis's ~17k
  ~2,500), at most one type per order.

A region outside the archive borrows the hubs' trading (:func:`trading_borrow`): its ``types``
most-traded types over the five hubs, each at its price and spread where it trades most, with
volumes and trade counts scaled so that the book's default size is the region's order count.

The table reaches the replay as its ``regions`` knob: ``{region_id: {"orders": n, "types": k,
"stations": [[station_id, system_id], …]}}`` (see ``market.replay.esi``). A region without NPC
stations gets one location per solar system, with ids in the player-structure range
(:func:`structure_locations`), as ESI lists structure orders under their structure's id.
"""

from __future__ import annotations

import math
import statistics
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from market.replay.history import FIELDS_PER_DAY, RECENT_DAYS, VOLUME, HistoryArchive, TypeTrading
from market.replay.orders import AT_HUB, default_size

# Player structures' ids start above 1e12 (ESI's location ids); a generated structure's id is
# this plus its solar system's id.
STRUCTURE_ID_BASE = 1_030_000_000_000


@dataclass(frozen=True)
class MarketRegion:
    """A region with a market, from the SDE: its NPC stations and its solar systems."""

    region_id: int
    name: str
    stations: int
    systems: int = 0


@dataclass(frozen=True)
class HubActivity:
    """What the archive says of one hub region (last ``RECENT_DAYS`` days)."""

    region_id: int
    orders: int  # the replay's book size: one open order per trade a day
    types: int  # types with history in the window (the types in its book)
    types_per_day: float  # distinct types traded on an average day
    trades_per_day: float  # ESI's order_count summed over types, an average day


@dataclass(frozen=True)
class RegionSize:
    region_id: int
    name: str
    orders: int
    types: int
    stations: int
    basis: str  # "history" (a hub region in the archive) or "stations" (derived)


def hub_activity(archive: HistoryArchive, region_ids: Iterable[int]) -> list[HubActivity]:
    """The archive's figures for each region it covers."""
    since = archive.last_day - RECENT_DAYS
    result = []
    for region_id in region_ids:
        trading = archive.trading(region_id)
        if not trading:
            continue
        traded_days = 0
        for t in trading:
            series = archive.get(region_id, t.type_id)
            traded_days += sum(
                1
                for i, day in enumerate(series.days)
                if day > since and series.values[i * FIELDS_PER_DAY + VOLUME] > 0
            )
        result.append(
            HubActivity(
                region_id=region_id,
                orders=default_size(trading),
                types=len(trading),
                types_per_day=traded_days / RECENT_DAYS,
                trades_per_day=sum(t.daily_trades for t in trading),
            )
        )
    return result


def _power_fit(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(a, b) of y = a·x^b, least squares in log-log space."""
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    if len(points) < 2 or max(xs) == min(xs):
        return (points[0][1] / points[0][0], 1.0) if points else (1.0, 1.0)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return math.exp(my - b * mx), b


@dataclass(frozen=True)
class Derivation:
    """The constants of the derivation, for the benchmark to print."""

    off_hub_orders_per_station: float
    floor_stations: int
    types_fit: tuple[float, float]  # types traded a day = a · orders^b


def region_sizes_derive(
    *, hubs: Sequence[HubActivity], regions: Sequence[MarketRegion]
) -> tuple[list[RegionSize], Derivation]:
    """Each market region's order and type count (see the module docstring)."""
    if not hubs:
        raise ValueError("the history archive covers no region to derive the sizes from")
    by_id = {r.region_id: r for r in regions}
    per_station = statistics.median(
        h.orders * (1 - AT_HUB) / max(1, by_id[h.region_id].stations - 1)
        for h in hubs
        if h.region_id in by_id
    )
    hub_ids = {h.region_id for h in hubs}
    others = sorted(r.stations for r in regions if r.region_id not in hub_ids and r.stations)
    floor = int(statistics.median(others)) if others else 1
    fit = _power_fit([(h.orders, h.types_per_day) for h in hubs])
    sizes = []
    for region in regions:
        hub = next((h for h in hubs if h.region_id == region.region_id), None)
        if hub is not None:
            sizes.append(
                RegionSize(
                    region.region_id, region.name, hub.orders, hub.types, region.stations, "history"
                )
            )
            continue
        orders = max(1, round(per_station * max(region.stations, floor)))
        types = max(1, min(orders, round(fit[0] * orders ** fit[1])))
        sizes.append(
            RegionSize(region.region_id, region.name, orders, types, region.stations, "stations")
        )
    return sizes, Derivation(per_station, floor, fit)


def structure_locations(system_ids: Iterable[int]) -> list[tuple[int, int]]:
    """One generated player structure per solar system: ``(location id, system id)``."""
    return [(STRUCTURE_ID_BASE + system_id, system_id) for system_id in system_ids]


_borrowed: dict[tuple, list[TypeTrading]] = {}
_pooled: dict[object, list[TypeTrading]] = {}
_lock = threading.Lock()


def trading_pool(archive: HistoryArchive) -> list[TypeTrading]:
    """Every type of the archive, as it trades where it trades most, with its trades summed over
    the regions; most traded first."""
    with _lock:
        pooled = _pooled.get(archive.path)
    if pooled is not None:
        return pooled
    best: dict[int, TypeTrading] = {}
    trades: dict[int, float] = {}
    volume: dict[int, float] = {}
    for region_id in sorted({region for region, _ in archive.series}):
        for t in archive.trading(region_id):
            trades[t.type_id] = trades.get(t.type_id, 0.0) + t.daily_trades
            volume[t.type_id] = volume.get(t.type_id, 0.0) + t.daily_volume
            if t.type_id not in best or t.daily_trades > best[t.type_id].daily_trades:
                best[t.type_id] = t
    pooled = [
        TypeTrading(
            type_id=type_id,
            price=t.price,
            half_spread=t.half_spread,
            daily_volume=volume[type_id],
            daily_trades=trades[type_id],
        )
        for type_id, t in best.items()
    ]
    pooled.sort(key=lambda t: (-t.daily_trades, t.type_id))
    with _lock:
        _pooled[archive.path] = pooled
    return pooled


def trading_borrow(archive: HistoryArchive, *, types: int, orders: int) -> list[TypeTrading]:
    """The trading of a region the archive lacks: the ``types`` most-traded types of the archive's
    regions, scaled to ``orders`` open orders (one per trade a day, as for the hubs)."""
    key = (archive.path, types, orders)
    with _lock:
        cached = _borrowed.get(key)
    if cached is not None:
        return cached
    chosen = trading_pool(archive)[: max(1, types)]
    weight = sum(t.daily_trades + 0.5 for t in chosen)
    # default_size() adds half an order per type: scale only the rest.
    factor = max(0.0, orders - 0.5 * len(chosen)) / max(1e-9, weight - 0.5 * len(chosen))
    borrowed = sorted(
        (
            TypeTrading(
                type_id=t.type_id,
                price=t.price,
                half_spread=t.half_spread,
                daily_volume=t.daily_volume * factor,
                daily_trades=t.daily_trades * factor,
            )
            for t in chosen
        ),
        key=lambda t: t.type_id,
    )
    with _lock:
        _borrowed[key] = borrowed
    return borrowed


def size_table(
    sizes: Sequence[RegionSize],
    stations: Mapping[int, Sequence[tuple[int, int]]],
    *,
    scale: float = 1.0,
) -> dict[str, dict]:
    """The replay's ``regions`` knob for ``sizes`` (orders times ``scale``), with each region's
    locations."""
    return {
        str(s.region_id): {
            "orders": max(1, round(s.orders * scale)),
            "types": s.types,
            "stations": [list(pair) for pair in stations.get(s.region_id, ())],
        }
        for s in sizes
    }
