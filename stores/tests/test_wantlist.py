import html
import re
from decimal import Decimal

import pytest
from django.test import Client

from stores.models import Finish, WantedCard, WantSpec
from stores.wants import wanted_card_merge
from tests.fixtures import HTMX

pytestmark = pytest.mark.django_db


def add(client, htmx=True, **data):
    return client.post("/stores/wants/add", {"amount": 1, **data}, **(HTMX if htmx else {}))


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode()).strip()


# --- the page -----------------------------------------------------------------------------------
def test_the_page_lists_my_cards_only(alice, user, other_user, want):
    want(user, "Black Lotus", 2)
    want(other_user, "Mox Pearl")
    html = text(alice.get("/stores/"))
    assert 'id="want-rows"' in html and "Black Lotus" in html and "Mox Pearl" not in html
    assert 'value="2"' in html


def test_an_empty_list_says_so_and_offers_the_import(alice):
    html = text(alice.get("/stores/"))
    assert "You are not tracking any cards yet" in html and "/stores/wants/import" in html


@pytest.mark.embedded
def test_every_personal_page_needs_a_login(client, catalog):
    for method, url in [
        ("get", "/stores/"),
        ("post", "/stores/wants/add"),
        ("get", "/stores/wants/1/"),
        ("post", "/stores/wants/1/amount"),
        ("post", "/stores/wants/1/delete"),
        ("get", "/stores/wants/1/specs/add"),
        ("post", "/stores/specs/1/delete"),
        ("get", "/stores/wants/import"),
        ("post", "/stores/wants/import/confirm"),
        ("get", "/stores/wants/export.txt"),
        ("get", "/stores/stock/summary"),
        ("post", "/stores/stock/check"),
        ("post", "/stores/preferred"),
        ("get", "/stores/alerts/"),
        ("post", "/stores/alerts/read"),
    ]:
        r = getattr(client, method)(url)
        assert r.status_code == 302 and r["Location"].startswith("/accounts/login/"), url


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_every_post_needs_the_csrf_token(user, want, htmx):
    wanted = want(user, "Black Lotus", 2, finish="nonfoil")
    spec = wanted.specs.get()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    for url, data in [
        ("/stores/wants/add", {"card": "Mox Pearl", "amount": 1}),
        (f"/stores/wants/{wanted.pk}/amount", {"amount": 5}),
        (f"/stores/wants/{wanted.pk}/specs/add", {"finish": "foil"}),
        (f"/stores/specs/{spec.pk}/delete", {}),
        (f"/stores/wants/{wanted.pk}/delete", {}),
        ("/stores/wants/import", {"text": "1 Mox Pearl", "mode": "add"}),
        ("/stores/wants/import/confirm", {"payload": "x"}),
        ("/stores/stock/check", {}),
        ("/stores/alerts/read", {}),
        ("/stores/preferred", {"store": ["1"]}),
    ]:
        response = client.post(url, data, **(HTMX if htmx else {}))
        assert response.status_code == 403, url
    wanted.refresh_from_db()
    assert wanted.amount == 2 and wanted.specs.get() == spec
    assert list(WantedCard.objects.values_list("card__name", flat=True)) == ["Black Lotus"]


# --- adding ---------------------------------------------------------------------------------------
def test_adding_a_card_swaps_in_a_fresh_form_and_the_new_row(alice, user):
    r = add(alice, card="black lotus", amount=2)
    html = text(r)
    wanted = WantedCard.objects.get(owner=user)
    assert (wanted.card.name, wanted.amount, wanted.specs.count()) == ("Black Lotus", 2, 0)
    assert html.startswith('<form id="want-form"') and "Added 2 copies of Black Lotus." in html
    assert f'<tbody hx-swap-oob="afterbegin:#want-rows"> <tr id="want-{wanted.pk}"' in html
    assert '<tr id="want-empty" hx-swap-oob="delete">' in html
    assert 'name="card" id="want-card" value=""' in html  # the form is ready for the next card
    # The empty-list row is gone after the first card: the next ones do not ask for it.
    assert "want-empty" not in text(add(alice, card="Mox Pearl"))


def test_adding_a_tracked_card_again_merges_into_its_row(alice, user):
    add(alice, card="Black Lotus", amount=2)
    r = add(alice, card="BLACK LOTUS", amount=3)
    wanted = WantedCard.objects.get(owner=user)
    assert wanted.amount == 5
    assert "Black Lotus was on your list already: you now want 5 (any copy)." in text(r)
    assert f'<tr id="want-{wanted.pk}" class="want" hx-swap-oob="true">' in text(r)


def test_a_front_face_name_adds_the_whole_card(alice, user):
    add(alice, card="Despair")
    assert WantedCard.objects.get(owner=user).card.name == "Driven // Despair"


def test_an_unknown_card_is_refused_with_did_you_mean_buttons(alice, user):
    html = text(add(alice, card="Blak Lotus"))
    assert "No card named “Blak Lotus” in the catalog." in html
    assert re.search(
        r'Did you mean <button type="submit" name="suggested_card" value="Black Lotus"[^>]*>'
        r"Black Lotus</button>",
        html,
    )
    assert not WantedCard.objects.exists()
    add(alice, card="Blak Lotus", suggested_card="Black Lotus")
    assert WantedCard.objects.get(owner=user).card.name == "Black Lotus"


def test_tokens_are_not_cards_you_can_track(alice):
    assert "No card named “Snake”" in text(add(alice, card="Snake"))


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        ("0", "Ensure this value is greater than or equal to 1."),
        ("-3", "Ensure this value is greater than or equal to 1."),
        ("10000", "Ensure this value is less than or equal to 9999."),
        ("many", "Enter a whole number."),
        ("", "This field is required."),
    ],
)
def test_the_amount_must_be_a_whole_number_of_at_least_one(alice, amount, error):
    assert error in text(add(alice, card="Black Lotus", amount=amount))
    assert not WantedCard.objects.exists()


# --- printing specs -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            {"card": "Mystic Snake", "set_code": "LEA"},
            "Mystic Snake was never printed in LEA; printed in: Masters 25 (A25).",
        ),
        (
            {"card": "Black Lotus", "finish": "etched"},
            "Black Lotus was never printed etched foil; finishes: nonfoil.",
        ),
        (
            {"card": "Anaconda", "set_code": "7ed", "finish": "nonfoil"},
            "Anaconda was never printed non-foil in 7ED; finishes: foil.",
        ),
        (
            {"card": "Anaconda", "set_code": "7ed", "collector_number": "229"},
            "Anaconda has no printing numbered 229 in 7ED; valid: 229★.",
        ),
        (
            {"card": "Anaconda", "collector_number": "1"},
            "Anaconda has no printing numbered 1; valid: 158†, 229★.",
        ),
        (
            {"card": "Python", "language": "en"},
            "Python was never printed in English; languages: Spanish.",
        ),
        (
            {"card": "Urza's Construction Drone"},
            "Urza&#x27;s Construction Drone has no paper printings",
        ),
        (
            {"card": "Black Lotus", "max_price": "0"},
            "Ensure this value is greater than or equal to 0.01.",
        ),
        ({"card": "Black Lotus", "max_price": "cheap"}, "Enter a number."),
        ({"card": "Black Lotus", "finish": "gold"}, "Select a valid choice. gold is not one of"),
        (
            {"card": "Black Lotus", "worst_condition": "MINT"},
            "Select a valid choice. MINT is not one of",
        ),
    ],
)
def test_a_spec_the_card_was_never_printed_as_is_refused_with_the_valid_options(alice, data, error):
    assert error in text(add(alice, **data))
    assert not WantedCard.objects.exists()


def test_a_valid_spec_is_saved_and_shown(alice, user):
    r = add(
        alice,
        card="Anaconda",
        amount=2,
        set_code="7ED",
        collector_number="229★",
        finish="foil",
        worst_condition="LP",
        language="en",
        max_price="7.50",
    )
    spec = WantSpec.objects.get(wanted__owner=user)
    assert (spec.set.code, spec.collector_number, spec.finish) == ("7ed", "229★", Finish.FOIL)
    assert (spec.worst_condition, spec.language, spec.max_price) == ("LP", "en", Decimal("7.50"))
    assert "7ED 229★ · foil · LP+ · English · ≤ 7.50" in text(r)


def test_several_specs_mean_any_of_these(alice, user, want):
    wanted = want(user, "Mystic Snake", 4, set=None, finish="foil")
    r = alice.post(
        f"/stores/wants/{wanted.pk}/specs/add", {"set_code": "a25", "worst_condition": "NM"}, **HTMX
    )
    assert r.status_code == 200 and "A25 · NM only" in text(r) and "foil" in text(r)
    criteria = wanted.criteria()
    assert criteria["name"] == "Mystic Snake" and criteria["amount"] == 4
    assert [(s["set_code"], s["finish"], s["worst_condition"]) for s in criteria["specs"]] == [
        ("", "foil", "DMG"),
        ("a25", "any", "NM"),
    ]


def test_adding_a_spec_needs_something_to_narrow_down_and_a_real_printing(alice, user, want):
    wanted = want(user, "Mystic Snake")
    r = alice.post(
        f"/stores/wants/{wanted.pk}/specs/add", {"finish": "any", "worst_condition": "DMG"}, **HTMX
    )
    assert "Choose what to narrow down" in text(r)
    r = alice.post(f"/stores/wants/{wanted.pk}/specs/add", {"set_code": "lea"}, **HTMX)
    assert "Mystic Snake was never printed in LEA" in text(r)
    assert not wanted.specs.exists()


def test_the_same_spec_twice_is_kept_once(alice, user, want):
    wanted = want(user, "Mystic Snake")
    for _ in range(2):
        alice.post(f"/stores/wants/{wanted.pk}/specs/add", {"finish": "foil"}, **HTMX)
    assert wanted.specs.count() == 1


def test_removing_a_spec_redraws_the_row(alice, user, want):
    wanted = want(user, "Mystic Snake", finish="foil")
    spec = wanted.specs.get()
    r = alice.post(f"/stores/specs/{spec.pk}/delete", **HTMX)
    assert not wanted.specs.exists() and "any copy" in text(r)


# --- editing and removing ---------------------------------------------------------------------------
def test_the_amount_is_edited_inline(alice, user, want):
    wanted = want(user, "Black Lotus", 1)
    r = alice.post(f"/stores/wants/{wanted.pk}/amount", {"amount": "3"}, **HTMX)
    assert text(r).startswith(f'<tr id="want-{wanted.pk}" class="want"') and 'value="3"' in text(r)
    wanted.refresh_from_db()
    assert wanted.amount == 3


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        ("0", "greater than or equal to 1."),
        ("-1", "greater than or equal to 1."),  # not "0", which is refused too
        ("abc", "Enter a whole number."),
        ("10000", "less than or equal to 9999."),
    ],
)
def test_a_bad_amount_is_refused_in_the_row(alice, user, want, amount, error):
    wanted = want(user, "Black Lotus", 2)
    r = alice.post(f"/stores/wants/{wanted.pk}/amount", {"amount": amount}, **HTMX)
    assert 'aria-invalid="true"' in text(r) and 'class="bad"' in text(r)
    assert error in text(r)
    wanted.refresh_from_db()
    assert wanted.amount == 2


def test_removing_a_card_empties_its_row(alice, user, want):
    lotus, snake = want(user, "Black Lotus"), want(user, "Mystic Snake")
    r = alice.post(f"/stores/wants/{lotus.pk}/delete", **HTMX)
    assert r.status_code == 200 and r.content == b""
    # The last card leaves the table saying how to add one.
    r = alice.post(f"/stores/wants/{snake.pk}/delete", **HTMX)
    assert text(r).startswith('<tr id="want-empty">') and "not tracking any cards" in text(r)
    assert not WantedCard.objects.exists()


def test_without_javascript_every_form_still_works(alice, user):
    r = add(alice, htmx=False, card="Black Lotus", amount=2)
    assert r.status_code == 302 and r["Location"] == "/stores/"
    wanted = WantedCard.objects.get(owner=user)
    assert "Added 2 copies of Black Lotus." in text(alice.get("/stores/"))
    alice.post(f"/stores/wants/{wanted.pk}/amount", {"amount": "4"})
    assert WantedCard.objects.get().amount == 4
    page = text(alice.get(f"/stores/wants/{wanted.pk}/specs/add"))
    # The row itself carries its spec form (not only the add form's own spec fields).
    assert re.search(rf'<tr id="want-{wanted.pk}".*?class="spec-form"', page, re.S)
    # A refused spec comes back in its row with the error and what was typed.
    refused = text(alice.post(f"/stores/wants/{wanted.pk}/specs/add", {"set_code": "zzz9"}))
    row = re.search(rf'<tr id="want-{wanted.pk}".*?</tr>', refused, re.S).group(0)
    assert 'class="spec-form"' in row and 'value="zzz9"' in row and 'class="bad"' in row
    assert not wanted.specs.exists()
    alice.post(f"/stores/wants/{wanted.pk}/specs/add", {"finish": "nonfoil"})
    assert wanted.specs.get().finish == "nonfoil"
    alice.post(f"/stores/wants/{wanted.pk}/delete")
    assert not WantedCard.objects.exists()


@pytest.mark.embedded
def test_another_users_want_list_is_404(client, user, other_user, want):
    theirs = want(other_user, "Black Lotus", 2, finish="nonfoil")
    spec = theirs.specs.get()
    client.force_login(user)
    assert client.get(f"/stores/wants/{theirs.pk}/").status_code == 404
    assert client.post(f"/stores/wants/{theirs.pk}/amount", {"amount": 9}).status_code == 404
    assert client.get(f"/stores/wants/{theirs.pk}/specs/add").status_code == 404
    assert (
        client.post(f"/stores/wants/{theirs.pk}/specs/add", {"finish": "foil"}).status_code == 404
    )
    assert client.post(f"/stores/specs/{spec.pk}/delete").status_code == 404
    assert client.post(f"/stores/wants/{theirs.pk}/delete").status_code == 404
    theirs.refresh_from_db()
    assert theirs.amount == 2 and theirs.specs.count() == 1
    assert "Black Lotus" not in client.get("/stores/wants/export.txt").content.decode()


# --- merging and exporting ----------------------------------------------------------------------------
def test_merging_keeps_the_copies_i_accept_and_adds_the_printings_named(user, card):
    lotus = card("Black Lotus")
    wanted, created = wanted_card_merge(
        owner=user, card=lotus, amount=1, specs=[{"finish": "nonfoil"}]
    )
    assert created
    wanted_card_merge(owner=user, card=lotus, amount=1, specs=[{"worst_condition": "NM"}])
    assert sorted(s.summary() for s in wanted.specs.all()) == ["NM only", "non-foil"]
    # More copies without a word on which: what I narrowed down stays as I set it.
    wanted_card_merge(owner=user, card=lotus, amount=1)
    wanted_card_merge(owner=user, card=lotus, amount=2, specs=[{"finish": "nonfoil"}])
    assert sorted(s.summary() for s in wanted.specs.all()) == ["NM only", "non-foil"]
    wanted_card_merge(owner=user, card=lotus, amount=4, mode="max")
    wanted.refresh_from_db()
    assert wanted.amount == 5
    wanted_card_merge(owner=user, card=lotus, amount=9998)
    wanted.refresh_from_db()
    assert wanted.amount == 9999

    # A want that accepts any copy keeps accepting any copy.
    snake, _ = wanted_card_merge(owner=user, card=card("Mystic Snake"), amount=1)
    wanted_card_merge(owner=user, card=card("Mystic Snake"), amount=1, specs=[{"finish": "foil"}])
    assert not snake.specs.exists()


def test_the_want_list_exports_as_text_the_importer_reads(alice, user, other_user, want, card):
    want(user, "Mystic Snake", 4)
    want(
        user,
        "Anaconda",
        1,
        set=card("Anaconda").printings.get(set__code="7ed").set,
        collector_number="229★",
        finish="foil",
    )
    want(user, "Driven // Despair", 2)
    r = alice.get("/stores/wants/export.txt")
    assert r["Content-Type"] == "text/plain; charset=utf-8"
    exported = r.content.decode()
    # The Arena printing for other tools; the #lenny: tag carries the spec back whole.
    assert exported == (
        "1 Anaconda (7ED) 229★ *F* #lenny:set=7ed,number=229★,finish=foil\n"
        "2 Driven // Despair\n4 Mystic Snake\n"
    )

    # Imported by someone else, it is the same want list, printings and all.
    alice.force_login(other_user)
    preview = alice.post(
        "/stores/wants/import", {"text": exported, "mode": "add", "keep_printings": "on"}
    )
    payload = re.search(r'name="payload" value="([^"]+)"', preview.content.decode()).group(1)
    alice.post("/stores/wants/import/confirm", {"payload": html.unescape(payload)})
    theirs = {
        w.card.name: (w.amount, w.copies_summary())
        for w in WantedCard.objects.for_owner(other_user)
    }
    mine = {w.card.name: (w.amount, w.copies_summary()) for w in WantedCard.objects.for_owner(user)}
    assert theirs == mine
