"""Which hauling rows to trust: the flags no plan changes (``haul_trust_flags``), and whether a
flagged type's walk would make a row at all, told by its first unit (``haul_row_unwalked``), so a
view that hides flagged rows counts them without walking their books. Pure, like the rest of
``market.trading``.

Each rule comes twice: for one type on Decimals, and for all the types of a trip at once on
arrays of whole cents (``haul_trust_masks``, ``haul_rows_unwalked``), which a trip of a thousand
types needs to stay fast. The array versions compare exactly where it can matter (integers of
cents; products of integers below 2**53 are exact in floats) and hand every close call to the
Decimal version, so both always agree (``test_hauling_trust`` checks it on random books).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import cache

import numpy as np

from market.trading.core import ONE, ZERO, price_undercut
from market.trading.flags import (
    FLAG_LABELS,
    RULES,
    FlagRules,
    flags_merge,
    has_no_volume,
    side_flags,
)
from market.trading.walk import _units_cap

# No one item is worth five times as much at one hub as at another: a haul whose sale price is
# over this many times its purchase price (depth prices where known) reads two markets that
# disagree, one of them an outlier (a lone order far from the item's worth). The flags on
# each side miss it when the odd order is alone on its side, e.g. a module asked at
# 10,040 ISK at Rens, bid 369,500,000 at Jita: 3,385,756 % ROI.
HAUL_PRICE_RATIO_MAX = Decimal(5)


@dataclass(frozen=True, slots=True)
class SideTop:
    """The best price of one side of one station's book, as the flags read it: the units on
    offer at it, the side's depth price and (bids) the smallest ``min_volume`` at it."""

    best: Decimal | None
    units_at_best: int = 0
    depth: Decimal | None = None
    min_volume: int = 1


def haul_trust_flags(
    *,
    mode: str,
    ask_at_a: SideTop | None,
    top_at_b: SideTop | None,
    station_daily_at_b: Decimal | None,
    region_daily_at_b: Decimal | None,
    volume_known: bool,
    hold_limited: bool,
) -> list[str]:
    """The flags that no plan changes: the prices at both ends (see ``HaulCandidate``), the
    two ends against each other (``outlier`` above ``HAUL_PRICE_RATIO_MAX``), B's volume, and
    an unknown unit volume when the trip's hold is limited."""
    found: list[str] = []
    if ask_at_a is not None:
        found += side_flags(
            best=ask_at_a.best, units_at_best=ask_at_a.units_at_best, depth=ask_at_a.depth
        )
    if top_at_b is not None:
        at_b = side_flags(
            best=top_at_b.best, units_at_best=top_at_b.units_at_best, depth=top_at_b.depth
        )
        # A relist does not trade with B's best ask, only prices under it: only an outlier
        # there misleads the plan (a small order at it is just a competitor).
        found += at_b if mode == "instant" else [f for f in at_b if f == "outlier"]
    if ask_at_a is not None and top_at_b is not None:
        bought = ask_at_a.depth or ask_at_a.best
        sold = top_at_b.depth or top_at_b.best
        if bought and sold and sold > HAUL_PRICE_RATIO_MAX * bought:
            found.append("outlier")
    if region_daily_at_b is not None and has_no_volume(
        station_daily_units=station_daily_at_b, region_daily_volume=region_daily_at_b
    ):
        found.append("no_volume")
    if hold_limited and not volume_known:
        found.append("unknown_volume")
    return flags_merge(found) if found else found


def haul_row_unwalked(
    *,
    mode: str,
    first_ask: Decimal,
    first_bid: tuple[Decimal, int] | None,
    bid_min_volume: int,
    best_ask_at_b: Decimal | None,
    budget: Decimal | None,
    cargo_m3: Decimal | None,
    unit_volume: Decimal | None,
    max_quantity: int | None,
    sales_tax: Decimal,
    broker_fee: Decimal,
) -> bool | None:
    """Whether a type's walk alone (the whole budget and hold) would make a row, when its first
    unit tells: A's cheapest ask (``first_ask``) against B's best bid (its price and the units
    a sale into it must bring; instant) or one tick under B's best ask (relist), the budget,
    the hold and ``max_quantity``. None when only the walk can tell (B's best bid wants several
    units). Such a row's flags are its trust flags: its plan earns on every unit (no ``loss``)
    and B's best bid takes one unit (no ``bait_min_volume``). A view that hides flagged rows
    counts a flagged type by this instead of walking its books."""
    if mode == "instant":
        if first_bid is None:
            return False
        if first_bid[1] > 1 or bid_min_volume > 1:
            return None
        sale = first_bid[0] * (ONE - sales_tax)
    else:
        relist_price = None if best_ask_at_b is None else price_undercut(best_ask_at_b)
        if relist_price is None:
            return False
        sale = relist_price * (ONE - sales_tax - broker_fee)
    cap = _units_cap(cargo=cargo_m3, unit_volume=unit_volume or ZERO, max_quantity=max_quantity)
    return first_ask < sale and (budget is None or budget >= first_ask) and cap != 0


# --- the same rules over arrays -----------------------------------------------------------------

# One bit per code, in FLAG_LABELS order: a type's flags as one small integer.
_BITS = {code: 1 << n for n, code in enumerate(FLAG_LABELS)}


@cache
def mask_flags(mask: int) -> list[str]:
    """The codes of a mask, in FLAG_LABELS order (shared lists: never change one)."""
    return [code for code, bit in _BITS.items() if mask & bit]


@dataclass(frozen=True)
class SideTops:
    """One side's best price of many types, as arrays: the best price and the depth price in
    cents (NaN: none), and the units at the best price."""

    best: np.ndarray
    units: np.ndarray
    depth: np.ndarray


def _side_masks(side: SideTops, rules: FlagRules) -> np.ndarray:
    """``side_flags`` for every type: ``outlier`` and ``tiny_order`` bits."""
    has = ~np.isnan(side.best)
    best = np.where(has, side.best, 0.0)
    depth = np.where(np.isnan(side.depth), 0.0, side.depth)
    gap = Fraction(rules.outlier_gap)
    # |best - depth| > gap * depth, in whole cents: |b - d| * q > p * d, exact below 2**53.
    outlier = (
        has
        & (side.units <= rules.outlier_max_units)
        & (depth > 0)
        & (np.abs(best - depth) * gap.denominator > gap.numerator * depth)
    )
    tiny = has & (best * side.units < float(rules.isk_floor * 100))
    return np.where(outlier, _BITS["outlier"], 0) | np.where(tiny, _BITS["tiny_order"], 0)


def haul_trust_masks(
    *,
    mode: str,
    ask_at_a: SideTops,
    top_at_b: SideTops,
    station_daily_at_b: np.ndarray,
    region_daily_at_b: np.ndarray,
    volume_known: np.ndarray,
    hold_limited: bool,
    rules: FlagRules = RULES,
) -> np.ndarray:
    """``haul_trust_flags`` for every type of a trip, as masks (``mask_flags`` reads them).
    ``station_daily_at_b`` is NaN where unknown."""
    mask = _side_masks(ask_at_a, rules)
    at_b = _side_masks(top_at_b, rules)
    mask |= at_b if mode == "instant" else at_b & _BITS["outlier"]
    # A depth price stands for its side where there is one (as ``depth or best`` does).
    bought = np.where(
        np.isnan(ask_at_a.depth) | (ask_at_a.depth <= 0), ask_at_a.best, ask_at_a.depth
    )
    sold = np.where(np.isnan(top_at_b.depth) | (top_at_b.depth <= 0), top_at_b.best, top_at_b.depth)
    ratio = Fraction(HAUL_PRICE_RATIO_MAX)
    with np.errstate(invalid="ignore"):
        odd = (bought > 0) & (sold * ratio.denominator > ratio.numerator * bought)
    mask |= np.where(odd, _BITS["outlier"], 0)
    station = np.where(np.isnan(station_daily_at_b), 0.0, station_daily_at_b)
    quiet = (station == 0) & (region_daily_at_b == 0)
    mask |= np.where(quiet, _BITS["no_volume"], 0)
    if hold_limited:
        mask |= np.where(volume_known, 0, _BITS["unknown_volume"])
    return mask


def haul_rows_unwalked(
    *,
    mode: str,
    first_ask: np.ndarray,
    best_at_b: np.ndarray,
    first_bid_least: np.ndarray | None,
    bid_min_volume: np.ndarray | None,
    budget: Decimal | None,
    cargo_m3: Decimal | None,
    unit_volume: np.ndarray,
    max_quantity: np.ndarray | None,
    sales_tax: Decimal,
    broker_fee: Decimal,
) -> np.ndarray:
    """``haul_row_unwalked`` for every type of a trip: 1 (a row), 0 (no row), -1 (only the walk
    can tell). Prices in cents (``best_at_b``: B's best bid for instant, its best ask for
    relist; NaN: none), ``unit_volume`` NaN where unknown, ``max_quantity`` -1 where there is
    no cap. A close call is decided by ``haul_row_unwalked`` itself."""
    missing = np.isnan(best_at_b)
    best = np.where(missing, 0.0, best_at_b)
    if mode == "instant":
        keep = float(ONE - sales_tax)
        low = high = best * keep
    else:
        # One tick under the best ask lies in [ask - tick, ask), the tick being its fourth
        # significant digit (at least a cent): ten ticks under is surely below it.
        keep = float(ONE - sales_tax - broker_fee)
        with np.errstate(divide="ignore"):
            ten_ticks = np.maximum(10.0 ** (np.floor(np.log10(np.maximum(best, 1.0))) - 2), 1.0)
        low, high = (best - ten_ticks) * keep, best * keep
    pays = first_ask < low * (1 - 1e-9)
    unsure = ~pays & (first_ask < high * (1 + 1e-9))
    answer = pays.astype(np.int8)
    if budget is not None:
        cents = float(budget * 100)
        answer[first_ask > cents] = 0
        unsure |= np.abs(first_ask - cents) <= cents * 1e-12
    if max_quantity is not None:
        answer[max_quantity == 0] = 0
    if cargo_m3 is not None:
        room = float(cargo_m3)
        known = ~np.isnan(unit_volume)
        answer[known & (unit_volume > room)] = 0
        unsure |= known & (np.abs(unit_volume - room) <= room * 1e-12)
    answer[missing] = 0
    unsure &= ~missing
    if mode == "instant":
        walk = ~missing & ((first_bid_least > 1) | (bid_min_volume > 1))
        answer[walk] = -1
        unsure &= ~walk
    for i in np.flatnonzero(unsure).tolist():
        price_b = Decimal(int(best_at_b[i])).scaleb(-2)
        told = haul_row_unwalked(
            mode=mode,
            first_ask=Decimal(int(first_ask[i])).scaleb(-2),
            first_bid=(price_b, int(first_bid_least[i])) if mode == "instant" else None,
            bid_min_volume=int(bid_min_volume[i]) if mode == "instant" else 1,
            best_ask_at_b=price_b if mode != "instant" else None,
            budget=budget,
            cargo_m3=cargo_m3,
            unit_volume=None if np.isnan(unit_volume[i]) else Decimal(repr(float(unit_volume[i]))),
            max_quantity=None
            if max_quantity is None or max_quantity[i] < 0
            else int(max_quantity[i]),
            sales_tax=sales_tax,
            broker_fee=broker_fee,
        )
        answer[i] = -1 if told is None else int(told)
    return answer
