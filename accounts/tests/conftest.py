"""Accounts fixtures: the replay SSO as Lenny's EVE application, and linked characters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from accounts.characters import character_link
from accounts.models import Character
from accounts.replay import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, sso_tokens_issue
from accounts.sso import access_token_claims

ALL_SCOPES = [
    "esi-wallet.read_character_wallet.v1",
    "esi-markets.read_character_orders.v1",
    "esi-markets.structure_markets.v1",
]


@pytest.fixture
def eve_sso(upstreams, settings):
    """The replay upstreams, with the replay SSO configured as Lenny's EVE application."""
    settings.SOCIALACCOUNT_PROVIDERS = {
        "eveonline_v2": {
            "SCOPE": ALL_SCOPES,
            "APPS": [
                {"name": "EVE Online", "client_id": DEMO_CLIENT_ID, "secret": DEMO_CLIENT_SECRET}
            ],
        }
    }
    return upstreams


@pytest.fixture
def sso(eve_sso) -> dict[str, Any]:
    """The replay SSO's knobs (``server.state["sso"]``)."""
    return eve_sso.state["sso"]


@pytest.fixture
def make_character(eve_sso) -> Callable[..., Character]:
    """Link a character to ``owner`` as a finished SSO login would (real tokens from the replay)."""

    def make(
        owner,
        *,
        character_id: int = 2112625428,
        name: str = "Lenny Demo Pilot",
        scopes: list[str] | None = None,
        expires_in: int | None = None,
    ) -> Character:
        answer = sso_tokens_issue(
            eve_sso,
            character_id=character_id,
            name=name,
            scopes=ALL_SCOPES if scopes is None else scopes,
            expires_in=expires_in,
        )
        claims = access_token_claims(answer["access_token"], client_id=DEMO_CLIENT_ID)
        return character_link(
            user=owner,
            claims=claims,
            access_token=answer["access_token"],
            refresh_token=answer["refresh_token"],
        )

    return make


def sso_login(client, server, *, process: str = "login", next_url: str | None = None):
    """Press "Log in with EVE Online" (or "Link a character") and follow the whole round trip.

    The test client talks to Lenny, ``requests`` to the replay SSO, as a browser would.
    Returns Lenny's answer to the callback.
    """
    query = f"?process={process}" + (f"&next={next_url}" if next_url else "")
    start = client.post(f"/accounts/eveonline_v2/login/{query}")
    assert start.status_code == 302, start.content
    authorize = start["Location"]
    assert authorize.startswith(server.url("/sso/v2/oauth/authorize")), authorize
    approved = requests.get(authorize, allow_redirects=False, timeout=10)
    assert approved.status_code == 302, approved.text
    callback = urlsplit(approved.headers["Location"])
    return client.get(f"{callback.path}?{callback.query}")
