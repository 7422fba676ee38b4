"""``{% sde_notice %}``: what the market pages say while there is no static data (SDE)."""

from __future__ import annotations

from typing import Any

from django import template

from market.sde_source import sde_status

register = template.Library()


@register.inclusion_tag("market/_sde_status.html", takes_context=True)
def sde_notice(context: template.Context) -> dict[str, Any]:
    """The import's progress, or why there is no static data and when the workers try again;
    nothing once the SDE is there (a re-import of a changed source goes unannounced)."""
    request = context.get("request")
    status = sde_status()
    return {
        "status": status,
        "show": status.empty,
        "staff": bool(request and request.user.is_staff),
    }
