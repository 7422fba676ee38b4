"""Item search forgives typos, as the card search does: on PostgreSQL through pg_trgm (the GIN
index of market/migrations/0002), on SQLite through a difflib ranking."""

from __future__ import annotations

import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from market.models import Type
from market.queries import type_search
from market.tests.factories import market_type

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def suggestions(response) -> list[str]:
    return [a.text() for a in HTMLParser(response.content.decode()).css("[role=option] a")]


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("tritanum", "Tritanium"), ("TRITANUIM", "Tritanium"), ("pyrite", "Pyerite")],
)
def test_a_misspelt_item_is_still_found(client, sde_loaded, typed, meant):
    response = client.get(f"/market/search/?q={typed}", headers={"HX-Request": "true"})
    assert suggestions(response)[0] == meant
    page = client.get(f"/market/search/?q={typed}").content.decode()
    assert f">{meant}</a>" in page and "No item on the market" not in page
    assert f"No item is called “{typed}”; the closest names:" in page


def test_exact_matches_are_not_diluted_by_near_ones(sde_loaded):
    # "rit" is in two names: those two, not every name that shares a trigram with it.
    hits = type_search("rit")
    assert [hit.name for hit in hits] == ["Pyerite", "Tritanium"]
    assert not any(hit.alike for hit in hits)


def test_nonsense_still_finds_nothing(client, sde_loaded):
    assert type_search("zzzz") == [] and type_search("qx") == []
    page = client.get("/market/search/?q=xqzvbk").content.decode()
    assert "No item on the market is called anything like" in page


def test_names_starting_with_the_text_come_first_then_shorter_ones(db):
    for type_id, name in [
        (91001, "Compact Plate Tritanium Frame"),
        (91002, "Trit Hauler Deluxe Blueprint"),
        (91003, "Tritanium"),
        (91004, "Tritan's Forked Key"),
        (91005, "Condensed Tritanium"),
        (91006, "tritium 100%_x"),
    ]:
        market_type(type_id, name)
    Type.objects.filter(pk=91005).update(published=False)  # not on the market: never offered

    names = [hit.name for hit in type_search("trit", limit=10)]
    assert names == [
        "Tritanium",
        "tritium 100%_x",
        "Tritan's Forked Key",
        "Trit Hauler Deluxe Blueprint",
        "Compact Plate Tritanium Frame",
    ]
    # The limit keeps the best: the names starting with the text.
    assert [hit.name for hit in type_search("TRIT", limit=2)] == ["Tritanium", "tritium 100%_x"]
    # A LIKE wildcard in the text is a character to find, not a pattern.
    assert [hit.name for hit in type_search("100%_")] == ["tritium 100%_x"]
    assert type_search("1_0") == []
