"""Why a row's prices should not be trusted: short reason codes, from plain book-top figures.

The default views (station trading, hauling, the API without ``include_flagged``) leave flagged
rows out and say how many for each reason; every row carries its codes. The rules, each about
the best price of one side of one station's book:

- ``bait_min_volume``: every buy order at the best bid asks for more units than the trader
  would sell (its ``min_volume``): that bid cannot be sold into. E.g. a bid of 5.00 M with
  min_volume 1,000 when the trader sells 40 a day.
- ``outlier``: the best price is carried by at most ``outlier_max_units`` unit(s) and lies more
  than ``outlier_gap`` (25 %) from the side's depth price (the volume-weighted average of its
  best 5 % of units). E.g. one unit asked at 1.00 ISK where the depth ask is 1.20 M.
- ``tiny_order``: what is on offer at the best price is worth less than ``isk_floor``
  (10,000 ISK), e.g. 3 units at 99 ISK.
- ``no_volume``: nothing was seen trading at the station (or it has not been watched long
  enough to know) and the region's history has no volume either.
- ``unknown_volume`` (hauling): the type's volume in a hold is not known, so a cargo-limited
  plan cannot count it; it is left out of the trip and says why, instead of taking 0 m³.
- ``loss``: the row loses money after fees and taxes. Not about a bait, but never shown by
  default either.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from market.trading.core import ZERO

FLAG_LABELS: dict[str, str] = {
    "no_volume": "no volume",
    "bait_min_volume": "bait order",
    "outlier": "outlier price",
    "tiny_order": "tiny order",
    "unknown_volume": "volume unknown",
    "loss": "loses money",
}


@dataclass(frozen=True, slots=True)
class FlagRules:
    outlier_gap: Decimal = Decimal("0.25")
    outlier_max_units: int = 1
    isk_floor: Decimal = Decimal(10_000)


RULES = FlagRules()


def side_flags(
    *,
    best: Decimal | None,
    units_at_best: int,
    depth: Decimal | None,
    rules: FlagRules = RULES,
) -> list[str]:
    """``outlier`` and ``tiny_order`` for one side's best price (nothing for an empty side)."""
    if best is None:
        return []
    flags = []
    if (
        units_at_best <= rules.outlier_max_units
        and depth is not None
        and depth > 0
        and abs(best - depth) > rules.outlier_gap * depth
    ):
        flags.append("outlier")
    if best * units_at_best < rules.isk_floor:
        flags.append("tiny_order")
    return flags


def is_bait_bid(*, min_volume: int, quantity: Decimal | int) -> bool:
    """Every buy order at the best bid wants more units than the trader would sell."""
    return min_volume > 1 and min_volume > max(quantity, 1)


def has_no_volume(*, station_daily_units: Decimal | None, region_daily_volume: Decimal) -> bool:
    """Nothing seen trading at the station and no volume in the region's history."""
    return not station_daily_units and not region_daily_volume


def flags_merge(*groups: Iterable[str]) -> list[str]:
    """The codes of several checks, each once, in FLAG_LABELS order."""
    found = {code for group in groups for code in group}
    return [code for code in FLAG_LABELS if code in found]


def loss_flags(profit: Decimal) -> list[str]:
    return ["loss"] if profit <= ZERO else []


# What each code means, for a badge's title: the rule, with RULES' figures.
FLAG_RULES: dict[str, str] = {
    "no_volume": (
        "Nothing was seen trading at the station, or it has not been watched long enough to "
        "know, and the region's 30-day history has no volume either: what it earns a day is "
        "unknown."
    ),
    "bait_min_volume": (
        "Every buy order at the best bid asks for a minimum quantity above what you would trade "
        "a day: that bid cannot be sold into (the min-volume bait)."
    ),
    "outlier": (
        f"The best bid or ask is carried by {RULES.outlier_max_units} unit and lies more than "
        f"{RULES.outlier_gap:.0%} from the price of the best 5 % of that side's units."
    ),
    "tiny_order": (
        f"What is on offer at the best bid or ask is worth less than {RULES.isk_floor:,.0f} ISK."
    ),
    "unknown_volume": (
        "How much room one unit takes in a hold is not known yet, so a cargo-limited trip "
        "cannot count it (it is never taken as 0 m³)."
    ),
    "loss": "After the broker fee on both orders and the sales tax, every unit loses money.",
}
NO_FLAGS: tuple[str, ...] = ()


def station_flags(
    *,
    best_bid: Decimal,
    best_ask: Decimal,
    bid_units: int | None,
    ask_units: int | None,
    depth_bid: Decimal | None,
    depth_ask: Decimal | None,
    bid_min_volume: int,
    quantity: Decimal,
    station_daily_units: Decimal | None,
    region_daily_volume: Decimal,
    profit: Decimal,
    rules: FlagRules = RULES,
) -> tuple[str, ...]:
    """Every code of one station-trading row, in FLAG_LABELS order; ``NO_FLAGS`` for a clean
    row. The same rules as ``side_flags`` (each side; a side whose units at the best price are
    unknown, None, is not judged), ``is_bait_bid`` (with ``quantity``, the units the trader
    would trade a day), ``has_no_volume`` and ``loss_flags``, written out because a hub prices
    ~20,000 rows at once and most are clean."""
    no_volume = not station_daily_units and not region_daily_volume
    # is_bait_bid: a min_volume above 1 is above max(quantity, 1) when it is above quantity.
    bait = bid_min_volume > 1 and bid_min_volume > quantity
    gap, most, floor = rules.outlier_gap, rules.outlier_max_units, rules.isk_floor
    outlier = tiny = False
    if bid_units is not None:
        if bid_units <= most and depth_bid and abs(best_bid - depth_bid) > gap * depth_bid:
            outlier = True
        if best_bid * bid_units < floor:
            tiny = True
    if ask_units is not None:
        if ask_units <= most and depth_ask and abs(best_ask - depth_ask) > gap * depth_ask:
            outlier = True
        if best_ask * ask_units < floor:
            tiny = True
    loss = profit <= ZERO
    if not (no_volume or bait or outlier or tiny or loss):
        return NO_FLAGS
    codes = []
    if no_volume:
        codes.append("no_volume")
    if bait:
        codes.append("bait_min_volume")
    if outlier:
        codes.append("outlier")
    if tiny:
        codes.append("tiny_order")
    if loss:
        codes.append("loss")
    return tuple(codes)


def hidden_summary(flag_lists: Iterable[list[str]]) -> list[tuple[str, str, int]]:
    """(code, label, rows) per reason among the hidden rows, most common first; a row with two
    reasons counts under each. E.g. [("no_volume", "no volume", 97), ("bait_min_volume",
    "bait order", 35)]."""
    counts = Counter(code for flags in flag_lists for code in flags)
    return [
        (code, FLAG_LABELS[code], count)
        for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
