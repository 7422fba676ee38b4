"""Replay Crystal Commerce stores: search pages in the current theme (grid, list and detailed
views) and in the classic one (Troll Trader), built on the real captured pages."""

from __future__ import annotations

import html
from decimal import Decimal
from urllib.parse import urlencode

from lenny.replay import ReplayServer
from stores.listings import CONDITIONS
from stores.replay.sites import (
    Offer,
    Product,
    Site,
    page_html,
    page_span,
    site_offers,
    site_products,
    site_shell,
    slug_of,
    stable_hash,
)


def _cc_description(site: Site, offer: Offer) -> str:
    parts = [site.condition_words[CONDITIONS.index(offer.condition)]]
    if site.finish_in == "description" and offer.finish != "nonfoil":
        parts.append("Foil" if offer.finish == "foil" else "Etched Foil")
    parts.append("English" if offer.language == "en" else "Foreign")
    return ", ".join(parts)


def _cc_urls(product: Product) -> tuple[str, str]:
    set_path = f"magic_singles-{slug_of(product.set_name).replace('-', '_')}"
    url = f"/catalog/{set_path}/{slug_of(product.title).replace('-', '_')}/{product.id}"
    return url, f"/catalog/{set_path}/{stable_hash(product.set_name) % 20000}"


def _cc_form(site: Site, product: Product, offer: Offer, *, view: str) -> str:
    vid = (
        stable_hash(product.key, offer.condition, offer.language, offer.finish) % 9_000_000
        + 100_000
    )
    price = f"£{offer.price}"
    description = html.escape(_cc_description(site, offer))
    if site.theme == "cc-classic":
        return (
            f'<form class="add-to-cart-form" data-vid="{vid}">'
            f'<div class="product-price-qty"><span class="regular price">{price}</span>'
            '<input class="qty" name="qty" size="1" tabindex="1" type="number" value="0">'
            '<a class="increment-button"><i class="fa fa-plus"></i></a></div>'
            '<input class="utility-button add-to-cart" name="commit" type="submit" value="Buy">'
            "</form>"
        )
    price_class = "product-price" if view == "grid" else "product-price-qty"
    itemprop = ' itemprop="price"' if view == "grid" else ""
    return (
        f'<form class="add-to-cart-form" data-vid="{vid}" data-name="{html.escape(product.title)}" '
        f'data-id="{product.id}" data-price="{price}" data-category="{html.escape(product.set_name)}" '
        f'data-variant="{description}">'
        f'<div class="{price_class}"><span class="regular price"{itemprop}>{price}</span></div>'
        f'<div class="qty-submit"><input class="qty" max="{offer.quantity}" name="qty" size="1" '
        'tabindex="1" type="number" value="1">'
        '<input class="utility-button add-to-cart" name="commit" type="submit" value="&#xf217;">'
        "</div></form>"
    )


def _cc_row(site: Site, product: Product, offer: Offer, *, view: str) -> str:
    description = html.escape(_cc_description(site, offer))
    if site.theme == "cc-classic":
        info = f'<span class="variant-short-info">{description}, <em>{offer.quantity} In Stock</em></span>'
    else:
        info = (
            f'<span class="variant-short-info variant-description">{description}</span>'
            f'<span class="variant-short-info variant-qty">{offer.quantity} In Stock</span>'
        )
    row_class = "variant-row in-stock" if view != "detailed" else "variant-row row"
    return (
        f'<div class="{row_class}"><span class="variant-main-info column eat-both">{info}</span>'
        f'<span class="variant-buttons column eat-both">{_cc_form(site, product, offer, view=view)}'
        '</span></div><div class="clearfix"></div>'
    )


def _cc_sold_out_row(url: str, product: Product, price: Decimal) -> str:
    return (
        '<div class="variant-row no-stock"><span class="variant-main-info column">'
        '<span class="variant-short-info">Out of stock.</span>'
        f'<span class="price no-stock" itemprop="price">£{price}</span></span>'
        f'<span class="variant-buttons column"><a href="{url}" class="utility-button '
        f'add-to-wishlist" data-pid=\'{product.id}\'><i class="fa fa-plus"></i> Wishlist</a>'
        "</span></div>"
    )


def _cc_product(site: Site, product: Product, *, layout_changed: bool) -> str:
    url, set_url = _cc_urls(product)
    title = html.escape(product.title)
    in_stock = [o for o in product.offers if o.quantity > 0]
    top = max(in_stock, key=lambda o: o.price) if in_stock else None
    last_price = max(o.price for o in product.offers)
    image = (
        f'<div class="image"><a href="{url}" itemprop="url" title="{title}">'
        f'<img src="/photos/{product.id}/medium.jpg" alt="{title}" itemprop="image"></a></div>'
    )
    css = "product-tile" if layout_changed else "product"
    if site.theme == "cc-classic":
        if top:
            offers = (
                f'<span class="price" itemprop="price">£{top.price}</span>'
                f'<span class="qty">{sum(o.quantity for o in in_stock)} In Stock</span>'
            )
            rows = "".join(_cc_row(site, product, o, view="detailed") for o in in_stock)
        else:
            offers = (
                f'<span class="price no-stock hide" itemprop="price">£{last_price}</span>'
                '<span class="stock-indicator no-stock" itemprop="availability">Out of Stock</span>'
            )
            rows = (
                '<div class="variant-row row no-stock"><span class="variant-main-info column">'
                "<em>Add to wishlist to be notified when the item is in stock.</em>"
                f'<span class="price no-stock hide" itemprop="price">£{last_price}</span></span>'
                f'<span class="variant-buttons column"><a href="{url}" class="utility-button '
                f"add-to-wishlist\" data-pid='{product.id}'>Wishlist</a></span></div>"
            )
        return (
            f'<li class="{css}" itemscope itemtype="http://schema.org/Product" '
            f'data-catalog-id="{product.id}"><div class="inner"><div class="image-meta">{image}'
            f'<div class="meta"><a href="{url}" itemprop="url"><h4 class="name" itemprop="name">'
            f'{title}</h4></a><span class="category">{html.escape(product.set_name)}</span>'
            f'<span class="offers" itemprop="offers" itemscope itemtype="http://schema.org/Offer">'
            f'{offers}</span><a href="{url}" class="button utility view">View Product</a></div>'
            f'</div><div class="variants">{rows}</div></div></li>'
        )
    if top:
        grid = _cc_row(site, product, top, view="grid")
        listed = _cc_row(site, product, top, view="list")
        detailed = "".join(_cc_row(site, product, o, view="detailed") for o in in_stock)
    else:
        grid = listed = detailed = _cc_sold_out_row(url, product, last_price)
    return (
        f'<li class="{css}" itemscope itemtype="http://schema.org/Product" '
        f'data-catalog-id="{product.id}"><div class="inner"><div class="image-meta">{image}'
        f'<div class="meta" data-equalizer-watch><a href="{url}" itemprop="url">'
        f'<h4 class="name small-12 medium-4" itemprop="name" title="{title}">{title}</h4></a>'
        f'<a href="{set_url}"><span class="category">{html.escape(product.set_name)}</span></a>'
        f'<div class="list-variants grid small-12 medium-8">{grid}</div>'
        f'<div class="list-variants list small-12 large-8">{listed}</div>'
        '<div class="clearfix"></div></div></div>'
        f'<div class="variants">{detailed}</div><div class="clearfix"></div></div></li>'
    )


def _cc_pagination(query: str, page: int, pages: int) -> str:
    if pages <= 1:
        return ""

    def href(n: int) -> str:
        return html.escape(f"/products/search?{urlencode({'page': n, 'q': query})}")

    links = [
        f'<span class="current">{n}</span>' if n == page else f'<a href="{href(n)}">{n}</a>'
        for n in range(1, pages + 1)
    ]
    if page < pages:
        links.append(f'<a href="{href(page + 1)}" class="next_page" rel="next">Next &raquo;</a>')
    return f'<div class="pagination">{"".join(links)}</div>'


def cc_search_page(server: ReplayServer, site: Site, query: str, page: int, fault: str) -> str:
    shell = site_shell(site.page)
    products = site_products(site, site_offers(server, site, query))
    page, pages, first = page_span(len(products), site.page_size, page)
    shown = products[first : first + site.page_size]
    items = "\n".join(_cc_product(site, p, layout_changed=fault == "layout") for p in shown)
    return page_html(
        shell,
        query=query,
        count=len(products),
        products=items,
        no_results='<p class="no-results">Your search for "{query}" did not match any products.</p>',
        pagination=_cc_pagination(query, page, pages),
    )
