"""Stock checks against the replay stores: caching, politeness, retries, failures, queueing."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from lenny.schedules import schedules_collect
from stores.checks import (
    check_queue,
    check_run,
    checks_queue,
    checks_queue_for_owner,
    checks_queue_stale,
    listings_cache_key,
    search_name,
)
from stores.models import CheckResult, StoreHealth
from stores.politeness import Limits, PolitenessGate, StoreBusy
from stores.replay import site_fault
from stores.tests.factories import offer

pytestmark = pytest.mark.django_db


def searches(upstreams, slug: str) -> int:
    return upstreams.count(rf"^/stores/{slug}/(products/)?search")


# --- a check ----------------------------------------------------------------------------------
def test_it_saves_every_listing_of_the_card_and_nothing_else(
    shops, stock, card, result_of, upstreams
):
    stock(
        "harlequins",
        "Mystic Snake",
        offer(price="0.95", quantity=3),
        offer(price="0.80", quantity=1, condition="LP"),
        offer(price="2.50", quantity=0, finish="foil"),
        offer("Masters 25 Art Series", "", "", price="0.50", quantity=2, extra="Art Card"),
    )
    snake = card("Mystic Snake")
    result = result_of(shops["harlequins"], snake)

    outcome = check_run(result_id=result.pk)

    assert (outcome.status, outcome.requests) == ("ok", 1)
    result.refresh_from_db()
    assert result.status == "ok" and result.checked_at and result.error == ""
    got = {(x["finish"], x["condition"], x["price"], x["quantity"]) for x in result.listings}
    # The foil is sold out (one "Out of stock" row per product); the art card is another product.
    assert got == {
        ("nonfoil", "NM", "0.95", 3),
        ("nonfoil", "LP", "0.80", 1),
        ("foil", None, "2.50", 0),
    }
    assert {x["set_code"] for x in result.listings} == {"a25"}  # resolved from the catalog
    assert all(
        x["url"].startswith(upstreams.url("/stores/harlequins/catalog/")) for x in result.listings
    )
    health = StoreHealth.objects.get(store=shops["harlequins"])
    assert health.last_success_at and health.checks_ok == 1 and not health.failing


def test_shopify_stock_it_cannot_count_stays_unknown(shops, stock, card, result_of):
    stock("dice-saloon", "Mystic Snake", offer(price="1.10", quantity=4))
    result = result_of(shops["dice-saloon"], card("Mystic Snake"))
    check_run(result_id=result.pk)
    result.refresh_from_db()
    in_stock = [x for x in result.listings if x["in_stock"]]
    assert [(x["condition"], x["quantity"], x["collector_number"]) for x in in_stock] == [
        ("NM", None, "208")
    ]


@pytest.mark.embedded
def test_it_answers_from_the_cache_without_a_request(shops, stock, card, result_of, upstreams):
    stock("troll-trader", "Mystic Snake", offer(price="1.00", quantity=2))
    result = result_of(shops["troll-trader"], card("Mystic Snake"))
    assert check_run(result_id=result.pk).requests == 1
    checked_at = CheckResult.objects.get(pk=result.pk).checked_at

    again = check_run(result_id=result.pk)

    assert (again.status, again.requests) == ("cached", 0)
    assert searches(upstreams, "troll-trader") == 1
    assert CheckResult.objects.get(pk=result.pk).checked_at == checked_at


def test_a_refresh_or_an_expired_cache_asks_the_store_again(
    shops, stock, card, result_of, upstreams
):
    stock("troll-trader", "Mystic Snake", offer(price="1.00", quantity=2))
    result = result_of(shops["troll-trader"], card("Mystic Snake"))
    check_run(result_id=result.pk)
    assert check_run(result_id=result.pk, refresh=True).requests == 1

    # The answer is cached for STORE_CHECK_TTL; once the cache lets it go, the store is asked.
    check_run(result_id=result.pk, refresh=True)
    cache.delete(listings_cache_key(result.store, result.card))
    assert check_run(result_id=result.pk).status == "ok"
    assert searches(upstreams, "troll-trader") == 4


def test_split_cards_are_searched_by_their_full_name(card):
    assert search_name(card("Driven // Despair")) == "Driven // Despair"
    assert search_name(card("Turntimber Symbiosis // Turntimber, Serpentine Wood")) == (
        "Turntimber Symbiosis"
    )


def test_an_inactive_store_is_never_asked(shops, card, result_of, upstreams):
    store = shops["harlequins"]
    store.active = False
    store.save()
    assert not check_queue(store=store, card=card("Mystic Snake"))
    assert check_run(result_id=result_of(store, card("Mystic Snake")).pk).status == "skipped"
    assert upstreams.count("/stores/") == 0


# --- retries and failures -----------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "statuses"), [("429", [429, 200]), ("5xx", [503, 503, 200])])
def test_it_retries_after_a_429_or_a_5xx(shops, stock, card, result_of, upstreams, kind, statuses):
    stock("dice-saloon", "Mystic Snake", offer(price="1.10", quantity=1))
    site_fault(upstreams, "dice-saloon", kind, times=len(statuses) - 1, seconds=0)
    result = result_of(shops["dice-saloon"], card("Mystic Snake"))

    outcome = check_run(result_id=result.pk)

    assert (outcome.status, outcome.requests) == ("ok", len(statuses))
    assert [r.status for r in upstreams.requests("/stores/dice-saloon/search")] == statuses
    assert CheckResult.objects.get().listings[0]["price"] == "1.10"


def test_it_retries_a_timeout(shops, stock, card, result_of, upstreams, settings):
    settings.STORE_REQUEST_TIMEOUT = 0.3
    stock("harlequins", "Mystic Snake", offer(price="1.10", quantity=1))
    upstreams.fault("^/stores/harlequins/", hang=1.0, times=1)
    outcome = check_run(result_id=result_of(shops["harlequins"], card("Mystic Snake")).pk)
    assert (outcome.status, outcome.requests) == ("ok", 2)


def test_a_store_that_keeps_failing_fails_the_check_and_keeps_the_last_answer(
    shops, stock, card, result_of, upstreams
):
    stock("skyward-fire", "Mystic Snake", offer(price="1.10", quantity=1))
    result = result_of(shops["skyward-fire"], card("Mystic Snake"))
    check_run(result_id=result.pk)
    before = CheckResult.objects.get(pk=result.pk)
    site_fault(upstreams, "skyward-fire", "5xx")

    outcome = check_run(result_id=result.pk, refresh=True)

    assert (outcome.status, outcome.requests) == ("failed", 3)  # STORE_MAX_RETRIES = 2
    result.refresh_from_db()
    assert result.status == "failed" and result.error_kind == "http"
    assert "answered HTTP 503" in result.error and "gave up after 3 tries" in result.error
    # What the store had at the last successful check is kept, never taken for "out of stock".
    assert result.listings == before.listings and result.checked_at == before.checked_at
    health = StoreHealth.objects.get(store=shops["skyward-fire"])
    assert health.failing and health.last_failure_kind == "http" and health.checks_failed == 1


@pytest.mark.embedded
def test_a_page_it_cannot_read_is_a_parse_failure_with_a_snippet(
    shops, stock, card, result_of, upstreams
):
    stock("harlequins", "Mystic Snake", offer(price="1.10", quantity=1))
    site_fault(upstreams, "harlequins", "layout")
    result = result_of(shops["harlequins"], card("Mystic Snake"))

    outcome = check_run(result_id=result.pk)

    assert (outcome.status, outcome.requests) == ("failed", 1)  # a layout change is not retried
    result.refresh_from_db()
    assert result.status == "failed" and result.error_kind == "layout"
    assert "no li.product" in result.error
    assert 'Search results for "Mystic Snake"' in result.error_snippet
    assert result.listings == [] and result.checked_at is None
    health = StoreHealth.objects.get(store=shops["harlequins"])
    assert health.last_failure_kind == "layout" and "Search results" in health.last_failure_snippet


def test_a_captcha_fails_at_once(shops, card, result_of, upstreams):
    site_fault(upstreams, "lvl-up-gaming", "captcha")
    outcome = check_run(result_id=result_of(shops["lvl-up-gaming"], card("Mystic Snake")).pk)
    assert (outcome.status, outcome.requests) == ("failed", 1)
    assert CheckResult.objects.get().error_kind == "captcha"


def test_too_many_searches_pauses_the_store_then_tries_again(
    shops, stock, card, result_of, upstreams
):
    stock("troll-trader", "Mystic Snake", offer(price="1.10", quantity=1))
    site_fault(upstreams, "troll-trader", "too_many_searches", times=1)
    outcome = check_run(result_id=result_of(shops["troll-trader"], card("Mystic Snake")).pk)
    assert (outcome.status, outcome.requests) == ("ok", 2)


def test_a_store_stuck_on_too_many_searches_fails_as_rate_limited(
    shops, card, result_of, upstreams
):
    site_fault(upstreams, "troll-trader", "too_many_searches")
    outcome = check_run(result_id=result_of(shops["troll-trader"], card("Mystic Snake")).pk)
    assert outcome.status == "failed"
    result = CheckResult.objects.get()
    assert result.error_kind == "rate_limited" and "too many searches" in result.error
    assert "too many searches" in result.error_snippet


def test_a_retry_after_longer_than_allowed_fails_at_once(
    shops, card, result_of, upstreams, settings
):
    settings.STORE_MAX_WAIT = 5.0
    site_fault(upstreams, "dice-saloon", "429", seconds=3600)
    outcome = check_run(result_id=result_of(shops["dice-saloon"], card("Mystic Snake")).pk)
    assert (outcome.status, outcome.requests) == ("failed", 1)
    assert "asked Lenny to wait 3600 s" in CheckResult.objects.get().error


def test_a_store_that_cannot_be_reached_is_a_network_failure(shops, card, result_of):
    store = shops["harlequins"]
    store.base_url = "http://127.0.0.1:9"  # the discard port: nothing listens
    store.save()
    outcome = check_run(result_id=result_of(store, card("Mystic Snake")).pk)
    assert outcome.status == "failed"
    result = CheckResult.objects.get()
    assert result.error_kind == "network" and "could not reach Harlequins" in result.error


# --- politeness ---------------------------------------------------------------------------------
def gate_run(key: str, limits: Limits, *, requests: int, hold: float) -> tuple[int, list[float]]:
    """``requests`` threads through one store's gate; the most at once, and when each started."""
    running, peak, starts = [0], [0], []
    lock = threading.Lock()

    def request() -> None:
        # Each thread has its own gate object: the limits live in Redis (or the locked cache).
        gate = PolitenessGate(key=key, limits=limits)
        with gate.request(deadline=time.time() + 10):
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
                starts.append(time.monotonic())
            time.sleep(hold)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=request) for _ in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return peak[0], sorted(starts)


@pytest.mark.embedded
def test_the_gate_keeps_requests_in_flight_across_threads():
    peak, starts = gate_run(
        "in-flight", Limits(max_in_flight=2, per_minute=6000), requests=8, hold=0.1
    )
    assert peak == 2
    assert starts[-1] - starts[0] >= 3 * 0.1 - 0.02  # four rounds of two


def test_the_gate_spaces_requests_per_minute_across_threads():
    # 1200 a minute: one start every 50 ms, however many could run at once.
    _, starts = gate_run("per-minute", Limits(max_in_flight=8, per_minute=1200), requests=8, hold=0)
    assert starts[-1] - starts[0] >= 7 * 0.05 - 0.02
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 0.03


def test_a_pause_holds_every_request_and_a_long_one_gives_up():
    gate = PolitenessGate(key="test-pause", limits=Limits(max_in_flight=2, per_minute=600))
    gate.pause(0.3, "the store answered 429")
    started = time.monotonic()
    with gate.request(deadline=time.time() + 5):
        assert time.monotonic() - started >= 0.28
    assert gate.status()["in_flight"] == 0

    gate.pause(60, "the store answered 429 (Retry-After 60 s)")
    with (
        pytest.raises(StoreBusy, match=r"Retry-After 60 s"),
        gate.request(deadline=time.time() + 1),
    ):
        pass


def test_a_slot_held_by_a_dead_worker_comes_back_after_its_lease():
    gate = PolitenessGate(
        key="test-lease", limits=Limits(max_in_flight=1, per_minute=600), lease=0.2
    )
    gate._slot_take("dead-worker", time.time() + 1)  # taken, never given back
    started = time.monotonic()
    with gate.request(deadline=time.time() + 5):
        pass
    assert 0.15 <= time.monotonic() - started < 2


@pytest.mark.django_db(transaction=True)
def test_checks_of_one_store_never_exceed_its_limits(shops, stock, card, upstreams, result_of):
    store = shops["harlequins"]
    store.max_in_flight, store.max_requests_per_minute = 1, 600
    store.save()
    upstreams.fault("^/stores/harlequins/", latency=0.1, times=None)
    names = ["Mystic Snake", "Mox Pearl", "Mox Jet", "Black Lotus"]
    ids = [result_of(store, card(name)).pk for name in names]

    def check(pk: int) -> None:
        try:
            check_run(result_id=pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=check, args=(pk,)) for pk in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # One at a time, each answered 100 ms or more after the previous one.
    answered = sorted(r.at for r in upstreams.requests("^/stores/harlequins/"))
    assert len(answered) == 4
    assert all(b - a >= 0.095 for a, b in itertools.pairwise(answered))


# --- queueing -----------------------------------------------------------------------------------
def test_a_check_in_flight_is_not_queued_twice(
    shops, card, django_capture_on_commit_callbacks, settings
):
    store, snake = shops["harlequins"], card("Mystic Snake")
    with django_capture_on_commit_callbacks() as queued:
        assert check_queue(store=store, card=snake) is True
        assert check_queue(store=store, card=snake) is False
        assert checks_queue(pairs=[(store.pk, snake.pk)] * 3) == 0
    assert len(queued) == 3  # one enqueue of one task, two enqueues of nothing
    result = CheckResult.objects.get()
    assert result.queued_at is not None

    # A check whose worker died is given up after STORE_CHECK_LOST_AFTER and may go again.
    CheckResult.objects.update(
        queued_at=timezone.now() - timedelta(seconds=settings.STORE_CHECK_LOST_AFTER + 1)
    )
    assert check_queue(store=store, card=snake) is True


def test_duplicate_checks_collapse_into_one_request(
    shops, stock, card, upstreams, sync_tasks, django_capture_on_commit_callbacks
):
    stock("harlequins", "Mystic Snake", offer(price="1.10", quantity=1))
    store, snake = shops["harlequins"], card("Mystic Snake")
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            check_queue(store=store, card=snake)
    with django_capture_on_commit_callbacks(execute=True):
        check_queue(store=store, card=snake)  # ran already: answered from the cache
    assert searches(upstreams, "harlequins") == 1
    result = CheckResult.objects.get()
    assert result.status == "ok" and result.queued_at is None


def test_adding_a_card_checks_it_at_once_at_my_stores(
    client, user, shops, stock, prefer, upstreams, sync_tasks, django_capture_on_commit_callbacks
):
    prefer(user, shops["harlequins"], shops["dice-saloon"])
    stock("harlequins", "Mystic Snake", offer(price="0.90", quantity=2))
    stock("dice-saloon", "Mystic Snake", offer(price="0.85", quantity=0))
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/stores/wants/add", {"card": "Mystic Snake", "amount": 2})
    assert response.status_code == 302
    results = {r.store.name: r for r in CheckResult.objects.select_related("store")}
    assert set(results) == {"Harlequins", "Dice Saloon"}
    assert all(r.status == "ok" for r in results.values())
    assert searches(upstreams, "skyward-fire") == 0  # not one of my stores


def test_the_schedule_queues_only_stale_cards_at_the_stores_of_people_who_want_them(
    shops, card, want, user, other_user, prefer, result_of, django_capture_on_commit_callbacks
):
    prefer(user, shops["harlequins"], shops["dice-saloon"])
    prefer(other_user, shops["troll-trader"])
    want(user, "Mystic Snake")
    want(user, "Mox Pearl")
    want(other_user, "Mox Pearl")
    fresh = result_of(shops["harlequins"], card("Mystic Snake"))
    CheckResult.objects.filter(pk=fresh.pk).update(status="ok", checked_at=timezone.now())
    stale = result_of(shops["dice-saloon"], card("Mystic Snake"))
    CheckResult.objects.filter(pk=stale.pk).update(
        status="ok", checked_at=timezone.now() - timedelta(hours=7)
    )

    with django_capture_on_commit_callbacks():
        queued = checks_queue_stale()

    pending = set(
        CheckResult.objects.filter(queued_at__isnull=False).values_list("store__name", "card__name")
    )
    assert pending == {
        ("Dice Saloon", "Mystic Snake"),
        ("Harlequins", "Mox Pearl"),
        ("Dice Saloon", "Mox Pearl"),
        ("Troll Trader", "Mox Pearl"),
    }
    assert queued == 4
    with django_capture_on_commit_callbacks():
        assert checks_queue_stale() == 0  # all in flight now


def test_the_recheck_job_is_declared_every_six_hours():
    job = next(j for j in schedules_collect() if j.name == "store-stock-recheck")
    assert job.minutes == 360 and job.func == "stores.tasks.stock_recheck"


def test_checking_my_stale_cards_skips_fresh_ones(
    shops, want, user, prefer, card, result_of, django_capture_on_commit_callbacks
):
    prefer(user, shops["harlequins"])
    want(user, "Mystic Snake")
    want(user, "Mox Pearl")
    fresh = result_of(shops["harlequins"], card("Mox Pearl"))
    CheckResult.objects.filter(pk=fresh.pk).update(status="ok", checked_at=timezone.now())
    with django_capture_on_commit_callbacks():
        assert checks_queue_for_owner(owner=user) == 1
    assert set(
        CheckResult.objects.filter(queued_at__isnull=False).values_list("card__name", flat=True)
    ) == {"Mystic Snake"}


# --- hostile stores -----------------------------------------------------------------------------
HOSTILE_PAGE = """<html><head><title>Search</title></head><body>
<h1 class="page-title">Search results for "mystic snake"</h1>
<ul class="products"><li class="product"><div class="meta">
<a href="javascript:alert(document.cookie)"><h4 class="name">Mystic Snake</h4></a>
<span class="category">Masters 25 &lt;script&gt;alert(1)&lt;/script&gt;</span></div>
<div class="variants"><div class="variant-row row">
<span class="variant-short-info variant-description">Near Mint, English</span>
<span class="variant-qty">2 In Stock</span>
<form class="add-to-cart-form" data-vid="1"><span class="regular price">£1.00</span></form>
</div></div></li></ul></body></html>"""


@pytest.fixture
def hostile_store(catalog, quick_checks):
    from lenny.replay import ReplayResponse, ReplayServer
    from stores.models import Store

    server = ReplayServer().start()
    server.add_route("GET", "/products/search", lambda r: ReplayResponse.html(HOSTILE_PAGE))
    yield Store.objects.create(name="Hostile", platform="crystalcommerce", base_url=server.base_url)
    server.stop()


def test_a_store_page_cannot_put_a_script_on_the_dashboard(
    hostile_store, card, result_of, client, user, prefer, want
):
    prefer(user, hostile_store)
    want(user, "Mystic Snake")
    assert check_run(result_id=result_of(hostile_store, card("Mystic Snake")).pk).status == "ok"
    listing = CheckResult.objects.get().listings[0]
    assert listing["url"] == ""  # a javascript: link is not a product page
    assert listing["set_name"] == "Masters 25 <script>alert(1)</script>"
    client.force_login(user)
    html = client.get("/stores/").content.decode()
    assert "£1.00" in html
    assert "javascript:" not in html and "<script>alert(1)" not in html
