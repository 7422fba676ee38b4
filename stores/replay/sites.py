"""Replay card stores: Crystal Commerce and Shopify/BinderPOS sites under ``/stores/<slug>/``.

Each site answers its platform's search (``/products/search?q=`` on Crystal Commerce,
``/search?q=&type=product`` and ``/products/<handle>.js`` on Shopify) for any card the replay
knows: the Scryfall samples the replay Scryfall serves, plus whatever a test or a benchmark adds
(``state["extra_cards"]``, Scryfall card objects). Pages are the real captured pages
(``stores/replay/data/pages``) with their product list swapped: the header, footer, scripts,
result counts and pagination markup are the store's own, and each product is written in the
markup the real page uses for its products (grid, list and detailed views on Crystal Commerce;
product cards with ``data-product-variants`` JSON and BinderPOS SKUs on Shopify): this module
holds the stores, their stock and the page shells; `stores.replay.crystalcommerce` and
`stores.replay.shopify` write each platform's pages, and `stores.replay` mounts the routes.

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
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any

from lenny.replay import Fault, ReplayServer
from stores.catalog import name_normalise
from stores.listings import CONDITIONS
from stores.replay.scryfall import sample_cards

PAGES = Path(__file__).resolve().parent / "data" / "pages"
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
        return stable_hash(self.key) % 9_000_000 + 1_000_000

    @property
    def handle(self) -> str:
        return slug_of(f"{self.title} {self.set_name}")


def stable_hash(*parts: object) -> int:
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _unit(*parts: object) -> float:
    """A number in [0, 1) that depends only on ``parts``."""
    return stable_hash(*parts) / 2**64


def slug_of(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _key(name: str) -> str:
    return name_normalise(name)


def sites_state(server: ReplayServer) -> dict[str, Any]:
    return server.state.setdefault(STATE_KEY, sites_fresh_state())


def sites_fresh_state() -> dict[str, Any]:
    return {
        "period": DEFAULT_PERIOD,  # seconds per epoch of generated stock
        "epoch": None,  # None: from the clock; a number freezes the stock
        "started": time.time(),
        "stock": {},  # {slug: {card name key: [offer dicts]}}: exact stock, set by a test
        "extra_cards": [],  # Scryfall card objects the stores also carry
        "faults": {},  # {slug: {"kind": ..., "remaining": n or None}}
        "inline_variants": {},  # {slug: False}: Shopify cards without the variants JSON
        "searches": {},  # {slug: count}
    }


def site_epoch(server: ReplayServer) -> int:
    state = sites_state(server)
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
    sites_state(server)["stock"].setdefault(slug, {})[_key(card_name)] = rows


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
    sites_state(server)["faults"][slug] = {"kind": kind, "remaining": times}
    return None


def cards_carried(server: ReplayServer) -> list[dict[str, Any]]:
    return [*sample_cards(), *sites_state(server)["extra_cards"]]


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
                quantity=1 + stable_hash("art qty", site.slug, card.get("id"), epoch) % 3,
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
    exact = sites_state(server)["stock"].get(site.slug, {})
    offers: list[Offer] = []
    seen_names: set[str] = set()
    for card in cards_carried(server):
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


def page_html(
    shell: Shell, *, query: str, count: int, products: str, no_results: str, pagination: str
) -> str:
    """A theme's search page; ``no_results`` (its "nothing matched" notice, where ``{query}``
    stands for the escaped search words) shows when ``count`` is 0."""
    shown = html.escape(query)
    notice = "" if count else no_results.format(query=shown)
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


def page_span(total: int, size: int, page: int) -> tuple[int, int, int]:
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    return page, pages, (page - 1) * size


# --- blocked pages ------------------------------------------------------------------------------
def blocked_page(site: Site, kind: str) -> str:
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


def fault_take(server: ReplayServer, slug: str) -> str:
    """The page-level fault to apply to this request, if any ("" for none)."""
    faults = sites_state(server)["faults"]
    fault = faults.get(slug)
    if not fault:
        return ""
    if fault["remaining"] is not None:
        fault["remaining"] -= 1
        if fault["remaining"] <= 0:
            faults.pop(slug, None)
    return fault["kind"]


def site_product_find(
    server: ReplayServer, site: Site, match: Callable[[Product], bool]
) -> Product | None:
    """The product ``site`` lists that ``match`` picks (by handle, by id), among every card it
    carries: what a link to one product's page names."""
    names = [card["name"] for card in cards_carried(server)]
    names += [
        rows[0]["card_name"]
        for rows in sites_state(server)["stock"].get(site.slug, {}).values()
        if rows
    ]
    for name in dict.fromkeys(names):
        for product in site_products(site, site_offers(server, site, name)):
            if match(product):
                return product
    return None


def product_page(site: Site, product: Product) -> str:
    """A product's own page: what a shopper who follows a price link from Lenny lands on. The
    replay's adapters never read it (Lenny reads the search pages and Shopify's ``.js``): it is
    for the demo's links, plain and honest rather than a copy of a store's theme."""
    rows = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            html.escape(offer.condition),
            html.escape(offer.finish),
            "English" if offer.language == "en" else "Foreign",
            html.escape(f"£{offer.price:,.2f}"),
            f"{offer.quantity} in stock" if offer.quantity > 0 else "sold out",
        )
        for offer in product.offers
    )
    title = html.escape(f"{product.title} · {product.set_name}")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title} · "
        f"{html.escape(site.name)}</title></head><body><h1>{title}</h1>"
        f"<p>{html.escape(site.name)} (Lenny's replay store) · set {html.escape(product.set_code.upper())}"
        f" · number {html.escape(product.collector_number or '—')}</p>"
        "<table><thead><tr><th>Condition</th><th>Finish</th><th>Language</th><th>Price</th>"
        f"<th>Stock</th></tr></thead><tbody>{rows}</tbody></table></body></html>"
    )
