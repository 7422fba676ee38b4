"""Deck-list input a hostile or careless user sends: each a clear error, and nothing written."""

from decimal import Decimal

import pytest

from stores.decklists import LineSpec, decklist_parse, spec_tag_parse
from stores.forms import MAX_DECKLIST_BYTES
from stores.models import WantedCard, WantSpec

# --- the parser (pure) --------------------------------------------------------------------------


@pytest.mark.embedded
@pytest.mark.parametrize("quantity", ["²", "³", "①", "٣²", "Ⅳ"])
def test_a_dek_quantity_of_unicode_digits_is_an_error_naming_the_line(quantity):
    dek = (
        '<?xml version="1.0"?>\n<Deck>\n'
        '  <Cards Quantity="2" Sideboard="false" Name="Black Lotus" />\n'
        f'  <Cards Quantity="{quantity}" Sideboard="false" Name="Mox Pearl" />\n</Deck>\n'
    )
    deck = decklist_parse(dek)
    assert [(line.name, line.amount) for line in deck.lines] == [("Black Lotus", 2)]
    assert [str(e) for e in deck.errors] == [f"line 4: Quantity {quantity!r} is not a whole number"]


@pytest.mark.embedded
@pytest.mark.parametrize("row", ["-1 Black Lotus", "-4x Black Lotus", "\u22122 Black Lotus"])
def test_a_negative_amount_is_an_amount_error_not_a_card_name(row):
    deck = decklist_parse(f"1 Mox Pearl\n{row}\n")
    assert [str(e) for e in deck.errors] == ["line 2: the amount must be at least 1"]


@pytest.mark.embedded
def test_lenny_spec_tags_are_read_and_bad_ones_named():
    deck = decklist_parse(
        "4 Anaconda (7ED) 229★ *F* #lenny:set=7ed,number=229★,finish=foil,condition=LP,"
        "language=en,max=4500.00 #lenny:condition=NM\n"
        "1 Mox Pearl #Power #lenny:max=1.5x\n"
        "2 Black Lotus #lenny:colour=blue\n"
        "3 Mystic Snake #lenny:\n"
    )
    anaconda, snake = deck.lines
    assert anaconda.specs == (
        LineSpec("7ed", "229★", "foil", "LP", "en", Decimal("4500.00")),
        LineSpec(worst_condition="NM"),
    )
    assert anaconda.name == "Anaconda" and anaconda.set_code == "7ed"
    assert snake.specs == (LineSpec(),)
    assert [str(e) for e in deck.errors] == [
        "line 2: max '1.5x' is not a price",
        "line 3: #lenny:colour=blue is not a spec: write key=value pairs of "
        "set, number, finish, condition, language, max",
    ]


@pytest.mark.embedded
@pytest.mark.parametrize(
    "body",
    [
        "max=0",
        "max=-1",
        "max=1e999999",
        "max=NaN",
        "max=1.001",
        "max=²",
        "condition=XX",
        "finish=shiny",
        "set=!!",
        "language=Deutsch",
        "set=a,set=b",
        "max=100000000",
    ],
)
def test_hostile_spec_tags_are_errors_never_exceptions(body):
    assert isinstance(spec_tag_parse(body), str)
    deck = decklist_parse(f"1 Mox Pearl #lenny:{body}")
    assert not deck.lines and len(deck.errors) == 1 and deck.errors[0].line_no == 1


@pytest.mark.embedded
def test_a_spec_tag_reads_back_as_the_same_spec():
    spec = LineSpec("lea", "232", "nonfoil", "MP", "ja", Decimal("12.50"))
    assert spec_tag_parse(spec.tag().removeprefix("#lenny:")) == spec
    assert spec_tag_parse(LineSpec().tag().removeprefix("#lenny:")) == LineSpec()


# --- the import page ------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("multipart", [True, False], ids=["multipart", "urlencoded"])
def test_a_5_mb_paste_gets_the_form_with_a_length_error_not_a_bare_400(alice, multipart):
    text = "4 Mystic Snake\n" * (5 * 1024 * 1024 // 15)
    if multipart:
        r = alice.post("/stores/wants/import", {"text": text, "mode": "add"})
    else:
        body = f"mode=add&text={text.replace(chr(10), '%0A').replace(' ', '+')}"
        r = alice.post(
            "/stores/wants/import", body, content_type="application/x-www-form-urlencoded"
        )
    page = r.content.decode()
    assert r.status_code == 400
    assert "The deck list is longer than 256 KB" in page
    assert "<form" in page and "Paste a deck list or choose a file" not in page
    assert not WantedCard.objects.exists()


@pytest.mark.django_db
def test_a_5_mb_paste_without_the_csrf_token_is_still_refused_without_writing(user, catalog):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    r = client.post("/stores/wants/import", {"text": "1 Mox Pearl\n" * 500_000})
    assert r.status_code == 400 and not WantedCard.objects.exists()
    r = client.post("/stores/wants/import", {"text": "1 Mox Pearl"})
    assert r.status_code == 403


@pytest.mark.django_db
def test_a_2_mb_paste_gets_only_the_length_error(alice):
    text = "4 Mystic Snake\n" * (2 * 1024 * 1024 // 15)
    assert len(text) > MAX_DECKLIST_BYTES
    r = alice.post("/stores/wants/import", {"text": text, "mode": "add"})
    page = r.content.decode()
    assert "The deck list is longer than 256 KB" in page
    assert "Paste a deck list or choose a file" not in page
    assert not WantedCard.objects.exists()


@pytest.mark.django_db
def test_unicode_digits_and_negative_amounts_are_named_on_the_preview(alice):
    dek = '<Deck>\n<Cards Quantity="²" Name="Black Lotus" />\n</Deck>'
    r = alice.post("/stores/wants/import", {"text": dek, "mode": "add"})
    assert r.status_code == 200
    assert "line 2: Quantity &#x27;²&#x27; is not a whole number" in r.content.decode()
    r = alice.post("/stores/wants/import", {"text": "-1 Black Lotus", "mode": "add"})
    page = r.content.decode()
    assert "line 1: the amount must be at least 1" in page
    assert "no card named" not in page
    assert not WantedCard.objects.exists() and not WantSpec.objects.exists()
