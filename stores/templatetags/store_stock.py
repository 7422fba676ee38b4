"""Template helpers for the stock pages: prices as shops print them, the store picker."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from stores.listings import money_format
from stores.models import PreferredStore, Store, WantSpec

register = template.Library()


@register.filter
def money(amount: Decimal | None, currency: str = "") -> str:
    """``{{ price|money:currency }}``: "£30.19"; nothing for no price."""
    return "" if amount is None else money_format(amount, currency or "")


@register.filter
def spec_summary(spec: WantSpec, currency: str = "") -> str:
    """``{{ spec|spec_summary:wanted.currency }}``: the chip, its max price with the currency."""
    return spec.summary(currency or "")


@register.simple_tag
def preferred_store_choices(user: Any) -> list[tuple[Store, bool]]:
    """Every active store (with its health), and whether ``user`` buys there."""
    if not getattr(user, "is_authenticated", False):
        return []
    chosen = set(PreferredStore.objects.filter(user=user).values_list("store_id", flat=True))
    stores = Store.objects.filter(active=True).select_related("health").order_by("name")
    return [(store, store.pk in chosen) for store in stores]
