"""Logging in and linking characters with EVE SSO v2, end to end against the replay SSO."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.contrib.sessions.models import Session

from accounts.models import Character
from accounts.replay import SigningKey, owner_hash
from accounts.tests.factories import ALL_SCOPES, sso_login

pytestmark = pytest.mark.django_db

DEMO_ID = 2112625428


def test_it_signs_up_a_new_user_from_an_eve_login(client, eve_sso, django_user_model):
    response = sso_login(client, eve_sso)

    assert response.status_code == 302 and response["Location"] == "/ledger/"  # issue 11
    user = django_user_model.objects.get()
    assert user.username == "lenny_demo_pilot"
    assert not user.has_usable_password()
    character = Character.objects.get()
    assert (character.character_id, character.name, character.owner) == (
        DEMO_ID,
        "Lenny Demo Pilot",
        user,
    )
    assert sorted(character.scopes) == sorted(ALL_SCOPES)
    assert character.owner_hash == owner_hash(DEMO_ID)
    assert character.access_token.startswith("eyJ") and character.refresh_token
    assert character.access_token_fresh()
    page = client.get("/account/").content.decode()
    assert "Lenny Demo Pilot" in page and f"/characters/{DEMO_ID}/portrait" in page


def test_it_asks_for_the_trading_scopes_with_a_state(client, eve_sso):
    start = client.post("/accounts/eveonline_v2/login/?process=login")
    query = parse_qs(urlsplit(start["Location"]).query)
    assert set(query["scope"][0].split()) == set(ALL_SCOPES)
    assert query["response_type"] == ["code"] and query["client_id"] == ["lenny-demo"]
    assert query["state"][0]
    assert query["redirect_uri"] == ["http://testserver/accounts/eveonline_v2/login/callback/"]


def test_it_exchanges_the_code_with_basic_auth_and_a_form_body(client, eve_sso):
    sso_login(client, eve_sso)
    (token_request,) = eve_sso.requests("/sso/v2/oauth/token", method="POST")
    assert token_request.headers["Authorization"].startswith("Basic ")
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert token_request.status == 200


def test_it_logs_in_the_user_who_owns_the_character(client, eve_sso, django_user_model):
    sso_login(client, eve_sso)
    client.logout()

    response = sso_login(client, eve_sso)

    assert response.status_code == 302
    assert django_user_model.objects.count() == 1
    assert client.get("/account/").status_code == 200
    assert Character.objects.count() == 1


def test_a_logged_in_user_links_more_characters(client, eve_sso, sso, user):
    client.force_login(user)
    sso["next_character"] = {"character_id": 90000001, "name": "Second Pilot"}
    response = sso_login(client, eve_sso, process="connect")
    assert response.status_code == 302 and response["Location"] == "/ledger/"  # issue 11
    sso["next_character"] = {"character_id": 90000002, "name": "Third Pilot"}
    sso_login(client, eve_sso, process="connect")

    assert sorted(user.characters.values_list("name", flat=True)) == [
        "Second Pilot",
        "Third Pilot",
    ]
    page = client.get("/account/").content.decode()
    assert "Second Pilot" in page and "Third Pilot" in page
    assert "Link another character" in page


def test_a_character_of_another_user_cannot_be_linked(client, eve_sso, user, other_user):
    client.force_login(user)
    sso_login(client, eve_sso, process="connect")
    client.force_login(other_user)

    response = sso_login(client, eve_sso, process="connect")

    assert response.status_code == 302
    assert Character.objects.get().owner == user
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("already connected to a different account" in m for m in messages)


def test_a_sold_character_moves_to_its_new_owner_and_leaves_the_old_ones_data(
    client, eve_sso, sso, user, django_user_model
):
    client.force_login(user)
    sso_login(client, eve_sso, process="connect")
    old = Character.objects.get()
    client.logout()
    # Sold: same character, another EVE account, so another owner hash.
    sso["next_character"] = {
        "character_id": DEMO_ID,
        "name": "Lenny Demo Pilot",
        "owner": owner_hash(DEMO_ID, "buyer"),
    }

    sso_login(client, eve_sso)

    new = Character.objects.get()
    assert new.pk != old.pk and new.owner != user
    assert new.owner_hash == owner_hash(DEMO_ID, "buyer")
    assert not user.characters.exists()
    assert not SocialAccount.objects.filter(user=user).exists()
    assert django_user_model.objects.count() == 2


@pytest.mark.parametrize(
    ("forgery", "message"),
    [
        ({"claims_override": {"aud": ["someone-else", "EVE Online"]}}, "another application"),
        ({"claims_override": {"aud": ["lenny-demo"]}}, "audience does not include"),
        ({"claims_override": {"exp": int(time.time()) - 600}}, "has expired"),
        ({"claims_override": {"iss": "https://evil.example"}}, "not issued by login.eveonline.com"),
        ({"claims_override": {"sub": "CORPORATION:EVE:98000001"}}, "is not an EVE character"),
        ({"sign_with": "foreign key"}, "forged or altered"),
    ],
)
def test_it_refuses_a_forged_token_with_a_clear_message(
    client, eve_sso, sso, forgery, message, django_user_model
):
    if forgery.get("sign_with"):
        forgery = {"sign_with": SigningKey(sso["key"].kid)}  # same key id, other key
    sso.update(forgery)

    response = sso_login(client, eve_sso)

    assert response.status_code == 401
    page = response.content.decode()
    assert "EVE login failed" in page and message in page
    assert not django_user_model.objects.exists() and not Character.objects.exists()
    assert "_auth_user_id" not in client.session


def test_it_explains_a_cancelled_login(client, eve_sso, sso):
    sso["deny"] = True
    response = sso_login(client, eve_sso)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/3rdparty/login/cancelled/"
    assert not Character.objects.exists()


def test_it_refuses_a_callback_with_a_state_it_did_not_issue(client, eve_sso):
    client.post("/accounts/eveonline_v2/login/?process=login")
    response = client.get("/accounts/eveonline_v2/login/callback/?code=abc&state=made-up")
    assert response.status_code == 401
    assert "Start again" in response.content.decode()
    assert not Character.objects.exists()


def test_it_reports_a_wrong_client_secret(client, eve_sso, settings):
    settings.SOCIALACCOUNT_PROVIDERS["eveonline_v2"]["APPS"][0]["secret"] = "wrong"
    response = sso_login(client, eve_sso)
    assert response.status_code == 401
    assert "invalid_client" in response.content.decode()


def test_allauth_keeps_no_plaintext_copy_of_the_tokens(client, eve_sso, sso):
    sso_login(client, eve_sso)
    character = Character.objects.get()

    assert not SocialToken.objects.exists()
    extra_data = str(SocialAccount.objects.get().extra_data)
    assert character.access_token not in extra_data
    assert character.refresh_token not in extra_data
    for session in Session.objects.all():
        decoded = str(session.get_decoded())
        assert character.access_token not in decoded
        assert character.refresh_token not in decoded
