import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stores.catalog import front_face, name_normalise

pytestmark = pytest.mark.embedded

# "LIGHTNING BOLT" in full-width letters, which NFKD folds to ASCII.
FULL_WIDTH_BOLT = "".join(chr(ord(c) + 0xFEE0) if c != " " else c for c in "LIGHTNING BOLT")


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Lightning Bolt", "lightning bolt"),
        ("  LIGHTNING   bolt ", "lightning bolt"),
        ("Æther Vial", "aether vial"),
        ("æther vial", "aether vial"),
        ("Aether Vial", "aether vial"),
        ("Lim-Dûl's Vault", "lim duls vault"),
        ("Lim-Dul\N{RIGHT SINGLE QUOTATION MARK}s Vault", "lim duls vault"),
        ("Séance", "seance"),
        ("Jötun Grunt", "jotun grunt"),
        ("Dandân", "dandan"),
        ("Márton Stromgald", "marton stromgald"),
        ("Urza's Construction Drone", "urzas construction drone"),
        ("Urza\N{ACUTE ACCENT}s Construction Drone", "urzas construction drone"),
        ("Urza\N{LEFT SINGLE QUOTATION MARK}s Construction Drone", "urzas construction drone"),
        ("Arlinn, the Pack's Hope", "arlinn the packs hope"),
        ("Borrowing 100,000 Arrows", "borrowing 100000 arrows"),
        ("Ach! Hans, Run!", "ach hans run"),
        ("“Ach! Hans, Run!”", "ach hans run"),
        ("Deep-Fried Plague Myr", "deep fried plague myr"),
        ("Driven // Despair", "driven // despair"),
        ("Driven/Despair", "driven // despair"),
        ("Driven / Despair", "driven // despair"),
        ("Driven///Despair", "driven // despair"),
        ("Driven /// Despair", "driven // despair"),
        ("Dead/Gone", "dead // gone"),
        ("_____ Goblin", "_____ goblin"),
        (FULL_WIDTH_BOLT, "lightning bolt"),
        ("", ""),
        ("   ", ""),
        ("!!!", ""),
    ],
)
def test_it_gives_every_spelling_of_a_name_one_key(name, key):
    assert name_normalise(name) == key


@pytest.mark.parametrize(
    ("name", "front"),
    [
        ("Driven // Despair", "Driven"),
        ("Dead/Gone", "Dead"),
        ("Fire /// Ice", "Fire"),
        ("Lightning Bolt", "Lightning Bolt"),
        ("Orochi Eggwatcher // Shidako, Broodmistress", "Orochi Eggwatcher"),
    ],
)
def test_it_finds_the_front_face_of_a_name(name, front):
    assert front_face(name) == front


@given(st.text())
def test_it_is_idempotent_and_canonical_for_any_text(text):
    key = name_normalise(text)
    assert name_normalise(key) == key
    assert key == key.strip() and "  " not in key
    assert key == key.casefold()
    assert not any(unicodedata.combining(ch) for ch in key)
    # The only slashes left are the canonical face separator.
    assert key.replace(" // ", "").replace("//", "").count("/") == 0


@given(st.text(alphabet=st.characters(categories=["L", "N", "Zs", "P"]), max_size=40))
def test_it_ignores_case_accents_and_curly_quotes(text):
    shouted = text.upper().replace("'", "\N{RIGHT SINGLE QUOTATION MARK}")
    decomposed = unicodedata.normalize("NFD", text)
    assert name_normalise(shouted) == name_normalise(text.upper())
    assert name_normalise(decomposed) == name_normalise(text)
