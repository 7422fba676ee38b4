"""Types newer than the SDE resolved from ESI (``market.universe``), against the replay ESI's
universe routes: names in batches, each type's record with its packaged volume, groups and
categories, 404s and failures recorded and retried, hostile answers refused, the SDE import
taking a type back, the task queued after a snapshot and run by django-q2, and what the desk
shows (book tops, the item page, station trading)."""

from __future__ import annotations

import io
import shutil
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Task

from market.esi import EsiClient
from market.ingest.background import background_wait
from market.ledger.tests.factories import sde_sample_load
from market.models import BestPrice, Group, MarketSnapshot, Type, UnresolvedType
from market.queries import StationRef, station_book, type_search
from market.replay.history import SAMPLE_HISTORY, history_archive
from market.tests.factories import (
    JITA,
    SDE_SAMPLE,
    SHARED_SDE,
    book_store,
    daily_volume,
    order,
)
from market.universe import types_due, types_resolve, types_resolve_due
from tests.fixtures import queue_work

pytestmark = pytest.mark.usefixtures("fresh_desk")

HEL_SKIN = 47508  # "Hel Hunter's Quiver SKIN": sold in 2020, newer than the 2019 SDE
SIN_SKIN = 47536  # "Sin Glittering Dream SKIN": in the sample history as well
SURVEY = 48121  # "Triglavian Survey Database"
RAVEN, RIFTER, TRITANIUM = 638, 587, 34  # in the SDE slice, without packaged volumes
GOLEM = 28710  # in the shared SDE only
NEW = [HEL_SKIN, SIN_SKIN, SURVEY]
PERMANENT_SKIN, SKINS = 1950, 91  # the SKINs' group and category: not in the SDE slice
JITA_STATION = StationRef.from_hub(JITA)


def jita_book(*type_ids: int) -> MarketSnapshot:
    """A Jita book selling ``type_ids``: a bid at 100 and an ask at 150 each, traded daily."""
    orders = []
    for type_id in type_ids:
        orders += [order(type_id, "100.00", 50, buy=True), order(type_id, "150.00", 40)]
        daily_volume(JITA.region_id, type_id, 40)
    return book_store(JITA.region_id, orders)


def tops() -> dict:
    return station_book(JITA_STATION).tops


@pytest.fixture
def jita_new_types(esi, sde_loaded):
    """The replay ESI, the SDE slice, and a Jita book with three types the SDE lacks and two
    of its ships."""
    jita_book(*NEW, RAVEN, RIFTER, TRITANIUM)
    return esi


# --- resolving ------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.embedded
def test_types_the_sde_lacks_get_their_names_groups_and_volumes_from_esi(jita_new_types, upstreams):
    before = tops()
    assert before[HEL_SKIN].type_name == f"Type {HEL_SKIN}"
    assert before[HEL_SKIN].unit_volume is None  # unknown, not 0
    assert types_due() == [*NEW, RIFTER, RAVEN]  # missing, then ships without packaged volume

    outcome = types_resolve_due()

    assert outcome.named == 3 and outcome.resolved == 3 and outcome.packaged == 2, outcome
    assert not outcome.failed and not outcome.not_found
    skin = Type.objects.select_related("group__category").get(pk=HEL_SKIN)
    assert skin.name == "Hel Hunter's Quiver SKIN"
    assert (skin.source, skin.published, skin.volume, skin.packaged_volume) == (
        Type.Source.ESI,
        True,
        0.01,
        0.01,
    )
    assert skin.esi_checked_at is not None
    # Its group and category were not in the SDE slice: resolved too, so the desk knows a SKIN.
    assert (skin.group.name, skin.group.category.name) == ("Permanent SKIN", "SKINs")
    assert Group.objects.get(pk=PERMANENT_SKIN).category_id == SKINS
    # One names request for the three new types, one record each, the SDE ships' records too.
    names = upstreams.requests(r"^/esi/universe/names/$", method="POST")
    assert len(names) == 1
    assert upstreams.count(r"^/esi/universe/types/\d+/$") == 5
    assert types_due() == []  # nothing left: the next run asks nobody

    assert [hit.type_id for hit in type_search("Hel Hunter")] == [HEL_SKIN]
    after = tops()
    assert after[HEL_SKIN].type_name == "Hel Hunter's Quiver SKIN"
    assert after[HEL_SKIN].category_id == SKINS
    assert after[SURVEY].type_name == "Triglavian Survey Database"
    assert after[HEL_SKIN].unit_volume == Decimal("0.01")


@pytest.mark.django_db
def test_names_go_in_batches_of_at_most_the_batch_size(jita_new_types, upstreams, monkeypatch):
    monkeypatch.setattr("market.universe.resolve.NAMES_BATCH", 2)

    outcome = types_resolve(type_ids=NEW)

    assert upstreams.count(r"^/esi/universe/names/$", method="POST") == 2  # 2 ids, then 1
    assert outcome.named == 3
    assert set(Type.objects.filter(pk__in=NEW).values_list("name", flat=True)) == {
        "Hel Hunter's Quiver SKIN",
        "Sin Glittering Dream SKIN",
        "Triglavian Survey Database",
    }


@pytest.mark.django_db
def test_ships_get_their_packaged_volume_for_cargo_and_keep_their_sde_record(jita_new_types):
    assert tops()[RAVEN].unit_volume is None  # 486,000 m³ assembled is no cargo figure
    assert tops()[TRITANIUM].unit_volume == Decimal("0.01")

    types_resolve(type_ids=[RAVEN, RIFTER])

    raven = Type.objects.get(pk=RAVEN)
    assert (raven.source, raven.volume, raven.packaged_volume) == (Type.Source.SDE, 486000, 50000)
    assert raven.shipping_volume == 50000 and raven.esi_checked_at is not None
    assert tops()[RAVEN].unit_volume == Decimal(50000)
    assert tops()[RIFTER].unit_volume == Decimal(2500)
    # A packaged volume the SDE gave (invVolumes) is never replaced by ESI's.
    Type.objects.filter(pk=RAVEN).update(packaged_volume=49999, esi_checked_at=None)
    types_resolve(type_ids=[RAVEN])
    assert Type.objects.get(pk=RAVEN).packaged_volume == 49999


@pytest.mark.django_db
def test_a_refresh_asks_with_the_etag_and_a_304_only_moves_the_check_on(jita_new_types, upstreams):
    types_resolve(type_ids=[HEL_SKIN])
    checked = Type.objects.get(pk=HEL_SKIN).esi_checked_at
    # Thirty days later the record is due again.
    Type.objects.filter(pk=HEL_SKIN).update(esi_checked_at=timezone.now() - timedelta(days=31))
    assert HEL_SKIN in types_due(refresh=True)
    # The client's copy has expired (ESI's Expires is the next 11:05); its ETag is kept.
    path = f"/universe/types/{HEL_SKIN}/"
    key = EsiClient()._entry_key(path, {}, None)
    cache.set(key, {**cache.get(key), "expires": time.time() - 1})
    upstreams.log.clear()

    outcome = types_resolve(type_ids=[HEL_SKIN])

    assert outcome.unchanged == 1 and outcome.resolved == 0, outcome
    [asked] = upstreams.requests(f"^/esi{path}$")
    assert asked.headers.get("If-None-Match") and asked.status == 304
    assert Type.objects.get(pk=HEL_SKIN).esi_checked_at > checked
    assert HEL_SKIN not in types_due(refresh=True)


# --- what ESI does not know, and failures ----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.embedded
def test_an_id_esi_does_not_know_is_recorded_and_the_desk_says_so(
    jita_new_types, upstreams, client
):
    upstreams.state["universe"].configure(unknown_types=[HEL_SKIN])

    outcome = types_resolve_due()

    assert outcome.not_found == [HEL_SKIN]
    # The names batch failed whole (ESI's rule), so every type was asked on its own.
    assert upstreams.count(r"^/esi/universe/names/$") == 1
    assert Type.objects.get(pk=SIN_SKIN).name == "Sin Glittering Dream SKIN"
    unknown = UnresolvedType.objects.get(type_id=HEL_SKIN)
    assert unknown.reason == UnresolvedType.Reason.NOT_FOUND and unknown.failures == 1
    assert unknown.retry_at > timezone.now() + timedelta(hours=23)
    assert not Type.objects.filter(pk=HEL_SKIN).exists()
    assert tops()[HEL_SKIN].type_name == f"Type {HEL_SKIN} (unknown to ESI)"
    page = client.get(f"/market/types/{HEL_SKIN}/").content.decode()
    assert f"Type {HEL_SKIN} (unknown to ESI)" in page
    # Not asked again before its retry time.
    assert HEL_SKIN not in types_due()


@pytest.mark.django_db
def test_an_esi_failure_is_recorded_and_retried_later(jita_new_types, upstreams):
    upstreams.fault(rf"^/esi/universe/types/{HEL_SKIN}/$", status=503, times=None)

    outcome = types_resolve_due()

    assert list(outcome.failed) == [HEL_SKIN] and "503" in outcome.failed[HEL_SKIN]
    failed = UnresolvedType.objects.get(type_id=HEL_SKIN)
    assert failed.reason == UnresolvedType.Reason.FAILED and failed.failures == 1
    assert timezone.now() < failed.retry_at <= timezone.now() + timedelta(minutes=5)
    # The names request had worked: the desk has the name, but not yet a volume.
    skin = Type.objects.get(pk=HEL_SKIN)
    assert skin.name == "Hel Hunter's Quiver SKIN" and skin.volume is None
    assert skin.esi_checked_at is None and not skin.published
    assert tops()[HEL_SKIN].unit_volume is None
    assert HEL_SKIN not in types_due()  # waits for its retry time

    # ESI is back; at the retry time the next run resolves it and forgets the failure.
    upstreams.clear_faults()
    UnresolvedType.objects.update(retry_at=timezone.now() - timedelta(seconds=1))
    assert types_due() == [HEL_SKIN]
    outcome = types_resolve_due()
    assert outcome.resolved == 1 and not outcome.failed
    assert not UnresolvedType.objects.exists()
    assert Type.objects.get(pk=HEL_SKIN).volume == 0.01
    assert tops()[HEL_SKIN].unit_volume == Decimal("0.01")


@pytest.mark.django_db
def test_healthz_counts_unresolved_types_and_degrades_after_a_day_of_failures(
    jita_new_types, upstreams, admin_client
):
    upstreams.state["universe"].configure(unknown_types=[HEL_SKIN])
    upstreams.fault(rf"^/esi/universe/types/{SIN_SKIN}/$", status=503, times=None)
    types_resolve_due()

    report = admin_client.get("/healthz").json()
    assert report["market"]["types"]["unknown_to_esi"] == 1
    assert report["market"]["types"]["failing"] == 1
    # A fresh failure is a blip ESI recovers from: not yet degraded.
    assert report["status"] == "ok" and report["market"]["degraded"] == []

    UnresolvedType.objects.filter(type_id=SIN_SKIN).update(
        first_failed_at=timezone.now() - timedelta(hours=25)
    )
    report = admin_client.get("/healthz").json()
    assert report["status"] == "degraded"
    assert report["degraded"][0].startswith("market: 1 type ESI has failed to name since ")
    # Anyone else sees one word, not the counts.
    public = admin_client.__class__().get("/healthz").json()
    assert public["components"]["market"] == "degraded"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        '{"type_id": "47508", "name": "Hel", "group_id": 1950, "published": true}',
        '{"type_id": 47508, "name": "Hel", "group_id": 1950, "published": true, "volume": -1}',
        '{"type_id": 47508, "name": "", "group_id": 1950, "published": true}',
        '{"type_id": 34, "name": "Tritanium", "group_id": 18, "published": true}',
        '["not", "a", "type"]',
        '{"type_id": 47508, "name": "Hel", "group_id": 1950, "published": true, "volume": NaN}',
    ],
    ids=["text-id", "negative-volume", "empty-name", "another-type", "array", "nan"],
)
def test_a_garbage_answer_is_recorded_and_nothing_is_written(jita_new_types, upstreams, body):
    upstreams.fault(r"^/esi/universe/names/$", status=200, body='[{"id": "x"}]')
    upstreams.fault(rf"^/esi/universe/types/{HEL_SKIN}/$", status=200, body=body, times=None)

    outcome = types_resolve(type_ids=[HEL_SKIN])

    assert list(outcome.failed) == [HEL_SKIN], outcome
    assert (
        "unexpected answer" in outcome.failed[HEL_SKIN]
        or "about type 34" in outcome.failed[HEL_SKIN]
    )
    assert not Type.objects.filter(pk=HEL_SKIN).exists()
    assert UnresolvedType.objects.get(type_id=HEL_SKIN).reason == UnresolvedType.Reason.FAILED
    assert not Group.objects.filter(pk=PERMANENT_SKIN).exists()


@pytest.mark.django_db
def test_a_cut_off_answer_is_retried_by_the_client_then_recorded(jita_new_types, upstreams):
    upstreams.fault(rf"^/esi/universe/types/{HEL_SKIN}/$", truncate=True, times=None)

    outcome = types_resolve(type_ids=[HEL_SKIN])

    assert "failed after 3 attempts" in outcome.failed[HEL_SKIN]
    assert upstreams.count(rf"^/esi/universe/types/{HEL_SKIN}/$") == 3  # ESI_MAX_RETRIES + 1
    assert Type.objects.get(pk=HEL_SKIN).volume is None  # only the name, from the names batch


# --- the SDE takes a type back -----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.embedded
def test_an_sde_import_that_includes_an_esi_type_takes_it_over(jita_new_types, tmp_path):
    types_resolve(type_ids=NEW)
    assert Type.objects.from_esi().count() == 3
    # A newer SDE has the SKIN (under its own name and group); not the two others.
    folder = tmp_path / "sde"
    shutil.copytree(SDE_SAMPLE, folder)
    with (folder / "invTypes.csv").open("ab") as types:
        types.write(b"47508,1950,Hel Hunter's Quiver SKIN (SDE),0,0.01,0,1,,,1,,,,0\r\n")
    with (folder / "invGroups.csv").open("a") as groups:
        groups.write("1950,91,Permanent SKIN,,0,0,0,0,1\n")
    with (folder / "invCategories.csv").open("a") as categories:
        categories.write("91,SKINs,,1\n")

    call_command("import_sde", str(folder), stdout=io.StringIO())

    skin = Type.objects.get(pk=HEL_SKIN)
    assert (skin.source, skin.name) == (Type.Source.SDE, "Hel Hunter's Quiver SKIN (SDE)")
    assert skin.packaged_volume == 0.01  # the SDE has none: ESI's stays
    assert skin.esi_checked_at is None
    # The ESI types the SDE still lacks are due for a check against ESI again.
    others = Type.objects.from_esi()
    assert set(others.values_list("pk", flat=True)) == {SIN_SKIN, SURVEY}
    assert all(t.esi_checked_at is None for t in others)
    assert set(types_due(refresh=True)) >= {SIN_SKIN, SURVEY}
    assert HEL_SKIN not in types_due(refresh=True)


# --- through the real scheduler and worker ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_snapshot_that_lands_queues_the_resolution_which_the_worker_runs(
    esi, schedule_run, q_broker, upstreams
):
    sde_sample_load()

    task = schedule_run("lenny:market-orders-jita")
    background_wait()  # the snapshot_landed receivers, run once the snapshot committed

    assert task.success, task.result
    snapshot = MarketSnapshot.objects.get(is_current=True, region_id=JITA.region_id)
    on_market = set(BestPrice.objects.filter(snapshot=snapshot).values_list("type_id", flat=True))
    assert on_market - set(Type.objects.values_list("pk", flat=True))  # new types: not named yet
    # The snapshot queued the resolution; django-q2's worker runs it.
    assert queue_work(q_broker) == 1
    resolution = Task.objects.get(func="market.tasks.types_after_snapshot")
    assert resolution.success, resolution.result
    assert resolution.kwargs == {"snapshot_id": snapshot.pk}
    assert not on_market - set(Type.objects.values_list("pk", flat=True)), resolution.result
    assert not UnresolvedType.objects.exists()
    names = [top.type_name for top in station_book(JITA_STATION).tops.values()]
    assert names and not any(name.startswith("Type ") for name in names)

    # The hourly job then finds nothing due.
    task = schedule_run("lenny:market-types")
    assert task.success and task.result == "no types to resolve", task.result


# --- what the desk shows ------------------------------------------------------------------------------


# Every row, SKINs and flagged ones too: the default view leaves SKINs out (the resolved type's
# category) and flags rows on small hand-made books.
TRADING_EVERY_ROW = (
    "/market/trading/?station_id=60003760&sort=type_name&exclude_category=none&include_flagged=1"
)


@pytest.mark.django_db
def test_the_item_page_and_station_trading_show_the_resolved_name(jita_new_types, client):
    trading = client.get(TRADING_EVERY_ROW).content.decode()
    assert f"Type {HEL_SKIN}" in trading and "Hel Hunter" not in trading
    page = client.get(f"/market/types/{HEL_SKIN}/").content.decode()
    assert f"Type {HEL_SKIN}" in page

    types_resolve_due()

    # The same process, caches warm: the new names show at once.
    trading = client.get(TRADING_EVERY_ROW).content.decode()
    assert "Hel Hunter&#x27;s Quiver SKIN" in trading or "Hel Hunter's Quiver SKIN" in trading
    assert f"Type {HEL_SKIN}" not in trading
    page = client.get(f"/market/types/{HEL_SKIN}/").content.decode()
    assert "Permanent SKIN · 0.01 m³ · from ESI · type 47508" in page
    api = client.get("/api/market/station-trading?" + TRADING_EVERY_ROW.split("?")[1]).json()
    assert "Hel Hunter's Quiver SKIN" in {row["type_name"] for row in api["results"]}


# --- the replay's universe routes, as ESI answers ----------------------------------------------------


def test_the_replay_answers_names_and_refuses_bodies_esi_refuses(esi, upstreams):
    url = upstreams.url("/esi/universe/names/")
    ok = requests.post(url, json=[HEL_SKIN, TRITANIUM], timeout=5)
    assert ok.status_code == 200
    assert ok.json() == [
        {"category": "inventory_type", "id": HEL_SKIN, "name": "Hel Hunter's Quiver SKIN"},
        {"category": "inventory_type", "id": TRITANIUM, "name": "Tritanium"},
    ]
    unknown = requests.post(url, json=[HEL_SKIN, 999_999_999], timeout=5)
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "Ensure all IDs are valid before resolving."}
    for body in ([], list(range(1, 1002)), [34, 34], ["34"], {"ids": [34]}, [0], [True]):
        refused = requests.post(url, json=body, timeout=5)
        assert refused.status_code == 400 and refused.json()["error"], body
    assert requests.post(url, data=b"[34,", timeout=5).status_code == 400
    assert int(refused.headers["X-ESI-Error-Limit-Remain"]) < 100


def test_the_replay_serves_types_groups_categories_with_esi_caching(esi, upstreams):
    answer = requests.get(upstreams.url(f"/esi/universe/types/{RAVEN}/"), timeout=5)
    assert answer.status_code == 200
    record = answer.json()
    assert (record["name"], record["volume"], record["packaged_volume"]) == ("Raven", 486000, 50000)
    assert record["group_id"] == 27 and record["market_group_id"] == 80
    assert answer.headers["Expires"].endswith("11:05:00 GMT")
    assert answer.headers["Last-Modified"].endswith("11:05:00 GMT")
    again = requests.get(
        upstreams.url(f"/esi/universe/types/{RAVEN}/"),
        headers={"If-None-Match": answer.headers["ETag"]},
        timeout=5,
    )
    assert again.status_code == 304
    missing = requests.get(upstreams.url("/esi/universe/types/999999999/"), timeout=5)
    assert (missing.status_code, missing.json()) == (404, {"error": "Type not found!"})
    group = requests.get(upstreams.url(f"/esi/universe/groups/{PERMANENT_SKIN}/"), timeout=5)
    assert group.json()["category_id"] == SKINS and HEL_SKIN in group.json()["types"]
    category = requests.get(upstreams.url(f"/esi/universe/categories/{SKINS}/"), timeout=5)
    assert category.json()["name"] == "SKINs" and PERMANENT_SKIN in category.json()["groups"]
    assert requests.get(upstreams.url("/esi/universe/groups/999999/"), timeout=5).json() == {
        "error": "Group not found!"
    }


def test_the_replay_names_every_type_its_books_sell(esi, upstreams):
    """Every type of the sample history (what the tests' books sell) is known to the replay
    ESI, so a test book never meets a type without a real name."""
    archive = history_archive(SAMPLE_HISTORY)
    sold = sorted({type_id for _, type_id in archive.series})
    known = upstreams.state["universe"].data().types
    assert len(sold) == 110 and [type_id for type_id in sold if type_id not in known] == []


@pytest.mark.django_db
def test_with_the_full_sde_the_golem_hauls_at_its_packaged_volume(esi, upstreams, tmp_path):
    """The shared 2019 SDE has no invVolumes: ESI's packaged volume makes a Golem 50,000 m³ in
    the hold, not its 486,000 m³ assembled."""
    shared = SHARED_SDE / "invTypes.csv"
    if not shared.exists():
        pytest.skip("the shared SDE (../shared/fixtures/eve/sde) is not here")
    golem_row = next(
        line for line in shared.read_bytes().splitlines(keepends=True) if line.startswith(b"28710,")
    )
    folder = tmp_path / "sde"
    shutil.copytree(SDE_SAMPLE, folder)
    with (folder / "invTypes.csv").open("ab") as types:
        types.write(golem_row)
    with (folder / "invGroups.csv").open("a") as groups:
        groups.write("900,6,Marauder,,0,0,0,0,1\n")  # the slice has the category Ship
    call_command("import_sde", str(folder), stdout=io.StringIO())
    upstreams.state["universe"].configure(source="full")
    jita_book(GOLEM)
    assert Type.objects.get(pk=GOLEM).volume == 486000
    assert tops()[GOLEM].unit_volume is None

    types_resolve_due()

    assert Type.objects.get(pk=GOLEM).packaged_volume == 50000
    assert tops()[GOLEM].unit_volume == Decimal(50000)


# --- the admin -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_lists_esi_types_by_source_and_refreshes_them(
    jita_new_types, admin_client, upstreams
):
    types_resolve(type_ids=NEW)
    # A record ESI has since changed (within its Expires: only a forced refresh asks now).
    Type.objects.filter(pk=HEL_SKIN).update(name="Stale name")

    listed = admin_client.get("/admin/market/type/?source__exact=esi").content.decode()
    assert "Stale name" in listed and "Tritanium" not in listed
    answer = admin_client.post(
        "/admin/market/type/",
        {"action": "refresh_from_esi", "_selected_action": [HEL_SKIN]},
        follow=True,
    )

    assert "ESI: 1 types asked, 1 resolved" in answer.content.decode()
    assert Type.objects.get(pk=HEL_SKIN).name == "Hel Hunter's Quiver SKIN"
    upstreams.state["universe"].configure(unknown_types=[SURVEY])
    Type.objects.filter(pk=SURVEY).delete()
    types_resolve(type_ids=[SURVEY])
    unresolved = admin_client.get("/admin/market/unresolvedtype/").content.decode()
    assert str(SURVEY) in unresolved and "unknown to ESI" in unresolved
