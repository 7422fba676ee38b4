"""``{% catalog_notice %}``: what the stores pages say while the card catalog is empty."""

from __future__ import annotations

from typing import Any

from django import template

from stores.catalog.status import catalog_status

register = template.Library()


@register.inclusion_tag("stores/_catalog_status.html", takes_context=True)
def catalog_notice(context: template.Context) -> dict[str, Any]:
    """The import's progress, or why the catalog is empty and when the workers try again;
    nothing once there are cards (the daily refresh goes unannounced)."""
    request = context.get("request")
    status = catalog_status()
    return {
        "status": status,
        "show": status.empty,
        "staff": bool(request and request.user.is_staff),
    }
