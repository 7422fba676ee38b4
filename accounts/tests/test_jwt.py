"""Verifying EVE SSO access tokens: signature against the JWKS, issuer, audience, expiry."""

from __future__ import annotations

import time

import jwt
import pytest

from accounts.replay import SigningKey, sso_claims, sso_jwt, sso_key_rotate, sso_state
from accounts.sso import SsoTokenRejected, SsoUnavailable, access_token_verify

pytestmark = pytest.mark.django_db

CLIENT = "lenny-demo"


def claims_for(server, **changes):
    claims = sso_claims(
        server,
        character_id=2112625428,
        name="Lenny Demo Pilot",
        scopes=["esi-wallet.read_character_wallet.v1", "esi-markets.read_character_orders.v1"],
        client_id=CLIENT,
    )
    claims.update(changes)
    return claims


def test_it_reads_the_character_from_a_genuine_token(eve_sso):
    identity = access_token_verify(sso_jwt(eve_sso, claims_for(eve_sso)), client_id=CLIENT)
    assert identity.character_id == 2112625428
    assert identity.name == "Lenny Demo Pilot"
    assert identity.owner_hash == claims_for(eve_sso)["owner"]
    assert identity.scopes == [
        "esi-wallet.read_character_wallet.v1",
        "esi-markets.read_character_orders.v1",
    ]


@pytest.mark.parametrize(
    ("scp", "scopes"),
    [("esi-wallet.read_character_wallet.v1", ["esi-wallet.read_character_wallet.v1"]), (None, [])],
)
def test_it_accepts_one_scope_as_a_string_and_none_at_all(eve_sso, scp, scopes):
    claims = claims_for(eve_sso, scp=scp)
    if scp is None:
        del claims["scp"]
    assert access_token_verify(sso_jwt(eve_sso, claims), client_id=CLIENT).scopes == scopes


@pytest.mark.parametrize("issuer", ["login.eveonline.com", "https://login.eveonline.com"])
def test_it_accepts_both_forms_of_ccps_issuer(eve_sso, issuer):
    token = sso_jwt(eve_sso, claims_for(eve_sso, iss=issuer))
    assert access_token_verify(token, client_id=CLIENT).character_id == 2112625428


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"aud": ["another-app", "EVE Online"]}, "issued to another application"),
        ({"aud": "lenny-demo"}, "audience does not include 'EVE Online'"),
        ({"exp": int(time.time()) - 60}, "has expired"),
        ({"iss": "login.eveonline.com.evil.example"}, "not issued by login.eveonline.com"),
        ({"sub": "CHARACTER:EVE:not-a-number"}, "is not an EVE character"),
        ({"owner": None}, "lacks the 'owner' claim"),
        ({"scp": {"esi": 1}}, "malformed 'scp'"),
    ],
)
def test_it_refuses_a_token_with_wrong_claims(eve_sso, changes, message):
    token = sso_jwt(eve_sso, claims_for(eve_sso, **changes))
    with pytest.raises(SsoTokenRejected, match=message):
        access_token_verify(token, client_id=CLIENT)


def test_it_refuses_a_token_signed_by_another_key_under_the_same_name(eve_sso):
    forger = SigningKey(eve_sso.state["sso"]["key"].kid)
    token = sso_jwt(eve_sso, claims_for(eve_sso), key=forger)
    with pytest.raises(SsoTokenRejected, match="forged or altered"):
        access_token_verify(token, client_id=CLIENT)


def test_it_refuses_a_token_whose_claims_were_edited(eve_sso):
    header, payload, signature = sso_jwt(eve_sso, claims_for(eve_sso)).split(".")
    edited = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b"Lenny Demo Pilot", b"Lenny Demo Piler")
    ).decode()
    with pytest.raises(SsoTokenRejected, match="forged or altered"):
        access_token_verify(f"{header}.{edited}.{signature}", client_id=CLIENT)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("not a jwt", "not a JWT"),
        (
            jwt.encode(
                {"sub": "CHARACTER:EVE:1"},
                "a shared secret of at least 32 bytes",
                algorithm="HS256",
            ),
            "only RS256",
        ),
        (jwt.encode({"sub": "CHARACTER:EVE:1"}, None, algorithm="none"), "only RS256"),
    ],
)
def test_it_refuses_garbage_and_other_algorithms(eve_sso, token, message):
    with pytest.raises(SsoTokenRejected, match=message):
        access_token_verify(token, client_id=CLIENT)


def test_it_caches_the_jwks(eve_sso):
    for _ in range(3):
        access_token_verify(sso_jwt(eve_sso, claims_for(eve_sso)), client_id=CLIENT)
    assert eve_sso.count("/sso/oauth/jwks") == 1


def test_it_refetches_the_jwks_when_the_sso_rotates_its_key(eve_sso):
    access_token_verify(sso_jwt(eve_sso, claims_for(eve_sso)), client_id=CLIENT)
    sso_key_rotate(eve_sso)

    identity = access_token_verify(sso_jwt(eve_sso, claims_for(eve_sso)), client_id=CLIENT)

    assert identity.character_id == 2112625428
    assert eve_sso.count("/sso/oauth/jwks") == 2


def test_it_rereads_the_jwks_when_the_sso_replaced_a_key_under_the_same_kid(eve_sso):
    """An SSO that started again (the demo's replay, within the JWKS cache's hour) signs with a
    new key of the same kid: the cached key does not verify, the JWKS read again does."""
    access_token_verify(sso_jwt(eve_sso, claims_for(eve_sso)), client_id=CLIENT)
    state = sso_state(eve_sso)
    state["key"] = SigningKey(state["key"].kid)

    identity = access_token_verify(sso_jwt(eve_sso, claims_for(eve_sso)), client_id=CLIENT)

    assert identity.character_id == 2112625428
    assert eve_sso.count("/sso/oauth/jwks") == 2


def test_a_forged_token_under_a_published_kid_is_refused_after_one_reread(eve_sso):
    access_token_verify(sso_jwt(eve_sso, claims_for(eve_sso)), client_id=CLIENT)
    forger = SigningKey(sso_state(eve_sso)["key"].kid)
    for _ in range(3):
        with pytest.raises(SsoTokenRejected, match="forged or altered"):
            access_token_verify(sso_jwt(eve_sso, claims_for(eve_sso), key=forger), client_id=CLIENT)
    # Each forgery may re-read the keys, within the limit an unknown kid has too.
    assert eve_sso.count("/sso/oauth/jwks") == 1 + 3


def test_it_refuses_an_unpublished_key_and_limits_refetching(eve_sso):
    access_token_verify(sso_jwt(eve_sso, claims_for(eve_sso)), client_id=CLIENT)
    stranger = SigningKey("made-up")
    for n in range(15):
        stranger.kid = f"made-up-{n}"
        with pytest.raises(SsoTokenRejected, match="which the SSO does not publish"):
            access_token_verify(
                sso_jwt(eve_sso, claims_for(eve_sso), key=stranger), client_id=CLIENT
            )
    assert eve_sso.count("/sso/oauth/jwks") == 1 + 10


def test_it_says_so_when_the_jwks_cannot_be_read(eve_sso):
    eve_sso.fault(r"/sso/oauth/jwks", status=503)
    with pytest.raises(SsoUnavailable, match="signing keys could not be read"):
        access_token_verify(sso_jwt(eve_sso, claims_for(eve_sso)), client_id=CLIENT)
