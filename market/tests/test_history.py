"""Market history: upserted by (region, type, date), 404 is "no history", stats kept current."""

from __future__ import annotations

import io
import os
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from django.core.management import CommandError, call_command
from django.utils import timezone

from market.ingest import (
    HISTORY_FETCH_THREADS,
    history_fetch,
    history_refresh,
    history_refresh_cutoff,
    history_types_due,
    history_window_end,
    snapshot_fetch,
)
from market.models import HistoryDay, TypeRegionStats
from market.tests.factories import FORGE, JITA_STATION

HISTORY = f"/esi/markets/{FORGE}/history/"
NEVER_TRADED = 999_999_999


def served_history(upstreams, type_id: int) -> list[dict]:
    rows = requests.get(upstreams.url(HISTORY), params={"type_id": type_id}, timeout=10).json()
    upstreams.log.clear()
    return rows


@pytest.fixture
def traded_types(esi, upstreams) -> list[int]:
    """The Forge's book is in; these types have orders at Jita (and history)."""
    snapshot_fetch(region_id=FORGE)
    upstreams.log.clear()
    return history_types_due(region_id=FORGE)[:6]


# --- the refresh clock (pure) ----------------------------------------------------------------


def test_the_refresh_cutoff_is_the_latest_1105_utc():
    before = datetime(2026, 3, 10, 11, 4, tzinfo=UTC)
    after = datetime(2026, 3, 10, 11, 5, tzinfo=UTC)
    assert history_refresh_cutoff(before) == datetime(2026, 3, 9, 11, 5, tzinfo=UTC)
    assert history_refresh_cutoff(after) == datetime(2026, 3, 10, 11, 5, tzinfo=UTC)
    assert history_window_end(before) == date(2026, 3, 8)
    assert history_window_end(after) == date(2026, 3, 9)


# --- fetching ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.embedded
def test_it_upserts_the_history_of_the_types_it_is_given(esi, upstreams, traded_types):
    type_id = traded_types[0]
    served = served_history(upstreams, type_id)

    outcome = history_fetch(region_id=FORGE, type_ids=traded_types)

    assert outcome.types == 6 and not outcome.failed
    assert upstreams.count(HISTORY) == 6
    stored = HistoryDay.objects.filter(region_id=FORGE, type_id=type_id).order_by("date")
    assert len(stored) == len(served)
    last = stored.last()
    assert (last.date.isoformat(), last.volume, last.order_count) == (
        served[-1]["date"],
        served[-1]["volume"],
        served[-1]["order_count"],
    )
    assert last.average == Decimal(str(served[-1]["average"])).quantize(Decimal("0.01"))
    assert last.date == history_window_end(timezone.now())

    # A second run (the client's cache forgotten) updates in place: no duplicate days.
    from django.core.cache import cache

    cache.clear()
    days = HistoryDay.objects.count()
    again = history_fetch(region_id=FORGE, type_ids=traded_types)
    assert again.types == 6 and HistoryDay.objects.count() == days


@pytest.mark.django_db
def test_it_keeps_30_day_averages_per_type_for_station_trading(esi, upstreams, traded_types):
    history_fetch(region_id=FORGE, type_ids=traded_types)

    end = history_window_end(timezone.now())
    for type_id in traded_types:
        rows = HistoryDay.objects.filter(
            region_id=FORGE, type_id=type_id, date__gt=end - timedelta(days=30), date__lte=end
        )
        volume = sum(r.volume for r in rows)
        isk = sum(r.volume * r.average for r in rows)
        stats = TypeRegionStats.objects.get(region_id=FORGE, type_id=type_id)
        assert stats.avg_daily_volume == (Decimal(volume) / 30).quantize(Decimal("0.01"))
        assert stats.avg_daily_isk == (isk / 30).quantize(Decimal("0.01"))
        assert stats.days_traded == len(rows)
        assert stats.has_history and stats.last_history_date == end
    busiest = TypeRegionStats.objects.with_type_names().order_by("-avg_daily_isk").first()
    assert busiest.avg_daily_isk > 0 and hasattr(busiest, "type_name")


@pytest.mark.django_db
def test_a_type_without_history_is_not_an_error(esi, upstreams, traded_types):
    out = io.StringIO()
    call_command(
        "fetch_market_history",
        "--region",
        str(FORGE),
        "--type",
        str(NEVER_TRADED),
        str(traded_types[0]),
        stdout=out,
    )

    assert [r.status for r in upstreams.requests(HISTORY)].count(404) == 1
    stats = TypeRegionStats.objects.get(region_id=FORGE, type_id=NEVER_TRADED)
    assert (stats.has_history, stats.avg_daily_volume) == (False, 0)
    assert stats.history_fetched_at is not None
    assert "2 types" in out.getvalue() and "1 without history" in out.getvalue()


@pytest.mark.django_db
def test_types_are_due_until_fetched_after_the_daily_refresh(esi, upstreams, traded_types):
    due = history_types_due(region_id=FORGE)
    assert due[:6] == traded_types and len(due) > 6

    history_fetch(region_id=FORGE, type_ids=due)

    assert history_types_due(region_id=FORGE) == []
    tomorrow = timezone.now() + timedelta(days=1)
    assert history_types_due(region_id=FORGE, now=tomorrow) == due
    # Due types are the ones on sale or wanted at the hub station itself.
    at_jita = set(
        __import__("market.models", fromlist=["BestPrice"])
        .BestPrice.objects.current(region_id=FORGE)
        .filter(location_id=JITA_STATION)
        .values_list("type_id", flat=True)
    )
    assert set(due) == at_jita


@pytest.mark.django_db
def test_without_a_snapshot_it_asks_esi_which_types_the_region_trades(esi, upstreams):
    due = history_types_due(region_id=FORGE)

    assert upstreams.count(f"/esi/markets/{FORGE}/types/") >= 1
    assert len(due) > 10


@pytest.mark.django_db
def test_a_second_run_before_expires_asks_nothing(esi, upstreams, traded_types):
    history_fetch(region_id=FORGE, type_ids=traded_types)
    upstreams.log.clear()

    outcome = history_fetch(region_id=FORGE, type_ids=traded_types)

    assert upstreams.count(HISTORY) == 0
    assert outcome.unchanged == 6


@pytest.mark.django_db
def test_a_failing_type_is_reported_and_the_others_still_stored(esi, upstreams, traded_types):
    broken = traded_types[1]
    upstreams.fault(r"/history/", query={"type_id": str(broken)}, status=503, times=None)

    out = io.StringIO()
    with pytest.raises(CommandError, match="history of 1 types could not be fetched"):
        call_command(
            "fetch_market_history",
            "--region",
            str(FORGE),
            "--type",
            *map(str, traded_types),
            stdout=out,
        )

    assert f"1 failed (type {broken}: " in out.getvalue()
    stored = set(HistoryDay.objects.values_list("type_id", flat=True).distinct())
    assert stored == set(traded_types) - {broken}
    assert not TypeRegionStats.objects.filter(type_id=broken).exists()


@pytest.mark.django_db
def test_it_stops_at_its_deadline_and_leaves_the_rest_for_the_next_run(
    esi, upstreams, traded_types
):
    outcomes = history_refresh(deadline=time.monotonic() - 1, region_ids=[FORGE])

    assert outcomes == [] and upstreams.count(HISTORY) == 0
    outcome = history_fetch(region_id=FORGE, type_ids=traded_types, deadline=time.monotonic() - 1)
    assert outcome.remaining == 6 and outcome.types == 0
    assert "6 left for the next run" in outcome.summary()


@pytest.mark.django_db
def test_hostile_history_data_is_refused_for_that_type_only(esi, upstreams, traded_types):
    upstreams.fault(
        r"/history/",
        query={"type_id": str(traded_types[0])},
        status=200,
        body='[{"date": "2026-13-45", "average": 1, "highest": 1, "lowest": 1, '
        '"order_count": 1, "volume": 1}]',
        times=None,
    )

    outcome = history_fetch(region_id=FORGE, type_ids=traded_types[:2])

    assert "unexpected history data" in outcome.failed[traded_types[0]]
    assert HistoryDay.objects.filter(type_id=traded_types[1]).exists()
    assert not HistoryDay.objects.filter(type_id=traded_types[0]).exists()


@pytest.mark.django_db
def test_the_command_says_when_nothing_is_due(esi, upstreams, traded_types):
    history_fetch(region_id=FORGE, type_ids=history_types_due(region_id=FORGE))
    out = io.StringIO()

    call_command("fetch_market_history", "--region", str(FORGE), stdout=out)

    assert "every type's history is up to date" in out.getvalue()


@pytest.mark.django_db
def test_it_stops_asking_when_esi_looks_down(esi, upstreams, traded_types, settings):
    settings.ESI_MAX_RETRIES = 0
    due = history_types_due(region_id=FORGE)
    assert len(due) > 15
    upstreams.fault(r"/history/", status=503, times=None)

    outcome = history_fetch(region_id=FORGE, type_ids=due)

    assert outcome.aborted == "10 failures in a row, ESI looks down"
    assert len(outcome.failed) >= 10 and outcome.remaining > 0
    assert len(outcome.failed) + outcome.remaining == len(due)
    # Besides the ten, only the fetches already under way when it gave up were sent.
    assert upstreams.count(HISTORY) < 10 + HISTORY_FETCH_THREADS


# --- retention (MARKET_HISTORY_KEEP_DAYS) -----------------------------------------------------


def history_day(region_id: int, type_id: int, day: date) -> HistoryDay:
    return HistoryDay.objects.create(
        region_id=region_id,
        type_id=type_id,
        date=day,
        average=Decimal("5.00"),
        highest=Decimal("6.00"),
        lowest=Decimal("4.00"),
        volume=100,
        order_count=10,
    )


@pytest.mark.django_db
@pytest.mark.embedded
def test_history_older_than_the_kept_days_is_neither_stored_nor_kept(
    esi, upstreams, traded_types, settings
):
    settings.MARKET_HISTORY_KEEP_DAYS = 60
    today = timezone.now().date()
    old = history_day(FORGE, NEVER_TRADED, today - timedelta(days=400))
    elsewhere = history_day(10000043, NEVER_TRADED, today - timedelta(days=400))

    history_refresh(region_ids=[FORGE])

    stored = HistoryDay.objects.filter(region_id=FORGE)
    assert stored.exists()
    # ESI serves 90 days here: the 30 before the kept 60 are not written.
    assert min(stored.values_list("date", flat=True)) >= today - timedelta(days=60)
    assert not HistoryDay.objects.filter(pk=old.pk).exists()
    # Another region's days go with its own run.
    assert HistoryDay.objects.filter(pk=elsewhere.pk).exists()
    # The 30-day figures still have all their days.
    stats = TypeRegionStats.objects.get(region_id=FORGE, type_id=traded_types[0])
    assert (
        stats.days_traded
        == HistoryDay.objects.filter(
            region_id=FORGE,
            type_id=traded_types[0],
            date__gt=history_window_end(timezone.now()) - timedelta(days=30),
        ).count()
    )


@pytest.mark.django_db
@pytest.mark.embedded
def test_by_default_history_is_kept_for_ever(esi, upstreams, traded_types):
    old = history_day(FORGE, NEVER_TRADED, date(2019, 1, 1))

    history_refresh(region_ids=[FORGE])

    assert HistoryDay.objects.filter(pk=old.pk).exists()


def test_keeping_fewer_days_than_the_30_day_figures_need_is_refused():
    import subprocess
    import sys

    from django.conf import settings as django_settings

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **os.environ,
            "MARKET_HISTORY_KEEP_DAYS": "30",
            "DJANGO_SETTINGS_MODULE": "lenny.settings",
        },
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "MARKET_HISTORY_KEEP_DAYS=30: keep at least 60 days" in result.stderr
