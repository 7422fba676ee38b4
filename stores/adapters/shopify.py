"""Shopify stores running BinderPOS: ``GET {base}/search?q=NAME&type=product`` and its pages.

BinderPOS themes embed each product's variants as JSON in ``data-product-variants``: one variant
per condition, finish and language, titled like "Near Mint Foil" or "Lightly Played Foreign",
with a price in minor units, an ``available`` flag and a SKU such as ``GRN-257-EN-NF-1`` (set
code, collector number, language, finish, condition). A search page lists the product card
first and the JSON right after it.

Products shown without that JSON (other themes) are named in `SearchPage.detail_urls` as
``/products/<handle>.js``, Shopify's public per-product JSON, and read by `parse_detail`.

Shopify pages say whether a variant is available, rarely how many: the quantity is then None
(unknown), never a guess.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from stores.adapters.base import (
    Listing,
    ParseFailure,
    SearchPage,
    StoreAdapter,
    base_url_clean,
    blocked_page_check,
    html_tree,
    linked_url,
    node_text,
    page_complete_check,
    page_snippet,
    page_text,
    site_url,
)
from stores.listings import (
    CURRENCY_CODES,
    minor_units_to_decimal,
    price_parse,
    sku_parse,
    title_split_set,
    title_strip_finish,
    variant_traits,
)

_HANDLE_RE = re.compile(r"/products/([^/?#]+)")
_SHOPIFY_CURRENCY_RE = re.compile(r"Shopify\.currency\s*=\s*\{\s*\"active\"\s*:\s*\"([A-Z]{3})\"")
_RESULT_COUNT_RE = re.compile(r"\b(\d[\d,]*)\s+results?\b", re.I)
# How Shopify themes say a search found nothing (Debut, Dawn and BinderPOS's own).
_NO_RESULTS_RE = re.compile(
    r"did not yield any results|no results (?:found|for)|\b0 results\b|"
    r"no products (?:found|match)|(?:returned|found) no (?:products|results|matches)|"
    r"sorry,? (?:we )?(?:couldn.?t|could not|can.?t) find",
    re.I,
)


class ShopifyAdapter(StoreAdapter):
    platform = "shopify"
    label = "Shopify (BinderPOS)"

    def search_url(self, base_url: str, card_name: str, page: int = 1) -> str:
        query = {
            "q": card_name,
            "type": "product",
            "options[prefix]": "last",
            **({"page": page} if page > 1 else {}),
        }
        return f"{base_url_clean(base_url)}/search?{urlencode(query)}"

    def parse_search(self, html: str, *, base_url: str) -> SearchPage:
        page_complete_check(html)
        tree = html_tree(html)
        currency = _page_currency(tree, html)
        listings: list[Listing] = []
        shown: set[str] = set()
        seen_variants: set[str] = set()
        for blob in tree.css("[data-product-variants]"):
            url = _card_url(blob, tree, base_url)
            if url:
                shown.add(_handle(url))
            variants = _json(blob.attributes.get("data-product-variants"), "data-product-variants")
            if not isinstance(variants, list) or not variants:
                raise ParseFailure(
                    "data-product-variants is not a list of variants", str(variants)[:300]
                )
            for variant in variants:
                # Themes that render a card per view (grid, list) repeat its variants: read once.
                variant_id = variant.get("id") if isinstance(variant, dict) else None
                if variant_id is not None:
                    if str(variant_id) in seen_variants:
                        continue
                    seen_variants.add(str(variant_id))
                listings.append(
                    _variant_listing(variant, product_title=None, url=url, currency=currency)
                )
        hidden = [h for h in _result_handles(tree) if h not in shown]
        detail_urls = [site_url(base_url, f"/products/{quote(h, safe='')}.js") for h in hidden]
        if not listings and not detail_urls:
            return SearchPage(listings=_empty_page_listings(tree))
        return SearchPage(
            listings=listings,
            next_page_url=_next_page_url(tree, base_url),
            detail_urls=detail_urls,
            currency=currency,
        )

    def parse_detail(
        self, text: str, *, url: str, base_url: str, currency: str = ""
    ) -> list[Listing]:
        """Listings from ``/products/<handle>.js``."""
        product = _json(text, url)
        if not isinstance(product, dict) or not isinstance(product.get("variants"), list):
            raise ParseFailure(f"{url} is not a Shopify product (no variants)", text[:300])
        title = product.get("title")
        handle = product.get("handle") or _handle(url).removesuffix(".js")
        if not isinstance(title, str) or not isinstance(handle, str):
            raise ParseFailure(f"{url} has no product title or handle", text[:300])
        product_url = site_url(base_url, f"/products/{quote(unquote(handle), safe='')}")
        return [
            _variant_listing(v, product_title=title, url=product_url, currency=currency)
            for v in product["variants"]
        ]


def _json(text: str | None, where: str) -> Any:
    try:
        return json.loads(text or "")
    except (ValueError, RecursionError):
        raise ParseFailure(f"{where} holds no readable JSON", (text or "")[:300]) from None


def _variant_listing(
    variant: Any, *, product_title: str | None, url: str, currency: str
) -> Listing:
    if not isinstance(variant, dict):
        raise ParseFailure("a product variant is not a JSON object", str(variant)[:300])
    title = variant.get("title") or variant.get("public_title") or ""
    if not isinstance(title, str):
        raise ParseFailure("a product variant's title is not text", str(variant)[:300])
    available = variant.get("available")
    if not isinstance(available, bool):
        raise ParseFailure(
            f"variant {title!r} does not say whether it is available", str(variant)[:300]
        )
    try:
        price = minor_units_to_decimal(variant.get("price"))
    except ValueError as exc:
        raise ParseFailure(f"variant {title!r}: {exc}", str(variant)[:300]) from None

    if product_title is None:
        # "Steam Vents [Guilds of Ravnica] - Near Mint": the product title, then the variant's.
        full = variant.get("name")
        if not isinstance(full, str) or not full.strip():
            raise ParseFailure(f"variant {title!r} has no product name", str(variant)[:300])
        product_title = full.removesuffix(f" - {title}") if title else full
    name, set_name = title_split_set(product_title)
    name, title_finish = title_strip_finish(name)

    traits = variant_traits(title)
    sku = sku_parse(variant.get("sku") or "")
    quantity = _quantity(variant, available)
    return Listing(
        name=name,
        set_name=set_name,
        set_code=sku.set_code if sku else "",
        collector_number=sku.collector_number if sku else "",
        finish=traits.finish or (sku.finish if sku else None) or title_finish or "nonfoil",
        condition=traits.condition or (sku.condition if sku else None),
        language=traits.language or (sku.language if sku else None) or "en",
        price=price,
        currency=currency,
        quantity=quantity,
        url=url,
        in_stock=available,
        variant=title,
    )


def _quantity(variant: dict[str, Any], available: bool) -> int | None:
    if not available:
        return 0
    stock = variant.get("inventory_quantity")
    # Only a tracked, positive count is a count; a store that oversells shows 0 or less.
    if (
        isinstance(stock, int)
        and not isinstance(stock, bool)
        and stock > 0
        and variant.get("inventory_management") == "shopify"
    ):
        return stock
    return None


def _page_currency(tree: LexborHTMLParser, html: str | bytes) -> str:
    raw = html if isinstance(html, str) else html.decode("utf-8", "replace")
    match = _SHOPIFY_CURRENCY_RE.search(raw)
    if match and match.group(1) in CURRENCY_CODES:
        return match.group(1)
    meta = tree.css_first('meta[property="og:price:currency"], meta[itemprop=priceCurrency]')
    code = (meta.attributes.get("content") or "").strip().upper() if meta else ""
    if code in CURRENCY_CODES:
        return code
    for node in tree.css(".product-price__price, .price-item, .price, [data-price]")[:5]:
        try:
            found = price_parse(node_text(node) or node.attributes.get("data-price") or "")
        except ValueError:
            continue
        if found.currency:
            return found.currency
    return ""


def _handle(url: str) -> str:
    match = _HANDLE_RE.search(urlsplit(url).path)
    return unquote(match.group(1)) if match else ""


def _card_url(blob: LexborNode, tree: LexborHTMLParser, base_url: str) -> str:
    """The product URL of the card a variants blob belongs to (tracking query removed)."""
    candidates: list[LexborNode] = []
    sibling = blob.prev
    while sibling is not None and not sibling.is_element_node:
        sibling = sibling.prev
    if sibling is not None:
        candidates.append(sibling)
    product_id = (blob.attributes.get("data-product-id") or "").strip()
    if product_id.isdigit():
        candidates.extend(tree.css(f'[class*="__{product_id}"]'))
    parent = blob.parent
    if parent is not None and len(parent.css("[data-product-variants]")) == 1:
        candidates.append(parent)
    for node in candidates:
        link = node.css_first('a[href*="/products/"]')
        if link is not None:
            path = urlsplit(link.attributes.get("href") or "").path
            if _HANDLE_RE.search(path):
                return site_url(base_url, path)
    return ""


def _result_handles(tree: LexborHTMLParser) -> list[str]:
    """Handles of the products the results show, outside header, footer and navigation."""
    regions = tree.css("main, [role=main]") or ([tree.body] if tree.body else [])
    handles: list[str] = []
    for region in regions:
        for link in region.css('a[href*="/products/"]'):
            if _inside(link, ("header", "footer", "nav")):
                continue
            handle = _handle(link.attributes.get("href") or "")
            if handle and handle not in handles:
                handles.append(handle)
    return handles


def _inside(node: LexborNode, tags: tuple[str, ...]) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.tag in tags:
            return True
        parent = parent.parent
    return False


def _empty_page_listings(tree: LexborHTMLParser) -> list[Listing]:
    """[] for a genuine "no results" page; ParseFailure for anything else without products."""
    headline = " ".join(node_text(n) for n in tree.css("title, h1, h2, [role=status]"))
    count = _RESULT_COUNT_RE.search(headline)
    if count and count.group(1).replace(",", "") == "0":
        return []
    if _NO_RESULTS_RE.search(headline) or _NO_RESULTS_RE.search(page_text(tree)):
        return []
    blocked_page_check(tree)
    if count:
        raise ParseFailure(
            f"the page says {count.group(0)} but shows no products", page_snippet(tree)
        )
    raise ParseFailure(
        "not a Shopify search page: no products and no 'no results' message", page_snippet(tree)
    )


def _next_page_url(tree: LexborHTMLParser, base_url: str) -> str | None:
    return linked_url(
        tree,
        base_url,
        ".pag_next a[href], link[rel=next][href], a[rel=next][href], "
        'a.pagination__next[href], a[aria-label="Next page"][href]',
    )
