"""``{% catalog_notice %}``: what the stores pages say while the card catalog is empty."""

from __future__ import annotations

from typing import Any

from django import template

from lenny.lib.import_status import ImportNotice
from stores.catalog.status import catalog_status

register = template.Library()

CATALOG_NOTICE = ImportNotice(
    template="stores/_catalog_status.html",
    element_id="catalog-status",
    poll_url="stores:catalog_status",
    importing="Importing the card catalog…",
    when_done="Card names work here when it is done.",
    missing="The card catalog is empty",
    command_use="To import a bulk file you have",
    command="manage.py import_scryfall FILE",
    status=catalog_status,
)


@register.inclusion_tag(CATALOG_NOTICE.template, takes_context=True)
def catalog_notice(context: template.Context) -> dict[str, Any]:
    """The import's progress, or why the catalog is empty and when the workers try again;
    nothing once there are cards (the daily refresh goes unannounced)."""
    return CATALOG_NOTICE.context(context.get("request"))
