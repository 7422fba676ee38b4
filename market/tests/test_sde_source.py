"""A fresh install fills its SDE itself: the workers download it from its source (here the
replay of Fuzzwork's dump, over real sockets), re-check it with conditional requests, record
failures and retry; the market page says what is going on instead of an instruction."""

from __future__ import annotations

import bz2
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from lenny.models import JobRun
from market.models import Region, SdeSource, Station, Type
from market.sde import SdeError
from market.sde_source import SdeStatus, sde_retry_delay, sde_source_refresh
from market.tests.factories import JITA_STATION, SDE_SAMPLE
from tests.fixtures import Background, page_polled_until

pytestmark = pytest.mark.django_db

SAMPLE_FILES = 9  # the slice has every table but the optional invVolumes
SAMPLE_TYPES = len((SDE_SAMPLE / "invTypes.csv").read_bytes().strip().splitlines()) - 1


@pytest.fixture
def fuzzwork(upstreams, settings):
    """The replay's SDE dump on the repo's small slice, with short timeouts."""
    settings.UPSTREAM_TIMEOUT = 5
    upstreams.state["sde"].configure(source="sample")
    return upstreams


def sde_requests(server) -> list[tuple[str, int]]:
    return [(r.path.removeprefix("/sde/"), r.status) for r in server.requests("^/sde/")]


def source() -> SdeSource:
    return SdeSource.objects.get()


# --- through the cluster ------------------------------------------------------------------------


@pytest.mark.embedded
@pytest.mark.django_db(transaction=True)
def test_an_empty_install_gets_its_sde_from_the_bootstrap_job_in_the_cluster(
    fuzzwork, schedule_run, settings
):
    task = schedule_run("lenny:sde-bootstrap")

    assert task.success, task.result
    assert Type.objects.count() == SAMPLE_TYPES
    assert Station.objects.get(pk=JITA_STATION).name.startswith("Jita IV - Moon 4")
    downloaded = [path for path, status in sde_requests(fuzzwork) if status == 200]
    assert len(downloaded) == SAMPLE_FILES and all(p.endswith(".csv.bz2") for p in downloaded)
    agents = {r.headers["User-Agent"] for r in fuzzwork.requests("^/sde/")}
    assert agents == {settings.LENNY_USER_AGENT}
    assert JobRun.objects.get(name="sde-refresh").last_success is not None
    assert len(source().validators) == SAMPLE_FILES and source().error == ""

    # With the SDE there, the next minute's run asks nobody.
    fuzzwork.reset()
    task = schedule_run("lenny:sde-bootstrap")
    assert task.success and task.result == "static data present"
    assert fuzzwork.count("^/sde/") == 0


@pytest.mark.embedded
@pytest.mark.django_db(transaction=True)
def test_the_refresh_job_asks_conditionally_and_reimports_only_what_changed(fuzzwork, schedule_run):
    sde_source_refresh()
    imported_at = source().imported_at
    # A local change an import would overwrite: it stays while the source is unchanged.
    Region.objects.filter(name="The Forge").update(name="The Forge (local)")
    fuzzwork.reset()
    fuzzwork.state["sde"].configure(source="sample")

    task = schedule_run("lenny:sde-refresh")

    assert task.success and "unchanged" in task.result
    answers = sde_requests(fuzzwork)
    assert {status for path, status in answers if "invVolumes" not in path} == {304}
    conditional = [r for r in fuzzwork.requests(r"\.bz2$") if "invVolumes" not in r.path]
    assert len(conditional) == SAMPLE_FILES
    assert all(r.headers.get("If-None-Match") for r in conditional)
    assert Region.objects.filter(name="The Forge (local)").exists()
    assert source().imported_at == imported_at and source().checked_at > imported_at

    # The source publishes a new mapRegions: that file alone is downloaded and imported.
    regions = (SDE_SAMPLE / "mapRegions.csv").read_text()
    fuzzwork.state["sde"].table_change("mapRegions", regions.replace("Domain", "Domain Prime"))
    fuzzwork.log.clear()

    task = schedule_run("lenny:sde-refresh")

    assert task.success and "mapRegions.csv.bz2" in task.result, task.result
    assert [p for p, status in sde_requests(fuzzwork) if status == 200] == ["mapRegions.csv.bz2"]
    names = set(Region.objects.values_list("name", flat=True))
    assert {"Domain Prime", "The Forge"} <= names and "Domain" not in names
    assert source().imported_at > imported_at


# --- failures -------------------------------------------------------------------------------------


@pytest.mark.embedded
@pytest.mark.django_db(transaction=True)
def test_a_truncated_download_writes_nothing_keeps_the_data_and_says_why(fuzzwork, schedule_run):
    sde_source_refresh()
    regions = (SDE_SAMPLE / "mapRegions.csv").read_text()
    # mapRegions comes down whole and changed, then staStations (the last file) breaks off.
    fuzzwork.state["sde"].table_change("mapRegions", regions.replace("Domain", "Domain Prime"))
    stations = (SDE_SAMPLE / "staStations.csv").read_text()
    fuzzwork.state["sde"].table_change("staStations", stations + "\n")
    fuzzwork.fault(r"^/sde/staStations", truncate=True)

    task = schedule_run("lenny:sde-refresh")

    assert not task.success
    assert Region.objects.filter(name="Domain").exists()
    assert not Region.objects.filter(name="Domain Prime").exists()
    failed = source()
    assert "staStations" in failed.error and failed.failures == 1
    assert failed.retry_at == failed.failed_at + sde_retry_delay(1)
    assert "staStations" in JobRun.objects.get(name="sde-refresh").last_error

    # The next check downloads mapRegions again (its validators were not kept) and succeeds.
    task = schedule_run("lenny:sde-refresh")
    assert task.success, task.result
    assert Region.objects.filter(name="Domain Prime").exists()
    assert source().error == "" and source().failures == 0


@pytest.mark.django_db(transaction=True)
def test_an_empty_install_whose_source_fails_waits_then_retries(fuzzwork, schedule_run):
    fuzzwork.fault(r"^/sde/invTypes", status=503, times=None)

    task = schedule_run("lenny:sde-bootstrap")

    assert not task.success and "HTTP 503" in task.result
    assert Type.objects.count() == 0 and Region.objects.count() == 0
    asked = fuzzwork.count("^/sde/")

    # Within the back-off the job asks nobody, and says when it tries again; the failed
    # attempt stays on record for /healthz.
    task = schedule_run("lenny:sde-bootstrap")
    assert task.success and "next attempt at" in task.result
    assert fuzzwork.count("^/sde/") == asked
    assert JobRun.objects.get(name="sde-refresh").consecutive_failures == 1

    fuzzwork.clear_faults()
    SdeSource.objects.update(retry_at=timezone.now() - timedelta(seconds=1))
    task = schedule_run("lenny:sde-bootstrap")
    assert task.success, task.result
    assert Type.objects.count() == SAMPLE_TYPES


def test_a_source_without_a_required_table_imports_nothing(fuzzwork):
    fuzzwork.state["sde"].table_remove("mapSolarSystems")

    with pytest.raises(SdeError, match=r"no mapSolarSystems\.csv\.bz2 or mapSolarSystems\.csv"):
        sde_source_refresh()

    assert Region.objects.count() == 0 and Type.objects.count() == 0


def test_a_corrupt_bz2_file_is_refused_before_anything_is_written(fuzzwork):
    fuzzwork.fault(r"^/sde/mapRegions\.csv\.bz2$", status=200, body="BZh9 not really bzip2")

    with pytest.raises(SdeError, match=r"mapRegions\.csv\.bz2"):
        sde_source_refresh()

    assert Type.objects.count() == 0
    assert "cannot decompress" in source().error


@pytest.mark.embedded
def test_the_retry_delay_doubles_from_a_minute_up_to_an_hour():
    assert [sde_retry_delay(n).total_seconds() / 60 for n in range(1, 9)] == [
        1,
        2,
        4,
        8,
        16,
        32,
        60,
        60,
    ]


# --- the page ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_market_page_shows_the_import_going_on_then_the_data(fuzzwork, client):
    # staStations, the last file, takes its time: the page is read meanwhile.
    fuzzwork.fault(r"^/sde/staStations", latency=3.0)
    with Background(sde_source_refresh) as errors:
        seen = page_polled_until(client, "/market/", f"downloading, {SAMPLE_FILES - 1} of 10 files")
        polled = client.get("/market/static-data/status/", headers={"HX-Request": "true"})

    assert not errors, errors
    assert "Importing static data…" in seen
    assert f"downloading, {SAMPLE_FILES - 1} of 10 files" in seen
    assert 'hx-trigger="every 2s"' in seen
    assert "Importing static data…" in polled.content.decode()
    assert "manage.py import_sde" not in seen

    # Done: the poll tells htmx to reload, and the page lists the market groups.
    done = client.get("/market/static-data/status/", headers={"HX-Request": "true"})
    assert done.status_code == 204 and done["HX-Refresh"] == "true"
    page = client.get("/market/").content.decode()
    assert "Importing static data" not in page and "No static data" not in page
    assert 'id="groups-heading"' in page


def test_the_page_says_what_failed_and_when_the_workers_retry(fuzzwork, client, admin_client):
    fuzzwork.fault(r"^/sde/invTypes", status=503, times=None)
    with pytest.raises(SdeError):
        sde_source_refresh()
    retry = timezone.localtime(source().retry_at).strftime("%H:%M")

    page = client.get("/market/").content.decode()

    assert "No static data yet" in page and "the download failed" in page
    assert f"The workers try again at {retry} UTC" in page
    assert 'hx-trigger="every 30s"' in page
    # Upstream error text and the source's address are for staff only.
    assert "HTTP 503" not in page and fuzzwork.base_url not in page
    staff_page = admin_client.get("/market/").content.decode()
    assert "HTTP 503" in staff_page and f"{fuzzwork.base_url}/sde" in staff_page


def test_before_the_first_attempt_the_page_says_the_workers_are_on_it(client):
    page = client.get("/market/").content.decode()

    assert "No static data yet" in page and "within a minute of starting" in page
    assert "manage.py import_sde" not in page
    assert 'hx-trigger="every 5s"' in page  # soon enough to catch the import's progress


@pytest.mark.embedded
def test_the_progress_text_names_files_and_rows():
    importing = {
        "phase": "importing",
        "files_done": 4,
        "files_total": 9,
        "noun": "type",
        "rows_done": 12000,
        "rows_total": 33735,
    }
    status = SdeStatus(empty=True, url="", progress=importing, source=None)
    assert status.progress_text == "4 of 9 files, 12,000 of 33,735 types"
    downloading = {"phase": "downloading", "files_done": 3, "files_total": 10}
    assert SdeStatus(True, "", downloading, None).progress_text == "downloading, 3 of 10 files"


def test_a_cache_outage_costs_only_the_progress_notice(fuzzwork, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }

    sde_source_refresh()

    assert Type.objects.count() == SAMPLE_TYPES


# --- the replay ----------------------------------------------------------------------------------


@pytest.mark.embedded
def test_the_replay_serves_csv_and_bz2_with_validators_and_304s(fuzzwork):
    url = f"{fuzzwork.base_url}/sde/mapRegions.csv"
    plain = requests.get(url, timeout=5)
    packed = requests.get(url + ".bz2", timeout=5)

    assert plain.status_code == packed.status_code == 200
    assert (
        bz2.decompress(packed.content)
        == plain.content
        == (SDE_SAMPLE / "mapRegions.csv").read_bytes()
    )
    assert plain.headers["ETag"] != packed.headers["ETag"]
    by_etag = requests.get(url, headers={"If-None-Match": plain.headers["ETag"]}, timeout=5)
    by_date = requests.get(
        url, headers={"If-Modified-Since": plain.headers["Last-Modified"]}, timeout=5
    )
    stale = requests.get(url, headers={"If-None-Match": '"other"'}, timeout=5)
    assert (by_etag.status_code, by_date.status_code, stale.status_code) == (304, 304, 200)
    assert requests.head(url + ".bz2", timeout=5).headers["ETag"] == packed.headers["ETag"]
    assert requests.get(f"{fuzzwork.base_url}/sde/invVolumes.csv", timeout=5).status_code == 404
