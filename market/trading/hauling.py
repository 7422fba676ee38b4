"""Many types on one trip (``hauling_rows``): one budget and one hold between them, and which
rows to trust.

Shared allocation splits one budget and one hold between types greedily by profit density:
each type's standalone plan is cut into lots (one per matched pair of price levels); lots are
taken best first, where a lot's density is its unit profit divided by the share of the
scarcer resource one unit uses, ``max(unit_cost / budget, unit_m3 / cargo)``. Within a type
density only falls as the walk goes on, so every type gets a prefix of its own plan, which
is then re-planned for exactly that quantity (so ``min_volume`` still holds; money a
re-plan does not spend is left unspent). Independent allocation gives each type the whole
budget and hold, for comparing options one trip at a time.

Trust. A row carries ``flags`` (``market.trading.flags``): at A the ask side it buys from
(``outlier``, ``tiny_order``), at B the side it sells to (instant: the bid side, with
``bait_min_volume`` for the units hauled, ``outlier``, ``tiny_order``; relist: ``outlier`` of
the ask it undercuts), ``outlier`` too when B's price is over five times A's (two markets that
disagree about an item's worth: ``haul_trust.HAUL_PRICE_RATIO_MAX``), ``no_volume`` at B,
``unknown_volume`` when a limited hold cannot count the type, and ``loss``. Only unflagged
types share the trip's budget and hold: a flagged one is planned as if alone (the whole budget
and hold) and stays out of ``trip_profit``, so showing it never changes the trip. A type whose
plan turns out a bait (fewer units than B's best bid asks for) is dropped and the trip shared
once more among the others (they can only get more units, so none becomes a bait).

The destination's absorption (relist). A relist sells no faster than buyers at B take sell
orders: ``station_daily_at_b`` (units a day, from our own snapshots) or, while the station has
not been watched long enough to know, the region's 30-day history (``volume_source`` says
which), times the trader's ``share`` (default 10 %). The units are capped at one day of it,
at least one unit when anything sells there at all, and ``days_to_sell`` is the units over
that daily figure (a slow, dear item shows 1 unit in 3.3 days). Instant sells now: 0 days.

``trip_profit`` is what the whole trip makes: the net profit of every unflagged row of the
shared plan, the same on each row of the trip (None for independent allocation, whose rows
do not add up).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, localcontext
from typing import Any, Literal, NamedTuple

from market.trading.core import (
    _MONEY,
    DEFAULT_MARKET_SHARE,
    ONE,
    ZERO,
    TradingInputError,
    _check_order_by,
    _count,
    _decimal,
    _limit,
    _ratio,
    rows_sort,
)
from market.trading.flags import flags_merge, is_bait_bid, loss_flags
from market.trading.haul_trust import SideTop, haul_trust_flags
from market.trading.walk import (
    HAUL_MODES,
    BookEntry,
    HaulMode,
    HaulPlan,
    _affordable,
    _asks,
    _best_ask,
    _bids,
    _Haul,
    _instant,
    _plan,
    _relist,
    _Step,
)

Allocation = Literal["shared", "independent"]
ALLOCATIONS: tuple[str, ...] = ("shared", "independent")


@dataclass(slots=True)
class HaulCandidate:
    """One type's books for a haul from A to B.

    Instant mode reads ``buy_orders_at_b``, relist mode ``best_ask_at_b``. ``unit_volume`` is the
    packaged volume for ships, None when unknown. ``max_quantity`` caps the units.

    What the flags and the relist cap read (all optional: a bare candidate is planned without
    them): ``ask_at_a`` (A's best ask), ``top_at_b`` (B's side a sale meets: the best bid for
    instant, the best ask for relist), ``station_daily_at_b`` (units a day traded on that side
    at B; None while unknown) and ``region_daily_at_b`` (B's region, 30-day history).
    """

    type_id: int
    unit_volume: Decimal | None
    sell_orders_at_a: Sequence[BookEntry]
    buy_orders_at_b: Sequence[BookEntry] = ()
    best_ask_at_b: Decimal | None = None
    type_name: str = ""
    max_quantity: int | None = None
    ask_at_a: SideTop | None = None
    top_at_b: SideTop | None = None
    station_daily_at_b: Decimal | None = None
    region_daily_at_b: Decimal | None = None
    # Its trust flags when the caller already has them (``haul_trust_flags``), else computed.
    trust: list[str] | None = None


@dataclass(slots=True)
class HaulRow:
    type_id: int
    type_name: str
    quantity: int
    buy_cost: Decimal
    sell_revenue: Decimal
    fees_and_tax: Decimal
    net_profit: Decimal
    roi: Decimal
    volume_m3: Decimal | None  # None: the type's volume is unknown
    jumps: int | None
    profit_per_jump: Decimal | None
    plan: HaulPlan
    unit_volume: Decimal | None = None
    flags: list[str] = field(default_factory=list)
    # Units a day traded at B on the side this mode sells to (None: unknown); for a relist,
    # the units a day the trader sells there at their share, and where that figure came from.
    station_daily_volume: Decimal | None = None
    absorbed_daily: Decimal | None = None
    volume_source: str | None = None
    days_to_sell: Decimal | None = None
    trip_profit: Decimal | None = None


HAULING_COLUMNS: tuple[str, ...] = (
    "type_id",
    "type_name",
    "quantity",
    "buy_cost",
    "sell_revenue",
    "fees_and_tax",
    "net_profit",
    "roi",
    "volume_m3",
    "jumps",
    "profit_per_jump",
    "trip_profit",
    "days_to_sell",
    "station_daily_volume",
)


class Absorption(NamedTuple):
    """What B absorbs of a relist: units a day at the trader's share, and from which figure
    ("station": our snapshots of B; "region": the region's 30-day history, while the station is
    not known yet). ``daily`` is None when neither is known."""

    daily: Decimal | None
    source: str | None


def relist_absorption(
    *, station_daily: Decimal | None, region_daily: Decimal | None, share: Decimal
) -> Absorption:
    """E.g. 40 units a day bought from sell orders at B at a 10 % share: 4 a day."""
    if station_daily is not None:
        return Absorption(station_daily * share, "station")
    if region_daily is not None:
        return Absorption(region_daily * share, "region")
    return Absorption(None, None)


def relist_cap(absorbed_daily: Decimal | None) -> int | None:
    """One day of what B absorbs, in whole units; at least one unit when anything sells there
    (the row's days to sell then tells how slow it is). None: no cap known."""
    if absorbed_daily is None:
        return None
    if absorbed_daily <= 0:
        return 0
    return max(1, int(absorbed_daily))


def _share(value: Any) -> Decimal:
    share = _decimal(value, param="share")
    if not ZERO < share <= ONE:
        raise TradingInputError(
            "share", f"must be a fraction above 0 and at most 1 (0.10 is 10 %), got {value}"
        )
    return share


@dataclass(slots=True)
class _Prepared:
    """One candidate, checked: its haul (limits, volume, cap), books, and what its flags and its
    days to sell read before any plan."""

    candidate: HaulCandidate
    haul: _Haul
    asks: Any
    other: Any
    absorption: Absorption
    trust: list[str]  # the flags no plan changes (prices, volumes): such a type is not shared


def _row(
    item: _Prepared, plan: HaulPlan, jumps: int | None, mode: str, flags: list[str]
) -> HaulRow:
    candidate, profit = item.candidate, plan.net_profit
    daily = item.absorption.daily
    if mode == "instant":
        days = ZERO  # sold into B's buy orders on arrival
    elif daily:
        days = _ratio(Decimal(plan.quantity), daily)
    else:
        days = None
    return HaulRow(
        type_id=candidate.type_id,
        type_name=candidate.type_name,
        quantity=plan.quantity,
        buy_cost=plan.buy_cost,
        sell_revenue=plan.sell_revenue,
        fees_and_tax=plan.fees_and_tax,
        net_profit=profit,
        roi=plan.roi,
        volume_m3=None if candidate.unit_volume is None else plan.volume_m3,
        jumps=jumps,
        profit_per_jump=_ratio(profit, Decimal(jumps)) if jumps else None,
        plan=plan,
        unit_volume=candidate.unit_volume,
        flags=flags,
        station_daily_volume=candidate.station_daily_at_b,
        absorbed_daily=daily if mode == "relist" else None,
        volume_source=item.absorption.source if mode == "relist" else None,
        days_to_sell=days,
    )


def hauling_rows(
    *,
    candidates: Iterable[HaulCandidate],
    mode: HaulMode,
    budget: Decimal | None,
    cargo_m3: Decimal | None,
    sales_tax: Decimal,
    broker_fee: Decimal,
    jumps: int | None,
    allocation: Allocation = "shared",
    order_by: str = "-net_profit",
    share: Decimal = DEFAULT_MARKET_SHARE,
) -> list[HaulRow]:
    """Rows for every type worth hauling from A to B, flagged or not (see the module docstring
    for the policy); the caller decides which to show.

    ``jumps`` is the route's length (None when unreachable); profit per jump is None for a
    0-jump or unknown route. ``share`` is the trader's share of what B absorbs (relist).
    """
    if mode not in HAUL_MODES:
        raise TradingInputError("mode", f"must be one of {', '.join(HAUL_MODES)}, got {mode!r}")
    if allocation not in ALLOCATIONS:
        raise TradingInputError(
            "allocation", f"must be one of {', '.join(ALLOCATIONS)}, got {allocation!r}"
        )
    jumps = _count(jumps, param="jumps")
    share = _share(share)
    _check_order_by(order_by, HAULING_COLUMNS)
    common = _Haul.parse(
        budget=budget,
        cargo_m3=cargo_m3,
        unit_volume=ZERO,
        sales_tax=sales_tax,
        broker_fee=broker_fee,
        max_quantity=None,
    )
    if mode == "instant":
        # Taking orders on both ends places none: no broker fee, whatever the profile says.
        common = replace(common, broker_fee=ZERO)

    prepared: list[_Prepared] = []
    for candidate in candidates:
        try:
            item = _prepare(candidate, common, mode, share)
        except TradingInputError as error:
            raise TradingInputError(
                error.param, f"type {candidate.type_id}: {error.message}"
            ) from None
        prepared.append(item)

    def walk(haul: _Haul, asks, other) -> list[_Step]:
        return _instant(haul, asks, other) if mode == "instant" else _relist(haul, asks, other)

    def plan_flags(item: _Prepared, plan: HaulPlan) -> list[str]:
        bait = (
            ["bait_min_volume"]
            if mode == "instant"
            and item.candidate.top_at_b is not None
            and is_bait_bid(min_volume=item.candidate.top_at_b.min_volume, quantity=plan.quantity)
            else []
        )
        return flags_merge(item.trust, bait, loss_flags(plan.net_profit))

    rows: list[HaulRow] = []
    with localcontext(_MONEY):
        standalone = [walk(item.haul, item.asks, item.other) for item in prepared]
        final: list[list[_Step]] = list(standalone)
        plans: list[HaulPlan | None] = [None] * len(prepared)
        flags: list[list[str]] = [[] for _ in prepared]

        def settle(i: int) -> None:
            plans[i] = _plan(mode, final[i], prepared[i].haul)
            flags[i] = plan_flags(prepared[i], plans[i]) if plans[i] else []

        shared: list[int] = []
        if allocation == "shared" and (common.budget is not None or common.cargo is not None):
            # Only the types nothing is wrong with share the trip; a plan that turns out a bait
            # drops its type and the trip is shared again (the others then get as many units or
            # more, so this settles at once; a second bait would just stay out).
            shared = [i for i, item in enumerate(prepared) if not item.trust and standalone[i]]
            for _ in range(2):
                _share_trip(prepared, standalone, shared, final, walk=walk, common=common)
                for i in shared:
                    settle(i)
                baits = {i for i in shared if flags[i]}
                if not baits:
                    break
                shared = [i for i in shared if i not in baits]
        in_trip = set(shared)
        for i in range(len(prepared)):
            if i not in in_trip:  # out of the trip (or no limits to share): planned as if alone
                final[i] = standalone[i]
                settle(i)
        for item, plan, found in zip(prepared, plans, flags, strict=True):
            if plan is not None:
                rows.append(_row(item, plan, jumps, mode, found))
        if allocation == "shared":
            trip = sum((row.net_profit for row in rows if not row.flags), ZERO)
            for row in rows:
                row.trip_profit = trip
    return rows_sort(rows, order_by=order_by, columns=HAULING_COLUMNS)


def _share_trip(
    prepared: Sequence[_Prepared],
    standalone: Sequence[list[_Step]],
    shared: Sequence[int],
    final: list[list[_Step]],
    *,
    walk: Any,
    common: _Haul,
) -> None:
    """Split the trip's budget and hold between the ``shared`` types (``final`` gets their walks)."""
    quantities = _allocate(
        [prepared[i] for i in shared],
        [standalone[i] for i in shared],
        budget=common.budget,
        cargo=common.cargo,
    )
    for i, quantity in zip(shared, quantities, strict=True):
        steps, item = standalone[i], prepared[i]
        if quantity == sum(step.quantity for step in steps):
            final[i] = steps
        elif quantity:
            # Re-plan for exactly the allotted units so min_volume still holds.
            final[i] = walk(replace(item.haul, max_quantity=quantity), item.asks, item.other)
        else:
            final[i] = []


def _prepare(candidate: HaulCandidate, common: _Haul, mode: str, share: Decimal) -> _Prepared:
    unit_volume = _limit(candidate.unit_volume, param="unit_volume")
    max_quantity = _count(candidate.max_quantity, param="max_quantity")
    absorption = Absorption(None, None)
    if mode == "relist":
        absorption = relist_absorption(
            station_daily=candidate.station_daily_at_b,
            region_daily=candidate.region_daily_at_b,
            share=share,
        )
        cap = relist_cap(absorption.daily)
        if cap is not None and (max_quantity is None or cap < max_quantity):
            max_quantity = cap
    # Unknown volume: the hold cannot count it (a limited hold flags it and plans it as if
    # alone). Built field by field: a trip has thousands of candidates.
    haul = _Haul(
        common.budget,
        common.cargo,
        ZERO if unit_volume is None else unit_volume,
        common.sales_tax,
        common.broker_fee,
        max_quantity,
    )
    trust = candidate.trust
    if trust is None:
        trust = haul_trust_flags(
            mode=mode,
            ask_at_a=candidate.ask_at_a,
            top_at_b=candidate.top_at_b,
            station_daily_at_b=candidate.station_daily_at_b,
            region_daily_at_b=candidate.region_daily_at_b,
            volume_known=candidate.unit_volume is not None,
            hold_limited=common.cargo is not None,
        )
    asks = _asks(candidate.sell_orders_at_a, param="sell_orders_at_a")
    if mode == "instant":
        other = _bids(candidate.buy_orders_at_b, param="buy_orders_at_b")
    else:
        other = _best_ask(candidate.best_ask_at_b, param="best_ask_at_b")
    return _Prepared(candidate, haul, asks, other, absorption, trust)


def _allocate(
    prepared: Sequence[_Prepared],
    standalone: Sequence[Sequence[_Step]],
    *,
    budget: Decimal | None,
    cargo: Decimal | None,
) -> list[int]:
    """Units per type when lots are taken best density first from one budget and one hold."""
    # Floats only rank the lots (float rounding is monotonic, so a type's lots keep their order);
    # what each lot takes from the budget and the hold is counted in exact decimals below.
    budget_float = float(budget) if budget else 0.0
    cargo_float = float(cargo) if cargo else 0.0
    lots = []
    for position, (item, steps) in enumerate(zip(prepared, standalone, strict=True)):
        volume = float(item.haul.unit_volume)
        volume_share = volume / cargo_float if cargo_float else 0.0
        for order, step in enumerate(steps):
            price = float(step.ask_price)
            share = price / budget_float if budget_float else 0.0
            if volume_share > share:
                share = volume_share
            profit = float(step.unit_profit)
            density = -profit / share if share else -math.inf
            lots.append((density, -profit, position, order, price, volume))
    lots.sort()
    cheapest = min((steps[0].ask_price for steps in standalone if steps), default=None)
    volumes = [item.haul.unit_volume for item in prepared]
    smallest = min(volumes, default=None)
    quantities = [0] * len(prepared)
    budget_left, cargo_left = budget, cargo
    # Float shadows of what is left skip, without decimal work, the many lots of a full hold's
    # tail that cannot take one more unit; a close call goes the exact way.
    budget_room = math.inf if budget is None else float(budget) * (1 + 1e-9)
    cargo_room = math.inf if cargo is None else float(cargo) * (1 + 1e-9)
    for _, _, position, order, price, volume in lots:
        if price > budget_room or volume > cargo_room:
            continue
        if (budget_left is not None and cheapest is not None and budget_left < cheapest) or (
            cargo_left is not None and smallest and cargo_left < smallest
        ):
            break  # nothing left fits
        step = standalone[position][order]
        unit_volume = volumes[position]
        units_left = (
            int(cargo_left // unit_volume) if cargo_left is not None and unit_volume > 0 else None
        )
        taken = _affordable(budget_left, units_left, step.ask_price, step.quantity)
        if taken <= 0:
            continue
        quantities[position] += taken
        if budget_left is not None:
            budget_left -= step.ask_price * taken
            budget_room = float(budget_left) * (1 + 1e-9)
        if cargo_left is not None:
            cargo_left -= unit_volume * taken
            cargo_room = float(cargo_left) * (1 + 1e-9)
    return quantities
