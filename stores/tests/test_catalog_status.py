"""A fresh install's card catalog: fetched at once by the workers while it is empty (not at the
next 05:17), its progress and failures shown on the stores pages. Scryfall is the replay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from lenny.models import JobRun
from stores.catalog.status import CATALOG_RETRY, CatalogStatus
from stores.models import Card
from stores.tasks import catalog_refresh_daily
from tests.fixtures import Background, page_polled_until

pytestmark = pytest.mark.django_db

SAMPLE_CARDS = 43


@pytest.mark.embedded
@pytest.mark.django_db(transaction=True)
def test_an_empty_catalog_is_fetched_by_the_bootstrap_job_in_the_cluster(upstreams, schedule_run):
    task = schedule_run("lenny:scryfall-catalog-bootstrap")

    assert task.success, task.result
    assert Card.objects.count() == SAMPLE_CARDS
    assert JobRun.objects.get(name="scryfall-catalog-refresh").last_success is not None

    # With cards there, the next minute's run asks nobody.
    upstreams.reset()
    task = schedule_run("lenny:scryfall-catalog-bootstrap")
    assert task.success and task.result == "catalog present"
    assert upstreams.count("^/scryfall/") == 0


@pytest.mark.django_db(transaction=True)
def test_a_failed_fetch_is_shown_then_retried_after_a_pause(
    upstreams, schedule_run, client, user, admin_client
):
    upstreams.fault(r"^/scryfall/bulk-data$", status=500, times=None)

    task = schedule_run("lenny:scryfall-catalog-bootstrap")

    assert not task.success and "500" in task.result
    assert Card.objects.count() == 0
    failed_at = JobRun.objects.get(name="scryfall-catalog-refresh").last_failure
    retry = timezone.localtime(failed_at + CATALOG_RETRY).strftime("%H:%M")
    client.force_login(user)
    page = client.get("/stores/").content.decode()
    assert "The card catalog is empty:" in page and "the download from Scryfall failed" in page
    assert f"The workers try again at {retry} UTC" in page
    assert "manage.py import_scryfall" not in page and "answered 500" not in page
    assert "answered 500" in admin_client.get("/stores/").content.decode()

    # Within the pause the job asks nobody and says when it tries again; the failed attempt
    # stays on record for /healthz.
    asked = upstreams.count("^/scryfall/")
    task = schedule_run("lenny:scryfall-catalog-bootstrap")
    assert task.success and "next attempt at" in task.result
    assert upstreams.count("^/scryfall/") == asked
    assert JobRun.objects.get(name="scryfall-catalog-refresh").consecutive_failures == 1

    upstreams.clear_faults()
    JobRun.objects.filter(name="scryfall-catalog-refresh").update(
        last_failure=timezone.now() - CATALOG_RETRY - timedelta(seconds=1)
    )
    task = schedule_run("lenny:scryfall-catalog-bootstrap")
    assert task.success, task.result
    assert Card.objects.count() == SAMPLE_CARDS


@pytest.mark.django_db(transaction=True)
def test_the_stores_pages_show_the_import_going_on_then_the_catalog(upstreams, client, user):
    # The bulk file takes its time: the pages are read meanwhile.
    upstreams.fault(r"^/scryfall/bulk-data/default_cards/", latency=3.0)
    client.force_login(user)
    with Background(catalog_refresh_daily) as errors:
        seen = page_polled_until(client, "/stores/", "Importing the card catalog")
        deck_page = client.get("/stores/wants/import").content.decode()

    assert not errors, errors
    assert "Importing the card catalog…" in seen and 'hx-trigger="every 2s"' in seen
    assert "Importing the card catalog…" in deck_page
    assert "manage.py import_scryfall" not in seen

    done = client.get("/stores/catalog/status", headers={"HX-Request": "true"})
    assert done.status_code == 204 and done["HX-Refresh"] == "true"
    page = client.get("/stores/").content.decode()
    assert "Importing the card catalog" not in page and "catalog is empty" not in page


def test_before_the_first_attempt_the_page_says_the_workers_are_on_it(client, user):
    client.force_login(user)

    page = client.get("/stores/").content.decode()

    assert "The card catalog is empty:" in page and "within a minute of starting" in page
    assert 'hx-trigger="every 5s"' in page


@pytest.mark.embedded
def test_the_status_poll_is_for_signed_in_users(client):
    assert client.get("/stores/catalog/status").status_code == 302


def test_the_progress_text_follows_the_download_and_the_import():
    def text(phase: str, done: int, total: int | None) -> str:
        progress = {"phase": phase, "done": done, "total": total}
        return CatalogStatus(empty=True, progress=progress, failure=None).progress_text

    assert text("starting", 0, None) == "asking Scryfall for its bulk file"
    assert text("downloading", 120_000_000, 290_000_000) == "downloading, 120 of 290 MB"
    assert text("downloading", 5_000_000, None) == "downloading, 5 MB"
    assert text("importing", 29, 100) == "importing, 29% read"
