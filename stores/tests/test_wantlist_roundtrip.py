"""The want list exported as text comes back whole through the deck-list import, and the
import preview says what it will add or replace."""

import html
import re
from decimal import Decimal

import pytest

from stores.models import WantedCard, WantSpec

pytestmark = pytest.mark.django_db


def payload_of(response) -> str:
    return html.unescape(
        re.search(r'name="payload" value="([^"]+)"', response.content.decode()).group(1)
    )


def want_list(owner) -> list[tuple]:
    """Each want with its amount and the identity of every spec, comparable across users."""
    rows = []
    for wanted in WantedCard.objects.for_owner(owner):
        specs = sorted(
            (str(s.set.code if s.set_id else ""), *map(str, s.identity()[1:]))
            for s in wanted.specs.all()
        )
        rows.append((wanted.card.name, wanted.amount, specs))
    return rows


@pytest.fixture
def full_list(user, want, card):
    lea = card("Black Lotus").printings.get(set__code="lea").set
    want(user, "Mystic Snake", 4)
    want(
        user,
        "Anaconda",
        1,
        set=card("Anaconda").printings.get(set__code="7ed").set,
        collector_number="229★",
        finish="foil",
        worst_condition="LP",
        max_price=Decimal("4500.00"),
    )
    lotus = want(user, "Black Lotus", 2, set=lea, worst_condition="NM", language="en")
    lotus.spec_add(max_price=Decimal("0.25"))
    want(user, "Driven // Despair", 3, worst_condition="MP")
    return user


def test_an_exported_list_imports_into_an_empty_list_as_the_same_list(
    client, full_list, other_user
):
    client.force_login(full_list)
    exported = client.get("/stores/wants/export.txt").content.decode()
    # Still an Arena/Moxfield list: the amount, the name, a single printing the Arena way.
    assert exported.splitlines()[0].startswith("1 Anaconda (7ED) 229★ *F* #lenny:")
    assert "\n4 Mystic Snake\n" in exported

    client.force_login(other_user)
    r = client.post("/stores/wants/import", {"text": exported, "mode": "add"})
    assert "cannot be imported" not in r.content.decode()
    client.post("/stores/wants/import/confirm", {"payload": payload_of(r)})
    assert want_list(other_user) == want_list(full_list)
    assert len(want_list(other_user)) == 4
    assert WantSpec.objects.filter(wanted__owner=other_user).count() == 4


def test_reimporting_the_same_list_says_it_adds_and_replace_is_one_click(client, full_list):
    client.force_login(full_list)
    before = want_list(full_list)
    exported = client.get("/stores/wants/export.txt").content.decode()
    r = client.post("/stores/wants/import", {"text": exported, "mode": "add"})
    page = html.unescape(r.content.decode())
    assert "adds 4: 4 → 8" in page and "(replace: 4 → 4)" in page
    assert "Import 4 cards, adding to what I track" in page
    assert 'name="mode" value="replace"' in page and "Replace the amounts instead" in page

    # The one click: the same preview, confirmed with "replace".
    client.post("/stores/wants/import/confirm", {"payload": payload_of(r), "mode": "replace"})
    assert want_list(full_list) == before


def test_the_default_add_still_adds_and_says_so_in_the_message(client, full_list):
    client.force_login(full_list)
    r = client.post("/stores/wants/import", {"text": "4 Mystic Snake", "mode": "add"})
    client.post("/stores/wants/import/confirm", {"payload": payload_of(r), "mode": "add"})
    assert WantedCard.objects.get(owner=full_list, card__name="Mystic Snake").amount == 8


def test_replace_takes_the_lists_specs_when_it_names_some(client, full_list):
    client.force_login(full_list)
    text = "1 Black Lotus #lenny:condition=LP\n2 Driven // Despair"
    r = client.post("/stores/wants/import", {"text": text, "mode": "replace"})
    page = html.unescape(r.content.decode())
    assert "replaces: 2 → 1" in page and "LP+" in page
    assert "Replace the amounts instead" not in page
    client.post("/stores/wants/import/confirm", {"payload": payload_of(r)})
    lotus = WantedCard.objects.get(owner=full_list, card__name="Black Lotus")
    assert lotus.amount == 1 and lotus.copies_summary() == "LP+"
    # A line without specs keeps the copies the user chose.
    driven = WantedCard.objects.get(owner=full_list, card__name="Driven // Despair")
    assert driven.amount == 2 and driven.copies_summary() == "MP+"


def test_a_confirm_with_an_unknown_mode_writes_nothing(client, full_list):
    client.force_login(full_list)
    before = want_list(full_list)
    r = client.post("/stores/wants/import", {"text": "4 Mystic Snake", "mode": "add"})
    payload = payload_of(r)
    r = client.post("/stores/wants/import/confirm", {"payload": payload, "mode": "double"})
    assert r.status_code == 400 and want_list(full_list) == before
    # The refused confirm did not use the preview up.
    client.post("/stores/wants/import/confirm", {"payload": payload})
    assert WantedCard.objects.get(owner=full_list, card__name="Mystic Snake").amount == 8


def test_a_spec_tag_the_card_was_never_printed_as_is_named_by_line(client, user, catalog):
    client.force_login(user)
    r = client.post(
        "/stores/wants/import",
        {"text": "1 Mox Pearl\n1 Mystic Snake #lenny:set=lea", "mode": "add"},
    )
    page = html.unescape(r.content.decode())
    assert "line 2: Mystic Snake was never printed in LEA" in page
    assert not WantedCard.objects.exists()


def test_a_plain_arena_export_leaves_the_tags_out(client, full_list):
    client.force_login(full_list)
    plain = client.get("/stores/wants/export.txt?format=arena").content.decode()
    assert "#lenny" not in plain
    assert plain.splitlines() == [
        "1 Anaconda (7ED) 229★ *F*",
        "2 Black Lotus",
        "3 Driven // Despair",
        "4 Mystic Snake",
    ]
