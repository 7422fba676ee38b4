"""The ledger as a file: a real sync from the replay ESI, exported, lost, imported back; the same
rows, never twice, never into another user's character, and a bad file names its bad row."""

from __future__ import annotations

import io
import json

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django_q.models import Schedule

from accounts.models import Character
from accounts.tests.factories import character_link_replay
from market.ledger.export import (
    JOURNAL_FIELDS,
    ORDER_FIELDS,
    TRANSACTION_FIELDS,
    LedgerFileError,
    ledger_decode,
    ledger_encode,
    ledger_export,
    ledger_import,
)
from market.ledger.models import (
    CharacterOrder,
    CharacterOrderVersion,
    LedgerPreference,
    WalletBalance,
    WalletJournalEntry,
    WalletTransaction,
)
from market.ledger.schedules import schedule_prefix
from market.ledger.sync import character_sync

pytestmark = pytest.mark.django_db

SECOND_PILOT = 2112625429


@pytest.fixture
def synced(eve, user):
    """Two of alice's characters, each synced in full from the replay ESI."""
    characters = [
        character_link_replay(eve, user),
        character_link_replay(eve, user, character_id=SECOND_PILOT, name="Lenny Second Pilot"),
    ]
    for character in characters:
        outcomes = character_sync(character=character)
        assert all(o.ok for o in outcomes), [o.summary() for o in outcomes]
    LedgerPreference.objects.create(user=user, cost_method="average", email_on_undercut=True)
    return characters


def ledger_rows(user) -> dict[str, list[tuple]]:
    """Every ledger row of ``user`` without Lenny's own primary keys: what must survive."""
    mine = {"character__owner": user}

    def rows(model, *fields, **filters):
        return sorted(model.objects.filter(**filters).values_list(*fields))

    return {
        "characters": rows(Character, "character_id", "name", "owner_hash", owner=user),
        "balances": rows(
            WalletBalance, "character__character_id", "recorded_at", "balance", **mine
        ),
        "journal": rows(
            WalletJournalEntry, "character__character_id", "entry_id", *JOURNAL_FIELDS, **mine
        ),
        "transactions": rows(
            WalletTransaction, "character__character_id", *TRANSACTION_FIELDS, **mine
        ),
        "orders": rows(
            CharacterOrder, "character__character_id", "order_id", *ORDER_FIELDS, **mine
        ),
        "versions": rows(
            CharacterOrderVersion,
            "order__character__character_id",
            "order__order_id",
            "issued",
            "price",
            "volume_total",
            order__character__owner=user,
        ),
    }


def instance_lost(django_user_model) -> None:
    """A new Lenny: no user, no character, no ledger row (the cascade takes them all), no
    schedule, and an empty cache (ESI's ETags and Expires went with the old instance)."""
    django_user_model.objects.all().delete()
    Schedule.objects.all().delete()
    cache.clear()
    assert not WalletJournalEntry.objects.exists() and not Character.objects.exists()


def document(**character_fields) -> dict:
    """A small hand-written ledger file with one character and a row of each kind."""
    character = {
        "character_id": 90000001,
        "name": "Hand Made",
        "owner_hash": "hash-90000001",
        "balances": [{"recorded_at": "2026-01-01T00:00:00Z", "balance": "1000.00"}],
        "journal": [
            {"id": 1, "date": "2026-01-01T00:00:00Z", "ref_type": "player_donation", "amount": "5"},
            {"id": 2, "date": "2026-01-02T00:00:00Z", "ref_type": "bounty_prizes", "amount": "7"},
        ],
        "transactions": [
            {
                "transaction_id": 10,
                "date": "2026-01-01T00:00:00Z",
                "type_id": 34,
                "quantity": 5,
                "unit_price": "4.50",
                "is_buy": True,
                "location_id": 60003760,
            }
        ],
        "orders": [
            {
                "order_id": 20,
                "type_id": 34,
                "region_id": 10000002,
                "location_id": 60003760,
                "price": "5.00",
                "volume_total": 5,
                "volume_remain": 0,
                "range": "region",
                "duration": 90,
                "issued": "2026-01-01T00:00:00Z",
                "state": "expired",
                "versions": [
                    {"issued": "2026-01-01T00:00:00Z", "price": "5.00", "volume_total": 5}
                ],
            }
        ],
    } | character_fields
    return {"format": "lenny-ledger", "version": 1, "characters": [character]}


def raw(data: dict) -> bytes:
    return json.dumps(data).encode()


# --- the round trip ----------------------------------------------------------------------------


def test_export_lost_database_import_gives_back_the_same_rows(synced, user, django_user_model):
    before = ledger_rows(user)
    assert len(before["journal"]) > 100 and before["orders"] and before["versions"]
    exported = ledger_encode(ledger_export(user=user))
    instance_lost(django_user_model)

    alice = django_user_model.objects.create_user("alice", "", "correct horse 9")
    result = ledger_import(user=alice, data=exported)

    assert ledger_rows(alice) == before
    assert sorted(result.characters_created) == ["Lenny Demo Pilot", "Lenny Second Pilot"]
    assert result.added["journal"] == len(before["journal"])
    pilot = Character.objects.get(character_id=synced[0].character_id)
    # Imported without tokens: it waits for an EVE login, and no schedule syncs it meanwhile.
    assert pilot.needs_relogin and not pilot.refresh_token and not pilot.access_token
    assert not Character.objects.usable().exists()
    assert not Schedule.objects.filter(name__startswith=schedule_prefix(pilot)).exists()
    preference = LedgerPreference.objects.get(user=alice)
    assert (preference.cost_method, preference.email_on_undercut) == ("average", True)


def test_the_file_holds_no_token_or_secret(synced, user):
    exported = ledger_encode(ledger_export(user=user)).decode()

    data = json.loads(exported)
    assert (data["format"], data["version"]) == ("lenny-ledger", 1)
    for character in synced:
        character.refresh_from_db()
        assert character.refresh_token and character.refresh_token not in exported
        assert character.access_token and character.access_token not in exported
    assert "token" not in exported and user.email not in exported
    assert "password" not in exported and user.password not in exported


def test_importing_twice_adds_nothing(synced, user, django_user_model):
    exported = ledger_encode(ledger_export(user=user))
    instance_lost(django_user_model)
    alice = django_user_model.objects.create_user("alice", "", "correct horse 9")
    ledger_import(user=alice, data=exported)
    after_first = ledger_rows(alice)

    again = ledger_import(user=alice, data=exported)

    assert again.rows_added == 0 and not again.characters_created
    assert again.summary() == "Nothing new: every row was already here."
    assert ledger_rows(alice) == after_first


def test_importing_after_a_sync_adds_only_what_esi_forgot(eve, replay, user, django_user_model):
    pilot = character_link_replay(eve, user)
    character_sync(character=pilot)
    exported = ledger_export(user=user)
    old_ids = {row.id for row in exported.characters[0].journal}
    old_tx = {row.transaction_id for row in exported.characters[0].transactions}
    instance_lost(django_user_model)
    # The new instance links the pilot 20 days later: ESI serves its last 30 days only.
    replay.advance(days=20)
    alice = django_user_model.objects.create_user("alice", "", "correct horse 9")
    pilot = character_link_replay(eve, alice)
    character_sync(character=pilot)
    fresh_ids = set(WalletJournalEntry.objects.values_list("entry_id", flat=True))
    fresh_tx = set(WalletTransaction.objects.values_list("transaction_id", flat=True))
    assert old_ids - fresh_ids and old_ids & fresh_ids  # some rows dropped out, some overlap

    result = ledger_import(user=alice, data=ledger_encode(exported))

    assert result.added["journal"] == len(old_ids - fresh_ids)
    assert result.present["journal"] == len(old_ids & fresh_ids)
    assert result.added["transactions"] == len(old_tx - fresh_tx)
    assert set(WalletJournalEntry.objects.values_list("entry_id", flat=True)) == old_ids | fresh_ids
    assert WalletJournalEntry.objects.count() == len(old_ids | fresh_ids)
    assert not result.characters_created
    pilot.refresh_from_db()  # the linked character keeps its login and its schedules
    assert not pilot.needs_relogin and pilot.refresh_token


# --- refusals ----------------------------------------------------------------------------------


def test_a_character_of_another_user_is_refused_by_name(eve, user, other_user):
    pilot = character_link_replay(eve, other_user)
    character_sync(character=pilot)
    theirs = ledger_rows(other_user)
    stolen = document()
    stolen["characters"].append(
        document(character_id=pilot.character_id, name="Lenny Demo Pilot")["characters"][0]
        | {"journal": [{"id": 1, "date": "2020-01-01T00:00:00Z", "ref_type": "x", "amount": "1e6"}]}
    )

    with pytest.raises(LedgerFileError) as refused:
        ledger_import(user=user, data=raw(stolen))

    assert "characters[1]: Lenny Demo Pilot (2112625428) belongs to another user" in str(
        refused.value
    )
    # Nothing written: not the other user's rows, and not the file's first (acceptable) one.
    assert ledger_rows(other_user) == theirs
    assert not Character.objects.filter(owner=user).exists()


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["characters"][0]["journal"][1].pop("date"), "characters[0].journal[1]"),
        (
            lambda d: d["characters"][0]["journal"][1].update(amount="lots"),
            "characters[0].journal[1].amount",
        ),
        (
            lambda d: d["characters"][0]["journal"][1].update(amount="1.005"),
            "characters[0].journal[1].amount: 1.005 has more than two decimals",
        ),
        (
            lambda d: d["characters"][0]["journal"][1].update(amount="1e999999"),
            "characters[0].journal[1].amount",
        ),
        (
            lambda d: d["characters"][0]["journal"][1].update(amount="NaN"),
            "characters[0].journal[1].amount",
        ),
        (
            lambda d: d["characters"][0]["journal"][1].update(id=1),
            "characters[0].journal[1].id: 1 repeats characters[0].journal[0]",
        ),
        (
            lambda d: d["characters"][0]["transactions"][0].update(quantity=2**40),
            "characters[0].transactions[0].quantity",
        ),
        (
            lambda d: d["characters"][0]["orders"][0].update(state="stolen"),
            "characters[0].orders[0].state",
        ),
        (
            lambda d: d["characters"][0]["orders"][0]["versions"][0].update(price="-"),
            "characters[0].orders[0].versions[0].price",
        ),
        (
            lambda d: d["characters"][0]["balances"][0].update(recorded_at="2026-01-01T00:00:00"),
            "characters[0].balances[0].recorded_at: expected `datetime` with a timezone",
        ),
        (lambda d: d["characters"][0].update(owner_hash=""), "characters[0].owner_hash"),
        (
            lambda d: d["characters"][0]["journal"][0].update(description="a\x00b"),
            "characters[0].journal[0].description: contains a NUL character",
        ),
        (lambda d: d["characters"][0].update(name="\x00"), "characters[0].name: contains a NUL"),
        (lambda d: d["characters"][0].update(tokens="x"), "characters[0]: object contains unknown"),
        (lambda d: d.update(version=2), "version 2 of the ledger format"),
        (lambda d: d.update(format="csv"), "not a Lenny ledger export"),
        (
            lambda d: d.update(preferences={"cost_method": "lifo"}),
            "preferences.cost_method: 'lifo' is not one of",
        ),
    ],
)
def test_a_bad_file_names_its_row_and_field(change, named):
    data = document()
    change(data)

    with pytest.raises(LedgerFileError) as bad:
        ledger_decode(raw(data))

    assert named in str(bad.value)


@pytest.mark.embedded
def test_not_json_at_all_is_a_clear_error():
    for junk in (b"", b"\xff\xfe", b"[1, 2", b"[]", b'"lenny-ledger"', b"[" * 100_000):
        with pytest.raises(LedgerFileError, match=r"not valid JSON|not a Lenny ledger export"):
            ledger_decode(junk)


def test_a_bad_row_late_in_the_file_writes_nothing(user):
    data = document()
    second = document(character_id=90000002, name="Second", owner_hash="h2")["characters"][0]
    second["transactions"][0]["unit_price"] = "12.345"
    data["characters"].append(second)

    with pytest.raises(LedgerFileError, match=r"characters\[1\]\.transactions\[0\]\.unit_price"):
        ledger_import(user=user, data=raw(data))

    assert not Character.objects.exists() and not WalletJournalEntry.objects.exists()


# --- the pages ---------------------------------------------------------------------------------


def test_export_and_import_need_a_login(client):
    for name in ("data", "export"):
        response = client.get(reverse(f"ledger:{name}"))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], name
    upload = io.BytesIO(raw(document()))
    upload.name = "ledger.json"
    response = client.post(reverse("ledger:import"), {"file": upload})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not Character.objects.exists()


def test_the_download_is_only_ever_your_own_ledger(client, synced, user, other_user):
    client.force_login(user)
    page = client.get(reverse("ledger:data"))
    assert page.status_code == 200
    assert 'href="/ledger/export/"' in page.content.decode()
    assert "Lenny Second Pilot" in page.content.decode()

    mine = client.get(reverse("ledger:export"))

    assert mine.status_code == 200 and mine["Content-Type"] == "application/json"
    assert mine["Content-Disposition"].startswith('attachment; filename="lenny-ledger-')
    assert "no-store" in mine["Cache-Control"]
    assert {c["character_id"] for c in json.loads(mine.content)["characters"]} == {
        c.character_id for c in synced
    }

    client.force_login(other_user)
    theirs = client.get(reverse("ledger:export"), {"user": user.pk, "character": 2112625428})

    assert json.loads(theirs.content)["characters"] == []
    assert b"Lenny Demo Pilot" not in theirs.content
    assert b"Lenny Demo Pilot" not in client.get(reverse("ledger:data")).content


def test_the_upload_needs_the_csrf_token(user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    page = browser.get(reverse("ledger:data"))
    token = page.cookies["csrftoken"].value if "csrftoken" in page.cookies else None

    def upload():
        file = io.BytesIO(raw(document()))
        file.name = "ledger.json"
        return file

    forged = browser.post(reverse("ledger:import"), {"file": upload()})
    assert forged.status_code == 403
    assert not Character.objects.exists()

    token = token or browser.cookies["csrftoken"].value
    sent = browser.post(
        reverse("ledger:import"), {"file": upload(), "csrfmiddlewaretoken": token}, follow=True
    )
    assert sent.status_code == 200
    assert "Created Hand Made (log in with EVE to sync it). Added 1 balances, 2 journal" in (
        sent.content.decode()
    )
    assert WalletJournalEntry.objects.filter(character__owner=user).count() == 2


def test_a_bad_upload_is_a_400_naming_the_row_and_writes_nothing(client, user):
    client.force_login(user)
    data = document()
    data["characters"][0]["journal"][1]["amount"] = "lots"
    file = io.BytesIO(raw(data))
    file.name = "ledger.json"

    response = client.post(reverse("ledger:import"), {"file": file})

    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was imported" in html and "characters[0].journal[1].amount" in html
    assert 'aria-invalid="true"' in html
    assert not Character.objects.exists()
    assert client.post(reverse("ledger:import"), {}).status_code == 400


# --- the commands ------------------------------------------------------------------------------


def test_the_commands_export_and_import_a_users_ledger(synced, user, django_user_model, tmp_path):
    out = io.StringIO()
    call_command("ledger_export", "--user", "alice", stdout=out)
    before = ledger_rows(user)
    path = tmp_path / "alice.json"
    path.write_text(out.getvalue())
    instance_lost(django_user_model)
    alice = django_user_model.objects.create_user("alice", "", "correct horse 9")

    said = io.StringIO()
    call_command("ledger_import", "--user", "alice", str(path), stdout=said)

    assert ledger_rows(alice) == before
    assert said.getvalue().startswith("Created Lenny Demo Pilot, Lenny Second Pilot")
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("ledger_export", "--user", "nobody", stdout=io.StringIO())
    path.write_text('{"format": "lenny-ledger", "version": 1, "characters": [{}]}')
    with pytest.raises(CommandError, match=r"nothing was imported: characters\[0\]"):
        call_command("ledger_import", "--user", "alice", str(path), stdout=io.StringIO())


# --- an import proves nothing: the character's real owner does not inherit it ------------------


def test_a_pilot_logging_in_keeps_their_own_import_and_never_inherits_another_users(
    eve, synced, user, django_user_model
):
    """Whoever holds a pilot's export (it carries CCP's owner hash) could import it before the
    pilot joins this Lenny; the pilot's first EVE login must not take over rows nobody proved."""
    exported = ledger_encode(ledger_export(user=user))
    instance_lost(django_user_model)
    mallory = django_user_model.objects.create_user("mallory", "", "battery staple 7")
    planted = json.loads(exported)
    planted["characters"][0]["journal"].append(
        {"id": 999_999_999, "date": "2026-01-01T00:00:00Z", "ref_type": "x", "amount": "1e9"}
    )
    ledger_import(user=mallory, data=raw(planted))
    alice = django_user_model.objects.create_user("alice", "", "correct horse 9")

    pilot = character_link_replay(eve, alice)

    assert pilot.owner == alice
    assert not WalletJournalEntry.objects.filter(character=pilot).exists()
    assert not Character.objects.filter(owner=mallory, character_id=pilot.character_id).exists()

    # Her own import, then her own EVE login: the rows stay hers.
    instance_lost(django_user_model)
    alice = django_user_model.objects.create_user("alice", "", "correct horse 9")
    ledger_import(user=alice, data=exported)
    imported = WalletJournalEntry.objects.filter(
        character__owner=alice, character__character_id=synced[0].character_id
    ).count()

    pilot = character_link_replay(eve, alice)

    assert imported > 100
    assert WalletJournalEntry.objects.filter(character=pilot).count() == imported
    assert not pilot.needs_relogin
