"""The accounts app's replay upstreams: EVE SSO v2 and character portraits (``sso``), and the
offline demo's EVE login (``demo``)."""

from accounts.replay.demo import demo_load
from accounts.replay.sso import (
    DEMO_CHARACTER,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    ISSUER,
    SigningKey,
    owner_hash,
    register,
    sso_claims,
    sso_jwt,
    sso_key_rotate,
    sso_state,
    sso_tokens_issue,
)

__all__ = [
    "DEMO_CHARACTER",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "ISSUER",
    "SigningKey",
    "demo_load",
    "owner_hash",
    "register",
    "sso_claims",
    "sso_jwt",
    "sso_key_rotate",
    "sso_state",
    "sso_tokens_issue",
]
