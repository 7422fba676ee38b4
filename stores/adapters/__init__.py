"""Store platform adapters: one per shop platform, all behind `StoreAdapter`.

    adapter = adapter_for("crystalcommerce")
    page = adapter.parse_search(text, base_url=store.base_url)

Walking a store's search with the caller's ``fetch`` is `stores.adapters.search.listings_fetch`
(a module of its own: it asks `stores.matching` whether a page still shows the card, and
`stores.matching` reads names the way the catalog does, whose models use this package).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from stores.adapters.base import (
    PUBLIC_FIELDS,
    Fetch,
    Listing,
    ParseFailure,
    SearchPage,
    StoreAdapter,
    UpstreamError,
    base_url_clean,
)
from stores.adapters.crystalcommerce import CrystalCommerceAdapter
from stores.adapters.shopify import ShopifyAdapter
from stores.listings import set_code_lookup

__all__ = [
    "PLATFORMS",
    "PLATFORM_CHOICES",
    "PUBLIC_FIELDS",
    "Fetch",
    "Listing",
    "ParseFailure",
    "SearchPage",
    "StoreAdapter",
    "UpstreamError",
    "adapter_for",
    "base_url_clean",
    "set_codes_fill",
]

PLATFORMS: dict[str, StoreAdapter] = {
    adapter.platform: adapter for adapter in (CrystalCommerceAdapter(), ShopifyAdapter())
}
# For a model field's `choices`.
PLATFORM_CHOICES: list[tuple[str, str]] = [(a.platform, a.label) for a in PLATFORMS.values()]


def adapter_for(platform: str) -> StoreAdapter:
    try:
        return PLATFORMS[platform]
    except KeyError:
        raise ValueError(
            f"unknown store platform {platform!r}; known: {', '.join(PLATFORMS)}"
        ) from None


def set_codes_fill(listings: Iterable[Listing], *, codes: Mapping[str, str]) -> list[Listing]:
    """Listings with the set codes their stores do not print, looked up by set name.

    ``codes`` maps set-name keys to codes (`stores.listings.set_codes_by_name` over the catalog's
    sets). A set the catalog does not know by that name keeps an empty code.
    """
    return [
        listing
        if listing.set_code
        else replace(listing, set_code=set_code_lookup(listing.set_name, codes))
        for listing in listings
    ]
