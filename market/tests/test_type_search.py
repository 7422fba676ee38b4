"""Item search forgives typos, as the card search does: on PostgreSQL through pg_trgm (the GIN
index of market/migrations/0002), on SQLite through a difflib ranking."""

from __future__ import annotations

import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from market.queries import type_search

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
