"""Accounts test data: linked characters with real replay-SSO tokens, the replay SSO as Lenny's
EVE application, and a whole SSO login round trip. Plain functions; the fixtures built on them
(``eve``, ``eve_sso``, ``pilot``, ``make_character``) are in tests/fixtures.py."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from accounts.characters import character_link
from accounts.models import Character
from accounts.replay import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, sso_tokens_issue
from accounts.sso import access_token_claims
from lenny.replay import ReplayServer

DEMO_PILOT = 2112625428
ALL_SCOPES = [
    "esi-wallet.read_character_wallet.v1",
    "esi-markets.read_character_orders.v1",
    "esi-markets.structure_markets.v1",
]
WALLET_SCOPE, ORDERS_SCOPE = ALL_SCOPES[0], ALL_SCOPES[1]


def upstreams_configure(server: ReplayServer, settings) -> ReplayServer:
    """Lenny's EVE application is the replay SSO's demo client; ESI retries in a blink; the
    replay's prices come from the small real history sample (it loads at once)."""
    server.state["esi"].configure(history="sample")
    settings.SOCIALACCOUNT_PROVIDERS = {
        "eveonline_v2": {
            "SCOPE": ALL_SCOPES,
            "APPS": [
                {"name": "EVE Online", "client_id": DEMO_CLIENT_ID, "secret": DEMO_CLIENT_SECRET}
            ],
        }
    }
    settings.ESI_BACKOFF_BASE = 0.01
    settings.ESI_BACKOFF_MAX = 0.05
    settings.ESI_MAX_RETRIES = 1
    settings.UPSTREAM_TIMEOUT = 5
    return server


def character_link_replay(
    server: ReplayServer,
    owner,
    *,
    character_id: int = DEMO_PILOT,
    name: str = "Lenny Demo Pilot",
    scopes: list[str] | None = None,
    expires_in: int | None = None,
) -> Character:
    """Link a character to ``owner`` as a finished SSO login does, with real replay tokens."""
    answer = sso_tokens_issue(
        server,
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
