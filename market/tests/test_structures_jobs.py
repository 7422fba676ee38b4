"""A structure's schedule through django-q2's own scheduler, broker and worker; the command; the
/healthz line; the demo's structure."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.models import Schedule, Task

from accounts.scopes import UNIVERSE_STRUCTURES_SCOPE
from accounts.tests.factories import ALL_SCOPES, DEMO_PILOT, character_link_replay
from market.ingest.background import background_wait
from market.models import MarketSnapshot, Structure
from market.replay.structures import NULLSEC_KEEPSTAR, PERIMETER_TTT
from market.structures.queries import structure_current_snapshot
from market.structures.services import structure_track
from market.tests.factories import FORGE

TTT = PERIMETER_TTT.structure_id
SCOPES = [*ALL_SCOPES, UNIVERSE_STRUCTURES_SCOPE]


@pytest.fixture
def eve_structures(eve, sde_loaded):
    eve.state["esi"].configure(orders={FORGE: 3000}, page_size=500)
    return eve


@pytest.mark.django_db(transaction=True)
@pytest.mark.embedded
def test_the_structure_schedule_runs_through_django_q2_to_a_stored_book(
    eve_structures, user, schedule_run, q_broker
):
    pilot = character_link_replay(eve_structures, user, scopes=SCOPES)
    structure_track(structure_id=TTT, character=pilot, user=user)
    name = f"structure:{TTT}"
    assert Schedule.objects.get(name=name).kwargs == (
        "{'structure_id': 1028858195912, 'q_options': {'timeout': 240}}"
    )

    task = schedule_run(name)

    assert task.success, task.result
    assert task.kwargs == {"structure_id": TTT}
    assert "stored" in task.result
    assert structure_current_snapshot(TTT) is not None
    assert Structure.objects.get(pk=TTT).status == Structure.Status.OK

    # The admin's retime reaches the schedule; the hourly job puts back a deleted one.
    from market.structures.services import structure_retime

    structure_retime(structure=Structure.objects.get(pk=TTT), minutes=15)
    assert Schedule.objects.get(name=name).minutes == 15
    Schedule.objects.filter(name=name).delete()
    # The new book's type resolution, queued by its landing receivers (on their own thread once
    # the book committed): not this test's.
    background_wait()
    q_broker.purge_queue()
    assert schedule_run("lenny:structure-schedules").success
    assert Schedule.objects.filter(name=name).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.embedded
def test_a_backed_off_structures_scheduled_runs_send_nothing(eve_structures, user, schedule_run):
    pilot = character_link_replay(eve_structures, user, scopes=SCOPES)
    structure_track(structure_id=TTT, character=pilot, user=user)
    Structure.objects.filter(pk=TTT).update(
        backoff_until=timezone.now() + timedelta(hours=12), status=Structure.Status.FORBIDDEN
    )
    eve_structures.log.clear()

    task = schedule_run(f"structure:{TTT}")

    assert task.success and "backed_off" in task.result
    assert eve_structures.log == []
    assert Task.objects.filter(group=f"structure:{TTT}").count() == 1


@pytest.mark.django_db
def test_the_command_tracks_and_stops_with_clear_errors(eve_structures, user):
    pilot = character_link_replay(eve_structures, user, scopes=SCOPES)
    out = io.StringIO()

    call_command(
        "track_structure", structure=str(TTT), character=str(DEMO_PILOT), private=True, stdout=out
    )

    assert "Perimeter - Tranquility Trading Tower" in out.getvalue()
    assert "private to alice" in out.getvalue()
    structure = Structure.objects.get(pk=TTT)
    assert structure.is_private and structure.character == pilot and structure.added_by == user

    call_command("track_structure", structure=str(TTT), stop=True, stdout=out)
    assert not Structure.objects.get(pk=TTT).is_tracking
    assert not Schedule.objects.filter(name=f"structure:{TTT}").exists()

    for kwargs, message in [
        ({"structure": "abc", "character": str(DEMO_PILOT)}, "--structure: structure id 'abc'"),
        ({"structure": str(TTT)}, "--character is required"),
        ({"structure": str(TTT), "character": "me"}, "--character: 'me' is not a character id"),
        ({"structure": str(TTT), "character": "1"}, "no linked character has the id 1"),
        ({"structure": "1030049082711", "stop": True}, "is not tracked"),
        (
            {"structure": str(NULLSEC_KEEPSTAR.structure_id), "character": str(DEMO_PILOT)},
            "no docking access",
        ),
    ]:
        with pytest.raises(CommandError, match=message):
            call_command("track_structure", stdout=out, **kwargs)


@pytest.mark.django_db
def test_healthz_counts_the_structures_and_a_failing_one_degrades_the_market(
    eve_structures, user, admin_client
):
    pilot = character_link_replay(eve_structures, user, scopes=SCOPES)
    structure = structure_track(structure_id=TTT, character=pilot, user=user)
    Structure.objects.create(
        structure_id=TTT + 1,
        name="Backed off",
        region_id=FORGE,
        solar_system_id=30000144,
        status=Structure.Status.FORBIDDEN,
        backoff_until=timezone.now() + timedelta(hours=3),
    )
    report = admin_client.get("/healthz").json()
    assert report["market"]["structures"]["tracked"] == 2
    assert report["market"]["structures"]["backed_off"] == 1
    assert not any("structure" in reason for reason in report["degraded"])

    Structure.objects.filter(pk=structure.pk).update(status=Structure.Status.FAILED)
    report = admin_client.get("/healthz").json()
    assert report["market"]["structures"]["failing"] == 1
    assert f"market: structure {TTT}: last fetch failed" in report["degraded"]


@pytest.mark.django_db
def test_the_demo_tracks_perimeters_tower_with_the_demo_pilot(eve_structures):
    from market.replay.demo import structure_demo_load

    out = io.StringIO()
    structure_demo_load(base_url=eve_structures.base_url, stdout=out)

    structure = Structure.objects.get(pk=TTT)
    assert structure.character.character_id == DEMO_PILOT and not structure.is_private
    assert MarketSnapshot.objects.for_structure(TTT).filter(is_current=True).exists()
    assert "tracked with Lenny Demo Pilot" in out.getvalue()
