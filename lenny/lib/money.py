"""ISK amounts: one rounding rule for what is stored, one for what is shown.

- **Stored** amounts (wallet rows, lot costs, daily aggregates, ledger imports) are rounded to
  the cent half-to-even (:func:`isk_store`), the banker's rounding that keeps sums of many
  rounded amounts unbiased. ESI sends ISK as JSON floats; their shortest ``repr`` is the
  decimal ESI meant, so floats go through ``repr`` and never through binary expansion.
- **Shown** amounts (pages and the JSON API) are rounded to the cent half-up (:func:`isk_show`),
  the rule a trader applies by hand, so a figure read off the page adds up the way they expect.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def isk_decimal(value: Decimal | float | int | str) -> Decimal:
    """An exact ``Decimal`` for an ISK amount; a float is read as its shortest ``repr``."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value)) if not isinstance(value, int) else Decimal(value)


def isk_store(value: Decimal | float | int | str) -> Decimal:
    """An amount to store: exact to the cent, half-to-even."""
    return isk_decimal(value).quantize(CENT, ROUND_HALF_EVEN)


def isk_show(value: Decimal | float | int | str) -> Decimal:
    """An amount to show: to the cent, half-up."""
    return isk_decimal(value).quantize(CENT, ROUND_HALF_UP)
