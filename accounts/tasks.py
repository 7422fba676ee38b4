"""Periodic account upkeep."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from accounts.models import Character
from accounts.tokens import TokenInvalid, TokenUnavailable, access_token_refresh
from lenny.schedules import periodic_job

# A login untouched this long is refreshed, so a revoked or sold character shows its banner
# within a day instead of when its pilot next needs the data.
TOKEN_CHECK_AGE = timedelta(hours=20)


@periodic_job(
    "accounts-token-check",
    minutes=6 * 60,
    timeout=300,
    description="Refresh EVE logins unused for a day, to notice revoked or sold characters.",
)
def character_tokens_check() -> dict[str, int]:
    stale_before = timezone.now() - TOKEN_CHECK_AGE
    counts = {"refreshed": 0, "needs_relogin": 0, "failed": 0}
    stale = Character.objects.usable().filter(
        Q(token_refreshed_at__lt=stale_before) | Q(token_refreshed_at__isnull=True)
    )
    for character in stale.iterator():
        try:
            access_token_refresh(character=character)
        except TokenInvalid:
            counts["needs_relogin"] += 1
        except TokenUnavailable:
            counts["failed"] += 1
        else:
            counts["refreshed"] += 1
    return counts
