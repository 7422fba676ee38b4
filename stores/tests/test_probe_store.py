"""`manage.py probe_store`: what a curator sees when checking a store before adding it."""

from __future__ import annotations

import gzip
import json
import re
import socket
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from lenny.replay import ReplayResponse
from stores.models import Set
from stores.tests.factories import EXPECTED, STORE_PAGES, page_path, path_of

KEYS = [
    "name",
    "set_name",
    "set_code",
    "collector_number",
    "finish",
    "condition",
    "language",
    "price",
    "currency",
    "quantity",
    "url",
]


def probe(*args: str) -> str:
    out = StringIO()
    call_command("probe_store", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(("platform", "name", "card", "base_url"), STORE_PAGES)
def test_it_prints_exactly_the_listings_of_every_shared_store_page(platform, name, card, base_url):
    printed = json.loads(
        probe(
            "--platform", platform, "--file", page_path(platform, name), "--card", card,
            "--base-url", base_url, "--json",
        )
    )  # fmt: skip
    assert printed == json.loads((EXPECTED / platform / f"{name}.listings.json").read_text())
    assert all(list(listing) == KEYS for listing in printed)

    # Every listing the other scraper found is among them: set, price, foil, in stock.
    for entry in json.loads((EXPECTED / platform / f"{name}.expected.json").read_text()):
        same_product = [
            listing
            for listing in printed
            if path_of(listing["url"]) == path_of(entry["productRef"]) and listing["quantity"] != 0
        ]
        assert {x["set_name"] for x in same_product} == {entry["expansion"]}
        assert {x["finish"] == "foil" for x in same_product} == {entry["isFoil"]}
        prices = {Decimal(x["price"]) for x in same_product}
        assert Decimal(entry["price_relativeUnits"]) / 100 in prices


@pytest.mark.django_db
def test_it_prints_a_table_that_marks_the_card_in_stock():
    table = probe(
        "--platform", "crystalcommerce", "--card", "Tarmogoyf", "--base-url",
        "https://www.trolltradercards.com", "--file",
        page_path("crystalcommerce", "troll-trader_tarmogoyf"),
    )  # fmt: skip
    lines = table.splitlines()
    assert lines[0].split() == [
        "name", "set", "code", "#", "finish", "cond", "lang", "price", "qty", "url",
    ]  # fmt: skip
    assert lines[-1].endswith(f"27 listings from {page_path('crystalcommerce', 'troll-trader_tarmogoyf')}" + ": 16 in stock, 11 of them Tarmogoyf (marked *)")  # fmt: skip
    marked = [line for line in lines if line.startswith("*")]
    assert len(marked) == 11
    assert re.search(r"^\*\s+Tarmogoyf\s+Future Sight\s+nonfoil\s+NM\s+en\s+34\.22 GBP\s+3\s", table, re.M)  # fmt: skip
    # Sold out, and a relic token that merely carries the name: listed, not marked.
    assert re.search(r"^\s+Ultra Pro - Relic Tokens.*\s0\s+https://", table, re.M)


@pytest.mark.django_db
def test_it_shows_shopify_stock_it_cannot_count_as_unknown():
    table = probe(
        "--platform", "shopify", "--card", "Steam Vents", "--in-stock", "--file",
        page_path("shopify", "dice-saloon_steam-vents"),
    )  # fmt: skip
    rows = [line for line in table.splitlines() if line.startswith("*")]
    assert len(rows) == 2
    assert all(
        re.search(r"GBP\s+\?\s+https://dicesaloonsingles\.co\.uk/products/", r) for r in rows
    )


@pytest.mark.django_db
def test_it_fills_in_set_codes_the_catalog_knows():
    Set.objects.create(code="grn", name="Guilds of Ravnica")
    Set.objects.create(code="unf", name="Unfinity")
    printed = json.loads(
        probe(
            "--platform", "crystalcommerce", "--card", "Steam Vents", "--json", "--in-stock",
            "--file", page_path("crystalcommerce", "skyward-fire_steam-vents"),
        )
    )  # fmt: skip
    codes = {(listing["set_name"], listing["set_code"]) for listing in printed}
    assert ("Guilds of Ravnica", "grn") in codes
    assert ("Unfinity", "unf") in codes
    assert ("Guildpact", "") in codes


@pytest.mark.django_db
def test_it_probes_a_store_over_http(store_site, settings):
    settings.LENNY_USER_AGENT = "Lenny-test (curator@example.com)"
    html = gzip.decompress(
        Path(page_path("crystalcommerce", "skyward-fire_steam-vents")).read_bytes()
    )

    @store_site.route("GET", "/stores/skyward/products/search")
    def search(request):
        if request.arg("page"):
            return ReplayResponse.html(
                '<html><body><h1 class="page-title">Search results for "steam vents"</h1>'
                "<p>No products found.</p></body></html>"
            )
        return ReplayResponse.html(html, headers={"Content-Type": "text/html"})

    base_url = store_site.url("/stores/skyward")
    printed = json.loads(
        probe(
            "--platform", "crystalcommerce", "--url", base_url + "/", "--card", "Steam Vents",
            "--json",
        )
    )  # fmt: skip
    expected = json.loads(
        (EXPECTED / "crystalcommerce" / "skyward-fire_steam-vents.listings.json").read_text()
    )
    for listing in expected:
        listing["url"] = listing["url"].replace("https://www.skywardfire.com", base_url)
    # Read as UTF-8 although the server names no charset: "£" stays a pound sign.
    assert printed == expected
    searches = store_site.requests("/products/search")
    assert [(r.arg("q"), r.arg("page")) for r in searches] == [
        ("Steam Vents", None),
        ("steam vents", "2"),
    ]
    assert {r.headers["User-Agent"] for r in searches} == {"Lenny-test (curator@example.com)"}


@pytest.mark.django_db
def test_it_reports_a_store_that_refuses_the_search(store_site):
    store_site.add_route(
        "GET",
        "/products/search",
        lambda r: ReplayResponse.html(
            "<html><head><title>Slow down</title></head><body><p>You have performed too many "
            "searches, please try again in a minute.</p></body></html>"
        ),
    )
    with pytest.raises(CommandError) as error:
        probe("--platform", "crystalcommerce", "--url", store_site.base_url, "--card", "Tarmogoyf")
    assert "could not read the page (rate_limited)" in str(error.value)
    assert "too many searches" in str(error.value)


@pytest.mark.django_db
def test_it_reports_an_http_error(store_site):
    store_site.fault("/search", status=503, times=None)
    with pytest.raises(CommandError, match="answered HTTP 503"):
        probe("--platform", "shopify", "--url", store_site.base_url, "--card", "Tarmogoyf")


@pytest.mark.django_db
def test_it_reports_a_store_it_cannot_reach():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(CommandError, match="could not reach the store"):
        probe("--platform", "shopify", "--url", f"http://127.0.0.1:{port}", "--card", "Tarmogoyf")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--file", "/nonexistent/page.html"], "cannot read /nonexistent/page.html"),
        (["--url", "ftp://store.example"], "is not an http"),
        (["--url", "https://store.example", "--card", " "], "--card must name a card"),
    ],
)
def test_it_refuses_what_it_cannot_probe(args, message):
    with pytest.raises(CommandError, match=message):
        probe("--platform", "crystalcommerce", "--card", "Tarmogoyf", *args)


@pytest.mark.django_db
def test_it_refuses_an_unknown_platform():
    with pytest.raises(CommandError, match="invalid choice: 'magento'"):
        probe("--platform", "magento", "--card", "Tarmogoyf", "--file", "x.html")


@pytest.mark.django_db
def test_it_reports_a_saved_page_it_cannot_read(tmp_path):
    damaged = tmp_path / "damaged.html.gz"
    damaged.write_bytes(Path(page_path("shopify", "dice-saloon_steam-vents")).read_bytes()[:5000])
    with pytest.raises(CommandError, match="damaged gzip file"):
        probe("--platform", "shopify", "--card", "Steam Vents", "--file", str(damaged))

    gone = tmp_path / "gone.html"
    page = gzip.decompress(Path(page_path("shopify", "dice-saloon_steam-vents")).read_bytes())
    gone.write_bytes(
        page.replace(b"data-product-variants", b"data-moved").replace(b"/products/", b"/p/")
    )
    with pytest.raises(CommandError) as error:
        probe("--platform", "shopify", "--card", "Steam Vents", "--file", str(gone))
    assert (
        "could not read the page (layout): the page says 13 results but shows no products"
        in str(error.value)
    )


@pytest.mark.django_db
def test_it_names_the_products_a_saved_page_shows_without_variants(tmp_path):
    saved = tmp_path / "saved.html"
    page = gzip.decompress(Path(page_path("shopify", "dice-saloon_steam-vents")).read_bytes())
    saved.write_bytes(page.replace(b"data-product-variants", b"data-moved"))
    out, err = StringIO(), StringIO()
    call_command(
        "probe_store", "--platform", "shopify", "--card", "Steam Vents", "--json",
        "--file", str(saved), stdout=out, stderr=err,
    )  # fmt: skip
    assert json.loads(out.getvalue()) == []
    assert err.getvalue().startswith("10 products show no variants on this page")
    assert "https://dicesaloonsingles.co.uk/products/steam-vents-guildpact.js" in err.getvalue()
