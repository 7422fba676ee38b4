"""The ESI client against the replay ESI: headers, caching, paging, logs and counters."""

import base64
import json
import logging
import threading
import time

import pytest
from django.core.cache import caches

from market.esi import (
    LIMITS_REFRESH,
    EsiClient,
    EsiError,
    EsiNotFound,
    esi_counters,
    route_template,
    token_owner,
)
from market.tests.factories import DOMAIN, FORGE

# The replay ESI on the small real history sample, The Forge at 40 pages of 100 orders.
pytestmark = pytest.mark.esi_replay(
    orders={FORGE: 4000, DOMAIN: 300},
    page_size=100,
    settings={"ESI_BACKOFF_BASE": 0.01, "ESI_ROLLOVER_WAIT": 0.05},
)
ORDERS = f"/markets/{FORGE}/orders/"
ALL = {"order_type": "all"}


def order_requests(upstreams, page=None):
    return [
        r for r in upstreams.requests(f"/esi{ORDERS}") if page is None or r.arg("page") == str(page)
    ]


def jwt(character_id: int) -> str:
    """An EVE SSO-shaped access token (the client only reads whom it is for)."""

    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"sub": f"CHARACTER:EVE:{character_id}", "jti": str(time.monotonic_ns())}
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


@pytest.mark.embedded
def test_it_sends_its_user_agent_and_compatibility_date_on_every_request(esi, upstreams, settings):
    settings.LENNY_USER_AGENT = "Lenny/test (contact: ops@example.com)"
    settings.ESI_COMPATIBILITY_DATE = "2025-08-26"
    EsiClient().get_paged(ORDERS, params=ALL)
    EsiClient().get(f"/markets/{FORGE}/history/", params={"type_id": 34})
    sent = upstreams.requests("/esi/")
    assert len(sent) == 41
    assert {r.headers["User-Agent"] for r in sent} == {"Lenny/test (contact: ops@example.com)"}
    assert {r.headers["X-Compatibility-Date"] for r in sent} == {"2025-08-26"}


@pytest.mark.embedded
def test_it_fetches_every_page_once_and_joins_them_in_page_order(esi, upstreams):
    result = EsiClient().get_paged(ORDERS, params=ALL)

    assert result.pages == 40 and result.status == 200 and not result.not_modified
    assert len(result.data) == 4000
    assert len({order["order_id"] for order in result.data}) == 4000
    assert sorted(int(r.arg("page")) for r in order_requests(upstreams)) == list(range(1, 41))
    # Page order is kept: the first hundred orders are page 1's.
    page_one = EsiClient().get(ORDERS, params={**ALL, "page": 1}, conditional=False)
    assert result.data[:100] == page_one.data
    assert result.last_modified < result.expires
    assert result.etag.startswith('"') and result.etag.endswith('"')


def test_it_hands_over_raw_pages_for_a_fast_ingest(esi):
    result = EsiClient().get_paged(ORDERS, params=ALL, raw=True)
    assert len(result.data) == 40 and all(isinstance(body, bytes) for body in result.data)
    assert sum(len(json.loads(body)) for body in result.data) == 4000


@pytest.mark.embedded
def test_a_second_get_before_expires_sends_no_request(esi, upstreams):
    client = EsiClient()
    first = client.get_paged(ORDERS, params=ALL)
    sent = upstreams.count("/esi/")

    again = client.get_paged(ORDERS, params=ALL)
    other_worker = EsiClient().get_paged(ORDERS, params={"order_type": "all"})

    assert upstreams.count("/esi/") == sent
    for result in (again, other_worker):
        assert result.not_modified and result.from_cache and result.data is None
        assert result.expires == first.expires and result.pages == 40
    assert client.expiry(ORDERS, params=ALL) == first.expires
    assert esi_counters()["cache_hits"] == 2


def test_it_revalidates_with_if_none_match_after_expires_and_takes_304_as_unchanged(esi, upstreams):
    # The snapshot expires after a second but ESI keeps serving it a while (still building the
    # next one): the client must ask, and must get "unchanged".
    esi.configure(expiry_seconds=1, publish_delay=30)
    client = EsiClient()
    first = client.get_paged(ORDERS, params=ALL)
    time.sleep(max(0.0, first.expires.timestamp() - time.time()) + 0.05)
    upstreams.log.clear()

    result = client.get_paged(ORDERS, params=ALL)

    sent = upstreams.requests("/esi/")
    assert [r.arg("page") for r in sent] == ["1"]
    assert sent[0].headers["If-None-Match"] == first.etag
    assert sent[0].status == 304
    assert result.not_modified and not result.from_cache and result.data is None
    assert result.expires > first.expires
    # The 304's new Expires counts: nothing more is sent until then.
    assert client.get_paged(ORDERS, params=ALL).from_cache
    assert upstreams.count("/esi/") == 1
    assert esi_counters()["not_modified"] == 1


def test_it_fetches_the_new_snapshot_once_the_old_one_expired(esi, upstreams):
    esi.configure(expiry_seconds=2)
    client = EsiClient()
    first = client.get_paged(ORDERS, params=ALL)
    time.sleep(max(0.0, first.expires.timestamp() - time.time()) + 0.05)

    second = client.get_paged(ORDERS, params=ALL)

    assert not second.not_modified and len(second.data) == 4000
    assert second.last_modified > first.last_modified and second.etag != first.etag
    asked = order_requests(upstreams, page=1)[-1]
    assert asked.headers["If-None-Match"] == first.etag and asked.status == 200


def test_conditional_false_fetches_even_before_expires(esi, upstreams):
    client = EsiClient()
    client.get_paged(ORDERS, params=ALL)
    result = client.get_paged(ORDERS, params=ALL, conditional=False)
    assert not result.not_modified and len(result.data) == 4000
    assert len(order_requests(upstreams, page=1)) == 2
    assert "If-None-Match" not in order_requests(upstreams, page=1)[1].headers


def test_unpaged_get_parses_json_and_caches_per_url(esi, upstreams):
    client = EsiClient()
    history = client.get(f"/markets/{FORGE}/history/", params={"type_id": 34})
    assert history.pages == 1 and len(history.data) == 90
    assert set(history.data[0]) == {
        "average",
        "date",
        "highest",
        "lowest",
        "order_count",
        "volume",
    }
    assert client.get(f"/markets/{FORGE}/history/", params={"type_id": 34}).from_cache
    # Another type is another URL.
    client.get(f"/markets/{FORGE}/history/", params={"type_id": 35})
    assert upstreams.count("/history/") == 2


def test_a_type_without_history_is_not_found(esi, upstreams):
    with pytest.raises(EsiNotFound) as caught:
        EsiClient().get(f"/markets/{FORGE}/history/", params={"type_id": 999_999_999})
    assert caught.value.status == 404
    assert "Type not found!" in str(caught.value)
    assert caught.value.url.endswith(f"/markets/{FORGE}/history/")
    assert upstreams.count("/history/") == 1  # a 404 is an answer, not a failure to retry


def test_a_rejected_request_is_not_retried_and_names_the_problem(esi, upstreams):
    with pytest.raises(EsiError) as caught:
        EsiClient().get(ORDERS, params={"order_type": "cheapest"})
    assert caught.value.status == 400
    assert "order_type must be all, buy or sell" in str(caught.value)
    assert upstreams.count("/orders/") == 1


def test_tokens_are_sent_and_cached_per_character_not_per_token(esi, upstreams):
    client = EsiClient()
    client.get(ORDERS, params={**ALL, "page": 1}, token=jwt(2112625428))
    assert upstreams.requests("/orders/")[0].headers["Authorization"].startswith("Bearer ey")
    # A refreshed token of the same character hits the same cache entry...
    assert client.get(ORDERS, params={**ALL, "page": 1}, token=jwt(2112625428)).from_cache
    # ...another character's, or no token at all, does not.
    assert not client.get(ORDERS, params={**ALL, "page": 1}, token=jwt(90000001)).from_cache
    assert not client.get(ORDERS, params={**ALL, "page": 1}).from_cache
    assert upstreams.count("/orders/") == 3
    assert token_owner(jwt(7)) == "character:7"
    assert token_owner("not-a-jwt").startswith("token:")


def test_it_refuses_an_absurd_page_count(esi, upstreams):
    upstreams.fault(
        r"/orders/", query={"page": "1"}, status=200, body="[]", headers={"X-Pages": "999999"}
    )
    with pytest.raises(EsiError, match="announced 999999 pages"):
        EsiClient().get_paged(ORDERS, params=ALL)
    assert upstreams.count("/orders/") == 1


def test_it_logs_one_structured_line_per_request(esi, caplog):
    caplog.set_level(logging.INFO, logger="market.esi")
    client = EsiClient()
    client.get(f"/markets/{FORGE}/history/", params={"type_id": 34})
    client.get(f"/markets/{FORGE}/history/", params={"type_id": 34})
    lines = [r.getMessage() for r in caplog.records if r.name == "market.esi"]
    assert len(lines) == 2
    assert lines[0].startswith(
        "esi route=/markets/{region_id}/history/ page=- status=200 cache=miss"
    )
    assert "ms=" in lines[0] and "attempt=1" in lines[0]
    assert "status=- cache=hit" in lines[1]
    assert caplog.records[-1].esi["route"] == "/markets/{region_id}/history/"


def test_counters_add_up_over_every_client(esi, upstreams):
    EsiClient().get_paged(ORDERS, params=ALL)
    EsiClient().get_paged(ORDERS, params=ALL)
    with pytest.raises(EsiNotFound):
        EsiClient().get(f"/markets/{FORGE}/history/", params={"type_id": 999_999_999})
    counters = esi_counters()
    assert counters["requests"] == 41
    assert counters["cache_hits"] == 1
    assert counters["errors"] == {"404": 1}


def test_route_templates_hide_ids():
    assert route_template("/markets/10000002/orders/") == "/markets/{region_id}/orders/"
    assert (
        route_template("/characters/2112625428/wallet/journal/")
        == "/characters/{character_id}/wallet/journal/"
    )
    assert route_template("/markets/prices/") == "/markets/prices/"


# --- streaming pages into a sink -----------------------------------------------------------------


class PagesSeen:
    """A sink that notes what it was handed, and when."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def page(self, number, data) -> None:
        self.events.append(("page", number, data, time.time()))

    def restart(self) -> None:
        self.events.append(("restart",))

    def numbers(self) -> list:
        return [event[1] if event[0] == "page" else "restart" for event in self.events]


def test_a_sink_gets_each_page_in_order_while_later_pages_are_on_their_way(esi, upstreams):
    upstreams.fault(r"/orders/", query={"page": "40"}, latency=1.5)
    sink = PagesSeen()

    result = EsiClient().get_paged(ORDERS, params=ALL, raw=True, sink=sink)

    assert result.data is None and result.pages == 40 and not result.not_modified
    assert sink.numbers() == list(range(1, 41))
    page_40_answered = order_requests(upstreams, page=40)[0].at
    assert sink.events[38][3] < page_40_answered
    # The same bytes as the pages handed over all at once.
    plain = EsiClient().get_paged(ORDERS, params=ALL, raw=True, conditional=False)
    assert [event[2] for event in sink.events] == plain.data
    # The result is cached like any other: nothing is sent again before Expires.
    assert EsiClient().get_paged(ORDERS, params=ALL, sink=PagesSeen()).from_cache


def test_a_sink_gets_parsed_items_without_raw(esi):
    sink = PagesSeen()
    EsiClient().get_paged(f"/markets/{DOMAIN}/orders/", params=ALL, sink=sink)
    assert sink.numbers() == [1, 2, 3]
    assert sum(len(event[2]) for event in sink.events) == 300
    assert {"order_id", "price"} <= set(sink.events[0][2][0])


def test_a_paged_fetch_shares_the_limits_in_a_few_cache_round_trips_not_one_per_page(
    esi, upstreams, monkeypatch
):
    cache = caches["default"]
    limit_calls = []

    def counted(name):
        method = getattr(cache, name)

        def call(key_or_keys, *args, **kwargs):
            keys = [key_or_keys] if isinstance(key_or_keys, str) else list(key_or_keys)
            if any(key.startswith("esi:limit:") for key in keys):
                limit_calls.append((name, keys[0]))
            return method(key_or_keys, *args, **kwargs)

        return call

    for name in ("get", "get_many", "set"):
        monkeypatch.setattr(cache, name, counted(name))
    started = time.monotonic()

    EsiClient().get_paged(ORDERS, params=ALL, raw=True)

    elapsed = time.monotonic() - started
    # At most one look and a few writes every LIMITS_REFRESH; one per page would be 80 or more.
    # The error permits are taken ten at a time (a cache without an atomic increment, as the
    # embedded default's, reads and writes for each): 20 pages in flight take two batches.
    permits = [call for call in limit_calls if call[1] == "esi:limit:errors_held"]
    looks = len(limit_calls) - len(permits)
    rounds = elapsed / LIMITS_REFRESH + 1
    assert looks <= 4 + 3 * rounds + 2, (limit_calls, elapsed)
    assert looks < 40
    assert len(permits) <= 4 * 3, permits


def test_another_workers_420_mid_fetch_holds_the_pages_not_yet_sent(esi, upstreams):
    upstreams.fault(r"/orders/", latency=0.05, times=None)
    upstreams.fault(
        r"/markets/prices/",
        status=420,
        body='{"error":"error limited"}',
        headers={"X-ESI-Error-Limit-Remain": "0", "X-ESI-Error-Limit-Reset": "1"},
    )
    other_worker = threading.Thread(target=EsiClient().get, args=("/markets/prices/",))

    class StartsTheOtherWorker(PagesSeen):
        def page(self, number, data):
            super().page(number, data)
            if number == 5:
                other_worker.start()

    sink = StartsTheOtherWorker()
    EsiClient(max_in_flight=2).get_paged(ORDERS, params=ALL, raw=True, sink=sink)
    other_worker.join()

    assert sink.numbers() == list(range(1, 41))
    limited = next(r for r in upstreams.requests("/markets/prices/") if r.status == 420)
    # Pages already on their way, or sent before this fetch's view of the limits was renewed
    # (LIMITS_REFRESH), still land; nothing else until the error limit has reset.
    settled = limited.at + LIMITS_REFRESH + 0.2
    assert [r for r in order_requests(upstreams) if settled < r.at < limited.at + 0.9] == []
    assert any(r.at >= limited.at + 0.9 for r in order_requests(upstreams))
