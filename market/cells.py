"""Desk table cells written in Python rather than by template loops (station trading's and
hauling's rows): the numbers as the templates' ``floatformat``/``intcomma`` write them, and one
``<td>``. Every text goes through here or ``escape``."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

from django.utils.html import escape

UNKNOWN = "—"
_SHOWN = Context(prec=80)


def number_text(value: Decimal, places: int) -> str:
    """``value`` as the template filter ``floatformat:"<places>g"`` writes it in English: half
    up, thousands separated, no "-0.00"; a negative ``places`` leaves out the decimals of a
    whole number (``-1``: 12 → "12", 12.04 → "12.0")."""
    if places <= 0 and value == value.to_integral_value():
        return f"{int(value):,}"
    rounded = value.quantize(Decimal(1).scaleb(-abs(places)), ROUND_HALF_UP, _SHOWN)
    if not rounded:
        rounded = rounded.copy_abs()
    return f"{rounded:,.{abs(places)}f}"


def volume_text(value: Decimal | None) -> str:
    """A daily volume: whole units from 100 up, one decimal below (as ``_desk.html#volume``)."""
    if value is None:
        return UNKNOWN
    return number_text(value, 0 if value >= 100 else -1)


_NUM_CELL = '<td class="num{cls}"{title}>{text}</td>'


def num_cell(text: str, *classes: str, title: str | None = None) -> str:
    names = "".join(f" {name}" for name in classes if name)
    return _NUM_CELL.format(
        cls=names, title="" if title is None else f' title="{escape(title)}"', text=text
    )
