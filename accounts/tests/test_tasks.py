from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Character
from accounts.tasks import character_tokens_check

pytestmark = pytest.mark.django_db


def test_the_daily_check_refreshes_idle_logins_and_finds_revoked_ones(
    make_character, user, eve_sso, sso
):
    idle = make_character(user, character_id=1001, name="Idle")
    revoked = make_character(user, character_id=1002, name="Revoked")
    busy = make_character(user, character_id=1003, name="Busy")
    Character.objects.filter(pk__in=[idle.pk, revoked.pk]).update(
        token_refreshed_at=timezone.now() - timedelta(days=2)
    )
    sso["invalid_grant_characters"].add(revoked.character_id)

    assert character_tokens_check() == {"refreshed": 1, "needs_relogin": 1, "failed": 0}

    assert Character.objects.get(pk=revoked.pk).needs_relogin
    assert not Character.objects.get(pk=idle.pk).needs_relogin
    assert Character.objects.get(pk=busy.pk).access_token == busy.access_token
    assert eve_sso.count("/sso/v2/oauth/token") == 2
