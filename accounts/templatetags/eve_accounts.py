from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

register = template.Library()


@register.filter
def percent(fraction: Decimal | None) -> str:
    """0.036 -> "3.6%"; 0.022981 -> "2.298%" (fees are quoted to a thousandth of a percent)."""
    if fraction is None:
        return ""
    value = (Decimal(fraction) * 100).quantize(Decimal("0.001")).normalize()
    return f"{value:f}%"


@register.filter
def portrait(character: Any, size: int = 64) -> str:
    """``{{ character|portrait:128 }}``: the portrait URL at another size."""
    return character.portrait_url(size=int(size))
