"""Many types on one trip (``hauling_rows``): one budget and one hold between them.

Shared allocation splits one budget and one hold between types greedily by profit density:
each type's standalone plan is cut into lots (one per matched pair of price levels); lots are
taken best first, where a lot's density is its unit profit divided by the share of the
scarcer resource one unit uses, ``max(unit_cost / budget, unit_m3 / cargo)``. Within a type
density only falls as the walk goes on, so every type gets a prefix of its own plan, which
is then re-planned for exactly that quantity (so ``min_volume`` still holds; money a
re-plan does not spend is left unspent). Independent allocation gives each type the whole
budget and hold, for comparing options one trip at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext
from typing import Any, Literal

from market.trading.core import (
    _MONEY,
    ZERO,
    TradingInputError,
    _check_order_by,
    _count,
    _limit,
    _ratio,
    rows_sort,
)
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
    packaged volume for ships. ``max_quantity`` caps the units (e.g. B's daily volume).
    """

    type_id: int
    unit_volume: Decimal
    sell_orders_at_a: Sequence[BookEntry]
    buy_orders_at_b: Sequence[BookEntry] = ()
    best_ask_at_b: Decimal | None = None
    type_name: str = ""
    max_quantity: int | None = None


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
    volume_m3: Decimal
    jumps: int | None
    profit_per_jump: Decimal | None
    plan: HaulPlan


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
)


def _row(candidate: HaulCandidate, plan: HaulPlan, jumps: int | None) -> HaulRow:
    profit = plan.net_profit
    return HaulRow(
        type_id=candidate.type_id,
        type_name=candidate.type_name,
        quantity=plan.quantity,
        buy_cost=plan.buy_cost,
        sell_revenue=plan.sell_revenue,
        fees_and_tax=plan.fees_and_tax,
        net_profit=profit,
        roi=plan.roi,
        volume_m3=plan.volume_m3,
        jumps=jumps,
        profit_per_jump=_ratio(profit, Decimal(jumps)) if jumps else None,
        plan=plan,
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
) -> list[HaulRow]:
    """Rows for every type worth hauling from A to B (see the module docstring for the policy).

    ``jumps`` is the route's length (None when unreachable); profit per jump is None for a
    0-jump or unknown route.
    """
    if mode not in HAUL_MODES:
        raise TradingInputError("mode", f"must be one of {', '.join(HAUL_MODES)}, got {mode!r}")
    if allocation not in ALLOCATIONS:
        raise TradingInputError(
            "allocation", f"must be one of {', '.join(ALLOCATIONS)}, got {allocation!r}"
        )
    jumps = _count(jumps, param="jumps")
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

    prepared = []
    for candidate in candidates:
        try:
            prepared.append(_prepare(candidate, common, mode))
        except TradingInputError as error:
            raise TradingInputError(
                error.param, f"type {candidate.type_id}: {error.message}"
            ) from None

    def walk(haul: _Haul, asks, other) -> list[_Step]:
        return _instant(haul, asks, other) if mode == "instant" else _relist(haul, asks, other)

    rows: list[HaulRow] = []
    with localcontext(_MONEY):
        standalone = [walk(haul, asks, other) for _, haul, asks, other in prepared]
        if allocation == "shared" and (common.budget is not None or common.cargo is not None):
            quantities = _allocate(prepared, standalone, budget=common.budget, cargo=common.cargo)
            final = []
            for (_, haul, asks, other), steps, quantity in zip(
                prepared, standalone, quantities, strict=True
            ):
                if quantity == sum(step.quantity for step in steps):
                    final.append(steps)
                elif quantity:
                    # Re-plan for exactly the allotted units so min_volume still holds.
                    final.append(walk(replace(haul, max_quantity=quantity), asks, other))
                else:
                    final.append([])
        else:
            final = standalone
        for (candidate, haul, _, _), steps in zip(prepared, final, strict=True):
            plan = _plan(mode, steps, haul)
            if plan is not None:
                rows.append(_row(candidate, plan, jumps))
    return rows_sort(rows, order_by=order_by, columns=HAULING_COLUMNS)


def _prepare(candidate: HaulCandidate, common: _Haul, mode: str) -> tuple:
    unit_volume = _limit(candidate.unit_volume, param="unit_volume")
    if unit_volume is None:
        raise TradingInputError("unit_volume", "is required (m3 per unit, packaged for ships)")
    haul = replace(
        common,
        unit_volume=unit_volume,
        max_quantity=_count(candidate.max_quantity, param="max_quantity"),
    )
    asks = _asks(candidate.sell_orders_at_a, param="sell_orders_at_a")
    if mode == "instant":
        return candidate, haul, asks, _bids(candidate.buy_orders_at_b, param="buy_orders_at_b")
    return candidate, haul, asks, _best_ask(candidate.best_ask_at_b, param="best_ask_at_b")


def _allocate(
    prepared: Sequence[tuple[HaulCandidate, _Haul, Any, Any]],
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
    for position, ((_, haul, _, _), steps) in enumerate(zip(prepared, standalone, strict=True)):
        volume_share = float(haul.unit_volume) / cargo_float if cargo_float else 0.0
        for order, step in enumerate(steps):
            share = float(step.ask_price) / budget_float if budget_float else 0.0
            if volume_share > share:
                share = volume_share
            profit = float(step.unit_profit)
            lots.append((-profit / share if share else -math.inf, -profit, position, order))
    lots.sort()
    cheapest = min((steps[0].ask_price for steps in standalone if steps), default=None)
    volumes = [haul.unit_volume for _, haul, _, _ in prepared]
    smallest = min(volumes, default=None)
    quantities = [0] * len(prepared)
    budget_left, cargo_left = budget, cargo
    for _, _, position, order in lots:
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
        if cargo_left is not None:
            cargo_left -= unit_volume * taken
    return quantities
