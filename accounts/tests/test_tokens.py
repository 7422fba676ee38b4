"""The token service: refresh on expiry and on 401/403, rotation, invalid_grant, one refresh at once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import requests
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule

from accounts.models import Character
from accounts.replay import owner_hash
from accounts.signals import character_unusable
from accounts.tests.factories import sso_login
from accounts.tokens import (
    TokenInvalid,
    TokenUnavailable,
    access_token_get,
    access_token_refresh,
    esi_call_with_token,
)
from market.ledger.schedules import schedule_prefix

pytestmark = pytest.mark.django_db

TOKEN_ENDPOINT = "/sso/v2/oauth/token"


class UpstreamRefused(Exception):
    """What an ESI-like client raises: any class, with the HTTP status in ``.status``."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def whoami(server):
    """An authenticated call over HTTP: the SSO's token check, as ESI would check the token."""

    def call(access_token: str) -> dict:
        response = requests.get(
            server.url("/sso/oauth/verify"),
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=10,
        )
        if response.status_code != 200:
            raise UpstreamRefused(response.status_code)
        return response.json()

    return call


def expire(character: Character, seconds: int = 30) -> None:
    character.access_token_expires_at = timezone.now() + timedelta(seconds=seconds)
    Character.objects.filter(pk=character.pk).update(
        access_token_expires_at=character.access_token_expires_at
    )


def test_it_hands_out_a_token_that_is_still_good_without_asking_the_sso(
    make_character, user, eve_sso
):
    character = make_character(user)
    assert access_token_get(character=character) == character.access_token
    assert eve_sso.count(TOKEN_ENDPOINT) == 0


def test_it_refreshes_a_token_expiring_within_a_minute(make_character, user, eve_sso, sso):
    character = make_character(user, expires_in=45)
    old_access, old_refresh = character.access_token, character.refresh_token

    token = access_token_get(character=character)

    assert token != old_access
    assert whoami(eve_sso)(token)["CharacterID"] == character.character_id
    stored = Character.objects.get(pk=character.pk)
    assert stored.access_token == token
    assert stored.refresh_token != old_refresh  # the rotated one
    assert (
        stored.refresh_token in sso["refresh_tokens"] and old_refresh not in sso["refresh_tokens"]
    )
    assert stored.access_token_expires_at > timezone.now() + timedelta(minutes=19)
    assert eve_sso.count(TOKEN_ENDPOINT) == 1


def test_the_rotated_refresh_token_keeps_working(make_character, user, eve_sso):
    character = make_character(user, expires_in=10)
    for _ in range(3):
        access_token_get(character=character)
        expire(character)
    assert eve_sso.count(TOKEN_ENDPOINT) == 3
    assert not Character.objects.get(pk=character.pk).needs_relogin


def test_on_a_401_it_refreshes_once_and_retries_once(make_character, user, eve_sso):
    character = make_character(user)
    eve_sso.fault(r"/sso/oauth/verify", status=401, times=1)

    answer = esi_call_with_token(character=character, call=whoami(eve_sso))

    assert answer["CharacterName"] == "Lenny Demo Pilot"
    assert eve_sso.count(TOKEN_ENDPOINT) == 1
    assert eve_sso.count("/sso/oauth/verify") == 2


def test_a_revoked_access_token_is_replaced(make_character, user, eve_sso, sso):
    character = make_character(user)
    sso["access_tokens"].clear()  # the upstream forgot it: 401 on use
    assert esi_call_with_token(character=character, call=whoami(eve_sso))["CharacterID"]
    assert Character.objects.get(pk=character.pk).access_token in sso["access_tokens"]


def test_a_second_refusal_is_not_retried_again(make_character, user, eve_sso):
    character = make_character(user)
    eve_sso.fault(r"/sso/oauth/verify", status=403, times=None)

    with pytest.raises(UpstreamRefused) as refused:
        esi_call_with_token(character=character, call=whoami(eve_sso))

    assert refused.value.status == 403
    assert eve_sso.count("/sso/oauth/verify") == 2
    assert eve_sso.count(TOKEN_ENDPOINT) == 1


def test_other_failures_pass_through_without_a_refresh(make_character, user, eve_sso):
    character = make_character(user)
    eve_sso.fault(r"/sso/oauth/verify", status=502)
    with pytest.raises(UpstreamRefused):
        esi_call_with_token(character=character, call=whoami(eve_sso))
    assert eve_sso.count(TOKEN_ENDPOINT) == 0


def test_it_uses_a_token_another_worker_refreshed_after_the_same_401(make_character, user, eve_sso):
    character = make_character(user)
    stale = Character.objects.get(pk=character.pk)
    rejected = stale.access_token
    access_token_refresh(character=character, rejected_token=rejected)  # the other worker

    token = access_token_refresh(character=stale, rejected_token=rejected)

    assert token == character.access_token != rejected
    assert eve_sso.count(TOKEN_ENDPOINT) == 1


def test_invalid_grant_needs_a_new_login_and_stops_asking(make_character, user, eve_sso, sso):
    character = make_character(user, expires_in=10)
    Schedule.objects.create(name=f"{schedule_prefix(character)}wallet", func="math.floor")
    Schedule.objects.create(name="lenny:market-history", func="math.floor")
    heard = []
    character_unusable.connect(lambda **kw: heard.append(kw["reason"]), weak=False)
    sso["invalid_grant_characters"].add(character.character_id)

    with pytest.raises(TokenInvalid, match="must log in with EVE again"):
        access_token_get(character=character)
    for _ in range(3):
        with pytest.raises(TokenInvalid):
            esi_call_with_token(character=character, call=whoami(eve_sso))

    assert eve_sso.count(TOKEN_ENDPOINT) == 1  # no retry loop
    stored = Character.objects.get(pk=character.pk)
    assert stored.needs_relogin and "invalid_grant" in stored.token_error
    assert stored.refresh_token == "" and stored.access_token == ""
    names = set(Schedule.objects.values_list("name", flat=True))
    assert f"{schedule_prefix(character)}wallet" not in names and "lenny:market-history" in names
    assert "relogin" in heard
    assert eve_sso.count("/sso/oauth/verify") == 0


def test_a_new_login_clears_needs_relogin(client, make_character, user, eve_sso, sso):
    character = make_character(user, expires_in=10)
    sso["invalid_grant_refresh_tokens"].add(character.refresh_token)
    with pytest.raises(TokenInvalid):
        access_token_get(character=character)
    client.force_login(user)
    assert "needs a new EVE login" in client.get("/").content.decode()

    sso_login(client, eve_sso, process="connect")

    stored = Character.objects.get(pk=character.pk)
    assert not stored.needs_relogin and stored.access_token_fresh()
    assert access_token_get(character=stored) == stored.access_token
    assert "needs a new EVE login" not in client.get("/").content.decode()


def test_an_sso_outage_is_not_a_lost_login(make_character, user, eve_sso):
    character = make_character(user, expires_in=10)
    refresh_token = character.refresh_token
    eve_sso.fault(TOKEN_ENDPOINT, status=503, body='{"error":"temporarily_unavailable"}')

    with pytest.raises(TokenUnavailable, match="503"):
        access_token_get(character=character)

    stored = Character.objects.get(pk=character.pk)
    assert not stored.needs_relogin and stored.refresh_token == refresh_token
    assert access_token_get(character=stored)  # the next try works


def test_an_sso_that_hangs_times_out(make_character, user, eve_sso, settings):
    settings.UPSTREAM_TIMEOUT = 0.5
    character = make_character(user, expires_in=10)
    eve_sso.fault(TOKEN_ENDPOINT, hang=2)
    with pytest.raises(TokenUnavailable, match="unreachable"):
        access_token_get(character=character)
    assert not Character.objects.get(pk=character.pk).needs_relogin


def test_a_character_sold_since_its_last_refresh_is_unlinked(make_character, user, eve_sso, sso):
    character = make_character(user, expires_in=10)
    sso["owners"][character.character_id] = owner_hash(character.character_id, "buyer")

    with pytest.raises(TokenInvalid, match="belongs to another EVE account"):
        access_token_get(character=character)

    assert not Character.objects.filter(pk=character.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_two_workers_refreshing_at_once_make_one_token_request(make_character, user, eve_sso):
    character = make_character(user, expires_in=10)
    # A slow SSO keeps the first refresh in flight while the second worker arrives.
    eve_sso.fault(TOKEN_ENDPOINT, latency=0.5, times=None)
    tokens, errors = [], []
    start = threading.Barrier(2)

    def worker() -> None:
        try:
            mine = Character.objects.get(pk=character.pk)  # each worker loads its own row
            start.wait()
            tokens.append(access_token_get(character=mine))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(tokens) == 2 and tokens[0] == tokens[1] != character.access_token
    assert eve_sso.count(TOKEN_ENDPOINT) == 1
    assert not Character.objects.get(pk=character.pk).needs_relogin
