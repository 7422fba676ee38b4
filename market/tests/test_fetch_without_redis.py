"""A snapshot fetch that loses Redis (the ESI client's cache, limits and counters) records a failed
snapshot with a clear reason and keeps the previous book, from the command and the schedule."""

from __future__ import annotations

import io
import threading
import time

import pytest
from django.core.management import CommandError, call_command

from lenny.models import JobRun
from market import tasks
from market.ingest import SnapshotError, snapshot_fetch
from market.models import MarketSnapshot, Order
from market.tests.factories import FORGE
from tests.fixtures import free_port

pytestmark = pytest.mark.django_db

REASON = "the shared cache (Redis) became unavailable during the fetch"


def _redis_cache(settings, url: str) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 3.0},
        }
    }


@pytest.fixture
def cache_redis_that_dies(settings, throwaway_redis):
    """The cache on a throwaway redis-server, and a way to stop it."""
    _redis_cache(settings, throwaway_redis.url)
    return throwaway_redis.stop


def _stopped_mid_fetch(upstreams, stop) -> threading.Thread:
    """Stops Redis once the fetch has its first pages, while a later page is still on its way."""
    upstreams.fault(r"/orders/", query={"page": "6"}, latency=1.5)

    def watch() -> None:
        deadline = time.monotonic() + 20
        while upstreams.count(r"/orders/") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        stop()

    watcher = threading.Thread(target=watch)
    watcher.start()
    return watcher


def _assert_failed_and_old_book_kept(old: MarketSnapshot, old_orders: int) -> MarketSnapshot:
    failed = MarketSnapshot.objects.filter(status=MarketSnapshot.Status.FAILED).get()
    assert failed.error.startswith(REASON), failed.error
    assert "127.0.0.1" not in failed.error  # pages show the error: no host or port in it
    assert MarketSnapshot.objects.get(region_id=FORGE, is_current=True) == old
    assert Order.objects.current(region_id=FORGE).count() == old_orders
    return failed


@pytest.fixture
def old_book(esi, upstreams, settings):
    """A stored Forge book (on the test's own cache), then the replay moved on."""
    old = snapshot_fetch(region_id=FORGE).snapshot
    esi.roll_over(FORGE)
    upstreams.log.clear()
    return old, Order.objects.current(region_id=FORGE).count()


def test_the_command_records_a_failed_snapshot_when_redis_dies_mid_fetch(
    old_book, upstreams, cache_redis_that_dies
):
    watcher = _stopped_mid_fetch(upstreams, cache_redis_that_dies)
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 of the regions failed"):
        call_command("fetch_market_orders", "--region", str(FORGE), "--force", stderr=err)
    watcher.join()

    assert REASON in err.getvalue()
    assert "Traceback" not in err.getvalue()
    _assert_failed_and_old_book_kept(*old_book)


def test_the_command_records_a_failed_snapshot_when_redis_is_not_there(
    old_book, upstreams, settings
):
    _redis_cache(settings, f"redis://127.0.0.1:{free_port()}/0")  # nobody listens there
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("fetch_market_orders", "--region", str(FORGE), "--force", stderr=err)

    assert REASON in err.getvalue()
    _assert_failed_and_old_book_kept(*old_book)


def test_the_scheduled_job_records_a_failed_snapshot_when_redis_dies_mid_fetch(
    old_book, upstreams, cache_redis_that_dies
):
    from market.models import MarketSnapshot as Snapshot

    # The job's own snapshot is due: the stored one has expired.
    Snapshot.objects.filter(is_current=True).update(expires=None)
    watcher = _stopped_mid_fetch(upstreams, cache_redis_that_dies)
    # The job fails with the snapshot's reason, not with the lock's release that Redis refuses.
    with pytest.raises(SnapshotError, match="nothing was stored"):
        tasks.orders_jita()
    watcher.join()

    failed = _assert_failed_and_old_book_kept(*old_book)
    run = JobRun.objects.get(name="market-orders-jita")
    assert run.last_failure is not None
    assert REASON in run.last_error
    assert failed.pages >= 1
