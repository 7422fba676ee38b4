"""Crystal Commerce stores: ``GET {base}/products/search?q=NAME`` and its pages.

Each product is an ``li.product`` holding its name (``.name``), set (``.category``) and one
``.variant-row`` per condition/language/finish. The current theme prints the rows up to three
times (grid, list and detailed views, the first two showing only the top variant); the older
theme (Troll Trader) shows a summary (top price, total stock) and the rows once. Every row is
read once, keyed by its add-to-cart ``data-vid``; the summary is never used.

Foil and treatments come from the product name's suffix (" - Foil", " - Borderless") or from
the variant's own description ("Foil, English"), whichever the store uses.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

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
from stores.listings import price_parse, title_strip_finish, variant_traits

_IN_STOCK_RE = re.compile(r"(\d+)\s*in\s+stock", re.I)
_OUT_OF_STOCK_RE = re.compile(r"out of stock|sold out|add to wishlist|notify me", re.I)
# How Crystal Commerce themes say a search found nothing.
_NO_RESULTS_RE = re.compile(
    r"no (?:products|results|items|matches)(?: were)? found|"
    r"(?:returned|found|yielded|produced) no (?:products|results|matches)|"
    r"did not (?:match|return|yield) any|no products match|\b0 results\b|"
    r"sorry,? (?:we )?(?:couldn.?t|could not|can.?t) find",
    re.I,
)


class CrystalCommerceAdapter(StoreAdapter):
    platform = "crystalcommerce"
    label = "Crystal Commerce"

    def search_url(self, base_url: str, card_name: str, page: int = 1) -> str:
        query = {"q": card_name, **({"page": page} if page > 1 else {})}
        return f"{base_url_clean(base_url)}/products/search?{urlencode(query)}"

    def parse_search(self, html: str, *, base_url: str) -> SearchPage:
        page_complete_check(html)
        tree = html_tree(html)
        products = tree.css("li.product")
        if not products:
            return SearchPage(listings=_empty_page_listings(tree))
        listings: list[Listing] = []
        for product in products:
            listings.extend(_product_listings(product, base_url=base_url))
        return SearchPage(listings=listings, next_page_url=_next_page_url(tree, base_url))


def _empty_page_listings(tree: LexborHTMLParser) -> list[Listing]:
    """[] for a genuine "no results" page; ParseFailure for anything else without products."""
    heading = node_text(tree.css_first("h1.page-title, .page-title, h1"))
    if _NO_RESULTS_RE.search(page_text(tree)):
        return []
    blocked_page_check(tree)
    if heading.lower().startswith("search results"):
        raise ParseFailure(
            "a search results page with no products and no 'no results' message",
            page_snippet(tree),
        )
    raise ParseFailure(
        "not a Crystal Commerce search page: no li.product and no search heading",
        page_snippet(tree),
    )


def _product_listings(product: LexborNode, *, base_url: str) -> list[Listing]:
    title = product.css_first(".name") or product.css_first("[itemprop=name]")
    title_text = node_text(title)
    if not title_text and title is not None:
        title_text = (title.attributes.get("title") or "").strip()
    if not title_text:
        raise ParseFailure("a product without a name (.name)", node_text(product)[:300])
    name, title_finish = title_strip_finish(title_text)
    link = product.css_first(".meta a[href], a[itemprop=url][href], .image a[href], a[href]")
    url = site_url(base_url, link.attributes.get("href") or "") if link else ""
    set_name = node_text(product.css_first(".category"))

    # The detailed view lists every variant; the grid and list views repeat the top one.
    rows = product.css(".variants .variant-row") + product.css(".list-variants .variant-row")
    if not rows:
        raise ParseFailure(
            f"product {title_text!r} shows no variant rows (.variant-row)", node_text(product)[:300]
        )
    listings: list[Listing] = []
    seen: set[object] = set()
    for row in rows:
        listing, key = _row_listing(
            row, name=name, title_finish=title_finish, set_name=set_name, url=url
        )
        if listing is None or key in seen:
            continue
        seen.add(key)
        listings.append(listing)
    if not listings:
        raise ParseFailure(
            f"product {title_text!r} has variant rows without a readable price",
            node_text(product)[:300],
        )
    return listings


def _row_listing(
    row: LexborNode, *, name: str, title_finish: str | None, set_name: str, url: str
) -> tuple[Listing | None, object]:
    form = row.css_first("form.add-to-cart-form, form[data-vid]")
    vid = (form.attributes.get("data-vid") or "").strip() if form else ""
    row_text = node_text(row)
    price_node = row.css_first(".price")
    try:
        money = price_parse(node_text(price_node))
    except ValueError as exc:
        if vid:
            raise ParseFailure(
                f"{name!r}: variant {vid} has no readable price ({exc})", row_text[:300]
            ) from None
        return None, None

    description = _row_description(row)
    sold_out = not vid or _OUT_OF_STOCK_RE.search(row_text) is not None
    if sold_out:
        quantity = 0
        # A sold-out row shows only "Out of stock." and the last price: one per product.
        key: object = ("sold-out", money.amount)
        description = "" if _OUT_OF_STOCK_RE.search(description) else description
    else:
        quantity = _row_quantity(row, row_text)
        key = vid
    traits = variant_traits(description)
    listing = Listing(
        name=name,
        set_name=set_name,
        set_code="",
        collector_number="",
        finish=traits.finish or title_finish or "nonfoil",
        condition=traits.condition,
        language=traits.language or "en",
        price=money.amount,
        currency=money.currency,
        quantity=quantity,
        url=url,
        in_stock=quantity is None or quantity > 0,
        variant=description,
    )
    return listing, key


def _row_description(row: LexborNode) -> str:
    node = row.css_first(".variant-description") or row.css_first(".variant-short-info")
    if node is None:
        return ""
    text = node_text(node)
    # "NM-Mint, English, 1 In Stock": the old theme writes the stock inside the description.
    return _IN_STOCK_RE.sub("", text).strip(" ,")


def _row_quantity(row: LexborNode, row_text: str) -> int | None:
    match = _IN_STOCK_RE.search(row_text)
    if match:
        return int(match.group(1))
    qty = row.css_first(".qty[max]")
    limit = (qty.attributes.get("max") or "").strip() if qty else ""
    return int(limit) if limit.isdigit() else None


def _next_page_url(tree: LexborHTMLParser, base_url: str) -> str | None:
    return linked_url(
        tree,
        base_url,
        "a.next_page[href], .pagination a[rel=next][href], link[rel=next][href], a[rel=next][href]",
    )
