"""The offline demo's EVE login (``manage.py demo``): the replay SSO registered as Lenny's EVE
application."""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.models import SocialApp
from django.conf import settings
from django.contrib.sites.models import Site

from accounts.replay.sso import DEMO_CHARACTER, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from accounts.sso import PROVIDER_ID


def demo_load(*, base_url: str, stdout: Any) -> None:
    """Register the replay SSO as Lenny's EVE application so "Log in with EVE Online" works."""
    if settings.SOCIALACCOUNT_PROVIDERS.get(PROVIDER_ID, {}).get("APPS"):
        stdout.write(
            "  EVE_SSO_CLIENT_ID is set: the demo's EVE login uses it, and the replay SSO "
            f"only knows {DEMO_CLIENT_ID!r}; unset it for the offline demo"
        )
        return
    app, _ = SocialApp.objects.update_or_create(
        provider=PROVIDER_ID,
        defaults={
            "name": "EVE Online (replay)",
            "client_id": DEMO_CLIENT_ID,
            "secret": DEMO_CLIENT_SECRET,
        },
    )
    app.sites.add(Site.objects.get_current())
    stdout.write(
        f"  EVE SSO: log in as {DEMO_CHARACTER['name']} at {base_url}/sso (client {DEMO_CLIENT_ID})"
    )
