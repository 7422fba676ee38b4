"""The catalog refresh against the replay Scryfall, over real sockets."""

import http.client
import itertools
import json
from io import StringIO

import pytest
import requests
from django.core.management import call_command
from django.utils.dateparse import parse_datetime

from lenny.models import JobRun
from lenny.schedules import schedules_collect
from stores.catalog import ACCEPT, ScryfallClient, ScryfallError, catalog_refresh
from stores.models import Card, CatalogImport, Printing, Set
from stores.replay import demo_load
from stores.tasks import catalog_refresh_daily
from stores.tests.factories import bulk_bytes, sample_cards

pytestmark = pytest.mark.django_db

BULK_FILE = r"^/scryfall/bulk-data/default_cards/"


def test_it_downloads_the_file_scryfall_lists_and_imports_it_with_its_sets(upstreams, settings):
    summary = catalog_refresh()
    assert (summary.objects_read, summary.cards, summary.printings) == (45, 43, 45)
    assert [r.path for r in upstreams.requests("^/scryfall/")] == [
        "/scryfall/bulk-data",
        "/scryfall/sets",
        "/scryfall/bulk-data/default_cards/default-cards-20250115100512.jsonl.gz",
    ]
    for request in upstreams.requests("^/scryfall/"):
        assert request.headers["User-Agent"] == settings.LENNY_USER_AGENT
    assert upstreams.requests("^/scryfall/sets")[0].headers["Accept"] == ACCEPT
    assert Set.objects.get(code="sunf").parent.code == "unf"
    imported = CatalogImport.objects.get()
    assert imported.bulk_type == "default_cards"
    assert imported.bulk_updated_at == parse_datetime("2025-01-15T10:05:12.417+00:00")
    assert not list(settings.SCRYFALL_DOWNLOAD_DIR.iterdir())  # the download is cleaned up


def test_it_imports_the_json_array_form_too(upstreams):
    upstreams.state["scryfall"]["format"] = "json"
    catalog_refresh()
    assert upstreams.requests(BULK_FILE)[0].path.endswith(".json")
    assert Printing.objects.count() == 45


def test_it_skips_a_bulk_file_it_imported_already_until_scryfall_publishes_a_new_one(upstreams):
    catalog_refresh()
    assert catalog_refresh() is None
    assert upstreams.count(BULK_FILE) == 1
    upstreams.state["scryfall"]["updated_at"] = "2025-01-16T10:04:55.000+00:00"
    assert catalog_refresh().printings_created == 0
    assert upstreams.count(BULK_FILE) == 2


def test_it_backs_off_after_a_429_then_carries_on(upstreams, settings):
    settings.SCRYFALL_BACKOFF_SECONDS = 0.4
    upstreams.fault(r"^/scryfall/sets$", status=429, times=1)
    catalog_refresh()
    refused, retried = upstreams.requests(r"^/scryfall/sets$")
    assert (refused.status, retried.status) == (429, 200)
    assert retried.at - refused.at >= 0.4
    assert Printing.objects.count() == 45


def test_it_gives_up_on_a_scryfall_that_keeps_answering_429_and_writes_nothing(upstreams):
    upstreams.fault(r"^/scryfall/bulk-data$", status=429, times=None)
    with pytest.raises(ScryfallError, match=r"answered 429 .* 4 times in a row"):
        catalog_refresh()
    assert upstreams.count(r"^/scryfall/bulk-data$") == 4
    assert not Card.objects.exists()


def test_it_sends_at_most_ten_requests_a_second(upstreams, settings):
    settings.SCRYFALL_REQUEST_INTERVAL = 0.1
    client = ScryfallClient()
    for _ in range(4):
        client.get_json("sets")
    times = [r.arrived for r in upstreams.requests(r"^/scryfall/sets$")]
    # Paced where they leave; where they arrive a busy machine's scheduling moves each by a few
    # tens of milliseconds (unpaced, they would arrive 1-5 ms apart).
    assert all(later - earlier >= 0.06 for earlier, later in itertools.pairwise(times))
    assert times[-1] - times[0] >= 3 * 0.1 - 0.02


def test_an_interrupted_download_resumes_where_it_stopped(upstreams):
    upstreams.fault(BULK_FILE, truncate=True, times=1)
    catalog_refresh()
    first, second = upstreams.requests(BULK_FILE)
    size = len(bulk_bytes(sample_cards(), "jsonl.gz"))
    assert "Range" not in first.headers
    assert second.headers["Range"] == f"bytes={size // 2}-" and second.status == 206
    assert Printing.objects.count() == 45


def test_a_download_left_over_from_an_earlier_run_is_resumed(upstreams, settings):
    meta = ScryfallClient().bulk_data("default_cards")
    with requests.get(meta["download_uri"], stream=True, timeout=5) as response:
        body = response.raw.read(decode_content=False)
    part = settings.SCRYFALL_DOWNLOAD_DIR / (meta["download_uri"].rsplit("/", 1)[1] + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(body[:1000])
    upstreams.reset()
    catalog_refresh()
    assert upstreams.requests(BULK_FILE)[0].headers["Range"] == "bytes=1000-"
    assert Printing.objects.count() == 45


def test_a_failed_download_imports_nothing(upstreams):
    upstreams.fault(BULK_FILE, status=503, times=None)
    with pytest.raises(ScryfallError, match="answered 503"):
        catalog_refresh()
    assert not Set.objects.exists() and not CatalogImport.objects.exists()


def test_the_command_imports_from_a_url(upstreams):
    url = ScryfallClient().bulk_data("oracle_cards")["download_uri"]
    out = StringIO()
    call_command("import_scryfall", url, "--no-progress", stdout=out)
    assert f"Imported 43 card objects from {url}" in out.getvalue()
    assert Card.objects.count() == 43 and Printing.objects.count() == 43


def test_the_command_downloads_the_latest_bulk_file_by_default(upstreams):
    out = StringIO()
    call_command("import_scryfall", "--no-progress", stdout=out)
    call_command("import_scryfall", "--no-progress", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Imported 45 card objects")
    assert lines[1] == "The catalog is up to date: this bulk file was imported already."


@pytest.mark.parametrize(
    "headers", [{}, {"Accept": "application/json"}, {"User-Agent": "Lenny/0.1 (self-hosted)"}]
)
def test_the_replay_refuses_requests_without_user_agent_or_accept(upstreams, headers):
    # http.client sends only the headers given (requests would add a User-Agent of its own).
    host, port = upstreams.base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("GET", "/scryfall/sets", headers=headers)
    response = conn.getresponse()
    assert response.status == 400 and json.loads(response.read())["object"] == "error"
    conn.close()


def test_the_replay_answers_named_card_lookups_like_scryfall(upstreams):
    client = ScryfallClient()
    assert client.get_json("cards/named", fuzzy="drivn despair")["name"] == "Driven // Despair"
    assert client.get_json("cards/named", exact="black lotus")["set"] == "lea"
    with pytest.raises(ScryfallError, match="Too many cards match ambiguous name"):
        client.get_json("cards/named", fuzzy="mox")
    with pytest.raises(ScryfallError, match="404: No cards found matching"):
        client.get_json("cards/named", exact="Lightning Bolt")


def test_the_demo_loads_the_catalog_from_the_replay(upstreams):
    out = StringIO()
    demo_load(base_url=upstreams.base_url, stdout=out)
    assert "Imported 45 card objects" in out.getvalue()
    assert Card.objects.filter(name="Black Lotus").exists()


def test_the_daily_refresh_runs_as_a_periodic_job(upstreams, settings):
    job = next(job for job in schedules_collect() if job.name == "scryfall-catalog-refresh")
    assert job.cron and job.timeout < settings.Q_CLUSTER["retry"]
    assert catalog_refresh_daily().startswith("Imported 45 card objects")
    assert catalog_refresh_daily() == "already up to date"
    run = JobRun.objects.get(name="scryfall-catalog-refresh")
    assert run.runs == 2 and run.failures == 0
