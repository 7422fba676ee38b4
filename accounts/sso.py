"""EVE SSO v2: the allauth provider, the token endpoint client and the JWT checks.

allauth's ``eveonline`` provider still speaks SSO v1 (``/oauth/authorize``, ``/oauth/verify``);
this one subclasses it for v2: authorize and token at ``/v2/oauth/...`` with ``state`` and HTTP
Basic client auth, and the character comes from the access token itself, a JWT checked against
the SSO's published keys (JWKS) rather than from a profile call.

allauth keeps no plaintext token: ``SOCIALACCOUNT_STORE_TOKENS`` is off and the token it carries
through a login (and may park in the session) is already encrypted; ``accounts.characters``
stores it on the ``Character``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
import requests
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.providers.base import ProviderException
from allauth.socialaccount.providers.eveonline.provider import (
    EveOnlineAccount,
    EveOnlineProvider,
)
from allauth.socialaccount.providers.eveonline.views import EveOnlineOAuth2Adapter
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables

from accounts import crypto
from accounts.scopes import EVE_SSO_SCOPES, OPT_IN_SCOPES

log = logging.getLogger(__name__)

PROVIDER_ID = "eveonline_v2"
# CCP has issued both forms over time.
EVE_ISSUERS = ("login.eveonline.com", "https://login.eveonline.com")
EVE_AUDIENCE = "EVE Online"
SUBJECT = re.compile(r"^CHARACTER:EVE:(\d{1,18})$")
# Seconds of clock difference tolerated between the SSO and this machine.
CLOCK_LEEWAY = 5
JWKS_CACHE_SECONDS = 3600
# A token naming a key we do not know makes us re-read the JWKS (CCP rotated it), but a flood of
# made-up key ids must not turn into a flood of requests to the SSO.
JWKS_REFETCHES_PER_MINUTE = 10


class SsoError(ProviderException):
    """EVE SSO failed or answered something Lenny must not accept; the message says which."""


class SsoTokenRejected(SsoError):
    """An access token that fails verification (forged, altered, expired, someone else's)."""


class SsoGrantInvalid(SsoError):
    """The SSO refused the grant (``invalid_grant``): the pilot must log in again."""


class SsoUnavailable(SsoError):
    """The SSO could not be reached or answered with an error that may pass."""


@dataclass(frozen=True)
class SsoIdentity:
    """Who an access token speaks for, from its verified claims."""

    character_id: int
    name: str
    owner_hash: str
    scopes: list[str]
    expires_at: datetime


def sso_url(path: str) -> str:
    return settings.EVE_SSO_BASE_URL.rstrip("/") + path


def sso_credentials() -> tuple[str, str]:
    """The client id and secret of Lenny's EVE application (settings, or a SocialApp row)."""
    from allauth.socialaccount.models import SocialApp

    try:
        app = get_adapter().get_app(None, provider=PROVIDER_ID)
    except SocialApp.DoesNotExist:
        raise ImproperlyConfigured(
            "EVE SSO is not configured: set EVE_SSO_CLIENT_ID and EVE_SSO_SECRET"
        ) from None
    return app.client_id, app.secret


def sso_configured() -> bool:
    try:
        sso_credentials()
    except ImproperlyConfigured:
        return False
    return True


def _session_headers() -> dict[str, str]:
    return {"User-Agent": settings.LENNY_USER_AGENT, "Accept": "application/json"}


# --- JWKS and JWT ---------------------------------------------------------------------------------
def _jwks_cache_key() -> str:
    return (
        "accounts:sso:jwks:" + hashlib.sha256(settings.EVE_SSO_BASE_URL.encode()).hexdigest()[:16]
    )


def _jwks_fetch() -> list[dict[str, Any]]:
    url = sso_url("/oauth/jwks")
    try:
        response = requests.get(url, headers=_session_headers(), timeout=settings.UPSTREAM_TIMEOUT)
        response.raise_for_status()
        keys = response.json()["keys"]
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        raise SsoUnavailable(f"EVE SSO's signing keys could not be read from {url}: {exc}") from exc
    if not isinstance(keys, list):
        raise SsoUnavailable(f"EVE SSO's signing keys at {url} are not a JWKS key list")
    cache.set(_jwks_cache_key(), keys, JWKS_CACHE_SECONDS)
    return keys


def _refetch_allowed() -> bool:
    window = _jwks_cache_key() + ":refetches"
    cache.add(window, 0, 60)
    try:
        return cache.incr(window) <= JWKS_REFETCHES_PER_MINUTE
    except ValueError:  # the window expired between add and incr
        return True


def _find_key(keys: list[dict[str, Any]], kid: str) -> jwt.PyJWK | None:
    for data in keys:
        if isinstance(data, dict) and data.get("kid") == kid and data.get("kty") == "RSA":
            try:
                return jwt.PyJWK(data, algorithm="RS256")
            except jwt.PyJWKError as exc:
                raise SsoUnavailable(f"EVE SSO publishes an unusable key {kid!r}: {exc}") from exc
    return None


def signing_key(kid: str) -> jwt.PyJWK:
    """The SSO's RS256 public key ``kid``: from the cached JWKS, re-read once if unknown."""
    keys = cache.get(_jwks_cache_key())
    fetched = keys is None
    if fetched:
        keys = _jwks_fetch()
    key = _find_key(keys, kid)
    if key is None and not fetched and _refetch_allowed():
        key = _find_key(_jwks_fetch(), kid)
    if key is None:
        raise SsoTokenRejected(
            f"EVE SSO access token is signed with key {kid!r}, which the SSO does not publish"
        )
    return key


def signing_key_replaced(kid: str, *, stale: jwt.PyJWK) -> jwt.PyJWK | None:
    """The SSO's key ``kid`` read again, when it is not ``stale``: a cached key that did not
    verify a token. The SSO may have replaced it under the same kid (a rotation; the replay SSO
    makes a new key each time it starts, and a demo started again within the cache's hour could
    not log its pilot in). Within the same per-minute limit as an unknown kid's re-reads; None
    when the SSO publishes no other key ``kid``."""
    if not _refetch_allowed():
        return None
    key = _find_key(_jwks_fetch(), kid)
    if key is None or key.key.public_numbers() == stale.key.public_numbers():
        return None
    return key


def _scopes(claim: Any) -> list[str]:
    # One scope comes as a string, several as a list.
    if claim is None:
        return []
    if isinstance(claim, str):
        return [claim]
    if isinstance(claim, list) and all(isinstance(s, str) for s in claim):
        return list(claim)
    raise SsoTokenRejected("EVE SSO access token has a malformed 'scp' (scopes) claim")


def identity_from_claims(claims: dict[str, Any]) -> SsoIdentity:
    """Read the character out of (already verified) claims."""
    match = SUBJECT.match(str(claims.get("sub", "")))
    if not match:
        raise SsoTokenRejected(
            f"EVE SSO access token's subject {claims.get('sub')!r} is not an EVE character "
            "(expected CHARACTER:EVE:<id>)"
        )
    name, owner = claims.get("name"), claims.get("owner")
    if not isinstance(name, str) or not name.strip():
        raise SsoTokenRejected("EVE SSO access token carries no character name")
    if not isinstance(owner, str) or not owner.strip():
        raise SsoTokenRejected("EVE SSO access token carries no owner hash")
    return SsoIdentity(
        character_id=int(match.group(1)),
        name=name.strip(),
        owner_hash=owner,
        scopes=_scopes(claims.get("scp")),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=UTC),
    )


@sensitive_variables("access_token")
def access_token_claims(access_token: str, *, client_id: str) -> dict[str, Any]:
    """Verify an SSO access token (signature, issuer, audience, expiry) and return its claims.

    Raises ``SsoTokenRejected`` naming the problem.
    """
    try:
        header = jwt.get_unverified_header(access_token)
    except jwt.DecodeError:
        raise SsoTokenRejected("EVE SSO answered with an access token that is not a JWT") from None
    if header.get("alg") != "RS256":
        raise SsoTokenRejected(
            f"EVE SSO access token is signed with {header.get('alg')!r}; only RS256 is accepted"
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise SsoTokenRejected("EVE SSO access token does not name its signing key (kid)")
    key = signing_key(kid)
    try:
        try:
            claims = _claims_decode(access_token, key=key, client_id=client_id)
        except jwt.InvalidSignatureError:
            fresh = signing_key_replaced(kid, stale=key)
            if fresh is None:
                raise
            claims = _claims_decode(access_token, key=fresh, client_id=client_id)
    except jwt.InvalidSignatureError:
        raise SsoTokenRejected(
            "EVE SSO access token's signature does not match the SSO's published key: "
            "it was forged or altered"
        ) from None
    except jwt.ExpiredSignatureError:
        raise SsoTokenRejected("EVE SSO access token has expired") from None
    except jwt.InvalidAudienceError:
        raise SsoTokenRejected(
            f"EVE SSO access token was issued to another application, not to client id {client_id!r}"
        ) from None
    except jwt.InvalidIssuerError:
        raise SsoTokenRejected(
            "EVE SSO access token was not issued by login.eveonline.com"
        ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise SsoTokenRejected(f"EVE SSO access token lacks the '{exc.claim}' claim") from None
    except jwt.InvalidTokenError as exc:
        raise SsoTokenRejected(f"EVE SSO access token is invalid: {exc}") from None
    audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if EVE_AUDIENCE not in audience:
        raise SsoTokenRejected(f"EVE SSO access token's audience does not include {EVE_AUDIENCE!r}")
    identity_from_claims(claims)
    return claims


@sensitive_variables("access_token")
def _claims_decode(access_token: str, *, key: jwt.PyJWK, client_id: str) -> dict[str, Any]:
    return jwt.decode(
        access_token,
        key=key.key,
        algorithms=["RS256"],
        audience=client_id,
        issuer=EVE_ISSUERS,
        leeway=CLOCK_LEEWAY,
        options={"require": ["exp", "iss", "aud", "sub", "name", "owner"]},
    )


@sensitive_variables("access_token")
def access_token_verify(access_token: str, *, client_id: str) -> SsoIdentity:
    return identity_from_claims(access_token_claims(access_token, client_id=client_id))


# --- token endpoint ---------------------------------------------------------------------------------
@sensitive_variables("data", "client_secret", "response")
def token_request(data: dict[str, str]) -> dict[str, Any]:
    """POST a grant to the SSO token endpoint; return its JSON answer.

    Raises ``SsoGrantInvalid`` for ``invalid_grant`` (the refresh token is dead) and
    ``SsoUnavailable`` for anything else that went wrong (network, 5xx, bad client).
    """
    client_id, client_secret = sso_credentials()
    url = sso_url("/v2/oauth/token")
    try:
        response = requests.post(
            url,
            data=data,
            auth=(client_id, client_secret),
            headers=_session_headers(),
            timeout=settings.UPSTREAM_TIMEOUT,
        )
    except requests.RequestException as exc:
        # The exception names the URL only: no form body, so no refresh token.
        raise SsoUnavailable(f"EVE SSO token endpoint unreachable: {type(exc).__name__}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    if response.status_code == 200 and answer.get("access_token"):
        return answer
    error = str(answer.get("error") or f"HTTP {response.status_code}")[:100]
    description = str(answer.get("error_description") or "")[:200]
    if error == "invalid_grant":
        raise SsoGrantInvalid(
            f"EVE SSO refused the refresh token (invalid_grant{': ' + description if description else ''})"
        )
    if error == "invalid_client":
        log.error("EVE SSO rejected Lenny's client id/secret (invalid_client)")
    raise SsoUnavailable(
        f"EVE SSO token endpoint answered {response.status_code} {error}"
        + (f": {description}" if description else "")
    )


@sensitive_variables("refresh_token")
def token_revoke(refresh_token: str) -> None:
    """Tell the SSO to forget a refresh token (best effort: failures are only logged)."""
    try:
        client_id, client_secret = sso_credentials()
        response = requests.post(
            sso_url("/v2/oauth/revoke"),
            data={"token_type_hint": "refresh_token", "token": refresh_token},
            auth=(client_id, client_secret),
            headers=_session_headers(),
            timeout=settings.UPSTREAM_TIMEOUT,
        )
        if response.status_code >= 400:
            log.warning("EVE SSO did not revoke a refresh token: HTTP %s", response.status_code)
    except (requests.RequestException, ImproperlyConfigured) as exc:
        log.warning("EVE SSO refresh token revocation failed: %s", type(exc).__name__)


# --- allauth provider ---------------------------------------------------------------------------------
class EveOnlineV2Account(EveOnlineAccount):
    def get_profile_url(self) -> str | None:
        return None

    def get_avatar_url(self) -> str:
        character_id = self.account.extra_data.get("sub", "").rpartition(":")[2]
        return f"{settings.EVE_IMAGE_BASE_URL}/characters/{character_id}/portrait?size=128"

    def to_str(self) -> str:
        return self.account.extra_data.get("name") or super().to_str()


class EveOnlineV2OAuth2Adapter(EveOnlineOAuth2Adapter):
    provider_id = PROVIDER_ID
    basic_auth = True
    profile_url = ""  # v2 needs no profile call: the access token says who logged in

    @property
    def authorize_url(self) -> str:
        return sso_url("/v2/oauth/authorize")

    @property
    def access_token_url(self) -> str:
        return sso_url("/v2/oauth/token")

    @property
    def headers(self) -> dict[str, str]:
        return _session_headers()

    @sensitive_variables("data", "token")
    def parse_token(self, data: dict[str, Any]):
        # What allauth carries (and may park in the session) is only ever ciphertext.
        token = super().parse_token(data)
        token.token = crypto.encrypt(token.token)
        token.token_secret = crypto.encrypt(token.token_secret) if token.token_secret else ""
        return token

    @sensitive_variables("token", "kwargs")
    def complete_login(self, request, app, token, **kwargs):
        claims = access_token_claims(kwargs["response"]["access_token"], client_id=app.client_id)
        return self.get_provider().sociallogin_from_response(request, claims)


class EveOnlineV2Provider(EveOnlineProvider):
    id = PROVIDER_ID
    name = "EVE Online"
    package = "accounts.provider"
    account_class = EveOnlineV2Account
    oauth2_adapter_class = EveOnlineV2OAuth2Adapter

    def get_default_scope(self) -> list[str]:
        return list(EVE_SSO_SCOPES)

    def get_scope_from_request(self, request) -> list[str]:
        """The default scopes, plus the opt-in ones the login URL names (``?scope=a,b``, as
        allauth reads it): a "grant access" button asks for the structure scopes this way.
        A scope outside ``OPT_IN_SCOPES`` in the URL is ignored, never sent to EVE SSO."""
        scope = self.get_scope()
        asked = (request.GET.get("scope") or "").replace(" ", ",").split(",")
        scope.extend(s for s in dict.fromkeys(asked) if s in OPT_IN_SCOPES and s not in scope)
        return scope

    def extract_uid(self, data: dict[str, Any]) -> str:
        # The owner hash, as allauth's v1 provider does: a sold character arrives as a new
        # account and can never log anyone into its previous owner's Lenny.
        return str(data["owner"])

    def extract_extra_data(self, data: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in data.items() if k in ("sub", "name", "owner", "scp", "exp", "iat")}

    def extract_common_fields(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"username": data.get("name", "")}


oauth2_login = OAuth2LoginView.adapter_view(EveOnlineV2OAuth2Adapter)
oauth2_callback = OAuth2CallbackView.adapter_view(EveOnlineV2OAuth2Adapter)
