"""allauth hooks: EVE logins become Lenny users and ``Character`` rows."""

from __future__ import annotations

import logging
from typing import Any

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.utils import user_username
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from allauth.socialaccount.providers.base import AuthError
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import render
from django.urls import reverse
from requests import RequestException

from accounts.characters import character_link_from_login
from accounts.redaction import redact
from accounts.sso import PROVIDER_ID, SsoError

log = logging.getLogger(__name__)


def sso_failure_message(exception: BaseException | None) -> str:
    """What went wrong with an EVE login, in words a pilot can act on."""
    if isinstance(exception, SsoError):
        return str(exception)
    if isinstance(exception, OAuth2Error):
        # allauth's message carries the SSO's error answer (never our secret).
        return redact(f"EVE SSO refused to hand out a token: {exception}")[:300]
    if isinstance(exception, RequestException):
        return f"EVE SSO could not be reached ({type(exception).__name__}). Try again in a minute."
    if isinstance(exception, PermissionDenied):
        return "This login was started elsewhere or has expired. Start again from the button."
    return "EVE SSO did not send you back with a login. Start again from the button."


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def populate_user(self, request: HttpRequest, sociallogin: SocialLogin, data: dict[str, Any]):
        user = super().populate_user(request, sociallogin, data)
        if sociallogin.account.provider == PROVIDER_ID:
            # Character names have spaces and may be taken; "Lenny Demo Pilot" -> lenny_demo_pilot.
            name = data.get("username") or ""
            user_username(user, get_account_adapter().generate_unique_username([name, "pilot"]))
        return user

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form=None):
        user = super().save_user(request, sociallogin, form)
        if sociallogin.account.provider == PROVIDER_ID:
            character_link_from_login(sociallogin=sociallogin)
        return user

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider,
        error=None,
        exception=None,
        extra_context=None,
    ) -> None:
        if error == AuthError.CANCELLED or getattr(provider, "id", None) != PROVIDER_ID:
            return
        message = sso_failure_message(exception)
        log.warning("EVE SSO login failed: %s", message)
        response = render(request, "accounts/sso_error.html", {"message": message}, status=401)
        raise ImmediateHttpResponse(response)

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        super().pre_social_login(request, sociallogin)
        if sociallogin.account.provider == PROVIDER_ID and not sociallogin.state.get("next"):
            # A pilot logs in with EVE for their wallets: land on the ledger rather than the
            # market's front page. A `next` the login started with (allauth keeps only a safe
            # one) still wins, so "Log in with EVE again" returns to the page it was pressed on.
            sociallogin.state["next"] = reverse("ledger:home")

    def get_connect_redirect_url(self, request: HttpRequest, socialaccount) -> str:
        return reverse("ledger:home")
