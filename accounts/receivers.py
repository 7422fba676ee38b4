"""Keep ``Character`` rows in step with allauth's logins (connect and repeat logins).

New users are handled in ``SocialAccountAdapter.save_user``. Connected in
``AccountsConfig.ready()``.
"""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.models import SocialLogin
from allauth.socialaccount.providers.base import AuthProcess
from allauth.socialaccount.signals import social_account_added, social_account_updated
from django.http import HttpRequest

from accounts.characters import character_link_from_login
from accounts.sso import PROVIDER_ID


def character_connected(sender: Any, request: HttpRequest, sociallogin: SocialLogin, **kwargs):
    if sociallogin.account.provider == PROVIDER_ID:
        character_link_from_login(sociallogin=sociallogin)


def character_logged_in_again(
    sender: Any, request: HttpRequest, sociallogin: SocialLogin, **kwargs
):
    if sociallogin.account.provider != PROVIDER_ID:
        return
    connecting = sociallogin.state.get("process") == AuthProcess.CONNECT
    if connecting and request.user.is_authenticated and request.user != sociallogin.user:
        return  # allauth refuses to connect another user's character; leave it alone
    character_link_from_login(sociallogin=sociallogin)


def receivers_connect() -> None:
    """Called once from ``AccountsConfig.ready()``."""
    social_account_added.connect(character_connected, dispatch_uid="accounts.character_connected")
    social_account_updated.connect(
        character_logged_in_again, dispatch_uid="accounts.character_logged_in_again"
    )
