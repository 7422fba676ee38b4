import pytest

from stores.catalog import card_resolve, card_search, card_suggestions, cards_resolve

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def names(query: str, **kwargs) -> list[str]:
    return [card.name for card in card_search(query, **kwargs)]


def test_prefix_matches_come_first_shortest_first(catalog):
    assert names("ancestral") == [
        "Ancestral Recall",
        "Ancestral Vision",
        "Ancestral Hot Dog Minotaur",
    ]
    assert names("mox")[:2] == ["Mox Jet", "Mox Ruby"]


def test_substring_matches_follow_prefix_matches(catalog):
    assert names("snake") == ["Mystic Snake"]  # the Snake token is never suggested
    assert names("lotus") == ["Black Lotus"]
    found = names("c", limit=40)
    starting = [name for name in found if name.lower().startswith("c")]
    assert found[: len(starting)] == starting and "Mystic Snake" in found[len(starting) :]


def test_front_and_back_faces_find_the_whole_card(catalog):
    for query in ("Driven", "despair", "driven/despair", "DRIVEN /// DESPAIR", "Driven // Despair"):
        assert names(query)[0] == "Driven // Despair", query
    assert names("shidako") == ["Orochi Eggwatcher // Shidako, Broodmistress"]
    assert (
        names("Turntimber, Serpentine")[0] == "Turntimber Symbiosis // Turntimber, Serpentine Wood"
    )


def test_words_in_any_order_and_typos_still_find_the_card(catalog):
    assert names("lotus black")[0] == "Black Lotus"
    assert names("mistic snake")[0] == "Mystic Snake"
    assert names("blak lotus")[0] == "Black Lotus"
    assert names("Ancestrall Recal")[0] == "Ancestral Recall"


def test_accents_case_and_punctuation_do_not_matter(catalog):
    assert (
        names("ARLINN THE PACK\N{RIGHT SINGLE QUOTATION MARK}S")[0]
        == "Arlinn, the Pack's Hope // Arlinn, the Moon's Fury"
    )
    assert names("Urzas Constr")[0] == "Urza's Construction Drone"
    assert names("Zndrsplt, Éye")[0] == "Zndrsplt, Eye of Wisdom"


@pytest.mark.parametrize(
    "query", ["", "   ", "%", "%%%", "'; DROP TABLE stores_card; --", "\\", "*", "//"]
)
def test_empty_or_hostile_queries_find_nothing_and_break_nothing(catalog, query):
    assert names(query) == []


def test_underscores_are_matched_literally(catalog):
    assert names("_") == []


def test_it_limits_the_number_of_suggestions(catalog):
    assert len(names("a", limit=3)) == 3


def test_exact_resolution_takes_full_names_and_front_faces_but_not_tokens(catalog):
    assert card_resolve("driven").name == "Driven // Despair"
    assert card_resolve("Dead/Gone") is None
    assert card_resolve("Snake") is None
    resolved = cards_resolve(["Black Lotus", "mox pearl", "Nope"])
    assert sorted(card.name for card in resolved.values()) == ["Black Lotus", "Mox Pearl"]


def test_suggestions_for_a_misspelt_name(catalog):
    assert card_suggestions("Mystc Snake")[0].name == "Mystic Snake"
    assert card_suggestions("zzzzzzzz") == []


def test_the_autocomplete_answers_an_htmx_partial(client, catalog):
    r = client.get(
        "/stores/cards/suggest", {"field": "card", "card": "ances"}, HTTP_HX_REQUEST="true"
    )
    html = r.content.decode()
    assert r.status_code == 200 and html.strip().startswith(
        '<ul class="suggestions" role="listbox">'
    )
    assert 'data-value="Ancestral Recall"' in html and "<html" not in html


def test_the_autocomplete_escapes_names_and_answers_nothing_for_nothing(client, catalog):
    assert client.get("/stores/cards/suggest", {"field": "card", "card": ""}).content.strip() == b""
    r = client.get("/stores/cards/suggest", {"q": "<script>alert(1)</script>"})
    assert r.status_code == 200 and b"<script>" not in r.content
    r = client.get("/stores/cards/suggest", {"q": "urza's"})
    assert "Urza&#x27;s Construction Drone" in r.content.decode()
