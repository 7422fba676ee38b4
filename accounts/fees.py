"""Market fees by CCP's published rules, from a pilot's skills and standings.

Sales tax: 8% x (1 - 11% per Accounting level).
Broker fee: 3% - 0.3% per Broker Relations level - 0.03% x faction standing - 0.02% x corporation
standing (the station owner's), never below 1%.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

BASE_SALES_TAX = Decimal("0.08")
SALES_TAX_CUT_PER_ACCOUNTING = Decimal("0.11")
BASE_BROKER_FEE = Decimal("0.03")
BROKER_FEE_CUT_PER_BROKER_RELATIONS = Decimal("0.003")
BROKER_FEE_CUT_PER_FACTION_STANDING = Decimal("0.0003")
BROKER_FEE_CUT_PER_CORPORATION_STANDING = Decimal("0.0002")
MIN_BROKER_FEE = Decimal("0.01")

SKILL_LEVELS = range(0, 6)
MIN_STANDING = Decimal("-10")
MAX_STANDING = Decimal("10")


@dataclass(frozen=True)
class FeeRates:
    """Fractions of the order value, e.g. ``Decimal("0.036")`` for 3.6%."""

    sales_tax: Decimal
    broker_fee: Decimal


def _skill(name: str, level: int) -> int:
    if isinstance(level, bool) or not isinstance(level, int) or level not in SKILL_LEVELS:
        raise ValueError(f"{name} must be a skill level from 0 to 5, got {level!r}")
    return level


def _standing(name: str, value: Decimal | float | int | str | None) -> Decimal:
    if value is None:
        return Decimal(0)
    # Via str so that 6.7 means 6.7, not 6.70000000000000017763568394002504646778106689453125.
    standing = value if isinstance(value, Decimal) else Decimal(str(value))
    if not standing.is_finite() or not MIN_STANDING <= standing <= MAX_STANDING:
        raise ValueError(f"{name} must be a standing from -10 to 10, got {value!r}")
    return standing


def fee_rates(
    *,
    accounting: int,
    broker_relations: int,
    faction_standing: Decimal | float = 0,
    corporation_standing: Decimal | float = 0,
) -> FeeRates:
    accounting = _skill("Accounting", accounting)
    broker_relations = _skill("Broker Relations", broker_relations)
    faction = _standing("faction standing", faction_standing)
    corporation = _standing("corporation standing", corporation_standing)
    sales_tax = BASE_SALES_TAX * (1 - SALES_TAX_CUT_PER_ACCOUNTING * accounting)
    broker_fee = (
        BASE_BROKER_FEE
        - BROKER_FEE_CUT_PER_BROKER_RELATIONS * broker_relations
        - BROKER_FEE_CUT_PER_FACTION_STANDING * faction
        - BROKER_FEE_CUT_PER_CORPORATION_STANDING * corporation
    )
    return FeeRates(sales_tax=sales_tax, broker_fee=max(broker_fee, MIN_BROKER_FEE))


DEFAULT_FEE_RATES = fee_rates(accounting=0, broker_relations=0)
