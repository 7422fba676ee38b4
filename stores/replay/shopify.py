"""Replay Shopify stores with BinderPOS: product cards carrying ``data-product-variants`` JSON
and BinderPOS SKUs, and the ``/products/<handle>.js`` documents."""

from __future__ import annotations

import html
import json
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from lenny.replay import ReplayServer
from stores.listings import CONDITIONS
from stores.replay.sites import (
    Product,
    Site,
    page_html,
    page_span,
    site_offers,
    site_product_find,
    site_products,
    site_shell,
    sites_state,
    stable_hash,
)

_SKU_CONDITION = {c: str(i + 1) for i, c in enumerate(CONDITIONS)}
_SKU_FINISH = {"nonfoil": "NF", "foil": "FO", "etched": "ET"}


def _shopify_variants(site: Site, product: Product) -> list[dict[str, Any]]:
    full_title = f"{product.title} [{product.set_name}]"
    variants = []
    for offer in product.offers:
        words = [site.condition_words[CONDITIONS.index(offer.condition)]]
        if offer.finish != "nonfoil":
            words.append("Foil" if offer.finish == "foil" else "Etched Foil")
        if offer.language != "en":
            words.append("Foreign")
        title = " ".join(words)
        sku = ""
        if offer.set_code and offer.collector_number:
            # BinderPOS writes EN in the SKU of its "Foreign" variants too.
            sku = "-".join(
                [
                    offer.set_code.upper(),
                    offer.collector_number.upper(),
                    "EN",
                    _SKU_FINISH[offer.finish],
                    _SKU_CONDITION[offer.condition],
                ]
            )
        variants.append(
            {
                "id": stable_hash(product.key, title) % 10**14,
                "title": title,
                "option1": title,
                "option2": None,
                "option3": None,
                "sku": sku,
                "requires_shipping": True,
                "taxable": True,
                "featured_image": None,
                "available": offer.quantity > 0,
                "name": f"{full_title} - {title}",
                "public_title": title,
                "options": [title],
                "price": int(offer.price * 100),
                "weight": 2,
                "compare_at_price": None,
                "inventory_management": "shopify",
                "barcode": None,
                "requires_selling_plan": False,
                "selling_plan_allocations": [],
            }
        )
    return variants


def _shopify_card(
    site: Site, product: Product, position: int, *, inline: bool, layout_changed: bool
) -> str:
    variants = _shopify_variants(site, product)
    handle = product.handle
    href = f"/products/{handle}?_pos={position}&amp;_ss=r"
    if layout_changed:
        href = f"/p/{handle}"
    title = html.escape(f"{product.title} [{product.set_name}]")
    selected = 'selected="selected" '
    options = "".join(
        f'<option {selected if i == 0 else ""}value="{v["id"]}">{html.escape(v["title"])}</option>'
        for i, v in enumerate(variants)
    )
    cheapest = min(
        (v for v in variants if v["available"]), key=lambda v: v["price"], default=variants[0]
    )
    card = (
        f'<div class="product-card-list2 product-card-list2__{product.id} grid__item list__item">'
        '<div class="grid-view-item"><div class="grid-view-item__link grid-view-item__image-container">'
        f'<div class="product-card-list2__image-wrapper"><a href="{href}"><img loading="lazy" '
        f'class="grid-view-item__image" src="/cdn/shop/products/{handle}.jpg" alt="{title}"></a></div>'
        f'<div class="product-card-list2__details product-description"><a href="{href}">'
        f'<div class="product-detail"><div class="h4 grid-view-item__title">{title}</div></div></a>'
        f'<span class="product-card-list2__variant-select"><select title="Select variant" name="id">'
        f"{options}</select></span>"
        '<div class="grid-view-item__meta"><div class="product-price">'
        f'<span class="product-price__price is-bold qv-regularprice">£{Decimal(cheapest["price"]) / 100:.2f}'
        "</span></div></div></div></div></div></div>"
    )
    if not inline:
        return card
    attribute = "data-variants-json" if layout_changed else "data-product-variants"
    blob = html.escape(json.dumps(variants, separators=(",", ":")), quote=True)
    return f"{card}\n<div hidden id=\"productCardList2-js-{product.id}\"\n  {attribute}='{blob}'></div>"


def _shopify_pagination(query: str, page: int, pages: int, total: int, size: int) -> str:
    if pages <= 1:
        return ""
    first, last = (page - 1) * size + 1, min(total, page * size)

    def href(n: int) -> str:
        return html.escape(
            f"/search?{urlencode({'options[prefix]': 'last', 'page': n, 'q': query, 'type': 'product'})}"
        )

    parts = "".join(
        f'<span class="item current"><b>{n}</b></span>'
        if n == page
        else f'<a href="{href(n)}" class="item link">{n}</a>'
        for n in range(1, pages + 1)
    )
    following = (
        f'<div class="pag_next"><a href="{href(page + 1)}" class="btn btn--secondary btn--narrow">'
        '<span class="icon__fallback-text">Next</span></a></div>'
        if page < pages
        else ""
    )
    return (
        '<div class="list--inline pagination page-width"><div class="pagination-block">'
        f'<div class="pagination__text">Showing {first} -{last} of {total} items</div>'
        f'<div class="page-view"><div class="pagination_collection clearfix"><div class="parts">{parts}'
        f"</div></div>{following}</div></div></div>"
    )


def shopify_search_page(server: ReplayServer, site: Site, query: str, page: int, fault: str) -> str:
    shell = site_shell(site.page)
    products = site_products(site, site_offers(server, site, query))
    page, pages, first = page_span(len(products), site.page_size, page)
    inline = sites_state(server)["inline_variants"].get(site.slug, True)
    items = "\n".join(
        _shopify_card(site, p, first + i + 1, inline=inline, layout_changed=fault == "layout")
        for i, p in enumerate(products[first : first + site.page_size])
    )
    return page_html(
        shell,
        query=query,
        count=len(products),
        products=items,
        no_results='<p class="search-empty">Your search for "{query}" did not yield any results.</p>',
        pagination=_shopify_pagination(query, page, pages, len(products), site.page_size),
    )


def shopify_product_js(server: ReplayServer, site: Site, handle: str) -> dict[str, Any] | None:
    """Shopify's ``/products/<handle>.js`` for a product the site lists."""
    product = site_product_find(server, site, lambda product: product.handle == handle)
    if product is None:
        return None
    return {
        "id": product.id,
        "title": f"{product.title} [{product.set_name}]",
        "handle": handle,
        "vendor": "Magic: The Gathering",
        "type": "MTG Single",
        "available": any(o.quantity > 0 for o in product.offers),
        "variants": _shopify_variants(site, product),
    }
