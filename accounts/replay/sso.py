"""Replay EVE SSO v2 (under ``/sso``) and character portraits (under ``/images``).

It behaves like login.eveonline.com for a confidential client: the authorize page approves at
once and redirects back with ``code`` and ``state``; the token endpoint (form-encoded, HTTP Basic
client auth) serves the ``authorization_code`` and ``refresh_token`` grants with RS256 JWT access
tokens signed by a key generated at start-up, and rotates refresh tokens (a used one is dead);
``/sso/oauth/jwks`` publishes the public key.

Knobs, in ``server.state["sso"]`` (all reset by ``server.reset()``):

- ``next_character``: who the next authorize logs in as, ``{"character_id": int, "name": str}``
  plus optionally ``"owner"`` (the owner hash; default derived from the id). It stays until
  changed; ``None`` means the demo pilot, 2112625428 "Lenny Demo Pilot".
- ``owners``: ``{character_id: owner_hash}``: a character "sold" to another EVE account.
- ``invalid_grant_characters`` / ``invalid_grant_refresh_tokens``: sets; a refresh for one of
  them answers ``400 invalid_grant``.
- ``deny``: the pilot presses "cancel" (redirect with ``error=access_denied``).
- ``expires_in``: access-token lifetime (default 1199 s, as CCP's).
- ``issuer``: the ``iss`` claim (default ``https://login.eveonline.com``).
- ``claims_override`` / ``sign_with``: forge the next tokens (other claims, a foreign key).
- ``clients``: ``{client_id: secret}`` accepted (default the demo's ``lenny-demo``/``lenny-demo``).

Issued access tokens are kept in ``access_tokens`` as
``{token: {"character_id": int, "scopes": [...], "expires_at": epoch}}`` so replay ESI's
character routes can authenticate requests and enforce scopes.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import struct
import threading
import time
import uuid
import zlib
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from lenny.replay import ReplayRequest, ReplayResponse, ReplayServer

DEMO_CHARACTER = {"character_id": 2112625428, "name": "Lenny Demo Pilot"}
DEMO_CLIENT_ID = DEMO_CLIENT_SECRET = "lenny-demo"
ISSUER = "https://login.eveonline.com"
ACCESS_TOKEN_SECONDS = 1199
CODE_SECONDS = 300


class SigningKey:
    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        data = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**data, "kid": self.kid, "alg": "RS256", "use": "sig"}


def owner_hash(character_id: int, account: str = "") -> str:
    """A CCP-style owner hash (28 base64 characters) for a character on an EVE account."""
    digest = hashlib.sha1(f"lenny-replay:{character_id}:{account}".encode()).digest()
    return base64.b64encode(digest).decode()


def _fresh_state(key: SigningKey) -> dict[str, Any]:
    return {
        "key": key,
        "retired_keys": [],
        "clients": {DEMO_CLIENT_ID: DEMO_CLIENT_SECRET},
        "next_character": None,
        "owners": {},
        "deny": False,
        "expires_in": ACCESS_TOKEN_SECONDS,
        "issuer": ISSUER,
        "claims_override": {},
        "sign_with": None,
        "invalid_grant_characters": set(),
        "invalid_grant_refresh_tokens": set(),
        "codes": {},
        "refresh_tokens": {},
        "access_tokens": {},
    }


def sso_state(server: ReplayServer) -> dict[str, Any]:
    return server.state["sso"]


def sso_jwt(server: ReplayServer, claims: dict[str, Any], *, key: SigningKey | None = None) -> str:
    """Sign ``claims`` as the replay SSO does (or with ``key``, to forge one)."""
    key = key or sso_state(server)["key"]
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})


def sso_claims(
    server: ReplayServer,
    *,
    character_id: int,
    name: str,
    scopes: list[str],
    client_id: str,
    expires_in: int | None = None,
) -> dict[str, Any]:
    """The claims of an access token, shaped like CCP's."""
    state = sso_state(server)
    now = int(time.time())
    claims: dict[str, Any] = {
        "jti": str(uuid.uuid4()),
        "kid": state["key"].kid,
        "sub": f"CHARACTER:EVE:{character_id}",
        "azp": client_id,
        "tenant": "tranquility",
        "tier": "live",
        "region": "world",
        "aud": [client_id, "EVE Online"],
        "name": name,
        "owner": state["owners"].get(character_id) or owner_hash(character_id),
        "exp": now + (state["expires_in"] if expires_in is None else expires_in),
        "iat": now,
        "iss": state["issuer"],
    }
    if scopes:
        # CCP sends one scope as a string, several as a list.
        claims["scp"] = scopes[0] if len(scopes) == 1 else list(scopes)
    return claims


def sso_tokens_issue(
    server: ReplayServer,
    *,
    character_id: int,
    name: str,
    scopes: list[str],
    client_id: str = DEMO_CLIENT_ID,
    expires_in: int | None = None,
) -> dict[str, Any]:
    """Issue a token pair as a successful login would; returns the token endpoint's answer."""
    state = sso_state(server)
    claims = sso_claims(
        server,
        character_id=character_id,
        name=name,
        scopes=scopes,
        client_id=client_id,
        expires_in=expires_in,
    )
    claims.update(state["claims_override"])
    access_token = sso_jwt(server, claims, key=state["sign_with"])
    refresh_token = secrets.token_urlsafe(18)
    state["access_tokens"][access_token] = {
        "character_id": character_id,
        "scopes": list(scopes),
        "expires_at": claims["exp"],
    }
    state["refresh_tokens"][refresh_token] = {
        "character_id": character_id,
        "name": name,
        "scopes": list(scopes),
        "client_id": client_id,
    }
    return {
        "access_token": access_token,
        "expires_in": claims["exp"] - claims["iat"],
        "token_type": "Bearer",
        "refresh_token": refresh_token,
    }


def sso_key_rotate(server: ReplayServer, *, keep_old: bool = True) -> SigningKey:
    """Sign from now on with a new key (new ``kid``), as CCP does when rotating."""
    state = sso_state(server)
    if keep_old:
        state["retired_keys"].append(state["key"])
    state["key"] = SigningKey(f"JWT-Signature-Key-{uuid.uuid4().hex[:8]}")
    return state["key"]


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def _client(req: ReplayRequest) -> tuple[str, str] | None:
    auth = req.headers.get("Authorization", "")
    scheme, _, encoded = auth.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return client_id, secret


def _oauth_error(status: int, error: str, description: str) -> ReplayResponse:
    return ReplayResponse.json({"error": error, "error_description": description}, status=status)


def register(server: ReplayServer) -> None:
    startup_key = SigningKey("JWT-Signature-Key")
    lock = threading.Lock()

    def reset() -> None:
        server.state["sso"] = _fresh_state(startup_key)

    reset()
    server.on_reset(reset)

    @server.route("GET", r"/sso/v2/oauth/authorize/?")
    def authorize(req: ReplayRequest) -> ReplayResponse:
        state = sso_state(server)
        missing = [
            name
            for name in ("response_type", "client_id", "redirect_uri", "state")
            if not req.arg(name)
        ]
        if missing:
            return ReplayResponse.html(
                f"<h1>Invalid request</h1><p>Missing {', '.join(missing)}.</p>", status=400
            )
        if req.arg("response_type") != "code":
            return ReplayResponse.html(
                "<h1>Invalid request</h1><p>response_type must be code.</p>", 400
            )
        if req.arg("client_id") not in state["clients"]:
            return ReplayResponse.html("<h1>Invalid request</h1><p>Unknown client.</p>", 400)
        redirect_uri = req.arg("redirect_uri")
        separator = "&" if "?" in redirect_uri else "?"
        if state["deny"]:
            query = urlencode({"error": "access_denied", "state": req.arg("state")})
            return ReplayResponse(302, b"", {"Location": f"{redirect_uri}{separator}{query}"})
        character = state["next_character"] or DEMO_CHARACTER
        code = secrets.token_urlsafe(16)
        with lock:
            if "owner" in character:
                state["owners"][int(character["character_id"])] = character["owner"]
            state["codes"][code] = {
                "character_id": int(character["character_id"]),
                "name": character["name"],
                "scopes": (req.arg("scope") or "").split(),
                "client_id": req.arg("client_id"),
                "redirect_uri": redirect_uri,
                "expires_at": time.time() + CODE_SECONDS,
            }
        query = urlencode({"code": code, "state": req.arg("state")})
        return ReplayResponse(302, b"", {"Location": f"{redirect_uri}{separator}{query}"})

    @server.route("POST", r"/sso/v2/oauth/token/?")
    def token(req: ReplayRequest) -> ReplayResponse:
        state = sso_state(server)
        if not req.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return _oauth_error(400, "invalid_request", "The body must be form-encoded")
        client = _client(req)
        if client is None or state["clients"].get(client[0]) != client[1]:
            return _oauth_error(401, "invalid_client", "Client authentication failed")
        client_id = client[0]
        form = req.form()
        grant_type = form.get("grant_type")
        with lock:
            if grant_type == "authorization_code":
                grant = state["codes"].pop(form.get("code", ""), None)
                if grant is None or grant["expires_at"] < time.time():
                    return _oauth_error(
                        400, "invalid_grant", "Authorization code not found or expired"
                    )
                if grant["client_id"] != client_id:
                    return _oauth_error(
                        400, "invalid_grant", "Authorization code issued to another client"
                    )
                if form.get("redirect_uri") and form["redirect_uri"] != grant["redirect_uri"]:
                    return _oauth_error(400, "invalid_grant", "redirect_uri does not match")
            elif grant_type == "refresh_token":
                refresh_token = form.get("refresh_token", "")
                grant = state["refresh_tokens"].get(refresh_token)
                if (
                    grant is None
                    or grant["client_id"] != client_id
                    or refresh_token in state["invalid_grant_refresh_tokens"]
                    or grant["character_id"] in state["invalid_grant_characters"]
                ):
                    return _oauth_error(
                        400, "invalid_grant", "Invalid refresh token. Token missing/expired."
                    )
                # Rotation: a refresh token works once.
                del state["refresh_tokens"][refresh_token]
            else:
                return _oauth_error(
                    400, "unsupported_grant_type", f"Unsupported grant type {grant_type!r}"
                )
            answer = sso_tokens_issue(
                server,
                character_id=grant["character_id"],
                name=grant["name"],
                scopes=grant["scopes"],
                client_id=client_id,
            )
        return ReplayResponse.json(answer, headers={"Cache-Control": "no-store"})

    @server.route("POST", r"/sso/v2/oauth/revoke/?")
    def revoke(req: ReplayRequest) -> ReplayResponse:
        state = sso_state(server)
        client = _client(req)
        if client is None or state["clients"].get(client[0]) != client[1]:
            return _oauth_error(401, "invalid_client", "Client authentication failed")
        with lock:
            state["refresh_tokens"].pop(req.form().get("token", ""), None)
        return ReplayResponse(200, b"")

    @server.route("GET", r"/sso/oauth/jwks/?")
    def jwks(req: ReplayRequest) -> ReplayResponse:
        state = sso_state(server)
        keys = [state["key"].jwk()] + [k.jwk() for k in state["retired_keys"]]
        return ReplayResponse.json(
            {"keys": keys, "SkipUnresolvedJsonWebKeys": True},
            headers={"Cache-Control": "public, max-age=300"},
        )

    @server.route("GET", r"/sso/oauth/verify/?")
    def verify(req: ReplayRequest) -> ReplayResponse:
        # SSO v1's token check, which CCP still serves: the simplest authenticated call.
        state = sso_state(server)
        scheme, _, access_token = req.headers.get("Authorization", "").partition(" ")
        issued = state["access_tokens"].get(access_token) if scheme.lower() == "bearer" else None
        if issued is None or issued["expires_at"] < time.time():
            return ReplayResponse.json({"error": "invalid_token"}, status=401)
        character_id = issued["character_id"]
        claims = jwt.decode(access_token, options={"verify_signature": False})
        return ReplayResponse.json(
            {
                "CharacterID": character_id,
                "CharacterName": claims["name"],
                "ExpiresOn": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(issued["expires_at"])),
                "Scopes": " ".join(issued["scopes"]),
                "TokenType": "Character",
                "CharacterOwnerHash": claims["owner"],
                "IntellectualProperty": "EVE",
            }
        )

    @server.route("GET", r"/images/characters/(?P<character_id>\d+)/portrait/?")
    def portrait(req: ReplayRequest) -> ReplayResponse:
        seed = hashlib.sha256(req.params["character_id"].encode()).digest()
        body = _png(8, 8, (seed[0], seed[1], seed[2]))
        return ReplayResponse(
            200, body, {"Content-Type": "image/png", "Cache-Control": "public, max-age=86400"}
        )
