"""The market home: hub picker, item search with suggestions, the market-group tree, data age."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from market.models import MarketSnapshot
from market.tests.factories import AMARR, JITA, book_store, market_type, order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_desk")]


def ages(response) -> dict[str, str]:
    html = HTMLParser(response.content.decode())
    return {
        tr.css_first("th").text(strip=True): " ".join(tr.css_first(".age").text().split())
        for tr in html.css("#data-age tbody tr")
    }


@pytest.mark.embedded
def test_it_tells_each_hubs_data_age_and_next_refresh(client):
    book_store(JITA.region_id, [order(34, "5", 1)], age=timedelta(minutes=3, seconds=5))
    response = client.get("/market/")
    assert response.status_code == 200
    shown = ages(response)
    assert shown["JitaThe Forge"] == "orders 3 min old, next refresh in 1 min"
    assert shown["AmarrDomain"] == "no orders fetched yet"


def test_a_failed_fetch_shows_beside_the_data_it_left_in_place(client):
    book_store(JITA.region_id, [order(34, "5", 1)])
    MarketSnapshot.objects.create(
        region_id=JITA.region_id,
        status=MarketSnapshot.Status.FAILED,
        error="ESI answered 502 on page 37",
        fetched_at=timezone.now(),
    )
    MarketSnapshot.objects.create(
        region_id=AMARR.region_id, status=MarketSnapshot.Status.FAILED, error="timed out"
    )
    shown = ages(client.get("/market/"))
    assert shown["JitaThe Forge"].endswith("the last fetch failed")
    assert shown["AmarrDomain"] == "no orders fetched yet (timed out)"


def test_an_expired_snapshot_says_its_refresh_is_due(client):
    book_store(JITA.region_id, [order(34, "5", 1)], age=timedelta(minutes=12))
    assert ages(client.get("/market/"))["JitaThe Forge"] == "orders 12 min old, refresh due"


def test_the_hub_picker_carries_the_hub_to_the_other_pages(client):
    response = client.get(f"/market/?station_id={AMARR.station_id}")
    html = HTMLParser(response.content.decode())
    assert html.css_first("nav[aria-label=Hubs] a[aria-current]").text() == "Amarr"
    links = [a.attributes["href"] for a in html.css("a[role=button]")]
    assert f"/market/trading/?station_id={AMARR.station_id}" in links
    assert f"/market/hauling/?from_station_id={AMARR.station_id}" in links


def test_search_suggests_names_from_the_sde_prefix_first(client, sde_loaded):
    response = client.get(
        f"/market/search/?q=rit&station_id={AMARR.station_id}", headers={"HX-Request": "true"}
    )
    options = HTMLParser(response.content.decode()).css("[role=option] a")
    assert [a.text() for a in options] == ["Pyerite", "Tritanium"]
    assert options[1].attributes["href"] == f"/market/types/34/?station_id={AMARR.station_id}"
    # Names starting with the text come before names containing it.
    starting = client.get("/market/search/?q=m", headers={"HX-Request": "true"})
    names = [a.text() for a in HTMLParser(starting.content.decode()).css("[role=option] a")]
    assert names[:3] == ["Megacyte", "Mexallon", "Morphite"]
    assert set(names[3:]) >= {"Tritanium"}


def test_search_without_htmx_is_a_page_of_results(client, sde_loaded):
    response = client.get("/market/search/?q=ite")
    text = response.content.decode()
    assert response.status_code == 200
    for name in ("Pyerite", "Morphite"):
        assert f">{name}</a>" in text
    assert "No item on the market" in client.get("/market/search/?q=zzzz").content.decode()


def test_hostile_search_text_is_just_text(client, sde_loaded):
    response = client.get("/market/search/?q=%3Cscript%3E%25%27--", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<script>" not in response.content.decode()
    assert "&lt;script&gt;" in response.content.decode()


def test_the_market_groups_open_one_level_at_a_time(client, sde_loaded):
    home = HTMLParser(client.get("/market/").content.decode())
    tops = [
        s.text(strip=True) for s in home.css("#groups-heading ~ ul.tree > li > details > summary")
    ]
    assert "Ships" in tops and "Manufacture & Research" in tops
    ships = client.get("/market/groups/4/", headers={"HX-Request": "true"})
    children = [s.text(strip=True) for s in HTMLParser(ships.content.decode()).css("summary")]
    assert children == ["Battlecruisers"]
    minmatar = client.get("/market/groups/64/", headers={"HX-Request": "true"})
    assert "Rifter" in minmatar.content.decode()
    page = client.get("/market/groups/64/")
    assert page.status_code == 200
    assert "Standard Frigates" in page.content.decode()  # the breadcrumb
    assert client.get("/market/groups/424242/").status_code == 404


def test_without_static_data_the_home_says_the_workers_fetch_it(client):
    text = client.get("/market/").content.decode()
    # A fresh install fills itself (market/tests/test_sde_source.py): no instruction to run.
    assert "No static data yet" in text and "within a minute of starting" in text


def test_search_offers_the_shortest_name_of_a_prefix_first(client, sde_loaded):
    market_type(3_000_001, "Trit Alpha Scrap Pile")  # A to Z, it would come first
    response = client.get("/market/search/?q=trit", headers={"HX-Request": "true"})
    names = [a.text() for a in HTMLParser(response.content.decode()).css("[role=option] a")]
    assert names[:2] == ["Tritanium", "Trit Alpha Scrap Pile"]


def test_the_market_groups_are_each_hubs_own_and_follow_a_new_sde(client, sde_loaded):
    """The top of the tree is rendered once and kept: still each hub's links, and a group
    the next SDE import adds is there at once."""
    from market.models import MarketGroup

    def tops(url: str) -> dict[str, str]:
        home = HTMLParser(client.get(url).content.decode())
        return {
            d.css_first("summary").text(strip=True): d.attributes["hx-get"]
            for d in home.css("#groups-heading ~ ul.tree > li > details")
        }

    jita = tops("/market/")
    assert jita["Ships"] == f"/market/groups/4/?station_id={JITA.station_id}"
    assert tops("/market/")["Ships"] == jita["Ships"]  # from the kept rendering
    amarr = tops(f"/market/?station_id={AMARR.station_id}")
    assert amarr["Ships"] == f"/market/groups/4/?station_id={AMARR.station_id}"
    MarketGroup.objects.create(id=987654, name="Blueprints & Reactions", parent=None)
    assert "Blueprints & Reactions" in tops("/market/")
