"""The replay stores: real store pages answering any card search, read back by the adapters."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from stores.adapters import ParseFailure, UpstreamError, adapter_for
from stores.adapters.search import listings_fetch
from stores.matching import name_matches
from stores.replay import SITES, site_epoch, site_fault, site_offers, site_stock_set
from stores.tests.factories import offer


def fetch_from(upstreams, slug: str, card_name: str):
    site = SITES[slug]
    session = requests.Session()

    def fetch(url: str) -> tuple[int, str]:
        response = session.get(url, timeout=5)
        return response.status_code, response.content.decode("utf-8")

    return listings_fetch(
        adapter=adapter_for(site.platform),
        base_url=upstreams.url(f"/stores/{slug}"),
        card_name=card_name,
        fetch=fetch,
    )


def in_stock(listings):
    return sorted(
        (x.finish, x.condition, x.language, x.price, x.quantity, x.set_name)
        for x in listings
        if x.in_stock and name_matches(x.name, "Mystic Snake", x.set_name)
    )


SNAKES = [
    offer(price="0.95", quantity=3),
    offer(price="0.80", quantity=1, condition="LP"),
    offer(price="0.60", quantity=0, condition="MP"),
    offer(price="2.40", quantity=2, finish="foil"),
    offer("Masters 25 Art Series", "", "", price="0.50", quantity=4, extra="Art Card"),
]


@pytest.mark.parametrize("slug", ["harlequins", "skyward-fire", "troll-trader"])
def test_crystal_commerce_stores_list_exactly_their_stock(upstreams, slug):
    site_stock_set(upstreams, slug, "Mystic Snake", SNAKES)
    listings = fetch_from(upstreams, slug, "Mystic Snake")
    assert in_stock(listings) == [
        ("foil", "NM", "en", Decimal("2.40"), 2, "Masters 25"),
        ("nonfoil", "LP", "en", Decimal("0.80"), 1, "Masters 25"),
        ("nonfoil", "NM", "en", Decimal("0.95"), 3, "Masters 25"),
    ]
    # The art card is listed, as stores do, and is not the card.
    assert [x.name for x in listings if x.set_name.endswith("Art Series")] == [
        "Mystic Snake - Art Card"
    ]


@pytest.mark.parametrize("slug", ["dice-saloon", "lvl-up-gaming"])
def test_binderpos_stores_say_available_not_how_many_and_carry_skus(upstreams, slug):
    site_stock_set(
        upstreams, slug, "Mystic Snake", [*SNAKES, offer(price="0.70", language="foreign")]
    )
    listings = fetch_from(upstreams, slug, "Mystic Snake")
    assert in_stock(listings) == [
        ("foil", "NM", "en", Decimal("2.40"), None, "Masters 25"),
        ("nonfoil", "LP", "en", Decimal("0.80"), None, "Masters 25"),
        ("nonfoil", "NM", "en", Decimal("0.95"), None, "Masters 25"),
        ("nonfoil", "NM", "foreign", Decimal("0.70"), None, "Masters 25"),
    ]
    snake = next(x for x in listings if x.finish == "foil")
    assert (snake.set_code, snake.collector_number, snake.currency) == ("a25", "208", "GBP")
    assert snake.url == upstreams.url(f"/stores/{slug}/products/mystic-snake-masters-25")


def test_shopify_products_without_the_variants_json_are_read_from_their_js(upstreams):
    site_stock_set(upstreams, "dice-saloon", "Mystic Snake", SNAKES)
    upstreams.state["store_sites"]["inline_variants"]["dice-saloon"] = False
    listings = fetch_from(upstreams, "dice-saloon", "Mystic Snake")
    assert upstreams.count(r"^/stores/dice-saloon/products/.*\.js$") == 2  # the card, the art card
    assert len(in_stock(listings)) == 3


def test_any_card_is_answered_and_stock_moves_with_time(upstreams):
    site = SITES["lvl-up-gaming"]
    state = upstreams.state["store_sites"]
    state["epoch"] = 1
    first = site_offers(upstreams, site, "ancestral")
    names = {o.card_name for o in first}
    assert names and names <= {"Ancestral Recall", "Ancestral Vision", "Ancestral Hot Dog Minotaur"}
    assert site_offers(upstreams, site, "ancestral") == first  # the same within an epoch
    later = [site_offers(upstreams, site, "ancestral") for state["epoch"] in range(2, 6)]
    assert any(x != first for x in later)
    assert {
        (o.set_code, o.collector_number) for o in first if o.card_name == "Ancestral Recall"
    } <= {
        ("vma", "1"),
        ("lea", "47"),
    }

    state["epoch"], state["period"] = None, 0.2
    before = site_epoch(upstreams)
    state["started"] -= 0.45  # as if 0.45 s went by, without waiting for them
    assert site_epoch(upstreams) in (before + 2, before + 3)


@pytest.mark.parametrize("slug", list(SITES))
def test_a_search_that_finds_nothing_says_so_on_the_real_page(upstreams, slug):
    assert fetch_from(upstreams, slug, "Zzyzx Nonexistent") == []
    page = requests.get(
        upstreams.url(
            f"/stores/{slug}/{'products/search' if SITES[slug].platform == 'crystalcommerce' else 'search'}"
        ),
        params={"q": "Zzyzx Nonexistent"},
        timeout=5,
    ).text
    assert "Zzyzx Nonexistent" in page
    assert "did not match any products" in page or "did not yield any results" in page


def test_pages_keep_the_real_stores_markup(upstreams):
    troll = requests.get(
        upstreams.url("/stores/troll-trader/products/search"), params={"q": "Mox"}, timeout=5
    ).text
    assert "Copyright 2024 TrollTraderCards" in troll and 'Search results for "Mox"' in troll
    lvl = requests.get(
        upstreams.url("/stores/lvl-up-gaming/search"), params={"q": "Mox Jet"}, timeout=5
    ).text
    assert "Charminster Road" in lvl and 'Shopify.currency = {"active":"GBP"' in lvl
    assert "results found for &quot;Mox Jet&quot;" in lvl


@pytest.mark.parametrize("slug", ["harlequins", "dice-saloon"])
def test_long_results_are_paged_and_the_adapter_follows_them(upstreams, slug):
    many = [
        offer(f"Set {n:02}", f"s{n:02}", str(n), price=f"1.{n:02}", quantity=1) for n in range(25)
    ]
    site_stock_set(upstreams, slug, "Mystic Snake", many)
    listings = fetch_from(upstreams, slug, "Mystic Snake")
    assert len({x.set_name for x in listings if x.in_stock}) == 25
    pages = [r.arg("page") for r in upstreams.requests(rf"^/stores/{slug}/(products/)?search")]
    assert pages[0] is None and pages[1] == "2"


@pytest.mark.parametrize(
    ("kind", "raised", "detail"),
    [
        ("too_many_searches", ParseFailure, "rate_limited"),
        ("captcha", ParseFailure, "captcha"),
        ("layout", ParseFailure, "layout"),
        ("429", UpstreamError, 429),
        ("5xx", UpstreamError, 503),
    ],
)
@pytest.mark.parametrize("slug", ["skyward-fire", "lvl-up-gaming"])
def test_every_fault_is_one_the_adapters_recognise(upstreams, slug, kind, raised, detail):
    site_stock_set(upstreams, slug, "Mystic Snake", SNAKES)
    site_fault(upstreams, slug, kind, times=1)
    with pytest.raises(raised) as error:
        fetch_from(upstreams, slug, "Mystic Snake")
    assert (error.value.kind if raised is ParseFailure else error.value.status) == detail
    assert len(in_stock(fetch_from(upstreams, slug, "Mystic Snake"))) == 3  # only the next request


def test_a_slow_store_is_slow(upstreams):
    site_fault(upstreams, "harlequins", "slow", seconds=0.3, times=1)
    response = requests.get(
        upstreams.url("/stores/harlequins/products/search"), params={"q": "Mox"}, timeout=5
    )
    assert response.elapsed.total_seconds() >= 0.3


def test_the_control_route_sets_faults_and_stock_from_another_process(upstreams):
    control = upstreams.url("/stores/_control/troll-trader")
    assert requests.post(
        control,
        json={"stock": [offer(price="0.95", quantity=1)], "card": "Mystic Snake"},
        timeout=5,
    ).ok
    assert len(in_stock(fetch_from(upstreams, "troll-trader", "Mystic Snake"))) == 1
    assert requests.post(control, json={"fault": "captcha", "times": 1}, timeout=5).ok
    with pytest.raises(ParseFailure):
        fetch_from(upstreams, "troll-trader", "Mystic Snake")
    answer = requests.post(control, json={"fault": "earthquake"}, timeout=5)
    assert answer.status_code == 400 and "unknown store fault" in answer.json()["error"]
    assert (
        requests.get(
            upstreams.url("/stores/nowhere/search"), params={"q": "x"}, timeout=5
        ).status_code
        == 404
    )


@pytest.mark.parametrize("slug", ["harlequins", "dice-saloon"])
def test_a_listings_link_leads_to_its_product_page(upstreams, slug):
    """The demo's price links open the product they name, with its copies and stock."""
    site_stock_set(upstreams, slug, "Mystic Snake", SNAKES)
    listing = next(
        x for x in fetch_from(upstreams, slug, "Mystic Snake") if x.in_stock and x.finish == "foil"
    )
    page = requests.get(listing.url, timeout=5)
    assert page.status_code == 200
    assert "<h1>Mystic Snake" in page.text and "Masters 25" in page.text
    assert "£2.40" in page.text and "2 in stock" in page.text
    assert requests.get(listing.url + "0", timeout=5).status_code == 404
