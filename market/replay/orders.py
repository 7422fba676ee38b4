"""Deterministic order books for the ESI replay, following the real hub history.

A region's book has a fixed number of order *slots* (its size), shared out among the types with
history in proportion to how often each type traded lately (ESI history's ``order_count``), split
into sell and buy slots. Each slot holds one order at a time: the order lives for a slot-specific
number of snapshots and is then replaced by a new order (new id, new price around the type's
price at that time). Everything is a pure function of the region, the size, the history and the
snapshot number (each order's state at snapshot n is computed from its own seeds and its age, no
snapshot from the one before), so the same snapshot is the same bytes every time, any snapshot
can be rendered at once, and consecutive snapshots share most of their orders like the real
market does.

Between consecutive snapshots the book moves like a hub's (what ``market.ingest.liquidity``
infers trades from):

- **fills**: a quarter of the orders (those near the top of the book) trade steadily over their
  life, at a rate set so that a type's book trades about its daily history volume a day
  (``daily_volume`` spread over the day's 288 five-minute snapshots, half on each side);
  most of those are smaller orders that trade out completely before they go (**filled and
  gone**), the others go with units left;
- **reprices**: three in ten orders undercut (sells) or outbid (buys) by one price tick every
  few snapshots, never past the middle of the spread;
- **expiry**: most of the others (13 orders in 20) expire when their slot moves on, as the
  deep orders of a real book do;
- **cancels**: the rest simply go at the end of their life;
- **new orders**: most are issued during the five minutes before they first show, and those
  that trade show up already partly filled.

Prices sit around the latest day's average: sell orders at or above it by half the typical daily
range plus a depth, buy orders below it by the same, so every buy is below every sell. They are
rounded like EVE's four-significant-digit price rule, sell prices up and buy prices down.
"""

from __future__ import annotations

import math
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from market.hubs import HUBS
from market.replay.history import Station, TypeTrading

MASK64 = (1 << 64) - 1
# Order ids: BASE + ((created + CREATED_OFFSET) * regions + region index) * SLOT_SPAN + slot.
# Unique per (region, slot, order generation), growing over time like ESI's ids. Regions other
# than the hubs (the all-regions simulation) count in a range of their own above the hubs':
# OTHER_REGIONS_BASE + ((created + CREATED_OFFSET) * REGION_SPAN + region_id % REGION_SPAN)
# * SLOT_SPAN + slot (every market region's id differs modulo REGION_SPAN).
ORDER_ID_BASE = 6_000_000_000
CREATED_OFFSET = 256
SLOT_SPAN = 1 << 20
OTHER_REGIONS_BASE = 1 << 45
REGION_SPAN = 1 << 12
MAX_ORDERS = SLOT_SPAN
INT32_MAX = 2**31 - 1  # ESI's volumes are int32
HUB_REGION_INDEX = {hub.region_id: i for i, hub in enumerate(HUBS)}
HUB_STATION = {hub.region_id: hub.station_id for hub in HUBS}

SELL_SHARE = 0.55  # of a type's slots; the rest are buy orders
AT_HUB = 0.8  # of orders at the hub station; the others at the region's other stations
MAX_LIFE = 96  # snapshots an order can live before its slot gets a new one
BOOK_DAYS = 1.5  # days of the type's traded volume each side of the book holds
DRIFT = 0.3  # of the half-spread: how far the centre price wanders between orders
FILLING = 0.25  # of the orders: those near the top, which trade over their life …
FILL_SHARE = (0.05, 0.40)  # … this share of their volume (uniform); but most of them …
FILLED_OUT = 0.8  # … are that much smaller and trade out completely before they go
TOP_DEPTH = 0.3  # the filling orders' depth draws are scaled into the top of the book
REPRICING = 0.3  # of the orders: those that undercut / outbid by a tick …
REPRICE_EVERY = 24  # … every 1 to this many snapshots
EXPIRING = 0.65  # of the orders: those that expire as their slot moves on (the rest are cancelled)
FRESH = 0.7  # of the new orders: issued during the five minutes before they first show

DURATIONS_SELL = ((0.65, 90), (0.80, 30), (0.90, 14), (0.95, 7), (0.98, 3), (1.0, 1))
DURATIONS_BUY = ((0.55, 90), (0.75, 30), (0.87, 14), (0.94, 7), (0.98, 3), (1.0, 1))
RANGES_BUY = (
    (0.50, "station"),
    (0.60, "solarsystem"),
    (0.80, "region"),
    (0.84, "1"),
    (0.87, "2"),
    (0.89, "3"),
    (0.91, "4"),
    (0.94, "5"),
    (0.96, "10"),
    (0.98, "20"),
    (0.99, "30"),
    (1.0, "40"),
)


def _mix(x: int) -> int:
    """splitmix64's finaliser: spreads a seed's bits so every 16-bit slice is uniform."""
    x &= MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def _pick(table: Sequence[tuple[float, object]], u: float):
    for limit, value in table:
        if u < limit:
            return value
    return table[-1][1]


def price_round(price: float, *, up: bool) -> float:
    """EVE's tick: four significant digits, and never below 0.01 ISK."""
    if price <= 0.01:
        return 0.01
    tick = max(0.01, 10 ** (math.floor(math.log10(price)) - 3))
    steps = price / tick
    # The epsilon keeps a price that is already on a tick from moving one tick.
    steps = math.ceil(steps - 1e-9) if up else math.floor(steps + 1e-9)
    return float(round(max(1, steps) * tick, 2))


def _tick(price: float) -> float:
    """The price step of EVE's four-significant-digit rule at ``price``."""
    return max(0.01, 10 ** (math.floor(math.log10(price)) - 3)) if price > 0.01 else 0.01


def slots_allocate(weights: Sequence[float], total: int) -> list[int]:
    """Share ``total`` slots out in proportion to ``weights`` (largest remainder, deterministic)."""
    weight_sum = sum(weights)
    if total <= 0 or weight_sum <= 0:
        return [0] * len(weights)
    shares = [w * total / weight_sum for w in weights]
    counts = [int(s) for s in shares]
    left = total - sum(counts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (counts[i] - shares[i], i))
    for i in by_remainder[:left]:
        counts[i] += 1
    return counts


def trading_weight(trading: TypeTrading) -> float:
    # A type that traded at all in the archive keeps a sliver of weight: slow items have orders too.
    return trading.daily_trades + 0.5


def default_size(trading: Sequence[TypeTrading], scale: float = 1.0) -> int:
    """Orders in a region's book at ``scale``: 1.0 is one open order per trade a day (The Forge:
    ~400k)."""
    return min(MAX_ORDERS, round(scale * sum(trading_weight(t) for t in trading)))


@dataclass
class Snapshot:
    """One generated snapshot of a region: an order's JSON per slot, in page order."""

    region_id: int
    number: int
    last_modified: float
    orders: list[bytes]
    type_ids: array  # per order, aligned with ``orders``
    is_buy: bytearray  # per order, 1 for buy orders


class OrderBook:
    """The slots of one region at one size. ``snapshot(n, ...)`` renders snapshot number n."""

    def __init__(
        self,
        *,
        region_id: int,
        trading: Sequence[TypeTrading],
        stations: Sequence[Station],
        size: int,
    ) -> None:
        if size > MAX_ORDERS:
            raise ValueError(f"an order book holds at most {MAX_ORDERS} orders, not {size}")
        self.region_id = region_id
        if region_id in HUB_REGION_INDEX:
            self._id_base, self._id_regions = ORDER_ID_BASE, len(HUB_REGION_INDEX)
            self.region_index = HUB_REGION_INDEX[region_id]
        else:
            self._id_base, self._id_regions = OTHER_REGIONS_BASE, REGION_SPAN
            self.region_index = region_id % REGION_SPAN
        hub_station_id = HUB_STATION.get(region_id)
        self.stations = list(stations) or [Station(hub_station_id or 0, 0)]
        hub = next((s for s in self.stations if s.station_id == hub_station_id), self.stations[0])
        self.hub = hub
        self.trading = list(trading)
        counts = slots_allocate([trading_weight(t) for t in self.trading], size)

        # Slot attributes that never change, in page order: a fixed shuffle mixes the types
        # across pages the way ESI's pages do.
        slots = []
        for type_index, (market, count) in enumerate(zip(self.trading, counts, strict=True)):
            buys = round(count * (1 - SELL_SHARE))
            for k in range(count):
                is_buy = k >= count - buys
                side_count = buys if is_buy else count - buys
                seed = _mix(hash((region_id, market.type_id, k)))
                slots.append(
                    (_mix(seed ^ 0x5851F42D4C957F2D), type_index, is_buy, side_count, seed)
                )
        slots.sort()
        self.size = len(slots)
        self._type_index = array("i", (s[1] for s in slots))
        self.is_buy = bytearray(s[2] for s in slots)
        self._side_count = array("i", (s[3] for s in slots))
        self._seed = [s[4] for s in slots]
        self.type_ids = array("q", (self.trading[i].type_id for i in self._type_index))
        # Snapshot-independent per-type values.
        self._phase = [
            (_mix(hash((region_id, t.type_id, 0x7048415345))) & 0xFFFF) / 65536 * 2 * math.pi
            for t in self.trading
        ]

    def snapshot(self, number: int, *, last_modified: float, period: float) -> Snapshot:
        orders: list[bytes] = []
        append = orders.append
        trading = self.trading
        stations = self.stations
        n_stations = len(stations)
        hub = self.hub
        region_part, id_base, id_regions = self.region_index, self._id_base, self._id_regions
        strftime, gmtime = time.strftime, time.gmtime
        for slot in range(self.size):
            seed = self._seed[slot]
            market = trading[self._type_index[slot]]
            is_buy = self.is_buy[slot]
            life = 1 + seed % MAX_LIFE
            phase = (seed >> 8) % life
            generation = (number + phase) // life
            created = generation * life - phase
            age_steps = number - created  # snapshots since the order first showed
            created_at = last_modified - age_steps * period
            # 64 random bits for this order, and 128 more: 12 uniforms of 16 bits each.
            r1 = _mix(seed + generation * 0x9E3779B97F4A7C15)
            r2 = _mix(r1 ^ 0xD1B54A32D192ED03)
            r3 = _mix(r2 ^ 0x8CB92BA72F3D8DD7)
            u_location = (r1 & 0xFFFF) / 65536
            u_depth = ((r1 >> 16) & 0xFFFF) / 65536
            u_duration = ((r1 >> 32) & 0xFFFF) / 65536
            u_range = ((r1 >> 48) & 0xFFFF) / 65536
            u_volume = (r2 & 0xFFFF) / 65536
            u_fill = ((r2 >> 16) & 0xFFFF) / 65536
            u_age = ((r2 >> 32) & 0xFFFF) / 65536
            u_min = ((r2 >> 48) & 0xFFFF) / 65536
            u_share = (r3 & 0xFFFF) / 65536
            u_step = ((r3 >> 16) & 0xFFFF) / 65536
            u_reprice = ((r3 >> 32) & 0xFFFF) / 65536
            u_fresh = ((r3 >> 48) & 0xFFFF) / 65536

            fills = u_fill < FILLING
            expiring = not fills and u_fill >= 1 - EXPIRING
            if fills:
                u_depth *= TOP_DEPTH  # the orders that trade are those near the top of the book
            station = hub if u_location < AT_HUB else stations[int(u_location * 65536) % n_stations]
            h = market.half_spread
            centre = market.price * (
                1 + DRIFT * h * math.sin(0.21 * created + self._phase[self._type_index[slot]])
            )
            depth = h * -math.log(1 - u_depth * 0.999) * 1.5
            if is_buy:
                price = price_round(centre * (1 - h - min(depth, 0.9 - h)), up=False)
                limit = price_round(centre * (1 - h), up=False)  # reprices stop here
                duration = _pick(DURATIONS_BUY, u_duration)
                order_range = _pick(RANGES_BUY, u_range)
            else:
                price = price_round(centre * (1 + h + min(depth, 2.0)), up=True)
                limit = price_round(centre * (1 + h), up=True)
                duration = _pick(DURATIONS_SELL, u_duration)
                order_range = "region"
            if u_reprice < REPRICING:
                # Undercut (or outbid) by one tick every `every` snapshots, up to the limit.
                every = 1 + int(u_step * REPRICE_EVERY)
                ticks = (age_steps + int(u_age * every)) // every
                tick = _tick(price)
                room = int(abs(price - limit) / tick + 1e-9)
                moved = min(ticks, room) * tick
                price = round(price + moved if is_buy else price - moved, 2)
            book_volume = market.daily_volume * BOOK_DAYS * (0.1 + 1.8 * u_volume)
            volume_total = min(INT32_MAX, max(1, round(book_volume / self._side_count[slot])))
            filled = 0
            if fills:
                low, high = FILL_SHARE
                share = low + (high - low) * u_share
                if u_share < FILLED_OUT:
                    # A smaller order that trades out completely by the end of its life.
                    volume_total = max(1, round(volume_total * share))
                    share = 1.0
                # Units traded by each snapshot of its life (over a life of at least half the
                # longest: short-lived orders would otherwise trade their share in a few
                # snapshots, and the book several days' volume a day); it has traded for one
                # snapshot already when it first shows (issued in the five minutes before).
                per_step = share * volume_total / max(life, MAX_LIFE // 2)
                filled = min(volume_total - 1, int(per_step * (age_steps + 1) + u_fresh))
            volume_remain = volume_total - filled
            min_volume = max(1, volume_total // 10) if is_buy and u_min < 0.05 else 1
            if expiring:
                # Its duration ends between this slot's last snapshot and the next.
                issued_at = created_at + life * period - duration * 86_400 - u_age * (period - 1)
            elif fills or u_fresh < FRESH:
                issued_at = created_at - 1 - u_age * (period - 2)
            else:
                issued_at = created_at - 1 - u_age * min(duration, 30) * 43_200
            order_id = (
                id_base + ((created + CREATED_OFFSET) * id_regions + region_part) * SLOT_SPAN + slot
            )
            issued = strftime("%Y-%m-%dT%H:%M:%SZ", gmtime(issued_at))
            append(
                (
                    f'{{"duration":{duration},"is_buy_order":{"true" if is_buy else "false"},'
                    f'"issued":"{issued}","location_id":{station.station_id},'
                    f'"min_volume":{min_volume},"order_id":{order_id},"price":{price},'
                    f'"range":"{order_range}","system_id":{station.system_id},'
                    f'"type_id":{market.type_id},"volume_remain":{volume_remain},'
                    f'"volume_total":{volume_total}}}'
                ).encode()
            )
        return Snapshot(
            region_id=self.region_id,
            number=number,
            last_modified=last_modified,
            orders=orders,
            type_ids=self.type_ids,
            is_buy=self.is_buy,
        )
