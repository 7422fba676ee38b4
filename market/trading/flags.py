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


def hidden_summary(flag_lists: Iterable[list[str]]) -> list[tuple[str, str, int]]:
    """(code, label, rows) per reason among the hidden rows, most common first; a row with two
    reasons counts under each. E.g. [("no_volume", "no volume", 97), ("bait_min_volume",
    "bait order", 35)]."""
    counts = Counter(code for flags in flag_lists for code in flags)
    return [
        (code, FLAG_LABELS[code], count)
        for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
