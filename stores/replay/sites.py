"""Replay card stores: Crystal Commerce and Shopify/BinderPOS sites under ``/stores/<slug>/``.

Each site answers its platform's search (``/products/search?q=`` on Crystal Commerce,
``/search?q=&type=product`` and ``/products/<handle>.js`` on Shopify) for any card the replay
knows: the Scryfall samples the replay Scryfall serves, plus whatever a test or a benchmark adds
(``state["extra_cards"]``, Scryfall card objects). Pages are the real captured pages
(``stores/tests/data/pages``) with their product list swapped: the header, footer, scripts,
result counts and pagination markup are the store's own, and each product is written in the
markup the real page uses for its products (grid, list and detailed views on Crystal Commerce;
product cards with ``data-product-variants`` JSON and BinderPOS SKUs on Shopify).

Stock is generated from a hash of the store, the printing, the variant and the current *epoch*,
so it changes over time for the demo (``state["period"]`` seconds per epoch) and stays the same
within an epoch; ``state["epoch"]`` freezes it. Tests set exact stock with `site_stock_set`.

Faults (`site_fault`, or ``POST /stores/_control/<slug>`` with ``{"fault": kind}``):
``slow`` (latency), ``429`` (with Retry-After), ``5xx``, ``too_many_searches`` (a 200 page that
says so), ``captcha``, ``layout`` (the results in a changed layout) and ``redirect`` (a 302 to
``to``: elsewhere on the site, or to another host, as a hostile store would).
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from lenny.replay import Fault, ReplayRequest, ReplayResponse, ReplayServer
from stores.listings import CONDITIONS

PAGES = Path(__file__).resolve().parent / "tests" / "data" / "pages"
STATE_KEY = "store_sites"
DEFAULT_PERIOD = 300.0
FAULT_KINDS = ("slow", "429", "5xx", "too_many_searches", "captcha", "layout", "redirect")


@dataclass(frozen=True)
class Site:
    slug: str
    name: str
    platform: str  # crystalcommerce or shopify
    page: str  # the real page the site is built on, under PAGES
    theme: str  # "cc" (current Crystal Commerce theme), "cc-classic" (Troll Trader), "binderpos"
    # Crystal Commerce stores write the finish in the product name (" - Foil") or in each
    # variant's description ("NM-Mint, Foil, English").
    finish_in: str = "name"
    condition_words: tuple[str, ...] = (
        "Near Mint",
        "Lightly Played",
        "Moderately Played",
        "Heavily Played",
        "Damaged",
    )
    foreign_variants: bool = False  # BinderPOS stores that also list "… Foreign" variants
    price_factor: float = 1.0
    page_size: int = 20


_CC_SHORT = ("NM-Mint", "Light Play", "Moderate Play", "Heavy Play", "Damaged")
SITES: dict[str, Site] = {
    site.slug: site
    for site in (
        Site(
            "harlequins",
            "Harlequins",
            "crystalcommerce",
            "crystalcommerce/harlequins_tarmogoyf",
            "cc",
        ),
        Site(
            "skyward-fire",
            "Skyward Fire",
            "crystalcommerce",
            "crystalcommerce/skyward-fire_steam-vents",
            "cc",
            condition_words=_CC_SHORT,
            price_factor=0.95,
        ),
        Site(
            "troll-trader",
            "Troll Trader",
            "crystalcommerce",
            "crystalcommerce/troll-trader_tarmogoyf",
            "cc-classic",
            finish_in="description",
            condition_words=_CC_SHORT,
            price_factor=1.08,
        ),
        Site(
            "dice-saloon",
            "Dice Saloon",
            "shopify",
            "shopify/dice-saloon_steam-vents",
            "binderpos",
            price_factor=0.9,
            page_size=10,
        ),
        Site(
            "lvl-up-gaming",
            "Lvl Up Gaming",
            "shopify",
            "shopify/lvl-up-gaming_steam-vents",
            "binderpos",
            foreign_variants=True,
            price_factor=1.02,
            page_size=10,
        ),
    )
}
_CONDITION_FACTORS = {"NM": 1.0, "LP": 0.88, "MP": 0.76, "HP": 0.62, "DMG": 0.5}


# --- what a store has ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Offer:
    """One variant of one product at one store: a copy in one finish, condition and language."""

    card_name: str
    set_name: str
    set_code: str
    collector_number: str
    finish: str = "nonfoil"
    condition: str = "NM"
    language: str = "en"
    price: Decimal = Decimal("1.00")
    quantity: int = 1
    # A treatment or a product that is not the card itself: "Art Card", "Borderless".
    extra: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Offer:
        values = dict(data)
        values["price"] = Decimal(str(values.get("price", "1.00")))
        values["quantity"] = int(values.get("quantity", 1))
        return cls(**values)


@dataclass
class Product:
    title: str  # as the store lists it, without the set
    card_name: str
    set_name: str
    set_code: str
    collector_number: str
    key: str
    offers: list[Offer] = field(default_factory=list)

    @property
    def id(self) -> int:
        return _hash(self.key) % 9_000_000 + 1_000_000

    @property
    def handle(self) -> str:
        return _slug(f"{self.title} {self.set_name}")


def _hash(*parts: object) -> int:
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _unit(*parts: object) -> float:
    """A number in [0, 1) that depends only on ``parts``."""
    return _hash(*parts) / 2**64


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _key(name: str) -> str:
    from stores.catalog import name_normalise

    return name_normalise(name)


def _state(server: ReplayServer) -> dict[str, Any]:
    return server.state.setdefault(STATE_KEY, _fresh_state())


def _fresh_state() -> dict[str, Any]:
    return {
        "period": DEFAULT_PERIOD,  # seconds per epoch of generated stock
        "epoch": None,  # None: from the clock; a number freezes the stock
        "started": time.time(),
        "stock": {},  # {slug: {card name key: [offer dicts]}}: exact stock, for tests
        "extra_cards": [],  # Scryfall card objects the stores also carry
        "faults": {},  # {slug: {"kind": ..., "remaining": n or None}}
        "inline_variants": {},  # {slug: False}: Shopify cards without the variants JSON
        "searches": {},  # {slug: count}
    }


def site_epoch(server: ReplayServer) -> int:
    state = _state(server)
    if state["epoch"] is not None:
        return int(state["epoch"])
    return int((time.time() - state["started"]) // max(0.01, float(state["period"])))


def site_stock_set(
    server: ReplayServer, slug: str, card_name: str, offers: Iterable[dict[str, Any] | Offer]
) -> None:
    """Make ``slug`` carry exactly ``offers`` of ``card_name`` (an empty list: none at all)."""
    if slug not in SITES:
        raise KeyError(f"no replay store {slug!r}; known: {', '.join(SITES)}")
    rows = []
    for offer in offers:
        data = offer if isinstance(offer, dict) else offer.__dict__
        rows.append(
            {"card_name": card_name, **{k: str(v) if k == "price" else v for k, v in data.items()}}
        )
    _state(server)["stock"].setdefault(slug, {})[_key(card_name)] = rows


def site_fault(
    server: ReplayServer,
    slug: str,
    kind: str,
    *,
    times: int | None = None,
    seconds: float = 2.0,
    to: str = "",
) -> Fault | None:
    """Make the store misbehave for its next ``times`` requests (None: until reset)."""
    if slug not in SITES:
        raise KeyError(f"no replay store {slug!r}; known: {', '.join(SITES)}")
    pattern = rf"^/stores/{re.escape(slug)}/"
    if kind == "redirect":
        if not to:
            raise ValueError("a redirect fault needs the URL to redirect to")
        return server.fault(
            pattern,
            status=302,
            body="",
            headers={"Location": to, "Content-Type": "text/html"},
            times=times,
        )
    if kind == "slow":
        return server.fault(pattern, latency=seconds, times=times)
    if kind == "429":
        return server.fault(
            pattern,
            status=429,
            body="Too Many Requests",
            headers={"Content-Type": "text/plain", "Retry-After": str(int(seconds))},
            times=times,
        )
    if kind == "5xx":
        return server.fault(
            pattern,
            status=503,
            body="<html><body><h1>503 Service Unavailable</h1></body></html>",
            headers={"Content-Type": "text/html"},
            times=times,
        )
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown store fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
    _state(server)["faults"][slug] = {"kind": kind, "remaining": times}
    return None


def _cards(server: ReplayServer) -> list[dict[str, Any]]:
    from stores.replay import sample_cards

    return [*sample_cards(), *_state(server)["extra_cards"]]


def _matches(query_words: list[str], card: dict[str, Any]) -> bool:
    names = [card["name"], *(f.get("name", "") for f in card.get("card_faces") or [])]
    for name in names:
        words = _key(name).replace("//", " ").split()
        if query_words and all(w in words for w in query_words):
            return True
    return False


def _base_price(card: dict[str, Any], finish: str) -> Decimal:
    prices = card.get("prices") or {}
    keys = ("eur_foil", "usd_foil") if finish != "nonfoil" else ("eur", "usd")
    for name in keys:
        try:
            return Decimal(str(prices[name]))
        except (KeyError, TypeError, ArithmeticError):
            continue
    # Unpriced printings: somewhere between a bulk rare and a good one.
    base = Decimal(str(round(0.5 + 20 * _unit("price", card.get("id"), finish) ** 2, 2)))
    return base * (Decimal("1.6") if finish != "nonfoil" else 1)


def _money(value: float | Decimal) -> Decimal:
    """A shop's price: whole 5 pence, at least 10 pence."""
    amount = (Decimal(str(value)) * 20).quantize(Decimal("1"), rounding=ROUND_HALF_UP) / 20
    return max(Decimal("0.10"), amount).quantize(Decimal("0.01"))


def _generated_offers(site: Site, card: dict[str, Any], epoch: int) -> list[Offer]:
    """The stock the site has of one printing in this epoch."""
    if card.get("digital") or not _unit("carries", site.slug, card.get("id")) < 0.85:
        return []
    offers = []
    languages = ["en", "foreign"] if site.foreign_variants else ["en"]
    for finish in card.get("finishes") or ["nonfoil"]:
        base = _base_price(card, finish) * Decimal(str(site.price_factor))
        for condition in CONDITIONS:
            for language in languages:
                roll = _unit("stock", site.slug, card.get("id"), finish, condition, language, epoch)
                # Most copies are Near Mint; played ones and foreign ones are rarer.
                chance = {"NM": 0.55, "LP": 0.35, "MP": 0.2, "HP": 0.1, "DMG": 0.05}[condition]
                chance *= 0.3 if language != "en" else 1
                quantity = 1 + int(roll / chance * 4) if roll < chance else 0
                drift = 1 + 0.16 * (_unit("drift", site.slug, card.get("id"), epoch) - 0.5)
                price = float(base) * _CONDITION_FACTORS[condition] * drift
                offers.append(
                    Offer(
                        card_name=card["name"],
                        set_name=card.get("set_name", ""),
                        set_code=card.get("set", ""),
                        collector_number=card.get("collector_number", ""),
                        finish=finish,
                        condition=condition,
                        language=language,
                        price=_money(price),
                        quantity=quantity,
                    )
                )
    # Art cards carry the card's name too: a stock checker must not take them for the card.
    if _unit("art", site.slug, card.get("id")) < 0.3 and card.get("layout") != "token":
        offers.append(
            Offer(
                card_name=card["name"],
                set_name=f"{card.get('set_name', '')} Art Series",
                set_code="",
                collector_number="",
                condition="NM",
                price=_money(0.5 + _unit("art price", card.get("id"))),
                quantity=1 + _hash("art qty", site.slug, card.get("id"), epoch) % 3,
                extra="Art Card",
            )
        )
    return offers


def site_offers(server: ReplayServer, site: Site, query: str) -> list[Offer]:
    """Everything ``site`` lists for a search for ``query``, in the order it lists it."""
    words = _key(query).replace("//", " ").split()
    if not words:
        return []
    epoch = site_epoch(server)
    exact = _state(server)["stock"].get(site.slug, {})
    offers: list[Offer] = []
    seen_names: set[str] = set()
    for card in _cards(server):
        if not _matches(words, card):
            continue
        name_key = _key(card["name"])
        if name_key in exact:
            if name_key not in seen_names:
                offers.extend(Offer.from_dict(o) for o in exact[name_key])
            seen_names.add(name_key)
            continue
        offers.extend(_generated_offers(site, card, epoch))
    # Cards set up by a test that the samples do not have.
    for name_key, rows in exact.items():
        if name_key not in seen_names and all(
            w in name_key.replace("//", " ").split() for w in words
        ):
            offers.extend(Offer.from_dict(o) for o in rows)
    return offers


def site_products(site: Site, offers: list[Offer]) -> list[Product]:
    """Offers grouped into the store's products, the way its platform groups them."""
    products: dict[str, Product] = {}
    for offer in offers:
        title = offer.card_name
        if offer.extra:
            title += f" - {offer.extra}"
        split_finish = site.platform == "crystalcommerce" and site.finish_in == "name"
        if split_finish and offer.finish != "nonfoil":
            title += " - Foil" if offer.finish == "foil" else " - Etched Foil"
        key = f"{title}|{offer.set_name}|{offer.collector_number}"
        product = products.get(key)
        if product is None:
            product = products[key] = Product(
                title=title,
                card_name=offer.card_name,
                set_name=offer.set_name,
                set_code=offer.set_code,
                collector_number=offer.collector_number,
                key=key,
            )
        product.offers.append(offer)
    return list(products.values())


# --- pages --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shell:
    """A real search page cut around its product list."""

    head: str  # up to the product list's opening tag
    list_open: str  # the product list's opening tag
    tail: str  # from the product list's closing tag on, pagination removed
    pagination_at: int  # where in ``tail`` the pagination goes
    query: str  # what the real page had searched for


def _element_end(text: str, start: int, tag: str) -> int:
    """The index just past the element that opens at ``start`` (same-tag nesting counted)."""
    depth = 0
    for match in re.compile(rf"<(/?){tag}\b[^>]*>", re.I).finditer(text, start):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            return match.end()
    raise ValueError(f"<{tag}> at {start} is never closed")


@cache
def site_shell(page: str) -> Shell:
    text = gzip.decompress((PAGES / f"{page}.html.gz").read_bytes()).decode("utf-8")
    if page.startswith("crystalcommerce/"):
        start = text.index('<ul class="products"')
        query = re.search(r'Search results for "([^"]*)"', text).group(1)
        tag = "ul"
        pagination = re.compile(r'<div class="pagination">', re.I)
        container = re.compile(r'<div class="pagination-container[^"]*"[^>]*>', re.I)
    else:
        start = text.index('<div class="list-view-items products-display">')
        query = html.unescape(re.search(r"results found for &quot;(.*?)&quot;", text).group(1))
        tag = "div"
        pagination = re.compile(r'<div class="list--inline pagination page-width">', re.I)
        container = None
    list_open_end = text.index(">", start) + 1
    end = _element_end(text, start, tag)
    closing = text.rindex("</", start, end)
    # The product list's own closing tag, and whatever the theme puts after it.
    head, list_open, tail = text[:start], text[start:list_open_end], text[closing:]
    found = pagination.search(tail)
    if found:
        tail = tail[: found.start()] + tail[_element_end(tail, found.start(), "div") :]
        pagination_at = found.start()
    else:
        anchor = container.search(tail) if container else None
        pagination_at = anchor.end() if anchor else 0
    return Shell(head, list_open, tail, pagination_at, query)


def _page_html(
    shell: Shell, *, query: str, count: int, products: str, notice: str, pagination: str
) -> str:
    shown = html.escape(query)
    head = shell.head
    old = re.escape(html.escape(shell.query))
    old_plain = re.escape(shell.query)
    # Result counts and the search words, as the theme prints them.
    head = re.sub(
        rf"\d+ results found for &quot;{old}&quot;",
        f"{count} results found for &quot;{shown}&quot;",
        head,
    )
    head = re.sub(
        rf"Search results for &quot;{old}&quot;|Search results for \"{old_plain}\"",
        f'Search results for "{shown}"',
        head,
    )
    head = re.sub(
        rf'<span class="current-crumb">{old_plain}</span>',
        f'<span class="current-crumb">{shown}</span>',
        head,
    )
    head = re.sub(rf'value="{old}"', f'value="{shown}"', head)
    head = re.sub(
        rf"\d+ results\s+&quot;{old}&quot;", f"{count} results  &quot;{shown}&quot;", head
    )
    tail = shell.tail[: shell.pagination_at] + pagination + shell.tail[shell.pagination_at :]
    return f"{head}{notice}{shell.list_open}\n{products}\n{tail}"


def _pages(total: int, size: int, page: int) -> tuple[int, int, int]:
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    return page, pages, (page - 1) * size


# --- Crystal Commerce ---------------------------------------------------------------------------
def _cc_description(site: Site, offer: Offer) -> str:
    parts = [site.condition_words[CONDITIONS.index(offer.condition)]]
    if site.finish_in == "description" and offer.finish != "nonfoil":
        parts.append("Foil" if offer.finish == "foil" else "Etched Foil")
    parts.append("English" if offer.language == "en" else "Foreign")
    return ", ".join(parts)


def _cc_urls(product: Product) -> tuple[str, str]:
    set_path = f"magic_singles-{_slug(product.set_name).replace('-', '_')}"
    url = f"/catalog/{set_path}/{_slug(product.title).replace('-', '_')}/{product.id}"
    return url, f"/catalog/{set_path}/{_hash(product.set_name) % 20000}"


def _cc_form(site: Site, product: Product, offer: Offer, *, view: str) -> str:
    vid = _hash(product.key, offer.condition, offer.language, offer.finish) % 9_000_000 + 100_000
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
    page, pages, first = _pages(len(products), site.page_size, page)
    shown = products[first : first + site.page_size]
    notice = ""
    if not products:
        notice = (
            f'<p class="no-results">Your search for "{html.escape(query)}" did not match any '
            "products.</p>"
        )
    items = "\n".join(_cc_product(site, p, layout_changed=fault == "layout") for p in shown)
    return _page_html(
        shell,
        query=query,
        count=len(products),
        products=items,
        notice=notice,
        pagination=_cc_pagination(query, page, pages),
    )


# --- Shopify with BinderPOS ---------------------------------------------------------------------
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
                "id": _hash(product.key, title) % 10**14,
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
    page, pages, first = _pages(len(products), site.page_size, page)
    inline = _state(server)["inline_variants"].get(site.slug, True)
    items = "\n".join(
        _shopify_card(site, p, first + i + 1, inline=inline, layout_changed=fault == "layout")
        for i, p in enumerate(products[first : first + site.page_size])
    )
    notice = ""
    if not products:
        notice = (
            f'<p class="search-empty">Your search for "{html.escape(query)}" did not yield any '
            "results.</p>"
        )
    return _page_html(
        shell,
        query=query,
        count=len(products),
        products=items,
        notice=notice,
        pagination=_shopify_pagination(query, page, pages, len(products), site.page_size),
    )


def shopify_product_js(server: ReplayServer, site: Site, handle: str) -> dict[str, Any] | None:
    """Shopify's ``/products/<handle>.js`` for a product the site lists."""
    names = [card["name"] for card in _cards(server)]
    names += [
        rows[0]["card_name"] for rows in _state(server)["stock"].get(site.slug, {}).values() if rows
    ]
    for name in dict.fromkeys(names):
        for product in site_products(site, site_offers(server, site, name)):
            if product.handle == handle:
                return {
                    "id": product.id,
                    "title": f"{product.title} [{product.set_name}]",
                    "handle": handle,
                    "vendor": "Magic: The Gathering",
                    "type": "MTG Single",
                    "available": any(o.quantity > 0 for o in product.offers),
                    "variants": _shopify_variants(site, product),
                }
    return None


# --- blocked pages ------------------------------------------------------------------------------
def _blocked_page(site: Site, kind: str) -> str:
    if kind == "too_many_searches":
        return (
            "<!DOCTYPE html><html><head><title>Slow down</title></head><body><main>"
            f"<h1>{html.escape(site.name)}</h1><p>You have performed too many searches, please "
            "try again in a minute.</p></main></body></html>"
        )
    return (
        "<!DOCTYPE html><html><head><title>Attention Required!</title></head><body><main>"
        "<h1>Please verify you are a human</h1>"
        '<form id="challenge-form"><div class="g-recaptcha" data-sitekey="replay"></div></form>'
        "</main></body></html>"
    )


def _fault_take(server: ReplayServer, slug: str) -> str:
    """The page-level fault to apply to this request, if any ("" for none)."""
    faults = _state(server)["faults"]
    fault = faults.get(slug)
    if not fault:
        return ""
    if fault["remaining"] is not None:
        fault["remaining"] -= 1
        if fault["remaining"] <= 0:
            faults.pop(slug, None)
    return fault["kind"]


# --- routes -------------------------------------------------------------------------------------
def register(server: ReplayServer) -> None:
    server.state[STATE_KEY] = _fresh_state()
    server.on_reset(lambda: server.state.__setitem__(STATE_KEY, _fresh_state()))

    def site_of(req: ReplayRequest, platform: str) -> Site | None:
        site = SITES.get(req.params["slug"])
        return site if site and site.platform == platform else None

    def page_number(req: ReplayRequest) -> int:
        try:
            return int(req.arg("page") or 1)
        except ValueError:
            return 1

    def not_found() -> ReplayResponse:
        return ReplayResponse.html("<html><body><h1>404 Not Found</h1></body></html>", status=404)

    def search(req: ReplayRequest, platform: str, page_build: Callable[..., str]) -> ReplayResponse:
        """A search at one site: counted, then its fault (if one is set) or its results page."""
        site = site_of(req, platform)
        if site is None:
            return not_found()
        counts = _state(server)["searches"]
        counts[site.slug] = counts.get(site.slug, 0) + 1
        fault = _fault_take(server, site.slug)
        if fault in ("too_many_searches", "captcha"):
            return ReplayResponse.html(_blocked_page(site, fault))
        return ReplayResponse.html(
            page_build(server, site, req.arg("q") or "", page_number(req), fault)
        )

    @server.route("GET", r"/stores/(?P<slug>[\w-]+)/products/search")
    def cc_search(req: ReplayRequest) -> ReplayResponse:
        return search(req, "crystalcommerce", cc_search_page)

    @server.route("GET", r"/stores/(?P<slug>[\w-]+)/search")
    def shopify_search(req: ReplayRequest) -> ReplayResponse:
        return search(req, "shopify", shopify_search_page)

    @server.route("GET", r"/stores/(?P<slug>[\w-]+)/products/(?P<handle>[\w%-]+)\.js")
    def shopify_product(req: ReplayRequest) -> ReplayResponse:
        site = site_of(req, "shopify")
        product = shopify_product_js(server, site, req.params["handle"]) if site else None
        if product is None:
            return not_found()
        return ReplayResponse.json(product)

    @server.route("POST", r"/stores/_control/(?P<slug>[\w-]+)")
    def control(req: ReplayRequest) -> ReplayResponse:
        """Faults, stock and cards for a replay in another process (the demo, benchmarks)."""
        data = req.json() or {}
        slug = req.params["slug"]
        try:
            if slug == "_all":
                state = _state(server)
                if "period" in data:
                    state["period"] = float(data["period"])
                if "epoch" in data:
                    state["epoch"] = data["epoch"]
                if "extra_cards" in data:
                    state["extra_cards"] = list(data["extra_cards"])
                return ReplayResponse.json({"ok": True, "epoch": site_epoch(server)})
            if data.get("fault"):
                site_fault(
                    server,
                    slug,
                    data["fault"],
                    times=data.get("times"),
                    seconds=float(data.get("seconds", 2)),
                    to=str(data.get("to", "")),
                )
            if data.get("clear"):
                _state(server)["faults"].pop(slug, None)
            if "stock" in data:
                site_stock_set(server, slug, data["card"], data["stock"])
            if "inline_variants" in data:
                _state(server)["inline_variants"][slug] = bool(data["inline_variants"])
        except (KeyError, ValueError, TypeError) as exc:
            return ReplayResponse.error(400, str(exc))
        return ReplayResponse.json({"ok": True})


# --- demo ---------------------------------------------------------------------------------------
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "lenny-demo"
DEMO_WANTS = [
    ("Mox Sapphire", 1),
    ("Ancestral Vision", 4),
    ("Mystic Snake", 2),
    ("Cloudstone Curio", 1),
    ("Driven // Despair", 3),
    ("Turntimber Symbiosis // Turntimber, Serpentine Wood", 2),
    ("Arlinn, the Pack's Hope // Arlinn, the Moon's Fury", 1),
    ("Ferris Wheel", 4),
]


def demo_load(*, base_url: str, stdout: Any) -> None:
    """Demo stores at the replay sites, and a demo user who wants a few cards from them."""
    from django.contrib.auth import get_user_model

    from stores.checks import checks_queue_for_owner
    from stores.models import Card, PreferredStore, Store, WantedCard

    stores = []
    for site in SITES.values():
        store, _ = Store.objects.update_or_create(
            name=site.name,
            defaults={
                "platform": site.platform,
                "base_url": f"{base_url}/stores/{site.slug}",
                "currency": "GBP",
                "city": "Replay",
                "active": True,
                "max_requests_per_minute": 60,
                "max_in_flight": 2,
            },
        )
        stores.append(store)
    user_model = get_user_model()
    user = user_model.objects.filter(username=DEMO_USERNAME).first()
    if user is None:
        user = user_model.objects.create_user(DEMO_USERNAME, "demo@localhost", DEMO_PASSWORD)
    for store in stores:
        PreferredStore.objects.get_or_create(user=user, store=store)
    for name, amount in DEMO_WANTS:
        card = Card.objects.filter(name=name).first()
        if card is not None:
            WantedCard.objects.merge(owner=user, card=card, amount=amount, mode="max")
    queued = checks_queue_for_owner(owner=user)
    stdout.write(
        f"  {len(stores)} replay stores under {base_url}/stores/; log in as "
        f"{DEMO_USERNAME!r} / {DEMO_PASSWORD!r} to see their stock ({queued} checks queued)"
    )
