"""Deck-list import into the want list: preview with per-line problems, then confirm."""

import html
import re

import pytest
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile

from stores.models import PreferredStore, Store, WantedCard, WantSpec

pytestmark = pytest.mark.django_db

DECK = """\
Deck
4 Mystic Snake (A25) 208
2 Driven /// Despair (HOU) 157
1 Black Lotus

Sideboard
1 Mystc Snake
0 Mox Pearl
2 Mystic Snake
"""


def preview(client, **data):
    data = {"mode": "add", **data}
    return client.post("/stores/wants/import", data)


def payload_of(response) -> str:
    return html.unescape(
        re.search(r'name="payload" value="([^"]+)"', response.content.decode()).group(1)
    )


def tracked(user) -> dict[str, int]:
    return dict(WantedCard.objects.filter(owner=user).values_list("card__name", "amount"))


def test_the_preview_names_each_problem_by_line_and_saves_nothing(alice, user):
    r = preview(alice, text=DECK)
    page = html.unescape(r.content.decode())
    assert "line 7: no card named 'Mystc Snake' — did you mean Mystic Snake" in page
    assert "line 8: the amount must be at least 1" in page
    assert "2 lines cannot be imported" in page
    rows = re.findall(r'<th scope="row">([^<]+)</th>\s*<td class="num">(\d+)</td>', page)
    assert rows == [("Mystic Snake", "6"), ("Driven // Despair", "2"), ("Black Lotus", "1")]
    assert "Import 3 cards" in page
    assert not WantedCard.objects.exists()


def test_confirming_merges_the_amounts_with_what_is_tracked(alice, user, want):
    want(user, "Black Lotus", 3)
    r = preview(alice, text=DECK)
    assert re.search(
        r"Black Lotus</th>\s*<td class=\"num\">1</td>\s*<td class=\"num\">3</td>\s*<td class=\"num\">4</td>",
        r.content.decode(),
    )
    r = alice.post("/stores/wants/import/confirm", {"payload": payload_of(r)})
    assert r.status_code == 302 and r["Location"] == "/stores/"
    assert tracked(user) == {"Mystic Snake": 6, "Driven // Despair": 2, "Black Lotus": 4}
    assert (
        "Imported the deck list: 2 new cards, 1 merged with cards you track."
        in alice.get("/stores/").content.decode()
    )
    assert not WantSpec.objects.exists()


def test_a_card_is_found_by_its_front_face_when_the_full_name_is_off(alice, user):
    r = preview(alice, text="2 Driven // Desperation\n1 Dead/Gone")
    page = html.unescape(r.content.decode())
    assert "line 2: no card named 'Dead/Gone'" in page
    alice.post("/stores/wants/import/confirm", {"payload": payload_of(r)})
    assert tracked(user) == {"Driven // Despair": 2}


def test_keeping_the_larger_amount_instead_of_adding(alice, user, want):
    want(user, "Black Lotus", 3)
    want(user, "Mystic Snake", 2)
    r = preview(alice, text=DECK, mode="max")
    alice.post("/stores/wants/import/confirm", {"payload": payload_of(r)})
    assert tracked(user) == {"Mystic Snake": 6, "Driven // Despair": 2, "Black Lotus": 3}


def test_a_preview_is_imported_once_even_if_confirmed_twice(alice, user):
    payload = payload_of(preview(alice, text="4 Mystic Snake"))
    alice.post("/stores/wants/import/confirm", {"payload": payload})
    r = alice.post("/stores/wants/import/confirm", {"payload": payload}, follow=True)
    assert "That deck list was imported already." in r.content.decode()
    assert tracked(user) == {"Mystic Snake": 4}


def test_a_tampered_or_expired_preview_is_refused(alice, user, monkeypatch):
    payload = payload_of(preview(alice, text="4 Mystic Snake"))
    r = alice.post("/stores/wants/import/confirm", {"payload": payload[:-3] + "AAA"}, follow=True)
    assert "That preview could not be read: preview the list again." in r.content.decode()
    monkeypatch.setattr("stores.views.PREVIEW_MAX_AGE", -1)
    r = alice.post("/stores/wants/import/confirm", {"payload": payload}, follow=True)
    assert "That preview is more than an hour old" in r.content.decode()
    assert not WantedCard.objects.exists()


def test_another_users_preview_is_404(client, user, other_user, catalog):
    client.force_login(other_user)
    theirs = payload_of(preview(client, text="4 Mystic Snake"))
    client.force_login(user)
    assert client.post("/stores/wants/import/confirm", {"payload": theirs}).status_code == 404
    forged = signing.dumps(
        {"owner": other_user.pk, "mode": "add", "nonce": "x", "rows": []}, salt="nope"
    )
    assert client.post("/stores/wants/import/confirm", {"payload": forged}).status_code == 302
    assert not WantedCard.objects.exists()


def test_an_mtgo_dek_file_can_be_uploaded(alice, user):
    dek = (
        '<?xml version="1.0" encoding="utf-8"?>\n<Deck>\n'
        '  <Cards CatID="1" Quantity="2" Sideboard="false" Name="Driven/Despair" />\n'
        '  <Cards CatID="2" Quantity="1" Sideboard="true" Name="Black Lotus" />\n</Deck>\n'
    )
    upload = SimpleUploadedFile("deck.dek", dek.encode(), content_type="application/xml")
    r = alice.post("/stores/wants/import", {"file": upload, "mode": "add"})
    alice.post("/stores/wants/import/confirm", {"payload": payload_of(r)})
    assert tracked(user) == {"Driven // Despair": 2, "Black Lotus": 1}


def test_printings_named_in_the_list_become_validated_specs_when_asked(alice, user):
    text = "1 Anaconda (7ED) 229★ *F*\n2 Mystic Snake (LEA) 1\n1 Black Lotus (LEA) 232"
    r = preview(alice, text=text, keep_printings="on")
    page = html.unescape(r.content.decode())
    assert "line 2: Mystic Snake was never printed in LEA; printed in: Masters 25 (A25)." in page
    assert "7ED 229★ · foil" in page and "LEA 232" in page
    alice.post("/stores/wants/import/confirm", {"payload": payload_of(r)})
    anaconda = WantedCard.objects.get(owner=user, card__name="Anaconda").specs.get()
    assert (anaconda.set.code, anaconda.collector_number, anaconda.finish) == (
        "7ed",
        "229★",
        "foil",
    )
    assert tracked(user) == {"Anaconda": 1, "Black Lotus": 1}


def test_printings_are_ignored_unless_asked(alice, user):
    r = preview(alice, text="2 Mystic Snake (LEA) 1")
    alice.post("/stores/wants/import/confirm", {"payload": payload_of(r)})
    assert tracked(user) == {"Mystic Snake": 2}
    assert not WantedCard.objects.get().specs.exists()


def test_importing_a_card_i_narrowed_down_keeps_the_copies_i_accept(alice, user, want):
    want(user, "Mystic Snake", 1, worst_condition="NM")
    r = preview(alice, text="2 Mystic Snake\n1 Black Lotus")
    page = re.sub(r"\s+", " ", html.unescape(r.content.decode()))
    assert re.search(r"Mystic Snake</th>.*?<td>NM only</td>", page)
    assert re.search(r"Black Lotus</th>.*?<td>any copy</td>", page)
    alice.post("/stores/wants/import/confirm", {"payload": payload_of(r)})
    snake = WantedCard.objects.get(owner=user, card__name="Mystic Snake")
    assert snake.amount == 3 and snake.copies_summary() == "NM only"


def test_a_card_listed_with_and_without_a_printing_accepts_any_copy(alice, user):
    text = "1 Anaconda (7ED) 229★ *F*\n1 Anaconda"
    r = preview(alice, text=text, keep_printings="on")
    assert re.search(r"Anaconda</th>.*?<td>any copy</td>", r.content.decode(), re.S)
    alice.post("/stores/wants/import/confirm", {"payload": payload_of(r)})
    anaconda = WantedCard.objects.get(owner=user)
    assert anaconda.amount == 2 and not anaconda.specs.exists()


def test_the_preview_caps_the_amount_as_the_import_does(alice, user, want):
    want(user, "Black Lotus", 9000)
    page = preview(alice, text="2000 Black Lotus").content.decode()
    assert re.search(r'<td class="num">9000</td>\s*<td class="num">9999</td>', page)


def test_a_huge_list_is_refused_and_only_so_many_names_get_suggestions(alice, user):
    r = preview(alice, text="".join(f"1 Card Number {n}\n" for n in range(1001)))
    assert "That list has 1,001 card lines; Lenny imports at most 1,000 at a time" in (
        html.unescape(r.content.decode())
    )
    # Each "did you mean" is a fuzzy search: 40 typos get 30 of them, and a repeated typo one.
    typos = [f"Mystic Snak{chr(ord('f') + n % 20)}{'x' * (n // 20)}" for n in range(40)]
    r = preview(alice, text="".join(f"1 {name}\n" for name in [*typos, typos[0]]))
    problems = re.findall(r"<li>(line \d+: .*?)</li>", html.unescape(r.content.decode()))
    assert len(problems) == 41
    suggested = [p for p in problems if "did you mean Mystic Snake" in p]
    assert len(suggested) == 31 and "line 41:" in suggested[-1]
    assert not WantedCard.objects.exists()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"text": "   "}, "Paste a deck list or choose a file."),
        ({"text": "Deck\n\nSideboard\n"}, "No cards found in that deck list."),
        (
            {"file": SimpleUploadedFile("big.txt", b"1 Black Lotus\n" * 20000)},
            "The file is larger than 256 KB",
        ),
        (
            {"file": SimpleUploadedFile("latin1.txt", b"1 Black Lotus\n1 J\xf6tun Grunt\n")},
            "line 2: the file is not UTF-8 text",
        ),
        ({"text": "1 Black Lotus", "mode": "double"}, "Select a valid choice."),
        (
            {"text": "1 Mox Jet", "file": SimpleUploadedFile("deck.txt", b"1 Black Lotus\n")},
            "Paste a deck list or choose a file, not both",
        ),
    ],
)
def test_bad_submissions_are_explained(alice, data, error):
    page = html.unescape(preview(alice, **data).content.decode())
    assert error in page
    assert not WantedCard.objects.exists()


def test_a_nul_in_the_pasted_list_is_named_by_its_line_and_the_rest_imported(alice, user):
    page = html.unescape(
        preview(alice, text="1 Black Lotus\n2 Mystic\x00 Snake\n").content.decode()
    )
    assert "line 2: the card name contains control or unknown characters" in page
    assert "Import 1 card" in page


def test_the_dec_formats_sideboard_lines_and_amounts_after_the_name_are_read(alice, user):
    text = "Mystic Snake x4\nSB: 2 Black Lotus\nsb:1 Mox Jet\n"
    r = preview(alice, text=text)
    alice.post("/stores/wants/import/confirm", {"payload": payload_of(r)})
    assert tracked(user) == {"Mystic Snake": 4, "Black Lotus": 2, "Mox Jet": 1}


def test_maybeboard_cards_are_left_out_and_the_preview_says_so(alice, user):
    text = "Deck\n4 Mystic Snake\n\nMaybeboard\n1 Black Lotus\n1 Mox Jet\n"
    r = preview(alice, text=text)
    page = html.unescape(r.content.decode())
    assert "2 maybeboard lines left out (lines 5, 6)" in page
    alice.post("/stores/wants/import/confirm", {"payload": payload_of(r)})
    assert tracked(user) == {"Mystic Snake": 4}


def test_the_preview_writes_a_max_price_in_the_stores_currency(alice, user):
    shop = Store.objects.create(
        name="Shop", platform="shopify", base_url="https://shop.example", currency="GBP"
    )
    PreferredStore.objects.create(user=user, store=shop)
    page = html.unescape(
        preview(alice, text="1 Black Lotus #lenny:condition=NM,max=15000.00").content.decode()
    )
    assert "<td>NM only · ≤ £15,000.00</td>" in page
