"""The replay EVE SSO behaves like login.eveonline.com where Lenny (and replay ESI) rely on it."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from allauth.socialaccount.models import SocialApp

from accounts.replay import DEMO_CHARACTER, demo_load

pytestmark = pytest.mark.django_db

CLIENT = ("lenny-demo", "lenny-demo")
CALLBACK = "http://127.0.0.1:8000/accounts/eveonline_v2/login/callback/"


def authorize(server, **params) -> requests.Response:
    query = {
        "response_type": "code",
        "client_id": "lenny-demo",
        "redirect_uri": CALLBACK,
        "scope": "esi-wallet.read_character_wallet.v1 esi-markets.read_character_orders.v1",
        "state": "s1",
        **params,
    }
    return requests.get(
        server.url("/sso/v2/oauth/authorize"), params=query, allow_redirects=False, timeout=5
    )


def code_from(response: requests.Response) -> str:
    return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]


def token(server, data: dict, auth=CLIENT) -> requests.Response:
    return requests.post(server.url("/sso/v2/oauth/token"), data=data, auth=auth, timeout=5)


def test_it_approves_at_once_and_returns_the_state(upstreams):
    response = authorize(upstreams)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/accounts/eveonline_v2/login/callback/"
    assert parse_qs(location.query)["state"] == ["s1"]


def test_it_refuses_an_authorize_without_state(upstreams):
    response = authorize(upstreams, state="")
    assert response.status_code == 400 and "Missing state" in response.text


def test_it_issues_rs256_jwts_for_the_chosen_character(upstreams):
    upstreams.state["sso"]["next_character"] = {"character_id": 95465499, "name": "CCP Bartender"}
    answer = token(
        upstreams, {"grant_type": "authorization_code", "code": code_from(authorize(upstreams))}
    ).json()

    header = jwt.get_unverified_header(answer["access_token"])
    claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
    assert header["alg"] == "RS256"
    assert claims["sub"] == "CHARACTER:EVE:95465499" and claims["name"] == "CCP Bartender"
    assert claims["aud"] == ["lenny-demo", "EVE Online"]
    assert answer["expires_in"] == 1199 and answer["token_type"] == "Bearer"
    issued = upstreams.state["sso"]["access_tokens"][answer["access_token"]]
    assert issued["character_id"] == 95465499
    assert issued["scopes"] == [
        "esi-wallet.read_character_wallet.v1",
        "esi-markets.read_character_orders.v1",
    ]


def test_its_jwks_verifies_its_tokens(upstreams):
    answer = token(
        upstreams, {"grant_type": "authorization_code", "code": code_from(authorize(upstreams))}
    ).json()
    keys = requests.get(upstreams.url("/sso/oauth/jwks"), timeout=5).json()["keys"]
    key = jwt.PyJWK(keys[0])
    claims = jwt.decode(
        answer["access_token"], key.key, algorithms=["RS256"], audience="lenny-demo"
    )
    assert claims["sub"] == f"CHARACTER:EVE:{DEMO_CHARACTER['character_id']}"


def test_a_code_works_once(upstreams):
    code = code_from(authorize(upstreams))
    assert token(upstreams, {"grant_type": "authorization_code", "code": code}).status_code == 200
    second = token(upstreams, {"grant_type": "authorization_code", "code": code})
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"


def test_it_rotates_refresh_tokens(upstreams):
    first = token(
        upstreams, {"grant_type": "authorization_code", "code": code_from(authorize(upstreams))}
    ).json()
    second = token(
        upstreams, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    again = token(
        upstreams, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert again.json()["error"] == "invalid_grant"


def test_it_can_be_told_to_refuse_a_refresh_token(upstreams):
    answer = token(
        upstreams, {"grant_type": "authorization_code", "code": code_from(authorize(upstreams))}
    ).json()
    upstreams.state["sso"]["invalid_grant_refresh_tokens"].add(answer["refresh_token"])
    refused = token(
        upstreams, {"grant_type": "refresh_token", "refresh_token": answer["refresh_token"]}
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("auth", [None, ("lenny-demo", "wrong"), ("someone", "lenny-demo")])
def test_it_requires_the_client_credentials(upstreams, auth):
    code = code_from(authorize(upstreams))
    response = token(upstreams, {"grant_type": "authorization_code", "code": code}, auth=auth)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_it_requires_a_form_encoded_body(upstreams):
    response = requests.post(
        upstreams.url("/sso/v2/oauth/token"),
        json={"grant_type": "authorization_code", "code": code_from(authorize(upstreams))},
        auth=CLIENT,
        timeout=5,
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_reset_forgets_tokens_and_knobs_but_keeps_its_key(upstreams):
    state = upstreams.state["sso"]
    key, state["deny"] = state["key"], True
    token(upstreams, {"grant_type": "authorization_code", "code": "x"})
    upstreams.reset()
    assert upstreams.state["sso"]["deny"] is False
    assert upstreams.state["sso"]["key"] is key


def test_demo_load_registers_the_replay_sso_as_lennys_eve_application(client, upstreams):
    out = io.StringIO()
    demo_load(base_url=upstreams.base_url, stdout=out)
    demo_load(base_url=upstreams.base_url, stdout=out)  # idempotent

    app = SocialApp.objects.get()
    assert (app.provider, app.client_id, app.secret) == ("eveonline_v2", "lenny-demo", "lenny-demo")
    assert "Lenny Demo Pilot" in out.getvalue()
    assert "Log in with EVE Online" in client.get("/accounts/login/").content.decode()
