import pytest
from hypothesis import given
from hypothesis import strategies as st

from stores.decklists import DeckLine, decklist_parse

pytestmark = pytest.mark.embedded

ARENA = """\
Commander
1 Arlinn, the Pack's Hope (MID) 211

Deck
4 Lightning Bolt (M10) 146
2 Driven /// Despair (HOU) 157
1 Trash Bin (UNF) 232a
1 Anaconda (7ED) 229★

Sideboard
3 Mystic Snake (A25) 208
"""

MTGO = """\
4 Lightning Bolt
2 Dead/Gone
1 Black Lotus

3 Mystic Snake
"""

MOXFIELD = """\
1 Artistic Refusal (MOM) 46 *F*
1 Sol Ring (CMM) 410 *E* #Ramp #!Staples
2x Counterspell
1 Mox Pearl (LEA) 263

SIDEBOARD:
1 Pyroblast (ICE) 213
"""

DEK = """\
<?xml version="1.0" encoding="utf-8"?>
<Deck xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <NetDeckID>0</NetDeckID>
  <PreconstructedDeckID>0</PreconstructedDeckID>
  <Cards CatID="31761" Quantity="4" Sideboard="false" Name="Lightning Bolt" Annotation="0" />
  <Cards CatID="64838" Quantity="2" Sideboard="false" Name="Driven/Despair" Annotation="0" />
  <Cards CatID="12345" Quantity="3" Sideboard="true" Name="Mystic Snake" Annotation="0" />
</Deck>
"""


def test_it_reads_an_arena_export_with_sections_and_printings():
    deck = decklist_parse(ARENA)
    assert deck.format == "arena" and deck.errors == []
    assert deck.lines == [
        DeckLine(2, 1, "Arlinn, the Pack's Hope", "commander", "mid", "211"),
        DeckLine(5, 4, "Lightning Bolt", "main", "m10", "146"),
        DeckLine(6, 2, "Driven /// Despair", "main", "hou", "157"),
        DeckLine(7, 1, "Trash Bin", "main", "unf", "232a"),
        DeckLine(8, 1, "Anaconda", "main", "7ed", "229★"),
        DeckLine(11, 3, "Mystic Snake", "sideboard", "a25", "208"),
    ]


def test_it_reads_an_mtgo_text_list_with_the_sideboard_after_a_blank_line():
    deck = decklist_parse(MTGO)
    assert deck.format == "mtgo" and deck.errors == []
    assert [(line.amount, line.name, line.section) for line in deck.lines] == [
        (4, "Lightning Bolt", "main"),
        (2, "Dead/Gone", "main"),
        (1, "Black Lotus", "main"),
        (3, "Mystic Snake", "sideboard"),
    ]


def test_it_reads_moxfield_finish_markers_tags_and_x_amounts():
    deck = decklist_parse(MOXFIELD)
    assert deck.format == "moxfield" and deck.errors == []
    assert deck.lines[0] == DeckLine(1, 1, "Artistic Refusal", "main", "mom", "46", "foil")
    assert deck.lines[1] == DeckLine(2, 1, "Sol Ring", "main", "cmm", "410", "etched")
    assert deck.lines[2] == DeckLine(3, 2, "Counterspell")
    assert deck.lines[3].finish is None
    assert deck.lines[4] == DeckLine(7, 1, "Pyroblast", "sideboard", "ice", "213")


def test_it_reads_an_mtgo_dek_file_from_bytes():
    deck = decklist_parse(DEK.encode())
    assert deck.format == "dek" and deck.errors == []
    assert deck.lines == [
        DeckLine(5, 4, "Lightning Bolt", "main"),
        DeckLine(6, 2, "Driven/Despair", "main"),
        DeckLine(7, 3, "Mystic Snake", "sideboard"),
    ]


def test_it_sums_a_card_named_in_several_sections():
    deck = decklist_parse("Deck\n2 Mystic Snake\nSideboard\n1 Mystic Snake\n")
    assert deck.amounts() == {"Mystic Snake": 3}


def test_it_accepts_a_bom_windows_line_ends_comments_and_about_sections():
    text = "\ufeffAbout\r\nName Snakes\r\n\r\nDeck\r\n// the good stuff\r\n4 Mystic Snake\r\n"
    deck = decklist_parse(text)
    assert deck.errors == [] and deck.lines == [DeckLine(6, 4, "Mystic Snake")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("4 Mystic Snake\n0 Black Lotus", "line 2: the amount must be at least 1"),
        ("4 Mystic Snake\n\n10000 Black Lotus", "line 3: the amount must be at most 9999"),
        ("99999999999999999999 Black Lotus", "line 1: the amount must be at most 9999"),
        ("4 (M10) 146", "line 1: no card name"),
        ("1 Mystic Snake\n3 *F*", "line 2: no card name"),
        ("4Lightning Bolt", "line 1: expected an amount, then a card name"),
        ("4 " + "x" * 300, "line 1: the card name is longer than 200 characters"),
        ("2 Black\x00Lotus", "line 1: the card name contains control or unknown characters"),
    ],
)
def test_it_names_the_line_of_each_problem_and_keeps_the_rest(text, message):
    deck = decklist_parse(text)
    assert [str(error) for error in deck.errors] == [message]
    rows = [row for row in text.splitlines() if row.strip()]
    assert len(deck.lines) == len(rows) - 1


def test_it_reports_bytes_that_are_not_utf8_with_their_line():
    deck = decklist_parse(b"4 Mystic Snake\n1 Jotun Grunt \xff\n")
    assert [str(e) for e in deck.errors] == ["line 2: the file is not UTF-8 text"]


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (
            '<?xml version="1.0"?>\n<!DOCTYPE lol [<!ENTITY lol "lol">]>\n<Deck><Cards Quantity="1" Name="&lol;"/></Deck>',
            "line 2: a .dek file has no document type or entity declarations",
        ),
        (
            '<Deck>\n<Cards Quantity="4" Name="Mystic Snake">\n</Deck>',
            "line 3: not valid .dek XML (mismatched tag)",
        ),
        (
            '<Deck>\n<Cards Quantity="four" Name="Mystic Snake"/>\n</Deck>',
            "line 2: Quantity 'four' is not a whole number",
        ),
        (
            '<Deck>\n<Cards Quantity="0" Name="Mystic Snake"/>\n</Deck>',
            "line 2: the amount must be at least 1",
        ),
        ('<Deck>\n<Cards Quantity="2" Name=""/>\n</Deck>', "line 2: no card name"),
    ],
)
def test_it_refuses_hostile_or_broken_dek_files_by_line(xml, message):
    deck = decklist_parse(xml)
    assert message in [str(error) for error in deck.errors]


@given(st.text(max_size=400))
def test_any_text_parses_or_yields_line_numbered_errors(text):
    deck = decklist_parse(text)
    rows = max(1, len(text.splitlines()))
    for line in deck.lines:
        assert 1 <= line.line_no <= rows and 1 <= line.amount <= 9999 and line.name.strip()
    for error in deck.errors:
        assert 1 <= error.line_no <= rows + 1 and str(error).startswith(f"line {error.line_no}: ")


@given(st.binary(max_size=400))
def test_any_bytes_parse_or_yield_line_numbered_errors(data):
    deck = decklist_parse(data)
    for error in deck.errors:
        assert error.line_no >= 1 and str(error).startswith(f"line {error.line_no}: ")


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=-5, max_value=12000),
            st.text(alphabet=st.characters(blacklist_categories=["Cc", "Cs"]), max_size=30),
            st.sampled_from(["", " (M10) 146", " (MOM) 46 *F*", " #tag", " *E*"]),
        ),
        max_size=20,
    )
)
def test_generated_deck_lines_parse_or_fail_on_their_own_line(rows):
    text = "\n".join(f"{amount} {name}{suffix}" for amount, name, suffix in rows)
    deck = decklist_parse(text)
    seen = {line.line_no for line in deck.lines} | {error.line_no for error in deck.errors}
    assert seen <= set(range(1, len(rows) + 1))
    for line in deck.lines:
        assert 1 <= line.amount <= 9999


def test_sideboard_lines_of_the_dec_format_and_amounts_after_the_name():
    deck = decklist_parse("Mystic Snake x4\nSB: 2 Python\nBlack Lotus X1\n")
    assert deck.errors == []
    assert deck.lines == [
        DeckLine(1, 4, "Mystic Snake"),
        DeckLine(2, 2, "Python", section="sideboard"),
        DeckLine(3, 1, "Black Lotus"),
    ]
