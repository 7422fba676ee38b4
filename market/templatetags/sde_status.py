"""``{% sde_notice %}``: what the market pages say while there is no static data (SDE)."""

from __future__ import annotations

from typing import Any

from django import template

from lenny.lib.import_status import ImportNotice
from market.sde_source import sde_status

register = template.Library()

SDE_NOTICE = ImportNotice(
    template="market/_sde_status.html",
    element_id="sde-status",
    poll_url="market:sde_status",
    importing="Importing static data…",
    when_done="The market groups appear here when it is done.",
    missing="No static data yet",
    command_use="To load a copy you have",
    command="manage.py import_sde FOLDER",
    status=sde_status,
)


@register.inclusion_tag(SDE_NOTICE.template, takes_context=True)
def sde_notice(context: template.Context) -> dict[str, Any]:
    """The import's progress, or why there is no static data and when the workers try again;
    nothing once the SDE is there (a re-import of a changed source goes unannounced)."""
    return SDE_NOTICE.context(context.get("request"))
