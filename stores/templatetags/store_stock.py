"""Template helpers for the stock pages: prices as shops print them, the store picker."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from stores.models import PreferredStore, Store

register = template.Library()

_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}


@register.filter
def money(amount: Decimal | None, currency: str = "") -> str:
    """ "£30.19" for GBP; "30.19 SEK" for currencies without a symbol here."""
    if amount is None:
        return ""
    symbol = _SYMBOLS.get(currency or "")
    return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}".strip()


@register.simple_tag
def preferred_store_choices(user: Any) -> list[tuple[Store, bool]]:
    """Every active store (with its health), and whether ``user`` buys there."""
    if not getattr(user, "is_authenticated", False):
        return []
    chosen = set(PreferredStore.objects.filter(user=user).values_list("store_id", flat=True))
    stores = Store.objects.filter(active=True).select_related("health").order_by("name")
    return [(store, store.pk in chosen) for store in stores]
