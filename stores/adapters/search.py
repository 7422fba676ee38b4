"""A store's search walked page by page with the caller's ``fetch``: `listings_fetch`.

    adapter = adapter_for("crystalcommerce")
    listings = listings_fetch(adapter=adapter, base_url=store.base_url, card_name="Tarmogoyf",
                              fetch=my_polite_fetch)

`fetch(url) -> (status, text)` is the caller's: it owns politeness, retries and caching. The
walk follows result pages while they still show the card (`stores.matching.name_matches`).
"""

from __future__ import annotations

from stores.adapters.base import (
    Fetch,
    Listing,
    StoreAdapter,
    UpstreamError,
    base_url_clean,
    same_origin,
)
from stores.matching import name_matches

# A search for a card rarely needs more; each page is one request to a small shop's site.
MAX_SEARCH_PAGES = 4


def listings_fetch(
    *,
    adapter: StoreAdapter,
    base_url: str,
    card_name: str,
    fetch: Fetch,
    max_pages: int = MAX_SEARCH_PAGES,
) -> list[Listing]:
    """Every listing the store's search shows for ``card_name``, each variant once.

    Follows the result pages while they still show the card (at most ``max_pages``), and fetches
    the detail documents a page asks for. Raises UpstreamError for an HTTP error and
    ParseFailure for a page the adapter cannot read.
    """
    base_url = base_url_clean(base_url)
    url: str | None = adapter.search_url(base_url, card_name)
    visited: set[str] = set()
    listings: list[Listing] = []
    while url and len(visited) < max_pages:
        visited.add(url)
        page = adapter.parse_search(_fetch_ok(fetch, url), base_url=base_url)
        page_listings = list(page.listings)
        for detail_url in page.detail_urls:
            status, text = fetch(detail_url)
            if status == 404:
                continue  # unpublished between the search and now: no longer for sale
            if not 200 <= status < 300:
                raise UpstreamError(detail_url, status)
            page_listings.extend(
                adapter.parse_detail(
                    text, url=detail_url, base_url=base_url, currency=page.currency
                )
            )
        listings.extend(page_listings)
        next_url = page.next_page_url
        follow = (
            next_url is not None
            and next_url not in visited
            # A next link to another site is not the store's.
            and same_origin(next_url, base_url)
            # Stores sort by relevance: after a page without the card come only other cards.
            and any(name_matches(x.name, card_name, x.set_name) for x in page_listings)
        )
        url = next_url if follow else None
    return _unique(listings)


def _fetch_ok(fetch: Fetch, url: str) -> str:
    status, text = fetch(url)
    if not 200 <= status < 300:
        raise UpstreamError(url, status)
    return text


def _unique(listings: list[Listing]) -> list[Listing]:
    """Drop a variant seen twice (stock moving between pages while we read them)."""
    seen: set[tuple[object, ...]] = set()
    unique: list[Listing] = []
    for listing in listings:
        key = (
            listing.url,
            listing.variant,
            listing.finish,
            listing.condition,
            listing.language,
            listing.price,
        )
        if key not in seen:
            seen.add(key)
            unique.append(listing)
    return unique
