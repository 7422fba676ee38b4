"""Region order snapshots from the replay ESI: stored whole, swapped atomically, never half-done.

Faults go through the replay server's socket; the assertions are about what was sent (as the
server counted it) and about the stored book: exactly the old snapshot or exactly the new one.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from email.utils import formatdate

import pytest
import requests
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from market.ingest import SnapshotError, snapshot_fetch
from market.ingest.background import background_wait
from market.models import BestPrice, MarketSnapshot, Order
from market.tests.factories import AMARR, DOMAIN, FORGE, HUBS_BY_KEY, JITA, book_store
from market.tests.factories import order as esi_order

ORDERS = f"/esi/markets/{FORGE}/orders/"


def replay_orders(upstreams, region_id: int = FORGE) -> list[dict]:
    """Every order the replay serves right now, fetched page by page without Lenny's client."""
    url = upstreams.url(f"/esi/markets/{region_id}/orders/")
    first = requests.get(url, params={"order_type": "all", "page": 1}, timeout=10)
    orders = first.json()
    for page in range(2, int(first.headers["X-Pages"]) + 1):
        orders += requests.get(url, params={"order_type": "all", "page": page}, timeout=10).json()
    upstreams.log.clear()
    return orders


def stored_book(region_id: int = FORGE) -> set[tuple]:
    return set(
        Order.objects.current(region_id=region_id).values_list(
            "order_id", "type_id", "price", "volume_remain", "issued"
        )
    )


def pages_sent(upstreams, path: str = ORDERS) -> Counter:
    return Counter(int(r.arg("page")) for r in upstreams.requests(path))


def partitions(parent: str = "market_order") -> list[str]:
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass ORDER BY 1",
            [parent],
        )
        return [row[0] for row in cursor.fetchall()]


def tables_like(prefix: str) -> list[str]:
    """Tables whose name starts with ``prefix``, attached as partitions or not."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname LIKE %s ORDER BY 1",
            [prefix + "%"],
        )
        return [row[0] for row in cursor.fetchall()]


# --- storing ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.embedded
def test_it_stores_the_region_book_with_every_esi_field(esi, upstreams):
    served = {order["order_id"]: order for order in replay_orders(upstreams)}

    outcome = snapshot_fetch(region_id=FORGE)

    snapshot = MarketSnapshot.objects.get(region_id=FORGE, is_current=True)
    assert outcome.status == "stored" and outcome.snapshot == snapshot
    assert (snapshot.pages, snapshot.orders, snapshot.status) == (6, 3000, "ok")
    clock = esi.clock(FORGE)
    assert snapshot.last_modified.timestamp() == clock.last_modified
    assert snapshot.expires.timestamp() == clock.expires
    stored = list(Order.objects.current(region_id=FORGE))
    assert len(stored) == 3000 and {o.order_id for o in stored} == set(served)
    for order in stored[:200]:
        original = served[order.order_id]
        assert order.price == Decimal(str(original["price"])).quantize(Decimal("0.01"))
        assert order.issued == datetime.fromisoformat(original["issued"])
        for name in (
            "type_id",
            "location_id",
            "system_id",
            "is_buy_order",
            "volume_remain",
            "volume_total",
            "min_volume",
            "range",
            "duration",
        ):
            assert getattr(order, name) == original[name], name
    assert outcome.summary() == f"region {FORGE}: 6 pages, 3,000 orders, {snapshot.seconds:.1f} s"


@pytest.mark.django_db
@pytest.mark.embedded
def test_the_best_prices_summarise_each_station_book_exactly(esi, upstreams):
    snapshot_fetch(region_id=FORGE)

    books: dict[tuple, dict] = {}
    for o in Order.objects.current(region_id=FORGE).values():
        book = books.setdefault((o["location_id"], o["type_id"]), {"buy": [], "sell": []})
        book["buy" if o["is_buy_order"] else "sell"].append((o["price"], o["volume_remain"]))
    tops = BestPrice.objects.current(region_id=FORGE)
    assert tops.count() == len(books)
    for top in tops:
        book = books[(top.location_id, top.type_id)]
        best_bid = max((p for p, _ in book["buy"]), default=None)
        best_ask = min((p for p, _ in book["sell"]), default=None)
        assert (top.best_bid, top.best_ask) == (best_bid, best_ask)
        assert (top.bid_count, top.ask_count) == (len(book["buy"]), len(book["sell"]))
        assert top.best_bid_volume == sum(v for p, v in book["buy"] if p == best_bid)
        assert top.best_ask_volume == sum(v for p, v in book["sell"] if p == best_ask)
        assert top.bid_volume == sum(v for _, v in book["buy"])
        assert top.ask_volume == sum(v for _, v in book["sell"])
        if best_bid is not None and best_ask is not None:
            assert top.spread == best_ask - best_bid
    # The hub station carries most of the region's orders.
    at_jita = sum(t.bid_count + t.ask_count for t in tops.filter(location_id=60003760))
    assert at_jita > 3000 / 2


@pytest.mark.django_db
def test_a_second_run_before_expires_sends_no_request(esi, upstreams):
    snapshot_fetch(region_id=FORGE)
    sent = upstreams.count("/esi/markets/")

    out = io.StringIO()
    call_command("fetch_market_orders", "--region", str(FORGE), stdout=out)

    assert upstreams.count("/esi/markets/") == sent
    assert "current snapshot has not expired" in out.getvalue()
    assert MarketSnapshot.objects.count() == 1


@pytest.mark.django_db
def test_an_expired_snapshot_is_replaced_and_the_old_one_is_gone(esi, upstreams):
    esi.configure(expiry_seconds=1)
    first = snapshot_fetch(region_id=FORGE).snapshot
    old_book = stored_book()
    time.sleep(max(0.0, first.expires.timestamp() - time.time()) + 0.05)

    second = snapshot_fetch(region_id=FORGE).snapshot

    first.refresh_from_db()
    assert second.last_modified > first.last_modified
    assert (first.is_current, first.status) == (False, "superseded")
    new_book = stored_book()
    assert len(new_book) == 3000 and new_book != old_book
    assert {o.snapshot_id for o in Order.objects.all()} == {second.pk}
    assert set(BestPrice.objects.values_list("snapshot_id", flat=True)) == {second.pk}
    if connection.vendor == "postgresql":
        assert partitions() == [f"market_order_s{second.pk}"]
        assert partitions("market_bestprice") == [f"market_bestprice_s{second.pk}"]
        assert tables_like("market_bestprice_s") == [f"market_bestprice_s{second.pk}"]


@pytest.mark.django_db
def test_a_304_keeps_the_snapshot_and_learns_the_new_expiry(esi, upstreams):
    # Like ESI while it builds the next snapshot: past Expires, the old one is still served.
    esi.configure(expiry_seconds=1, publish_delay=30)
    first = snapshot_fetch(region_id=FORGE).snapshot
    time.sleep(max(0.0, first.expires.timestamp() - time.time()) + 0.05)
    upstreams.log.clear()

    outcome = snapshot_fetch(region_id=FORGE)

    assert outcome.status == "unchanged" and "unchanged" in outcome.summary()
    assert [r.status for r in upstreams.requests(ORDERS)] == [304]
    assert upstreams.requests(ORDERS)[0].headers["If-None-Match"]
    first.refresh_from_db()
    assert first.is_current and first.expires.timestamp() > time.time() + 20
    assert MarketSnapshot.objects.count() == 1


@pytest.mark.django_db
def test_regions_keep_their_own_snapshots(esi, upstreams):
    snapshot_fetch(region_id=FORGE)
    snapshot_fetch(region_id=DOMAIN)

    assert Order.objects.current(region_id=FORGE).count() == 3000
    assert Order.objects.current(region_id=DOMAIN).count() == 400
    ids = MarketSnapshot.objects.current_ids()
    assert set(ids) == {FORGE, DOMAIN} and ids[FORGE] != ids[DOMAIN]
    assert Order.objects.current(region_id=10000030).count() == 0


# --- faults -------------------------------------------------------------------------------------


def _old_snapshot(esi) -> tuple[MarketSnapshot, set]:
    """A stored snapshot, then the replay moved on to the next one."""
    snapshot = snapshot_fetch(region_id=FORGE).snapshot
    book = stored_book()
    esi.roll_over(FORGE)
    return snapshot, book


def assert_still_the_old_snapshot(snapshot: MarketSnapshot, book: set) -> None:
    assert MarketSnapshot.objects.get(region_id=FORGE, is_current=True) == snapshot
    assert stored_book() == book
    assert set(Order.objects.values_list("snapshot_id", flat=True).distinct()) == {snapshot.pk}
    assert set(BestPrice.objects.values_list("snapshot_id", flat=True).distinct()) == {snapshot.pk}


@pytest.mark.django_db
def test_a_502_on_page_37_is_retried_and_the_new_snapshot_lands_whole(esi, upstreams):
    esi.configure(orders={FORGE: 4000}, page_size=100)
    _, old_book = _old_snapshot(esi)
    upstreams.log.clear()
    upstreams.fault(r"/orders/", query={"page": "37"}, status=502, body='{"error":"Bad Gateway"}')

    outcome = snapshot_fetch(region_id=FORGE, force=True)

    sent = pages_sent(upstreams)
    assert sent[37] == 2 and all(sent[n] == 1 for n in range(1, 41) if n != 37)
    assert outcome.status == "stored" and outcome.snapshot.pages == 40
    new_book = stored_book()
    assert len(new_book) == 4000 and new_book != old_book
    assert {order["order_id"] for order in replay_orders(upstreams)} == {o[0] for o in new_book}


@pytest.mark.django_db
def test_a_page_that_times_out_leaves_the_old_snapshot_and_says_why(esi, upstreams, settings):
    settings.UPSTREAM_TIMEOUT = 0.3
    old, old_book = _old_snapshot(esi)
    upstreams.log.clear()
    upstreams.fault(r"/orders/", query={"page": "3"}, hang=0.6, times=None)

    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("fetch_market_orders", "--region", str(FORGE), "--force", stderr=err)

    assert pages_sent(upstreams)[3] == 1 + settings.ESI_MAX_RETRIES
    assert_still_the_old_snapshot(old, old_book)
    failed = MarketSnapshot.objects.filter(status="failed").get()
    assert "no answer within 0.3 s" in failed.error and "page=3" in failed.error
    assert failed.seconds > 0.3
    assert "snapshot not replaced" in err.getvalue()
    assert "the previous snapshot is still current" in err.getvalue()


@pytest.mark.django_db
def test_a_truncated_page_is_fetched_again(esi, upstreams):
    _, old_book = _old_snapshot(esi)
    upstreams.log.clear()
    upstreams.fault(r"/orders/", query={"page": "2"}, truncate=True)

    outcome = snapshot_fetch(region_id=FORGE, force=True)

    assert pages_sent(upstreams)[2] == 2
    assert outcome.status == "stored" and len(stored_book()) == 3000
    assert stored_book() != old_book


@pytest.mark.django_db
def test_a_page_that_stays_truncated_fails_the_fetch(esi, upstreams):
    old, old_book = _old_snapshot(esi)
    upstreams.fault(r"/orders/", query={"page": "2"}, truncate=True, times=None)

    with pytest.raises(SnapshotError, match="snapshot not replaced"):
        snapshot_fetch(region_id=FORGE, force=True)

    assert_still_the_old_snapshot(old, old_book)


@pytest.mark.django_db
def test_a_page_from_another_snapshot_is_fetched_again_so_the_book_is_never_mixed(esi, upstreams):
    esi.roll_over(FORGE)
    url = upstreams.url(ORDERS)
    stale = requests.get(url, params={"order_type": "all", "page": 4}, timeout=5)
    clock = esi.roll_over(FORGE)
    # Page 4 answers once from the previous snapshot, with that snapshot's Last-Modified.
    upstreams.fault(
        r"/orders/",
        query={"page": "4"},
        status=200,
        body=stale.text,
        headers={
            "Last-Modified": stale.headers["Last-Modified"],
            "Expires": stale.headers["Expires"],
            "X-Pages": stale.headers["X-Pages"],
        },
    )
    upstreams.log.clear()

    outcome = snapshot_fetch(region_id=FORGE)

    assert pages_sent(upstreams)[4] == 2
    assert outcome.snapshot.last_modified.timestamp() == clock.last_modified
    assert {o[0] for o in stored_book()} == {o["order_id"] for o in replay_orders(upstreams)}


@pytest.mark.django_db
def test_a_420_makes_it_wait_for_the_error_limit_reset(esi, upstreams):
    upstreams.fault(
        r"/orders/",
        query={"page": "2"},
        status=420,
        body='{"error":"This software has exceeded the error limit for ESI."}',
        headers={"X-ESI-Error-Limit-Remain": "0", "X-ESI-Error-Limit-Reset": "1"},
    )

    outcome = snapshot_fetch(region_id=FORGE)

    limited = next(r for r in upstreams.requests(ORDERS) if r.status == 420)
    retried = [r for r in upstreams.requests(ORDERS) if r.arg("page") == "2" and r.status == 200]
    assert retried and retried[0].at - limited.at >= 0.9
    # Besides the pages already in flight with the 420, nothing was sent before the reset.
    waited = [r.at - limited.at for r in upstreams.requests(ORDERS) if r.at > limited.at]
    assert all(d < 0.2 or d >= 0.9 for d in waited)
    assert pages_sent(upstreams)[2] == 2
    assert outcome.status == "stored" and len(stored_book()) == 3000


@pytest.mark.django_db
def test_a_429_makes_it_wait_for_retry_after(esi, upstreams):
    upstreams.fault(
        r"/orders/",
        query={"page": "5"},
        status=429,
        body='{"error":"Too many requests"}',
        headers={"Retry-After": "1", "X-Ratelimit-Group": "market"},
    )

    outcome = snapshot_fetch(region_id=FORGE)

    limited = next(r for r in upstreams.requests(ORDERS) if r.status == 429)
    retried = [r for r in upstreams.requests(ORDERS) if r.arg("page") == "5" and r.status == 200]
    assert retried and retried[0].at - limited.at >= 0.9
    assert outcome.status == "stored" and len(stored_book()) == 3000


@pytest.mark.django_db
@pytest.mark.embedded
def test_hostile_order_data_is_refused_by_page_and_field(esi, upstreams):
    old, old_book = _old_snapshot(esi)
    clock = esi.clock(FORGE)
    upstreams.fault(
        r"/orders/",
        query={"page": "2"},
        status=200,
        body='[{"order_id": 1, "price": "free", "type_id": 34}]',
        headers={
            "Last-Modified": formatdate(clock.last_modified, usegmt=True),
            "Expires": formatdate(clock.expires, usegmt=True),
            "X-Pages": "6",
        },
        times=None,
    )

    with pytest.raises(SnapshotError) as caught:
        snapshot_fetch(region_id=FORGE, force=True)

    assert "page 2: Expected `float`, got `str` - at `$[0].price`" in str(caught.value)
    assert_still_the_old_snapshot(old, old_book)
    assert "page 2" in MarketSnapshot.objects.get(status="failed").error


@pytest.mark.django_db
@pytest.mark.embedded
def test_an_order_the_database_refuses_rolls_the_whole_snapshot_back(esi, upstreams):
    old, old_book = _old_snapshot(esi)
    clock = esi.clock(FORGE)
    bad_order = {
        "order_id": 42,
        "type_id": 34,
        "location_id": 60003760,
        "system_id": 30000142,
        "is_buy_order": False,
        "price": 5.0,
        "volume_remain": 1,
        "volume_total": 1,
        "min_volume": 1,
        "range": "region",
        "duration": 90,
        "issued": "yesterday at noon",
    }
    upstreams.fault(
        r"/orders/",
        query={"page": "6"},
        status=200,
        body=json.dumps([bad_order]),
        headers={
            "Last-Modified": formatdate(clock.last_modified, usegmt=True),
            "Expires": formatdate(clock.expires, usegmt=True),
            "X-Pages": "6",
        },
        times=None,
    )

    with pytest.raises(SnapshotError, match="yesterday at noon"):
        snapshot_fetch(region_id=FORGE, force=True)

    assert_still_the_old_snapshot(old, old_book)
    if connection.vendor == "postgresql":
        assert partitions() == [f"market_order_s{old.pk}"]
        assert partitions("market_bestprice") == [f"market_bestprice_s{old.pk}"]
        assert tables_like("market_bestprice_s") == [f"market_bestprice_s{old.pk}"]


# --- readers during a swap ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_readers_see_the_old_book_or_the_new_one_never_a_mix(esi, upstreams):
    esi.configure(orders={FORGE: 20000}, page_size=1000)
    first = snapshot_fetch(region_id=FORGE).snapshot
    esi.roll_over(FORGE)
    seen: list[list[tuple[int, int]]] = []
    stop = threading.Event()

    def read() -> None:
        from django.db import connections

        try:
            while not stop.is_set():
                seen.append(
                    sorted(
                        Order.objects.current(region_id=FORGE)
                        .values("snapshot_id")
                        .annotate(n=Count("order_id"))
                        .values_list("snapshot_id", "n")
                    )
                )
        finally:
            connections.close_all()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        # The last page comes late: the reader goes on reading while the others are stored.
        upstreams.fault(r"/orders/", query={"page": "20"}, latency=0.3)
        second = snapshot_fetch(region_id=FORGE, force=True).snapshot
        time.sleep(0.05)
    finally:
        stop.set()
        reader.join()

    assert len(seen) > 5, seen
    assert set(map(tuple, seen)) <= {((first.pk, 20000),), ((second.pk, 20000),)}, seen
    assert seen[0] == [(first.pk, 20000)] and seen[-1] == [(second.pk, 20000)], seen
    if connection.vendor == "postgresql":
        # The superseded partitions were detached concurrently and dropped, after the commit.
        background_wait()
        assert partitions() == [f"market_order_s{second.pk}"]
        assert partitions("market_bestprice") == [f"market_bestprice_s{second.pk}"]
        assert tables_like("market_bestprice_s") == [f"market_bestprice_s{second.pk}"]
    else:
        # The superseded book's rows were deleted once the new one was current.
        assert set(Order.objects.values_list("snapshot_id", flat=True).distinct()) == {second.pk}


# --- the tidy-up after a swap ---------------------------------------------------------------------


def desk_build(types: int = 30) -> list[MarketSnapshot]:
    """A book at every hub, as the browser tests' desk fixture stores them (one after the other,
    each hub's landing and tidy-up on the landings thread while the next hub is stored)."""
    snapshots = []
    for step, hub in enumerate(HUBS_BY_KEY.values()):
        rows = []
        for n in range(types):
            bid = 100_000_000 + n * 1_000_000 + step * 40_000_000
            rows += [
                esi_order(100 + n, bid, 1000, buy=True, hub=hub),
                esi_order(100 + n, bid * 115 // 100, 1000, hub=hub),
            ]
        snapshots.append(book_store(hub.region_id, rows))
    return snapshots


@pytest.mark.django_db(transaction=True)
def test_a_book_that_lands_while_old_partitions_are_dropped_keeps_its_own(monkeypatch):
    """Another worker's book commits while a tidy-up is dropping old partitions (a concurrent
    detach waits for the transactions in flight, the other worker's among them): it is current,
    so its orders and book tops stay, whenever it committed."""
    if connection.vendor != "postgresql":
        pytest.skip("the partitions are PostgreSQL's")
    from market.ingest import snapshots

    old = book_store(
        JITA.region_id, [esi_order(34, "5.00", 10, buy=True), esi_order(34, "6.00", 10)]
    )
    background_wait()
    # Partitions of a snapshot no longer current, left for the next run: a drop that timed out,
    # or what a flush of the test database leaves (TRUNCATE keeps the partitions).
    MarketSnapshot.objects.filter(pk=old.pk).update(
        is_current=False, status=MarketSnapshot.Status.SUPERSEDED
    )
    landed: list[MarketSnapshot] = []
    drop = snapshots._partition_drop

    def drop_while_a_book_lands(parent: str, name: str, *, detach_pending: bool) -> None:
        if not landed:
            amarr = [
                esi_order(34, "7.00", 10, buy=True, hub=AMARR),
                esi_order(34, "8.00", 10, hub=AMARR),
            ]
            landed.append(book_store(AMARR.region_id, amarr))
            background_wait()  # its own landing and tidy-up (which drops the old ones too)
        drop(parent, name, detach_pending=detach_pending)

    monkeypatch.setattr(snapshots, "_partition_drop", drop_while_a_book_lands)
    snapshots.partitions_prune()
    background_wait()

    (amarr,) = landed
    assert BestPrice.objects.current(region_id=AMARR.region_id).count() == 1
    assert Order.objects.current(region_id=AMARR.region_id).count() == 2
    assert partitions() == [f"market_order_s{amarr.pk}"]
    assert partitions("market_bestprice") == [f"market_bestprice_s{amarr.pk}"]


def desk_complete(snapshots: list[MarketSnapshot]) -> None:
    """Every hub's book is current with its 30 book tops and 60 orders, and no other partition
    is left."""
    for hub, snapshot in zip(HUBS_BY_KEY.values(), snapshots, strict=True):
        assert MarketSnapshot.objects.current_ids()[hub.region_id] == snapshot.pk
        assert BestPrice.objects.current(region_id=hub.region_id).count() == 30, hub.key
        assert Order.objects.current(region_id=hub.region_id).count() == 60, hub.key
    if connection.vendor == "postgresql":
        ids = [snapshot.pk for snapshot in snapshots]
        assert set(partitions("market_bestprice")) == {f"market_bestprice_s{pk}" for pk in ids}
        assert set(partitions()) == {f"market_order_s{pk}" for pk in ids}


@pytest.mark.django_db(transaction=True)
def test_a_second_desk_built_after_a_flush_has_book_tops_at_every_hub():
    """What the browser tests do when two of them build the desk in one session: the database
    is flushed in between (its partitions survive the TRUNCATE) and the second build's tidy-ups
    drop them while the next hubs' books land."""
    first = desk_build()
    background_wait()
    desk_complete(first)
    # As the test runner flushes between tests: the snapshot ids go on, the partitions stay.
    call_command("flush", interactive=False, verbosity=0, reset_sequences=False)

    second = desk_build()
    background_wait()
    desk_complete(second)


# --- the command ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_command_prints_one_line_per_region(esi, upstreams):
    out = io.StringIO()
    call_command("fetch_market_orders", "--region", str(FORGE), "--region", str(DOMAIN), stdout=out)

    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"region {FORGE}: 6 pages, 3,000 orders, ")
    assert lines[1].startswith(f"region {DOMAIN}: 1 pages, 400 orders, ")
    assert lines[0].endswith(" s")


@pytest.mark.django_db
def test_the_command_exits_non_zero_when_a_region_fails(esi, upstreams):
    upstreams.fault(r"/markets/10000043/orders/", status=503, times=None)
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match="1 of the regions failed"):
        call_command(
            "fetch_market_orders",
            "--region",
            str(FORGE),
            "--region",
            str(DOMAIN),
            stdout=out,
            stderr=err,
        )

    assert out.getvalue().startswith(f"region {FORGE}: 6 pages")
    assert f"region {DOMAIN}: snapshot not replaced" in err.getvalue()
    assert "503" in err.getvalue()
    assert Order.objects.current(region_id=FORGE).count() == 3000


@pytest.mark.django_db
@pytest.mark.embedded
def test_an_older_book_stored_late_does_not_replace_a_newer_one(esi, upstreams):
    from market.ingest import snapshot_store

    current = snapshot_fetch(region_id=FORGE).snapshot
    book = stored_book()
    older = current.last_modified - timedelta(minutes=5)

    late = snapshot_store(region_id=FORGE, pages=[b"[]"], last_modified=older, expires=None)

    assert late.status == "superseded" and not late.is_current
    assert_still_the_old_snapshot(current, book)
    if connection.vendor == "postgresql":
        # The late book's tables (its orders and its book tops) went with it.
        assert tables_like("market_order_s") == [f"market_order_s{current.pk}"]
        assert tables_like("market_bestprice_s") == [f"market_bestprice_s{current.pk}"]


# --- streaming: pages stored while later ones are on their way ------------------------------------


def roll_over_once_answered(esi, upstreams, *, pages) -> threading.Thread:
    """Publish the next snapshot as soon as the replay has answered every page in ``pages``."""

    def watch() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if set(pages) <= set(pages_sent(upstreams)):
                esi.roll_over(FORGE)
                return
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.django_db
def test_pages_go_into_the_database_while_later_pages_are_on_their_way(esi, upstreams):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite stores the pages once they all arrived")
    upstreams.fault(r"/orders/", query={"page": "6"}, latency=1.5)
    copied: list[int] = []

    def watch() -> None:
        from django.db import connections

        try:
            while not pages_sent(upstreams)[6]:
                with connections["default"].cursor() as cursor:
                    cursor.execute(
                        "SELECT tuples_processed FROM pg_stat_progress_copy "
                        "WHERE datname = current_database() AND command = 'COPY FROM'"
                    )
                    copied.extend(n for (n,) in cursor.fetchall())
                time.sleep(0.02)
        finally:
            connections.close_all()

    watcher = threading.Thread(target=watch)
    watcher.start()
    outcome = snapshot_fetch(region_id=FORGE)
    watcher.join()

    # Page 6 was still being answered while most of pages 1-5 (500 orders each) were stored.
    assert max(copied, default=0) >= 2000
    assert outcome.status == "stored" and len(stored_book()) == 3000


@pytest.mark.django_db
def test_a_rollover_detected_mid_stream_leaves_the_old_snapshot_intact(esi, upstreams, settings):
    settings.ESI_ROLLOVER_RETRIES = 1
    old, old_book = _old_snapshot(esi)
    clock = esi.clock(FORGE)
    ahead = requests.get(
        upstreams.url(ORDERS), params={"order_type": "all", "page": 4}, timeout=5
    ).text
    upstreams.log.clear()
    # Page 4 answers late, and from a snapshot newer than page 1's, every time: ESI keeps moving
    # on under page 1, after pages 1-3 were already stored.
    upstreams.fault(
        r"/orders/",
        query={"page": "4"},
        latency=0.3,
        status=200,
        body=ahead,
        headers={
            "Last-Modified": formatdate(clock.last_modified + 60, usegmt=True),
            "Expires": formatdate(clock.expires + 60, usegmt=True),
            "X-Pages": "6",
        },
        times=None,
    )

    with pytest.raises(SnapshotError, match="kept changing") as caught:
        snapshot_fetch(region_id=FORGE, force=True)

    # Every page twice: the first pass, and once more from page 1 after the rollover.
    assert pages_sent(upstreams) == {n: 2 for n in range(1, 7)}
    assert "gave up after 1 re-fetches" in str(caught.value)
    assert_still_the_old_snapshot(old, old_book)
    failed = MarketSnapshot.objects.get(status="failed")
    assert failed.pages == 3  # stored when page 4 showed the rollover, then rolled back
    if connection.vendor == "postgresql":
        assert partitions() == [f"market_order_s{old.pk}"]
        assert partitions("market_bestprice") == [f"market_bestprice_s{old.pk}"]
        assert tables_like("market_bestprice_s") == [f"market_bestprice_s{old.pk}"]


@pytest.mark.django_db
def test_a_rollover_mid_stream_starts_over_and_stores_the_new_book_whole(esi, upstreams):
    _, old_book = _old_snapshot(esi)
    upstreams.log.clear()
    # Page 5 is slow; once pages 1-4 and 6 are in, ESI publishes the next snapshot, which page 5
    # then comes from: what was stored so far is from the snapshot before.
    upstreams.fault(r"/orders/", query={"page": "5"}, latency=2.0)
    roll_over_once_answered(esi, upstreams, pages=[1, 2, 3, 4, 6])

    outcome = snapshot_fetch(region_id=FORGE, force=True)

    sent = pages_sent(upstreams)
    assert sent == {n: 2 for n in range(1, 7)}
    snapshot = outcome.snapshot
    assert outcome.status == "stored" and snapshot.orders == 3000 and snapshot.pages == 6
    assert snapshot.last_modified.timestamp() == esi.clock(FORGE).last_modified
    served = replay_orders(upstreams)
    new_book = stored_book()
    # Exactly the new snapshot: nothing left over from the pages stored before the rollover.
    assert len(new_book) == 3000 and new_book != old_book
    assert {o[0] for o in new_book} == {o["order_id"] for o in served}
    books = {(o["location_id"], o["type_id"]) for o in served}
    assert BestPrice.objects.current(region_id=FORGE).count() == len(books)
    assert MarketSnapshot.objects.filter(status="failed").count() == 0


@pytest.mark.django_db
@pytest.mark.embedded
def test_hostile_text_in_an_order_is_refused_and_never_spills_into_other_columns(esi, upstreams):
    old, old_book = _old_snapshot(esi)
    clock = esi.clock(FORGE)
    orders = requests.get(
        upstreams.url(ORDERS), params={"order_type": "all", "page": 3}, timeout=5
    ).json()
    # Quotes, commas and brackets: as CSV text spliced naively, the rest would become columns.
    orders[7]["issued"] = '2026-01-02T03:04:05Z",true,1],[42'
    upstreams.fault(
        r"/orders/",
        query={"page": "3"},
        status=200,
        body=json.dumps(orders),
        headers={
            "Last-Modified": formatdate(clock.last_modified, usegmt=True),
            "Expires": formatdate(clock.expires, usegmt=True),
            "X-Pages": "6",
        },
        times=None,
    )

    with pytest.raises(SnapshotError) as caught:
        snapshot_fetch(region_id=FORGE, force=True)

    assert '2026-01-02T03:04:05Z",true,1],[42' in str(caught.value).replace('\\"', '"')
    assert_still_the_old_snapshot(old, old_book)


@pytest.mark.django_db
@pytest.mark.embedded
def test_an_order_repeated_on_a_later_page_is_stored_and_counted_once():
    from market.ingest import snapshot_store

    def sell(order_id: int, price: float, volume: int) -> dict:
        return {
            "order_id": order_id,
            "type_id": 34,
            "location_id": 60003760,
            "system_id": 30000142,
            "is_buy_order": False,
            "price": price,
            "volume_remain": volume,
            "volume_total": volume,
            "min_volume": 1,
            "range": "region",
            "duration": 90,
            "issued": "2026-11-20T10:00:00Z",
        }

    # Order 2 moved from page 1 to page 2 while ESI built the pages: the first copy counts.
    pages = [
        json.dumps([sell(1, 5.0, 10), sell(2, 6.0, 20)]).encode(),
        json.dumps([sell(2, 4.0, 99), sell(3, 7.0, 30)]).encode(),
    ]

    snapshot = snapshot_store(
        region_id=FORGE, pages=pages, last_modified=timezone.now(), expires=None
    )

    stored = dict(Order.objects.current(region_id=FORGE).values_list("order_id", "price"))
    assert stored == {1: Decimal("5.00"), 2: Decimal("6.00"), 3: Decimal("7.00")}
    assert snapshot.orders == 3
    top = BestPrice.objects.current(region_id=FORGE).get(location_id=60003760, type_id=34)
    assert (top.best_ask, top.best_ask_volume, top.ask_count, top.ask_volume) == (
        Decimal("5.00"),
        10,
        3,
        60,
    )


@pytest.mark.django_db
@pytest.mark.embedded
def test_a_load_left_before_it_finished_leaves_nothing_behind(esi, upstreams):
    from market.ingest import SnapshotLoad

    old, old_book = _old_snapshot(esi)
    body = requests.get(
        upstreams.url(ORDERS), params={"order_type": "all", "page": 1}, timeout=5
    ).content

    with SnapshotLoad(region_id=FORGE) as load:
        load.page(1, body)
        load.page(2, body)  # the same orders again: all repeats, all dropped

    assert (load.pages, load.orders) == (2, 500)
    assert_still_the_old_snapshot(old, old_book)
    assert MarketSnapshot.objects.get() == old
    if connection.vendor == "postgresql":
        assert partitions() == [f"market_order_s{old.pk}"]
        assert partitions("market_bestprice") == [f"market_bestprice_s{old.pk}"]
        assert tables_like("market_bestprice_s") == [f"market_bestprice_s{old.pk}"]


@pytest.mark.django_db
@pytest.mark.embedded
def test_rows_left_by_a_load_that_died_are_deleted_by_the_next_snapshot(esi, upstreams):
    if connection.vendor != "sqlite":
        pytest.skip("on PostgreSQL a dead load's table is dropped with its transaction")
    from market.ingest import SQLITE_LOAD_ABANDONED_AFTER, SnapshotLoad
    from market.ingest.sqlite import _orders_insert

    _old_snapshot(esi)
    body = requests.get(
        upstreams.url(ORDERS), params={"order_type": "all", "page": 1}, timeout=5
    ).content

    def rows_written(*, age: timedelta) -> MarketSnapshot:
        """A load that wrote its rows and never became current."""
        load = SnapshotLoad(region_id=FORGE)
        load.page(1, body)
        snapshot = load._begin()
        _orders_insert(snapshot, load._loaded)
        MarketSnapshot.objects.filter(pk=snapshot.pk).update(fetched_at=timezone.now() - age)
        return snapshot

    dead = rows_written(age=SQLITE_LOAD_ABANDONED_AFTER + timedelta(minutes=1))  # worker killed
    loading = rows_written(age=timedelta(minutes=1))  # another run, still under way

    new = snapshot_fetch(region_id=FORGE, force=True).snapshot

    assert set(Order.objects.values_list("snapshot_id", flat=True).distinct()) == {
        new.pk,
        loading.pk,
    }
    dead.refresh_from_db()
    assert (dead.status, dead.error) == (MarketSnapshot.Status.FAILED, "the load was interrupted")
    loading.refresh_from_db()
    assert loading.status == MarketSnapshot.Status.OK


@pytest.mark.django_db(transaction=True)
def test_after_a_flush_that_set_the_ids_back_one_failed_ingest_clears_the_old_tables(
    esi, upstreams
):
    """`manage.py flush` (or a restore) sets the snapshot ids back while the partitions stay: the
    next snapshot's table name is taken. That ingest fails with a clear error, drops the tables
    no current snapshot owns, and the next one lands."""
    if connection.vendor != "postgresql":
        pytest.skip("the partitions are PostgreSQL's")
    snapshot_fetch(region_id=FORGE)
    background_wait()
    MarketSnapshot.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('market_marketsnapshot', 'id'), %s, false)",
            [min(int(name.removeprefix("market_order_s")) for name in partitions())],
        )

    with pytest.raises(SnapshotError, match="already exists"):
        snapshot_fetch(region_id=FORGE, force=True)
    assert partitions() == [] and partitions("market_bestprice") == []

    outcome = snapshot_fetch(region_id=FORGE, force=True)
    background_wait()
    assert outcome.status == "stored"
    assert Order.objects.current(region_id=FORGE).count() == 3000
    assert partitions() == [f"market_order_s{outcome.snapshot.pk}"]
