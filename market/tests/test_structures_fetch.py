"""A tracked structure's book from the replay ESI with its character's token: the 401 and 403
rules, the 12-hour back-off proved by the replay's request log, a failed fetch keeping the
previous book, and the schedule run through django-q2's scheduler and a worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.scopes import STRUCTURE_MARKETS_SCOPE, UNIVERSE_STRUCTURES_SCOPE
from accounts.tests.factories import ALL_SCOPES, character_link_replay
from market.models import BestPrice, MarketSnapshot, Structure
from market.replay.structures import NULLSEC_KEEPSTAR, PERIMETER_TTT
from market.structures.fetch import structure_fetch
from market.structures.queries import structure_current_snapshot
from market.structures.services import StructureTrackError, structure_track
from market.tests.factories import FORGE

TTT = PERIMETER_TTT.structure_id
NULLSEC = NULLSEC_KEEPSTAR.structure_id
SCOPES = [*ALL_SCOPES, UNIVERSE_STRUCTURES_SCOPE]
MARKET = rf"/esi/markets/structures/{TTT}/"


@pytest.fixture
def eve_structures(eve, sde_loaded):
    eve.state["esi"].configure(orders={FORGE: 3000}, page_size=500)
    return eve


@pytest.fixture
def pilot_with_scopes(eve_structures, user):
    return character_link_replay(eve_structures, user, scopes=SCOPES)


def tracked(pilot, user) -> Structure:
    return structure_track(structure_id=TTT, character=pilot, user=user)


def market_requests(upstreams, structure_id: int = TTT) -> list:
    return upstreams.requests(f"/esi/markets/structures/{structure_id}/")


@pytest.mark.django_db
def test_tracking_names_the_structure_and_the_fetch_stores_its_own_book(
    eve_structures, pilot_with_scopes, user
):
    structure = tracked(pilot_with_scopes, user)
    assert (structure.name, structure.solar_system_id, structure.region_id) == (
        "Perimeter - Tranquility Trading Tower",
        30000144,
        FORGE,
    )

    outcome = structure_fetch(structure=structure)

    assert outcome.status == "stored", outcome.message
    structure.refresh_from_db()
    assert structure.status == Structure.Status.OK and structure.last_fetched_at is not None
    snapshot = structure_current_snapshot(TTT)
    assert snapshot.orders > 50 and snapshot.region_id == FORGE
    tops = BestPrice.objects.current_of_structure(structure_id=TTT)
    assert set(tops.values_list("location_id", flat=True)) == {TTT}
    # Every request carried the pilot's bearer token.
    assert all(
        r.headers.get("Authorization", "").startswith("Bearer ")
        for r in market_requests(eve_structures)
    )
    # The region's book is not touched by it.
    assert not MarketSnapshot.objects.for_region(FORGE).exists()


@pytest.mark.django_db
@pytest.mark.embedded
def test_a_401_refreshes_the_token_and_retries_once(eve_structures, pilot_with_scopes, user):
    structure = tracked(pilot_with_scopes, user)
    # ESI stops accepting the stored access token (as after a key rotation): 401.
    eve_structures.state["sso"]["access_tokens"].pop(pilot_with_scopes.access_token)
    eve_structures.log.clear()

    outcome = structure_fetch(structure=structure)

    assert outcome.status == "stored", outcome.message
    statuses = [r.status for r in market_requests(eve_structures)]
    assert statuses[0] == 401 and set(statuses[1:]) == {200}
    assert len(eve_structures.requests("/sso/v2/oauth/token")) == 1
    pilot_with_scopes.refresh_from_db()
    assert not pilot_with_scopes.needs_relogin


@pytest.mark.django_db
def test_a_second_401_after_the_refresh_asks_the_pilot_to_log_in_again(
    eve_structures, pilot_with_scopes, user
):
    from accounts.signals import character_unusable

    structure = tracked(pilot_with_scopes, user)
    eve_structures.fault(MARKET, status=401, body='{"error":"token is revoked"}', times=2)
    heard = []
    character_unusable.connect(lambda **kw: heard.append(kw["reason"]), weak=False)
    eve_structures.log.clear()

    outcome = structure_fetch(structure=structure)

    assert outcome.status == "token"
    assert [r.status for r in market_requests(eve_structures)] == [401, 401]
    pilot_with_scopes.refresh_from_db()
    assert pilot_with_scopes.needs_relogin
    assert "relogin" in heard
    structure.refresh_from_db()
    assert structure.status == Structure.Status.TOKEN
    assert "log in with EVE again" in structure.last_error


@pytest.mark.django_db
@pytest.mark.embedded
def test_a_403_backs_off_for_12_hours_without_a_single_request_in_between(
    eve_structures, pilot_with_scopes, user
):
    structure = tracked(pilot_with_scopes, user)
    assert structure_fetch(structure=structure).status == "stored"
    before = structure_current_snapshot(TTT)
    # The pilot loses docking rights.
    eve_structures.fault(MARKET, status=403, body='{"error":"Forbidden"}', times=None)
    eve_structures.log.clear()
    now = timezone.now()

    # force: as the next run after the book's expiry would.
    outcome = structure_fetch(structure=structure, now=now, force=True)

    assert outcome.status == "forbidden"
    assert [r.status for r in market_requests(eve_structures)] == [403]  # never retried
    structure.refresh_from_db()
    assert structure.backoff_until == now + timedelta(hours=12)
    assert structure.status == Structure.Status.FORBIDDEN
    assert "403" in structure.last_error and "no docking or market access" in structure.last_error
    # The previous book is still the current one.
    assert structure_current_snapshot(TTT).pk == before.pk

    eve_structures.log.clear()
    for later in (timedelta(minutes=5), timedelta(hours=6), timedelta(hours=11, minutes=59)):
        run = structure_fetch(structure=structure, now=now + later, force=True)
        assert run.status == "backed_off"
    assert eve_structures.log == []  # not one request to ESI during the back-off

    eve_structures.clear_faults()
    after = structure_fetch(
        structure=structure, now=now + timedelta(hours=12, seconds=1), force=True
    )
    assert after.ok, after.message
    structure.refresh_from_db()
    assert structure.backoff_until is None and structure.status == Structure.Status.OK


@pytest.mark.django_db
@pytest.mark.embedded
def test_a_failed_structure_fetch_keeps_the_previous_book(eve_structures, pilot_with_scopes, user):
    structure = tracked(pilot_with_scopes, user)
    structure_fetch(structure=structure)
    before = structure_current_snapshot(TTT)
    books = set(
        BestPrice.objects.current_of_structure(structure_id=TTT).values_list(
            "type_id", "best_bid", "best_ask"
        )
    )
    eve_structures.fault(MARKET, status=500, times=None)

    outcome = structure_fetch(structure=structure, force=True)

    assert outcome.status == "failed"
    assert structure_current_snapshot(TTT).pk == before.pk
    assert books == set(
        BestPrice.objects.current_of_structure(structure_id=TTT).values_list(
            "type_id", "best_bid", "best_ask"
        )
    )
    failed = MarketSnapshot.objects.for_structure(TTT).filter(status="failed").get()
    assert "500" in failed.error
    structure.refresh_from_db()
    assert structure.status == Structure.Status.FAILED and "500" in structure.last_error


@pytest.mark.django_db
def test_a_structure_the_pilot_may_not_dock_at_cannot_be_tracked(
    eve_structures, pilot_with_scopes, user
):
    with pytest.raises(StructureTrackError, match=r"ESI refused Lenny Demo Pilot .*\(403\)"):
        structure_track(structure_id=NULLSEC, character=pilot_with_scopes, user=user)
    assert not Structure.objects.exists()


@pytest.mark.django_db
def test_the_replay_refuses_requests_without_a_valid_token_or_the_scope(eve_structures, user):
    import requests

    url = eve_structures.url(MARKET)
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 401
    wallet_only = character_link_replay(eve_structures, user, scopes=[ALL_SCOPES[0]])
    headers = {"Authorization": f"Bearer {wallet_only.access_token}"}
    assert requests.get(url, headers=headers, timeout=5).status_code == 403
    public = requests.get(
        eve_structures.url("/esi/universe/structures/"), params={"filter": "market"}, timeout=5
    )
    assert public.json() == [TTT]


@pytest.mark.django_db
def test_a_character_without_the_structure_scope_is_told_to_grant_access(eve_structures, user):
    pilot = character_link_replay(eve_structures, user, scopes=ALL_SCOPES[:2])
    with pytest.raises(StructureTrackError, match="grant access"):
        structure_track(structure_id=TTT, character=pilot, user=user)
    assert STRUCTURE_MARKETS_SCOPE in pilot.missing_structure_scopes
