"""What station trading and hauling share: input checks (``TradingInputError``), the exact
decimal contexts, EVE's price grid and sorting rows.

Prices follow EVE's grid: at most four significant digits and never finer than 0.01 ISK
(``price_tick``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from decimal import ROUND_CEILING, Context, Decimal, InvalidOperation
from operator import attrgetter
from typing import Any, TypeVar

from lenny.lib.money import CENT

ZERO = Decimal(0)
ONE = Decimal(1)
# The share of a station's daily volume a trader expects to take when they have not said
# (TradingProfile.market_share's default): station trading's achievable units, hauling's relist cap.
DEFAULT_MARKET_SHARE = Decimal("0.10")

# ISK sums stay exact far beyond any real book (1e13 ISK * 2e9 units * a 4-digit rate); ratios
# (margin, ROI, profit per jump) are quotients and get 28 significant digits.
_MONEY = Context(prec=60)
_RATIO = Context(prec=28)


class TradingInputError(ValueError):
    """Input these functions cannot work with; ``param`` names the culprit (for an API's 400)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


# --- inputs ------------------------------------------------------------------------------------


def _decimal(value: Any, *, param: str) -> Decimal:
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, bool):
        raise TradingInputError(param, f"must be a number, got {value!r}")
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        # repr() keeps what the user typed: 0.3 stays 0.3, not 0.29999999999999998889…
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise TradingInputError(param, f"must be a number, got {value!r}") from None
    else:
        raise TradingInputError(param, f"must be a number, got {value!r}")
    if not number.is_finite():
        raise TradingInputError(param, f"must be a finite number, got {value!r}")
    return number


def _rate(value: Any, *, param: str) -> Decimal:
    rate = _decimal(value, param=param)
    if not ZERO <= rate < ONE:
        raise TradingInputError(
            param, f"must be a fraction from 0 to below 1 (e.g. 0.036 for 3.6 %), got {value}"
        )
    return rate


def _limit(value: Any, *, param: str) -> Decimal | None:
    """A budget or capacity: None means unlimited; negative makes no sense."""
    if value is None:
        return None
    limit = _decimal(value, param=param)
    if limit < 0:
        raise TradingInputError(param, f"must not be negative, got {value}")
    return limit


def _count(value: Any, *, param: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TradingInputError(param, f"must be a whole number, got {value!r}")
    if value < 0:
        raise TradingInputError(param, f"must not be negative, got {value}")
    return value


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal:
    return _RATIO.divide(numerator, denominator)


# --- price grid ----------------------------------------------------------------------------------


def price_tick(price: Decimal) -> Decimal:
    """The smallest price step at ``price``: its fourth significant digit, at least 0.01 ISK.

    1234567 → 1000, 12.34 → 0.01, 150 → 0.1.
    """
    price = _decimal(price, param="price")
    if price <= 0:
        raise TradingInputError("price", f"must be positive, got {price}")
    return max(ONE.scaleb(price.adjusted() - 3), CENT).quantize(CENT)


def price_undercut(price: Decimal) -> Decimal | None:
    """The highest valid price strictly below ``price``: "best ask minus one tick".

    Crossing into a lower decade makes the grid finer, so 1000 → 999.9 (not 999) and
    100 → 99.99. An off-grid price (an order older than the 4-digit rule) undercuts to the grid
    point just below it. None when nothing is below (0.01 ISK).
    """
    tick = price_tick(price)
    below = ((price / tick).to_integral_value(ROUND_CEILING) - 1) * tick
    if below <= 0:
        return None
    finer = price_tick(below)
    if finer < tick:
        below = ((price / finer).to_integral_value(ROUND_CEILING) - 1) * finer
    return below.quantize(CENT)


# --- sorting -------------------------------------------------------------------------------------

Row = TypeVar("Row")


def _check_order_by(order_by: str, columns: Collection[str]) -> str:
    column = order_by.removeprefix("-")
    if column not in columns:
        raise TradingInputError(
            "sort", f"cannot sort by {column!r}; choose one of {', '.join(sorted(columns))}"
        )
    return column


def rows_sort(rows: Iterable[Row], *, order_by: str, columns: Collection[str]) -> list[Row]:
    """Sort rows by one column, ``"-column"`` for descending; ties by type id, empty values last."""
    key = attrgetter(_check_order_by(order_by, columns))
    by_type = sorted(rows, key=attrgetter("type_id"))
    present = [row for row in by_type if key(row) is not None]
    missing = [row for row in by_type if key(row) is None]
    present.sort(key=key, reverse=order_by.startswith("-"))
    return present + missing
