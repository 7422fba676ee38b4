"""Store adapters against real captured search pages, broken pages and hostile input."""

from __future__ import annotations

import contextlib
import json
import re
from decimal import Decimal
from html import escape as html_escape
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from lenny.replay import ReplayResponse
from stores.adapters import (
    PLATFORM_CHOICES,
    Listing,
    ParseFailure,
    SearchPage,
    UpstreamError,
    adapter_for,
)
from stores.adapters.search import listings_fetch
from stores.listings import condition_normalise, variant_traits
from stores.matching import name_matches
from stores.tests.factories import EXPECTED, STORE_PAGES, page_html, path_of


def parsed(platform: str, name: str, base_url: str = "https://store.example") -> SearchPage:
    return adapter_for(platform).parse_search(page_html(platform, name), base_url=base_url)


def by_url(listings: list[Listing], fragment: str) -> list[Listing]:
    return [x for x in listings if fragment in x.url]


# --- the real pages ---------------------------------------------------------------------------


@pytest.mark.parametrize(("platform", "name", "card", "base_url"), STORE_PAGES)
def test_it_finds_every_listing_the_other_scraper_found(platform, name, card, base_url):
    listings = parsed(platform, name, base_url).listings
    expected = json.loads((EXPECTED / platform / f"{name}.expected.json").read_text())
    assert expected
    for entry in expected:
        price = Decimal(entry["price_relativeUnits"]) / 100
        ours = [
            x for x in listings if path_of(x.url) == path_of(entry["productRef"]) and x.in_stock
        ]
        assert ours, f"missing {entry['title']} ({entry['expansion']})"
        assert {x.set_name for x in ours} == {entry["expansion"]}
        assert {x.finish != "nonfoil" for x in ours} == {entry["isFoil"]}
        assert {x.currency for x in ours} == {"GBP"}
        if platform == "shopify":
            # "Steam Vents - Near Mint Foil": the variant's title follows the product's.
            traits = variant_traits(entry["title"].rsplit(" - ", 1)[1])
            (same,) = [x for x in ours if x.price == price]
            assert (same.condition, same.language) == (traits.condition, traits.language or "en")
            # The page says "available", not how many: unknown, never a guess.
            assert same.quantity is None
        elif entry["subtitle"]:
            (same,) = [
                x
                for x in ours
                if x.price == price and x.condition == condition_normalise(entry["subtitle"])
            ]
            assert same.quantity == int(entry["stock_level"])
        else:
            # The older theme's summary: the top price and the stock of all conditions together.
            assert max(x.price for x in ours) == price
            assert sum(x.quantity for x in ours) == int(entry["stock_level"])
            assert all(x.condition for x in ours)
    # ... and nothing of the card in stock that the other scraper did not see.
    in_stock_of_card = {
        path_of(x.url) for x in listings if x.in_stock and name_matches(x.name, card, x.set_name)
    }
    assert in_stock_of_card == {path_of(e["productRef"]) for e in expected}


@pytest.mark.parametrize(
    ("name", "variants"),
    [("harlequins_tarmogoyf", 19), ("skyward-fire_steam-vents", 7), ("troll-trader_tarmogoyf", 16)],
)
def test_it_reads_each_crystal_commerce_variant_exactly_once(name, variants):
    html = page_html("crystalcommerce", name)
    listings = parsed("crystalcommerce", name).listings
    on_sale = [x for x in listings if x.in_stock]
    assert len(on_sale) == variants == len(set(re.findall(r'data-vid="(\d+)"', html)))
    # Harlequins repeats the top variant in its grid and list views: still one listing each.
    if name == "harlequins_tarmogoyf":
        future_sight = by_url(listings, "future_sight/tarmogoyf/1357")
        assert [(x.condition, x.price, x.quantity) for x in future_sight] == [
            ("LP", Decimal("30.19"), 2),
            ("MP", Decimal("26.83"), 2),
        ]


def test_it_lists_each_variant_of_the_older_theme_instead_of_its_summary():
    listings = parsed("crystalcommerce", "troll-trader_tarmogoyf").listings
    future_sight = by_url(listings, "future_sight/tarmogoyf/1357")
    assert [(x.condition, x.language, x.price, x.quantity) for x in future_sight] == [
        ("NM", "en", Decimal("34.22"), 3),
        ("LP", "en", Decimal("32.17"), 4),
    ]
    assert {x.variant for x in future_sight} == {"NM-Mint, English", "Light Play, English"}


def test_it_reports_sold_out_products_as_out_of_stock_rather_than_dropping_them():
    listings = parsed("crystalcommerce", "skyward-fire_steam-vents").listings
    (promo,) = by_url(listings, "/steam_vents__promo_pack/")
    assert (promo.in_stock, promo.quantity, promo.price, promo.condition) == (
        False,
        0,
        Decimal("12.45"),
        None,
    )
    (promo_foil,) = by_url(listings, "/steam_vents__foil__promo_pack/")
    assert (promo_foil.finish, promo_foil.name) == ("foil", "Steam Vents - Promo Pack")


def test_it_takes_foil_and_treatments_from_a_crystal_commerce_product_name():
    listings = parsed("crystalcommerce", "skyward-fire_steam-vents").listings
    (unfinity,) = by_url(listings, "/steam_vents__foil__borderless/")
    assert (unfinity.name, unfinity.finish, unfinity.set_name) == (
        "Steam Vents - Borderless",
        "foil",
        "Unfinity",
    )


def test_it_takes_the_finish_from_a_variant_description_when_the_store_writes_it_there():
    html = page_html("crystalcommerce", "harlequins_tarmogoyf").replace(
        "Near Mint, English", "Near Mint, Foil, English"
    )
    listings = adapter_for("crystalcommerce").parse_search(html, base_url="https://s.example")
    (tsr,) = by_url(listings.listings, "time_spiral_remastered/tarmogoyf/2058380")
    assert (tsr.finish, tsr.condition, tsr.name) == ("foil", "NM", "Tarmogoyf")


def test_it_reads_binderpos_skus_for_set_number_language_finish_and_condition():
    listings = parsed("shopify", "dice-saloon_steam-vents").listings
    guilds = by_url(listings, "/products/steam-vents-guilds-of-ravnica")
    assert len(guilds) == 10
    assert {(x.set_code, x.collector_number) for x in guilds} == {("grn", "257")}
    near_mint = next(x for x in guilds if x.variant == "Near Mint")
    assert (near_mint.finish, near_mint.condition, near_mint.in_stock, near_mint.quantity) == (
        "nonfoil",
        "NM",
        True,
        None,
    )
    damaged_foil = next(x for x in guilds if x.variant == "Damaged Foil")
    assert (damaged_foil.finish, damaged_foil.condition, damaged_foil.quantity) == (
        "foil",
        "DMG",
        0,
    )


def test_it_believes_the_variant_title_over_the_sku_about_language():
    listings = parsed("shopify", "lvl-up-gaming_steam-vents").listings
    promo = [x for x in listings if x.in_stock and x.set_code == "pgrn"]
    assert [(x.variant, x.language, x.collector_number) for x in promo] == [
        ("Near Mint Foreign", "foreign", "257")
    ]


@pytest.mark.parametrize(
    ("platform", "name", "next_url"),
    [
        ("crystalcommerce", "harlequins_tarmogoyf", None),
        (
            "crystalcommerce",
            "skyward-fire_steam-vents",
            "https://store.example/products/search?page=2&q=steam+vents",
        ),
        (
            "shopify",
            "dice-saloon_steam-vents",
            "https://store.example/search?options%5Bprefix%5D=last&page=2&q=steam+vents&type=product",
        ),
    ],
)
def test_it_finds_the_next_page_of_results(platform, name, next_url):
    assert parsed(platform, name).next_page_url == next_url


def test_it_builds_the_search_urls_each_platform_answers():
    cc, shopify = adapter_for("crystalcommerce"), adapter_for("shopify")
    assert (
        cc.search_url("https://s.example/", "Lim-Dûl's Vault")
        == "https://s.example/products/search?q=Lim-D%C3%BBl%27s+Vault"
    )
    assert cc.search_url("https://s.example", "Tarmogoyf", page=2).endswith("?q=Tarmogoyf&page=2")
    assert (
        shopify.search_url("https://s.example", "Fire // Ice")
        == "https://s.example/search?q=Fire+%2F%2F+Ice&type=product&options%5Bprefix%5D=last"
    )
    with pytest.raises(ValueError, match="not an http"):
        cc.search_url("javascript:alert(1)", "Tarmogoyf")


def test_it_knows_its_platforms_by_name():
    assert [p for p, _ in PLATFORM_CHOICES] == ["crystalcommerce", "shopify"]
    with pytest.raises(ValueError, match="unknown store platform 'magento'"):
        adapter_for("magento")


# --- pages it must not mistake for "out of stock" --------------------------------------------


def without_products(platform: str, name: str, *, title: str | None = None, note: str = "") -> str:
    tree = LexborHTMLParser(page_html(platform, name))
    selector = "li.product" if platform == "crystalcommerce" else "[data-product-variants]"
    for node in tree.css(selector):
        node.decompose()
    if platform == "shopify":
        for node in tree.css(".list-view-items"):
            node.decompose()
    if title is not None:
        tree.css_first("title").replace_with(f"<title>{title}</title>")
        for node in tree.css("title"):
            node.unwrap() if node.text() != title else None
    html = tree.html
    return html.replace("</main>", f"<p>{note}</p></main>", 1) if note else html


@pytest.mark.parametrize(
    ("platform", "html"),
    [
        (
            "crystalcommerce",
            '<html><head><title>Skyward Fire</title></head><body><h1 class="page-title">'
            'Search results for "xyzzy"</h1><p>No products found.</p></body></html>',
        ),
        (
            "shopify",
            '<html><head><title>Search: 0 results found for "xyzzy"</title></head>'
            "<body class=template-search><main><h1>0 results</h1></main></body></html>",
        ),
        (
            "shopify",
            "<html><head><title>Search</title></head><body><main><p>Your search for "
            '"xyzzy" did not yield any results.</p></main></body></html>',
        ),
    ],
)
def test_it_returns_no_listings_for_a_genuine_no_results_page(platform, html):
    page = adapter_for(platform).parse_search(html, base_url="https://s.example")
    assert page.listings == [] and page.next_page_url is None


def test_it_recognises_a_real_shopify_page_that_found_nothing():
    html = re.sub(
        r"\b13 results", "0 results", without_products("shopify", "dice-saloon_steam-vents")
    )
    assert adapter_for("shopify").parse_search(html, base_url="https://s.example").listings == []


@pytest.mark.parametrize(
    ("platform", "html", "kind", "words"),
    [
        (
            "crystalcommerce",
            "<html><head><title>Search</title></head><body><h1>Too Many Searches</h1><p>You "
            "have performed too many searches. Please wait a minute.</p></body></html>",
            "rate_limited",
            "too many searches",
        ),
        (
            "shopify",
            "<html><head><title>Just a moment...</title></head><body><div id=challenge-form>"
            "Checking your browser</div></body></html>",
            "captcha",
            "Just a moment",
        ),
        (
            "crystalcommerce",
            "<html><body><form><div class=g-recaptcha data-sitekey=x></div>Please prove you are "
            "not a robot</form></body></html>",
            "captcha",
            "not a robot",
        ),
        (
            "shopify",
            "<html><body><h1>429 Too Many Requests</h1></body></html>",
            "rate_limited",
            "Too Many Requests",
        ),
    ],
)
def test_it_records_a_blocked_search_as_a_parse_failure(platform, html, kind, words):
    with pytest.raises(ParseFailure) as failure:
        adapter_for(platform).parse_search(html, base_url="https://s.example")
    assert failure.value.kind == kind
    assert words in failure.value.snippet


@pytest.mark.parametrize("platform", ["crystalcommerce", "shopify"])
@pytest.mark.parametrize(
    "html",
    [
        "",
        "<html></html>",
        '{"products": []}',
        "<html><body><h1>Welcome to our store</h1></body></html>",
    ],
)
def test_it_never_reads_a_page_it_does_not_understand_as_empty(platform, html):
    with pytest.raises(ParseFailure):
        adapter_for(platform).parse_search(html, base_url="https://s.example")


def test_it_refuses_a_crystal_commerce_page_whose_layout_changed():
    html = page_html("crystalcommerce", "skyward-fire_steam-vents").replace(
        'class="product"', 'class="catalog-item"'
    )
    with pytest.raises(ParseFailure) as failure:
        adapter_for("crystalcommerce").parse_search(html, base_url="https://s.example")
    assert failure.value.kind == "layout"
    assert "no products" in failure.value.reason
    assert 'Search results for "steam vents"' in failure.value.snippet


def test_it_refuses_a_crystal_commerce_product_without_variant_rows():
    html = page_html("crystalcommerce", "harlequins_tarmogoyf").replace("variant-row", "offer-line")
    with pytest.raises(ParseFailure, match="shows no variant rows"):
        adapter_for("crystalcommerce").parse_search(html, base_url="https://s.example")


def test_it_refuses_an_in_stock_variant_without_a_readable_price():
    html = page_html("crystalcommerce", "harlequins_tarmogoyf").replace("£30.19", "Call us")
    with pytest.raises(ParseFailure, match="variant 47939 has no readable price"):
        adapter_for("crystalcommerce").parse_search(html, base_url="https://s.example")


def test_it_refuses_a_shopify_page_that_counts_results_but_shows_none():
    html = without_products("shopify", "dice-saloon_steam-vents")
    with pytest.raises(ParseFailure, match="13 results but shows no products"):
        adapter_for("shopify").parse_search(html, base_url="https://s.example")


@pytest.mark.parametrize(
    ("pattern", "replacement", "message"),
    [
        ("&quot;price&quot;:1160", "&quot;price&quot;:&quot;11.60&quot;", "minor units"),
        ("&quot;available&quot;:true", "&quot;available&quot;:&quot;yes&quot;", "available"),
        (r"data-product-variants='\[\{", "data-product-variants='[{{", "no readable JSON"),
        (
            r"data-product-variants='[^']*'",
            "data-product-variants='{&quot;a&quot;:1}'",
            "not a list",
        ),
        (r"data-product-variants='[^']*'", "data-product-variants='[]'", "not a list"),
        (r"data-product-variants='\[", "data-product-variants='[7, ", "not a JSON object"),
    ],
)
def test_it_refuses_variant_json_it_cannot_trust(pattern, replacement, message):
    html = re.sub(pattern, replacement, page_html("shopify", "dice-saloon_steam-vents"), count=1)
    with pytest.raises(ParseFailure, match=message):
        adapter_for("shopify").parse_search(html, base_url="https://s.example")


@pytest.mark.parametrize(("platform", "name", "card", "base_url"), STORE_PAGES)
def test_it_refuses_a_page_cut_off_in_transfer(platform, name, card, base_url):
    html = page_html(platform, name)
    with pytest.raises(ParseFailure) as failure:
        adapter_for(platform).parse_search(html[: len(html) // 2], base_url=base_url)
    assert failure.value.kind == "truncated"


# --- hostile input ----------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from(
    [
        '<li class="product">',
        "</li>",
        '<h4 class="name">',
        "</h4>",
        '<span class="category">',
        "</span>",
        '<div class="variants">',
        '<div class="list-variants grid">',
        '<div class="variant-row">',
        "</div>",
        '<span class="variant-short-info">',
        '<span class="price">',
        '<form class="add-to-cart-form" data-vid="',
        '">',
        "</form>",
        '<a href="',
        '<a class="next_page" href="',
        "In Stock",
        "Out of stock.",
        "NM-Mint, English",
        "Near Mint Foil",
        "£12.50",
        "$-3",
        "<main>",
        "</main>",
        '<a href="/products/',
        "<div hidden data-product-variants='",
        "'></div>",
        "<title>Search: 0 results found</title>",
        "No products found",
        "Too many searches",
        "&quot;",
        "\x00",
        "\ud800",
    ]
)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["title", "price", "available", "sku", "name", "variants", "handle", "x"]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=20,
)


def _parse_or_fail(platform: str, html: str) -> None:
    try:
        page = adapter_for(platform).parse_search(html, base_url="https://s.example")
    except ParseFailure as failure:
        assert failure.reason
        return
    for listing in page.listings:
        assert isinstance(listing, Listing)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(platform=st.sampled_from(["crystalcommerce", "shopify"]), text=st.text())
def test_it_raises_nothing_but_parse_failure_on_arbitrary_text(platform, text):
    _parse_or_fail(platform, text)
    _parse_or_fail(platform, text + "</html>")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    platform=st.sampled_from(["crystalcommerce", "shopify"]),
    parts=st.lists(st.one_of(_FRAGMENTS, st.text(max_size=12)), max_size=60),
    variants=_JSON_VALUES,
)
def test_it_raises_nothing_but_parse_failure_on_hostile_html(platform, parts, variants):
    blob = json.dumps(variants).replace("&", "&amp;").replace("'", "&#39;")
    html = "".join(parts)
    _parse_or_fail(platform, f"<html><body>{html}</body></html>")
    _parse_or_fail(
        "shopify",
        f"<html><body><main>{html}<div data-product-variants='{blob}'></div></main></body></html>",
    )


def _escaped(strategy):
    return strategy.map(lambda s: html_escape(s, quote=True))


_PRICES = st.one_of(
    st.sampled_from(["£12.50", "$1,234.56", "12,50 €", "£", "-£3", "free"]), st.text()
)
_DESCRIPTIONS = st.one_of(
    st.sampled_from(["NM-Mint, English", "Near Mint Foil", "Out of stock.", "Foreign", ""]),
    st.text(),
)
_STOCK = st.one_of(st.integers(-5, 10**20).map(lambda n: f"{n} In Stock"), st.text(max_size=8))
_CC_PRODUCT = st.builds(
    lambda name, desc, stock, vid, price: (
        f'<li class="product"><h4 class="name">{name}</h4><span class="category">{name}</span>'
        f'<div class="variants"><div class="variant-row"><span class="variant-short-info">{desc}'
        f'</span><span class="variant-qty">{stock}</span><form class="add-to-cart-form" '
        f'data-vid="{vid}"><span class="price">{price}</span></form></div></div></li>'
    ),
    _escaped(st.text(max_size=30)),
    _escaped(_DESCRIPTIONS),
    _escaped(_STOCK),
    _escaped(st.one_of(st.integers(0, 10**6).map(str), st.text(max_size=4))),
    _escaped(_PRICES),
)
_SHOPIFY_VARIANT = st.fixed_dictionaries(
    {},
    optional={
        "title": st.one_of(_DESCRIPTIONS, st.integers(), st.none()),
        "name": st.one_of(st.text(max_size=30), st.just("Steam Vents [GRN] - Near Mint")),
        "price": st.one_of(st.integers(-10, 10**9), st.text(max_size=6), st.floats()),
        "available": st.one_of(st.booleans(), st.none(), st.text(max_size=3)),
        "sku": st.one_of(st.sampled_from(["GRN-257-EN-NF-1", "X-1-EN-FO-9"]), st.text(max_size=12)),
        "inventory_quantity": st.one_of(st.integers(-5, 10**6), st.text(max_size=3)),
        "inventory_management": st.sampled_from(["shopify", None]),
    },
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    products=st.lists(_CC_PRODUCT, min_size=1, max_size=4),
    variants=st.lists(_SHOPIFY_VARIANT, min_size=1, max_size=4),
)
def test_it_reads_well_formed_pages_with_hostile_values_or_fails_cleanly(products, variants):
    _parse_or_fail("crystalcommerce", f"<html><body><ul>{''.join(products)}</ul></body></html>")
    blob = html_escape(json.dumps(variants), quote=True)
    _parse_or_fail(
        "shopify",
        '<html><body><main><div><a href="/products/x">x</a></div>'
        f"<div data-product-variants='{blob}'></div></main></body></html>",
    )


@settings(max_examples=200, deadline=None)
@given(product=_JSON_VALUES)
def test_it_raises_nothing_but_parse_failure_on_a_hostile_product_document(product):
    with contextlib.suppress(ParseFailure):
        adapter_for("shopify").parse_detail(
            json.dumps(product), url="https://s.example/products/x.js", base_url="https://s.example"
        )


# --- fetching through the adapters' plan ----------------------------------------------------


def test_it_follows_result_pages_while_they_show_the_card(store_site):
    first = page_html("crystalcommerce", "skyward-fire_steam-vents")
    second = page_html("crystalcommerce", "troll-trader_tarmogoyf")

    @store_site.route("GET", "/stores/skyward/products/search")
    def search(request):
        return ReplayResponse.html(first if request.arg("page") in (None, "1") else second)

    base_url = store_site.url("/stores/skyward")
    listings = listings_fetch(
        adapter=adapter_for("crystalcommerce"),
        base_url=base_url,
        card_name="Steam Vents",
        fetch=_fetch,
    )
    # Page 2 holds only other cards: its own next link is not followed.
    assert [r.arg("page") for r in store_site.requests("/products/search")] == [None, "2"]
    assert store_site.requests("/products/search")[0].arg("q") == "Steam Vents"
    assert len(listings) == 10 + 27
    assert all(x.url.startswith(base_url + "/catalog/") for x in listings)


def test_it_reads_no_more_than_max_pages(store_site):
    html = page_html("crystalcommerce", "skyward-fire_steam-vents")

    @store_site.route("GET", "/products/search")
    def search(request):
        page = int(request.arg("page") or 1)
        # Every page still shows the card and links to the next one.
        return ReplayResponse.html(html.replace("page=2&amp;", f"page={page + 1}&amp;"))

    listings_fetch(
        adapter=adapter_for("crystalcommerce"),
        base_url=store_site.base_url,
        card_name="Steam Vents",
        fetch=_fetch,
        max_pages=3,
    )
    assert store_site.count("/products/search") == 3


def test_it_never_follows_a_next_link_to_another_site(store_site):
    html = page_html("crystalcommerce", "skyward-fire_steam-vents").replace(
        'href="/products/search?page=2', 'href="https://evil.example/products/search?page=2'
    )
    store_site.add_route("GET", "/products/search", lambda r: ReplayResponse.html(html))
    listings_fetch(
        adapter=adapter_for("crystalcommerce"),
        base_url=store_site.base_url,
        card_name="Steam Vents",
        fetch=_fetch,
    )
    assert store_site.count() == 1


def _shopify_site_without_embedded_variants(store_site) -> dict[str, dict]:
    """Serve the Dice Saloon page minus its variant JSON, and each product as /products/<h>.js."""
    tree = LexborHTMLParser(page_html("shopify", "dice-saloon_steam-vents"))
    products: dict[str, dict] = {}
    for blob in tree.css("[data-product-variants]"):
        card = blob.prev
        while not card.is_element_node:
            card = card.prev
        href = card.css_first('a[href*="/products/"]').attributes["href"]
        handle = urlsplit(href).path.rsplit("/", 1)[1]
        variants = json.loads(blob.attributes["data-product-variants"])
        title = variants[0]["name"].removesuffix(" - " + variants[0]["title"])
        products[handle] = {"id": 1, "title": title, "handle": handle, "variants": variants}
        blob.decompose()
    for pagination in tree.css(".pagination"):
        pagination.decompose()
    html = tree.html

    store_site.add_route("GET", "/search", lambda r: ReplayResponse.html(html))

    @store_site.route("GET", r"/products/(?P<handle>[^/]+)\.js")
    def product(request):
        found = products.get(request.params["handle"])
        return ReplayResponse.json(found) if found else ReplayResponse.error(404, "not found")

    return products


def test_it_falls_back_to_the_product_json_for_per_variant_stock(store_site):
    products = _shopify_site_without_embedded_variants(store_site)
    listings = listings_fetch(
        adapter=adapter_for("shopify"),
        base_url=store_site.base_url,
        card_name="Steam Vents",
        fetch=_fetch,
    )
    assert store_site.count(r"\.js$") == len(products) == 10
    embedded = parsed("shopify", "dice-saloon_steam-vents", store_site.base_url).listings
    assert sorted(x.as_dict().items() for x in listings) == sorted(
        x.as_dict().items() for x in embedded
    )
    # The page's currency carries over to the product documents, which do not say it.
    assert {x.currency for x in listings} == {"GBP"}


def test_it_skips_a_product_unpublished_since_the_search(store_site):
    products = _shopify_site_without_embedded_variants(store_site)
    store_site.fault(r"/products/steam-vents-guildpact\.js", status=404)
    listings = listings_fetch(
        adapter=adapter_for("shopify"),
        base_url=store_site.base_url,
        card_name="Steam Vents",
        fetch=_fetch,
    )
    assert len(listings) == sum(len(p["variants"]) for p in products.values()) - 10
    assert not [x for x in listings if x.url.endswith("/steam-vents-guildpact")]


@pytest.mark.parametrize("path", [r"/search", r"/products/steam-vents-guildpact\.js"])
def test_it_reports_an_http_error_instead_of_a_result(store_site, path):
    _shopify_site_without_embedded_variants(store_site)
    store_site.fault(path, status=503)
    with pytest.raises(UpstreamError) as error:
        listings_fetch(
            adapter=adapter_for("shopify"),
            base_url=store_site.base_url,
            card_name="Steam Vents",
            fetch=_fetch,
        )
    assert error.value.status == 503


def test_it_passes_a_too_many_searches_page_on_as_a_parse_failure(store_site):
    store_site.add_route(
        "GET",
        "/products/search",
        lambda r: ReplayResponse.html(
            "<html><body><p>Too many searches. Try again later.</p></body></html>"
        ),
    )
    with pytest.raises(ParseFailure) as failure:
        listings_fetch(
            adapter=adapter_for("crystalcommerce"),
            base_url=store_site.base_url,
            card_name="Tarmogoyf",
            fetch=_fetch,
        )
    assert failure.value.kind == "rate_limited"


def _fetch(url: str) -> tuple[int, str]:
    import requests

    response = requests.get(url, timeout=10)
    return response.status_code, response.content.decode("utf-8")


def test_it_keeps_a_hostile_product_handle_inside_the_products_path():
    document = {
        "title": "Steam Vents [Guilds of Ravnica]",
        "handle": "../../admin?x=1",
        "variants": [{"title": "Near Mint", "price": 1160, "available": True}],
    }
    (listing,) = adapter_for("shopify").parse_detail(
        json.dumps(document), url="https://s.example/products/x.js", base_url="https://s.example"
    )
    assert listing.url == "https://s.example/products/..%2F..%2Fadmin%3Fx%3D1"
    assert (listing.name, listing.set_name, listing.price) == (
        "Steam Vents",
        "Guilds of Ravnica",
        Decimal("11.60"),
    )
