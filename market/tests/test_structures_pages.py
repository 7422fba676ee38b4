"""The structures pages and API: adding (by id, by a name search), private structures (404 for a
stranger on pages and API), stopping, taking over, the "grant access" login, hostile input."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone
from django_q.models import Schedule

from accounts.scopes import UNIVERSE_STRUCTURES_SCOPE
from accounts.tests.factories import ALL_SCOPES, character_link_replay
from market.models import Structure
from market.replay.structures import PERIMETER_TTT
from market.tests.factories import FORGE

TTT = PERIMETER_TTT.structure_id
SCOPES = [*ALL_SCOPES, UNIVERSE_STRUCTURES_SCOPE]

pytestmark = pytest.mark.django_db


@pytest.fixture
def eve_structures(eve, sde_loaded):
    eve.state["esi"].configure(orders={FORGE: 3000}, page_size=500)
    return eve


@pytest.fixture
def pilot(eve_structures, user):
    return character_link_replay(eve_structures, user, scopes=SCOPES)


@pytest.fixture
def owner_client(client, user):
    client.force_login(user)
    return client


def add(client, character, structure=TTT, **extra):
    data = {"character": character.character_id, "structure": structure, **extra}
    return client.post("/market/structures/add/", data)


@pytest.mark.embedded
def test_adding_by_id_tracks_it_with_a_schedule_and_shows_it_to_everyone(owner_client, pilot):
    answer = add(owner_client, pilot)

    assert answer.status_code == 302 and answer["Location"] == f"/market/structures/{TTT}/"
    structure = Structure.objects.get(pk=TTT)
    assert structure.character == pilot and not structure.is_private
    schedule = Schedule.objects.get(name=f"structure:{TTT}")
    assert schedule.minutes == 5 and schedule.func.endswith("structure_fetch_task")
    page = Client().get("/market/structures/").content.decode()
    assert "Perimeter - Tranquility Trading Tower" in page and "Perimeter" in page
    detail = Client().get(f"/market/structures/{TTT}/").content.decode()
    assert "waiting for its first fetch" in detail and "Lenny Demo Pilot" not in detail
    api = Client().get("/api/market/structures").json()["structures"]
    assert [s["structure_id"] for s in api] == [TTT]


@pytest.mark.embedded
def test_a_private_structure_is_a_404_for_everyone_else_on_pages_and_api(
    owner_client, pilot, other_user
):
    add(owner_client, pilot, is_private="on")
    assert owner_client.get(f"/market/structures/{TTT}/").status_code == 200
    assert owner_client.get(f"/api/market/structures/{TTT}").json()["is_private"] is True

    stranger = Client()
    stranger.force_login(other_user)
    for who in (stranger, Client()):
        assert who.get(f"/market/structures/{TTT}/").status_code == 404
        assert who.get(f"/api/market/structures/{TTT}").status_code == 404
        assert who.get("/api/market/structures").json() == {"structures": []}
        assert "Tranquility" not in who.get("/market/structures/").content.decode()
    assert stranger.post(f"/market/structures/{TTT}/stop/").status_code == 404
    assert (
        stranger.post(f"/market/structures/{TTT}/take-over/", {"character": 1}).status_code == 404
    )


def test_only_the_user_who_added_it_stops_it(owner_client, pilot, other_user):
    add(owner_client, pilot)
    stranger = Client()
    stranger.force_login(other_user)
    assert stranger.post(f"/market/structures/{TTT}/stop/").status_code == 404

    answer = owner_client.post(f"/market/structures/{TTT}/stop/")

    assert answer.status_code == 302
    structure = Structure.objects.get(pk=TTT)
    assert not structure.is_tracking and structure.status == Structure.Status.STOPPED
    assert not Schedule.objects.filter(name=f"structure:{TTT}").exists()
    assert owner_client.post(f"/market/structures/{TTT}/resume/").status_code == 302
    assert Schedule.objects.filter(name=f"structure:{TTT}").exists()


def test_another_user_takes_over_a_backed_off_structure_with_their_own_character(
    owner_client, pilot, eve_structures, other_user
):
    add(owner_client, pilot)
    Structure.objects.filter(pk=TTT).update(
        status=Structure.Status.FORBIDDEN,
        backoff_until=timezone.now() + timedelta(hours=12),
        last_error="ESI answered 403",
    )
    theirs = character_link_replay(
        eve_structures, other_user, character_id=2112000001, name="Other Pilot", scopes=SCOPES
    )
    other = Client()
    other.force_login(other_user)
    assert "Take over" in other.get(f"/market/structures/{TTT}/").content.decode()
    # Not with someone else's character: 404.
    refused = other.post(f"/market/structures/{TTT}/take-over/", {"character": pilot.character_id})
    assert refused.status_code == 404

    answer = other.post(f"/market/structures/{TTT}/take-over/", {"character": theirs.character_id})

    assert answer.status_code == 302
    structure = Structure.objects.get(pk=TTT)
    assert structure.character == theirs and structure.added_by == other_user
    assert structure.backoff_until is None and structure.status == Structure.Status.NEW


def test_a_structure_that_fetches_fine_cannot_be_taken_over(
    owner_client, pilot, eve_structures, other_user
):
    add(owner_client, pilot)
    theirs = character_link_replay(
        eve_structures, other_user, character_id=2112000001, name="Other Pilot", scopes=SCOPES
    )
    other = Client()
    other.force_login(other_user)
    answer = other.post(f"/market/structures/{TTT}/take-over/", {"character": theirs.character_id})
    assert answer.status_code == 400
    assert "nothing to take over" in answer.content.decode()
    assert Structure.objects.get(pk=TTT).character == pilot


def test_the_name_search_finds_the_public_market_structures(owner_client, pilot):
    answer = owner_client.get(
        "/market/structures/search/",
        {"character": pilot.character_id, "q": "tranquility"},
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 200
    text = answer.content.decode()
    assert "Perimeter - Tranquility Trading Tower" in text and str(TTT) in text
    none = owner_client.get(
        "/market/structures/search/", {"character": pilot.character_id, "q": "Jita 4-4"}
    )
    assert "No structure of that name" in none.content.decode()


@pytest.mark.parametrize(
    ("structure", "message"),
    [
        ("abc", "structure id &#x27;abc&#x27; is not a number"),
        ("-5", "is not a number"),
        ("60003760", "is not a player structure"),
        ("99999999999999999999999", "is not a player structure"),
    ],
)
def test_a_bad_structure_id_is_a_form_error_naming_the_field(
    owner_client, pilot, structure, message
):
    answer = add(owner_client, pilot, structure=structure)
    assert answer.status_code == 400
    text = answer.content.decode()
    assert "structure: " in text and message in text
    assert not Structure.objects.exists()


def test_an_unknown_or_someone_elses_character_is_a_404(
    owner_client, pilot, eve_structures, other_user
):
    theirs = character_link_replay(
        eve_structures, other_user, character_id=2112000001, name="Other Pilot", scopes=SCOPES
    )
    assert add(owner_client, theirs).status_code == 404
    assert (
        owner_client.post(
            "/market/structures/add/", {"character": 12345, "structure": TTT}
        ).status_code
        == 404
    )
    bad = owner_client.post("/market/structures/add/", {"character": "x", "structure": TTT})
    assert bad.status_code == 400 and "character: " in bad.content.decode()
    search = owner_client.get("/market/structures/search/", {"character": theirs.character_id})
    assert search.status_code == 404
    assert not Structure.objects.exists()


def test_a_structure_the_pilot_cannot_dock_at_is_a_clear_form_error(owner_client, pilot):
    answer = add(owner_client, pilot, structure=1030049082711)
    assert answer.status_code == 400
    assert "no docking access" in answer.content.decode()


def test_adding_needs_a_login_and_the_csrf_token(pilot, user):
    anonymous = Client()
    answer = anonymous.post("/market/structures/add/", {"structure": TTT})
    assert answer.status_code == 302 and "/login" in answer["Location"]
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    refused = strict.post(
        "/market/structures/add/", {"character": pilot.character_id, "structure": TTT}
    )
    assert refused.status_code == 403
    assert not Structure.objects.exists()


def test_a_character_without_the_structure_scopes_gets_a_grant_access_button(
    client, user, eve_structures
):
    character_link_replay(eve_structures, user, scopes=ALL_SCOPES[:2])
    client.force_login(user)
    page = client.get("/market/structures/").content.decode()
    assert "Grant access" in page and UNIVERSE_STRUCTURES_SCOPE in page

    # The button's login asks EVE SSO for the structure scopes, and for no scope it was not
    # meant to (a hostile one in the URL is dropped).
    start = client.post(
        "/accounts/eveonline_v2/login/?process=connect&scope="
        "esi-markets.structure_markets.v1,esi-universe.read_structures.v1,esi-mail.send_mail.v1"
    )
    assert start.status_code == 302
    asked = parse_qs(urlsplit(start["Location"]).query)["scope"][0].split()
    assert "esi-universe.read_structures.v1" in asked
    assert "esi-markets.structure_markets.v1" in asked
    assert "esi-mail.send_mail.v1" not in asked


def test_hostile_ids_in_urls_are_404s_not_errors(client):
    for path in (
        "/market/structures/99999999999999999999999/",
        "/market/structures/5/",
        "/api/market/structures/99999999999999999999999",
        "/market/structures/abc/",
    ):
        assert client.get(path).status_code == 404, path
