"""The ESI client under fault injection: every fault goes through the replay ESI's socket, and the
assertions are about what the client sent, as the server counted it."""

import socket
import threading
import time
from collections import Counter

import pytest
import requests

from market.esi import EsiClient, EsiError, EsiRolledOver, EsiTimeout, esi_counters
from market.tests.factories import DOMAIN, FORGE

# The replay ESI on the small real history sample, The Forge at 40 pages of 100 orders;
# backoffs and waits shortened so the faults play out in a blink.
pytestmark = pytest.mark.esi_replay(
    orders={FORGE: 4000, DOMAIN: 300},
    page_size=100,
    settings={"ESI_BACKOFF_BASE": 0.01, "ESI_ROLLOVER_WAIT": 0.05, "ESI_MAX_RETRIES": 3},
)
ORDERS = f"/markets/{FORGE}/orders/"
ALL = {"order_type": "all"}


def pages_sent(upstreams, path=ORDERS) -> Counter:
    return Counter(int(r.arg("page")) for r in upstreams.requests(f"/esi{path}"))


def page_body(upstreams, page: int) -> requests.Response:
    return requests.get(upstreams.url(f"/esi{ORDERS}"), params={**ALL, "page": page}, timeout=5)


def test_a_502_on_page_37_is_retried_and_every_page_arrives(esi, upstreams):
    upstreams.fault(r"/orders/", query={"page": "37"}, status=502, body='{"error":"Bad Gateway"}')

    result = EsiClient().get_paged(ORDERS, params=ALL)

    assert len(result.data) == 4000
    sent = pages_sent(upstreams)
    assert sent[37] == 2
    assert all(sent[n] == 1 for n in range(1, 41) if n != 37)
    counters = esi_counters()
    assert counters["retries"] == 1 and counters["errors"] == {"502": 1}


def test_a_page_that_keeps_failing_fails_the_whole_fetch_and_keeps_the_old_etag(
    esi, upstreams, settings
):
    client = EsiClient()
    old = client.get_paged(ORDERS, params=ALL)
    esi.roll_over(FORGE)
    upstreams.fault(r"/orders/", query={"page": "37"}, status=503, times=None)

    with pytest.raises(EsiError) as caught:
        client.get_paged(ORDERS, params=ALL, conditional=False)

    assert caught.value.status == 503
    assert "page=37" in str(caught.value) and "after 4 attempts" in str(caught.value)
    assert pages_sent(upstreams)[37] == 1 + 4
    # Nothing of the failed fetch was remembered: the cache still describes the old snapshot.
    assert client.expiry(ORDERS, params=ALL) == old.expires
    upstreams.clear_faults()
    new = client.get_paged(ORDERS, params=ALL, conditional=False)
    assert new.last_modified > old.last_modified and len(new.data) == 4000


def test_a_timeout_is_retried(esi, upstreams, settings):
    settings.UPSTREAM_TIMEOUT = 1.0
    upstreams.fault(r"/orders/", query={"page": "5"}, hang=2.5)

    result = EsiClient().get_paged(ORDERS, params=ALL)

    assert len(result.data) == 4000
    assert pages_sent(upstreams)[5] == 2
    assert esi_counters()["timeouts"] >= 1


def test_it_gives_up_with_esi_timeout_when_every_attempt_hangs(esi, upstreams, settings):
    settings.UPSTREAM_TIMEOUT = 0.3
    settings.ESI_MAX_RETRIES = 2
    upstreams.fault(r"/history/", hang=1.0, times=None)

    started = time.monotonic()
    with pytest.raises(EsiTimeout) as caught:
        EsiClient().get(f"/markets/{FORGE}/history/", params={"type_id": 34})

    assert upstreams.count("/history/") == 3
    assert "failed after 3 attempts: no answer within 0.3 s" in str(caught.value)
    assert caught.value.status is None
    assert time.monotonic() - started < 3


def test_a_truncated_body_is_retried(esi, upstreams):
    upstreams.fault(r"/orders/", query={"page": "3"}, truncate=True)
    result = EsiClient().get_paged(ORDERS, params=ALL, raw=True)
    assert pages_sent(upstreams)[3] == 2
    assert all(body.endswith(b"]") for body in result.data)


def test_a_complete_but_malformed_json_body_is_retried_then_reported(esi, upstreams):
    upstreams.fault(
        r"/orders/", query={"page": "2"}, status=200, body='[{"order_id": 1', times=None
    )
    client = EsiClient()
    for raw in (False, True):
        with pytest.raises(EsiError, match="malformed body"):
            client.get_paged(ORDERS, params=ALL, raw=raw)
    assert pages_sent(upstreams)[2] == 2 * 4
    assert client.expiry(ORDERS, params=ALL) is None


def test_a_page_that_is_not_an_array_is_refused(esi, upstreams, settings):
    settings.ESI_MAX_RETRIES = 1
    upstreams.fault(
        r"/orders/", query={"page": "4"}, status=200, body='{"error":"oops"}', times=None
    )
    with pytest.raises(EsiError, match="a page must be a JSON array, not dict"):
        EsiClient().get_paged(ORDERS, params=ALL)
    assert pages_sent(upstreams)[4] == 2


def test_a_page_from_the_next_snapshot_makes_it_fetch_everything_again(esi, upstreams):
    # A real roll-over mid-fetch: page 20 is slow, and the next snapshot is published while it
    # is on its way, so page 20 comes from it while page 1 came from the old one.
    upstreams.fault(r"/orders/", query={"page": "20"}, latency=0.6)
    old_clock = esi.clock(FORGE)
    threading.Timer(0.25, esi.roll_over, args=(FORGE,)).start()

    result = EsiClient().get_paged(ORDERS, params=ALL)

    new_clock = esi.clock(FORGE)
    assert new_clock.number == old_clock.number + 1
    assert result.last_modified.timestamp() == new_clock.last_modified
    sent = pages_sent(upstreams)
    assert sent[1] == 2 and sent[20] == 2  # page 1 was behind: every page again
    assert len(result.data) == 4000
    assert esi_counters()["rolled_over"] == 1


def test_a_stale_page_behind_page_one_is_fetched_again_alone(esi, upstreams):
    stale = page_body(upstreams, 7)
    esi.roll_over(FORGE)
    upstreams.log.clear()
    # A cache node still hands out the old page 7 once.
    upstreams.fault(
        r"/orders/",
        query={"page": "7"},
        status=200,
        body=stale.text,
        headers={k: stale.headers[k] for k in ("ETag", "Expires", "Last-Modified", "X-Pages")},
    )

    result = EsiClient().get_paged(ORDERS, params=ALL)

    sent = pages_sent(upstreams)
    assert sent[7] == 2
    assert sum(sent.values()) == 41
    assert result.last_modified.timestamp() == esi.clock(FORGE).last_modified


def test_pages_that_keep_disagreeing_end_in_rolled_over(esi, upstreams, settings):
    settings.ESI_ROLLOVER_RETRIES = 2
    stale = page_body(upstreams, 3)
    esi.roll_over(FORGE)
    upstreams.log.clear()
    upstreams.fault(
        r"/orders/",
        query={"page": "3"},
        status=200,
        body=stale.text,
        headers={"Last-Modified": stale.headers["Last-Modified"], "X-Pages": "40"},
        times=None,
    )
    client = EsiClient()

    with pytest.raises(EsiRolledOver, match="gave up after 2 re-fetches"):
        client.get_paged(ORDERS, params=ALL)

    assert pages_sent(upstreams)[3] == 3
    assert client.expiry(ORDERS, params=ALL) is None


def test_a_420_is_waited_out_until_the_error_limit_resets(esi, upstreams):
    upstreams.fault(
        r"/orders/",
        query={"page": "2"},
        status=420,
        body='{"error":"error limited"}',
        headers={"X-ESI-Error-Limit-Remain": "0", "X-ESI-Error-Limit-Reset": "1"},
    )

    result = EsiClient().get_paged(ORDERS, params=ALL)

    assert len(result.data) == 4000
    limited = next(r for r in upstreams.requests("/orders/") if r.status == 420)
    # Pages already on their way when the 420 came back still land; nothing new goes out
    # until the error limit has reset.
    quiet = [
        r for r in upstreams.requests("/orders/") if limited.at + 0.3 < r.at < limited.at + 0.95
    ]
    assert quiet == []
    retried = [r for r in upstreams.requests("/orders/") if r.arg("page") == "2"][-1]
    assert retried.status == 200 and retried.at >= limited.at + 0.95
    assert pages_sent(upstreams)[2] == 2


def test_a_420_holds_every_worker_until_the_reset(esi, upstreams):
    upstreams.fault(
        r"/markets/prices/",
        status=420,
        headers={"X-ESI-Error-Limit-Remain": "0", "X-ESI-Error-Limit-Reset": "2"},
    )
    first = threading.Thread(target=EsiClient().get, args=("/markets/prices/",))
    first.start()
    deadline = time.monotonic() + 5
    while not upstreams.count("/markets/prices/") and time.monotonic() < deadline:
        time.sleep(0.01)
    limited_at = upstreams.requests("/markets/prices/")[0].at
    time.sleep(0.05)

    EsiClient().get(f"/markets/{DOMAIN}/types/")  # another worker, another route
    first.join()

    types = upstreams.requests("/types/")[0]
    assert types.at >= limited_at + 1.9


def test_it_stops_before_the_error_limit_reaches_zero(esi, upstreams, settings):
    settings.ESI_ERROR_LIMIT_MARGIN = 10
    esi.configure(error_limit=12, error_window=2)
    client = EsiClient()
    for _ in range(2):
        with pytest.raises(EsiError):
            client.get(f"/markets/{FORGE}/history/", params={"type_id": 999_999_999})
    last_error = upstreams.requests("/history/")[-1]
    assert last_error.status == 404

    client.get(f"/markets/{DOMAIN}/types/")

    # With 10 errors left (the margin) it waited for the window to reset and never got a 420.
    types = upstreams.requests("/types/")[0]
    assert types.at >= last_error.at + 1.0
    assert all(r.status != 420 for r in upstreams.requests("/esi/"))
    assert esi_counters()["limit_waits"] >= 1


def test_a_wait_longer_than_the_limit_fails_clearly_instead(esi, upstreams, settings):
    settings.ESI_MAX_WAIT = 0.5
    upstreams.fault(
        r"/markets/prices/",
        status=420,
        headers={"X-ESI-Error-Limit-Remain": "0", "X-ESI-Error-Limit-Reset": "30"},
    )
    started = time.monotonic()
    with pytest.raises(EsiError, match=r"ESI_MAX_WAIT=0\.5"):
        EsiClient().get("/markets/prices/")
    assert time.monotonic() - started < 1
    assert upstreams.count("/markets/prices/") == 1


def test_a_429_is_retried_after_its_retry_after(esi, upstreams):
    upstreams.fault(
        r"/orders/",
        query={"page": "9"},
        status=429,
        body='{"error":"Too many requests"}',
        headers={"Retry-After": "1", "X-Ratelimit-Group": "market"},
    )

    result = EsiClient().get_paged(ORDERS, params=ALL)

    assert len(result.data) == 4000
    refused = next(r for r in upstreams.requests("/orders/") if r.status == 429)
    again = [r for r in upstreams.requests("/orders/") if r.arg("page") == "9" and r.status == 200]
    assert len(again) == 1 and again[0].at >= refused.at + 0.95


def test_a_429_pauses_every_worker_on_that_bucket(esi, upstreams):
    other_worker = EsiClient()
    other_worker.get(f"/markets/{DOMAIN}/types/")  # learns that this route is in "market"
    upstreams.fault(
        r"/orders/",
        query={"page": "2"},
        status=429,
        headers={"Retry-After": "1", "X-Ratelimit-Group": "market"},
    )
    thread = threading.Thread(
        target=EsiClient().get, args=(ORDERS,), kwargs={"params": {**ALL, "page": 2}}
    )
    thread.start()
    deadline = time.monotonic() + 5
    while not any(r.status == 429 for r in upstreams.requests("/orders/")):
        assert time.monotonic() < deadline, "the fault never fired"
        time.sleep(0.01)
    refused = next(r for r in upstreams.requests("/orders/") if r.status == 429)

    other_worker.get(f"/markets/{DOMAIN}/types/", conditional=False)
    thread.join()

    assert upstreams.requests("/types/")[-1].at >= refused.at + 0.95
    assert [r.status for r in upstreams.requests("/orders/")] == [429, 200]


def test_market_history_stays_under_its_rate_across_threads(esi, upstreams, settings):
    settings.ESI_HISTORY_RATE = "4/1s"
    client = EsiClient()
    type_ids = client.get(f"/markets/{FORGE}/types/").data[:10]
    upstreams.log.clear()

    threads = [
        threading.Thread(
            target=client.get,
            args=(f"/markets/{FORGE}/history/",),
            kwargs={"params": {"type_id": t}},
        )
        for t in type_ids
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    times = sorted(r.at for r in upstreams.requests("/history/"))
    assert len(times) == 10
    assert max(sum(1 for t in times if start <= t < start + 1.0) for start in times) <= 4
    assert times[-1] - times[0] >= 1.0


# --- faults while pages stream into a sink --------------------------------------------------------


class PagesSeen:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def page(self, number, data) -> None:
        self.events.append((number, data))

    def restart(self) -> None:
        self.events.append(("restart", None))

    def numbers(self) -> list:
        return [number for number, _ in self.events]


def test_a_stale_page_is_held_back_so_the_sink_only_sees_one_snapshot(esi, upstreams):
    stale = page_body(upstreams, 7)
    esi.roll_over(FORGE)
    upstreams.log.clear()
    upstreams.fault(
        r"/orders/",
        query={"page": "7"},
        status=200,
        body=stale.text,
        headers={k: stale.headers[k] for k in ("ETag", "Expires", "Last-Modified", "X-Pages")},
    )
    sink = PagesSeen()

    EsiClient().get_paged(ORDERS, params=ALL, raw=True, sink=sink)

    assert sink.numbers() == list(range(1, 41))
    assert dict(sink.events)[7] == page_body(upstreams, 7).content != stale.content
    assert sum(pages_sent(upstreams).values()) == 41 + 1  # page 7 twice, and the check above


def test_a_rollover_under_page_one_restarts_the_sink_with_every_page_of_the_new_snapshot(
    esi, upstreams
):
    # ESI publishes the next snapshot right after page 1 arrived, while page 20 (slow) is still
    # on its way: pages handed over before it are from the old snapshot, page 20 from the new.
    upstreams.fault(r"/orders/", query={"page": "20"}, latency=2.0)

    class PublishesAfterPageOne(PagesSeen):
        def page(self, number, data):
            if not self.events:
                esi.roll_over(FORGE)
            super().page(number, data)

    sink = PublishesAfterPageOne()
    result = EsiClient().get_paged(ORDERS, params=ALL, raw=True, sink=sink)

    numbers = sink.numbers()
    restart = numbers.index("restart")
    assert 1 <= restart <= 19 and numbers[:restart] == list(range(1, restart + 1))
    assert numbers[restart + 1 :] == list(range(1, 41))
    after_restart = [data for number, data in sink.events[restart + 1 :]]
    assert after_restart == [page_body(upstreams, n).content for n in range(1, 41)]
    assert result.last_modified.timestamp() == esi.clock(FORGE).last_modified
    sent = pages_sent(upstreams)
    assert sent[1] == 2 + 1 and sent[20] == 2 + 1  # and once more for the check above
    assert esi_counters()["rolled_over"] == 1


def test_an_error_in_the_sink_fails_the_call_and_cancels_the_pages_not_yet_sent(esi, upstreams):
    upstreams.fault(r"/orders/", latency=0.05, times=None)

    class Refuses(PagesSeen):
        def page(self, number, data):
            if number == 3:
                raise ValueError("page 3 is not what the sink wants")
            super().page(number, data)

    client = EsiClient(max_in_flight=2)
    sink = Refuses()
    with pytest.raises(ValueError, match="page 3"):
        client.get_paged(ORDERS, params=ALL, raw=True, sink=sink)

    assert sink.numbers() == [1, 2]
    assert sum(pages_sent(upstreams).values()) < 10
    assert client.expiry(ORDERS, params=ALL) is None  # nothing of it was remembered


def test_a_refused_connection_is_retried_then_reported_as_broken_not_as_a_timeout(esi, settings):
    settings.ESI_MAX_RETRIES = 1
    with socket.socket() as sock:  # a port nothing listens on once this block is left
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = EsiClient(base_url=f"http://127.0.0.1:{port}/esi")

    with pytest.raises(EsiError) as caught:
        client.get("/markets/prices/")

    assert not isinstance(caught.value, EsiTimeout)
    assert "failed after 2 attempts: the connection broke (NewConnectionError)" in str(caught.value)
    assert esi_counters()["errors"] == {"none": 2}


def test_pages_in_flight_never_take_the_error_limit_past_zero(esi, upstreams, settings):
    # ESI down for every page but the first: twenty pages are on their way (and retried) when
    # the error limit nears the margin; none of them may be what brings a 420.
    settings.ESI_ERROR_LIMIT_MARGIN = 10
    settings.ESI_MAX_IN_FLIGHT = 20
    settings.ESI_MAX_WAIT = 0.5
    esi.configure(error_limit=40, error_window=30)
    for page in range(2, 41):
        upstreams.fault(
            r"/orders/", query={"page": str(page)}, status=502, latency=0.05, times=None
        )

    with pytest.raises(EsiError):
        EsiClient().get_paged(ORDERS, params=ALL)

    statuses = Counter(r.status for r in upstreams.requests("/esi/"))
    assert statuses[420] == 0, statuses
    assert statuses[502] <= 40 - 10, statuses
