"""The replay ESI: order books that follow the real history, served with ESI's headers."""

import gzip
import hashlib
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
import requests

from market.hubs import HUBS_BY_KEY
from market.replay import history_refreshed_at
from market.replay.history import (
    FULL_HISTORY,
    SAMPLE_HISTORY,
    history_archive,
    stations_load,
)
from market.replay.orders import OrderBook, price_round, slots_allocate
from market.tests.factories import FORGE

pytestmark = pytest.mark.esi_replay(orders={FORGE: 3000}, page_size=1000, settings={})
JITA = HUBS_BY_KEY["jita"]
RANGES = {"station", "solarsystem", "region", "1", "2", "3", "4", "5", "10", "20", "30", "40"}


def get(upstreams, path, **params):
    return requests.get(upstreams.url(f"/esi{path}"), params=params, timeout=10)


def all_orders(upstreams, region_id=FORGE, **params):
    first = get(upstreams, f"/markets/{region_id}/orders/", order_type="all", **params)
    orders = first.json()
    for page in range(2, int(first.headers["X-Pages"]) + 1):
        orders += get(
            upstreams, f"/markets/{region_id}/orders/", order_type="all", page=page, **params
        ).json()
    return first, orders


@pytest.mark.embedded
def test_it_serves_paged_orders_with_esis_headers(esi, upstreams):
    response = get(upstreams, f"/markets/{FORGE}/orders/", order_type="all", page=2)

    assert response.status_code == 200
    headers = response.headers
    assert headers["X-Pages"] == "3"
    assert headers["Content-Type"].startswith("application/json")
    assert headers["Cache-Control"] == "public"
    assert headers["ETag"].startswith('"') and headers["ETag"].endswith('"')
    last_modified = parsedate_to_datetime(headers["Last-Modified"])
    expires = parsedate_to_datetime(headers["Expires"])
    assert expires - last_modified == timedelta(seconds=300)
    assert last_modified <= datetime.now(UTC) < expires
    assert headers["X-ESI-Error-Limit-Remain"] == "100"
    assert 0 < int(headers["X-ESI-Error-Limit-Reset"]) <= 60
    assert headers["X-Ratelimit-Group"] == "market"
    assert headers["X-Ratelimit-Limit"] == "12000/15m"
    assert int(headers["X-Ratelimit-Remaining"]) < 12000
    assert headers["X-Ratelimit-Used"] == "2"
    assert len(response.json()) == 1000


@pytest.mark.embedded
def test_it_answers_304_to_a_matching_if_none_match(esi, upstreams):
    first = get(upstreams, f"/markets/{FORGE}/orders/", order_type="all")
    again = requests.get(
        upstreams.url(f"/esi/markets/{FORGE}/orders/"),
        params={"order_type": "all"},
        headers={"If-None-Match": first.headers["ETag"]},
        timeout=5,
    )
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Expires"] == first.headers["Expires"]
    other_page = requests.get(
        upstreams.url(f"/esi/markets/{FORGE}/orders/"),
        params={"order_type": "all", "page": 2},
        headers={"If-None-Match": first.headers["ETag"]},
        timeout=5,
    )
    assert other_page.status_code == 200


def test_orders_carry_every_esi_field_with_realistic_values(esi, upstreams):
    first, orders = all_orders(upstreams)
    last_modified = parsedate_to_datetime(first.headers["Last-Modified"])
    region_stations = {s.station_id: s.system_id for s in stations_load()[FORGE]}

    assert len(orders) == 3000
    assert len({o["order_id"] for o in orders}) == 3000
    for order in orders:
        assert set(order) == {
            "duration",
            "is_buy_order",
            "issued",
            "location_id",
            "min_volume",
            "order_id",
            "price",
            "range",
            "system_id",
            "type_id",
            "volume_remain",
            "volume_total",
        }
        assert region_stations[order["location_id"]] == order["system_id"]
        assert order["range"] in RANGES
        assert order["is_buy_order"] or order["range"] == "region"
        assert order["duration"] in {1, 3, 7, 14, 30, 90}
        issued = datetime.strptime(order["issued"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert issued < last_modified < issued + timedelta(days=order["duration"])
        assert 1 <= order["volume_remain"] <= order["volume_total"] < 2**31
        assert 1 <= order["min_volume"] <= order["volume_total"]
        assert order["price"] >= 0.01
    at_hub = sum(o["location_id"] == JITA.station_id for o in orders)
    assert 0.7 < at_hub / len(orders) < 0.9
    assert sum(o["min_volume"] == 1 for o in orders) / len(orders) > 0.95


def test_every_buy_order_is_below_every_sell_order_of_its_type(esi, upstreams):
    _, orders = all_orders(upstreams)
    best = defaultdict(lambda: {"bid": 0.0, "ask": float("inf")})
    for order in orders:
        book = best[order["type_id"]]
        if order["is_buy_order"]:
            book["bid"] = max(book["bid"], order["price"])
        else:
            book["ask"] = min(book["ask"], order["price"])
    assert best
    assert all(b["bid"] < b["ask"] for b in best.values())


def test_prices_and_order_counts_follow_the_history(esi, upstreams):
    _, orders = all_orders(upstreams)
    archive = history_archive(SAMPLE_HISTORY)
    trading = {t.type_id: t for t in archive.trading(FORGE)}
    by_type = defaultdict(list)
    for order in orders:
        by_type[order["type_id"]].append(order)

    # The most-traded types have the most orders.
    busiest = max(trading.values(), key=lambda t: t.daily_trades)
    assert len(by_type[busiest.type_id]) == max(len(v) for v in by_type.values())
    # Best prices sit around the latest day's average, within the typical daily range.
    for type_id, type_orders in by_type.items():
        market = trading[type_id]
        asks = [o["price"] for o in type_orders if not o["is_buy_order"]]
        bids = [o["price"] for o in type_orders if o["is_buy_order"]]
        if asks:
            assert market.price < min(asks) <= market.price * (1 + 4 * market.half_spread) + 0.02
        if bids:
            assert market.price * (1 - 4 * market.half_spread) - 0.02 <= max(bids) < market.price


def test_it_filters_by_order_type_and_type(esi, upstreams):
    _, orders = all_orders(upstreams)
    sells = get(upstreams, f"/markets/{FORGE}/orders/", order_type="sell").json()
    tritanium = get(upstreams, f"/markets/{FORGE}/orders/", order_type="buy", type_id=34).json()
    assert sells == [o for o in orders if not o["is_buy_order"]][: len(sells)]
    assert tritanium and all(o["type_id"] == 34 and o["is_buy_order"] for o in tritanium)
    assert len(tritanium) == sum(o["type_id"] == 34 and o["is_buy_order"] for o in orders)


def test_a_new_snapshot_appears_when_the_previous_one_expires(esi, upstreams):
    esi.configure(expiry_seconds=1)
    before, old = all_orders(upstreams)
    time.sleep(max(0.0, parsedate_to_datetime(before.headers["Expires"]).timestamp() - time.time()))
    time.sleep(0.05)

    after, new = all_orders(upstreams)

    assert parsedate_to_datetime(after.headers["Last-Modified"]) > parsedate_to_datetime(
        before.headers["Last-Modified"]
    )
    assert after.headers["ETag"] != before.headers["ETag"]
    old_ids, new_ids = {o["order_id"] for o in old}, {o["order_id"] for o in new}
    # The market moved on, but most orders are still there: like five minutes in Jita.
    assert old_ids != new_ids
    assert len(old_ids & new_ids) > 0.8 * len(old_ids)


def test_roll_over_publishes_the_next_snapshot_at_once(esi, upstreams):
    before = get(upstreams, f"/markets/{FORGE}/orders/", order_type="all")
    clock = esi.roll_over(FORGE)
    after = get(upstreams, f"/markets/{FORGE}/orders/", order_type="all")
    assert clock.number == 1
    assert parsedate_to_datetime(after.headers["Last-Modified"]).timestamp() == clock.last_modified
    assert after.headers["Last-Modified"] != before.headers["Last-Modified"]
    assert after.headers["ETag"] != before.headers["ETag"]


def test_between_two_snapshots_the_book_moves_like_a_hubs(esi, upstreams):
    esi.backdate(FORGE, 600)
    first, before = all_orders(upstreams)
    clock = esi.advance(FORGE)
    second, after = all_orders(upstreams)

    then = parsedate_to_datetime(first.headers["Last-Modified"])
    now = parsedate_to_datetime(second.headers["Last-Modified"])
    assert (now - then).total_seconds() == 300 and clock.number == 1
    old = {o["order_id"]: o for o in before}
    new = {o["order_id"]: o for o in after}
    kept = [(old[i], new[i]) for i in old.keys() & new.keys()]
    assert len(after) == len(before) == 3000  # every slot holds an order
    filled = [a for a, b in kept if b["volume_remain"] < a["volume_remain"]]
    repriced = [(a, b) for a, b in kept if a["price"] != b["price"]]
    assert filled and repriced
    # A reprice is one tick towards the other side: sells down, buys up.
    for a, b in repriced:
        tick = max(0.01, 10 ** (len(str(int(a["price"]))) - 4))
        assert round(abs(b["price"] - a["price"]), 2) == round(tick, 2), (a, b)
        assert (b["price"] > a["price"]) == a["is_buy_order"]

    def expiry(order):
        issued = datetime.strptime(order["issued"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return issued + timedelta(days=order["duration"])

    gone = [old[i] for i in old.keys() - new.keys()]
    expired = [o for o in gone if expiry(o) <= now]
    assert expired and len(expired) < len(gone)  # the others were filled or cancelled
    appeared = [new[i] for i in new.keys() - old.keys()]
    assert len(appeared) == len(gone)
    issued_since = [
        o
        for o in appeared
        if datetime.strptime(o["issued"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) > then
    ]
    assert any(o["volume_remain"] < o["volume_total"] for o in issued_since)


def test_reset_restarts_the_clocks_and_forgets_the_knobs(esi, upstreams):
    esi.roll_over(FORGE)
    esi.configure(page_size=10)
    upstreams.reset()
    assert esi.clock(FORGE).number == 0
    assert esi.page_size == 1000 and esi.orders == {}


def test_the_same_snapshot_is_the_same_bytes_in_another_process(esi):
    # Nothing may depend on Python's per-process string hashing or on the wall clock.
    snapshot = esi.snapshot(FORGE)
    digest = hashlib.sha256(b"\n".join(snapshot.orders)).hexdigest()
    script = (
        "import hashlib, sys\n"
        "import django\n"
        "django.setup()\n"
        "from market.replay.history import history_archive, SAMPLE_HISTORY, stations_load\n"
        "from market.replay.orders import OrderBook\n"
        f"book = OrderBook(region_id={FORGE}, trading=history_archive(SAMPLE_HISTORY)"
        f".trading({FORGE}), stations=stations_load()[{FORGE}], size=3000)\n"
        f"snap = book.snapshot(0, last_modified={snapshot.last_modified}, period=300)\n"
        "print(hashlib.sha256(b'\\n'.join(snap.orders)).hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == digest


def test_history_serves_the_real_rows_with_the_last_day_yesterday(esi, upstreams):
    response = get(upstreams, f"/markets/{FORGE}/history/", type_id=34)

    assert response.status_code == 200
    rows = response.json()
    with gzip.open(SAMPLE_HISTORY, "rt") as f:
        real = [line.strip().split(",") for line in f if line.startswith("20")]
    real = [r for r in real if r[1] == str(FORGE) and r[2] == "34"]
    assert len(rows) == len(real) == 90
    refreshed = history_refreshed_at(time.time())
    assert rows[-1]["date"] == (refreshed - timedelta(days=1)).date().isoformat()
    assert [r["date"] for r in rows] == sorted(r["date"] for r in rows)
    last_real = real[-1]
    assert rows[-1] == {
        "average": float(last_real[3]),
        "date": rows[-1]["date"],
        "highest": float(last_real[5]),
        "lowest": float(last_real[4]),
        "order_count": int(last_real[7]),
        "volume": int(last_real[6]),
    }
    assert date.fromisoformat(rows[0]["date"]) == date.fromisoformat(rows[-1]["date"]) - timedelta(
        days=89
    )
    assert parsedate_to_datetime(response.headers["Last-Modified"]) == refreshed
    assert parsedate_to_datetime(response.headers["Expires"]) == refreshed + timedelta(days=1)


def test_history_refresh_is_at_11_05_utc():
    before = datetime(2026, 3, 2, 11, 4, tzinfo=UTC).timestamp()
    after = datetime(2026, 3, 2, 11, 5, tzinfo=UTC).timestamp()
    assert history_refreshed_at(before) == datetime(2026, 3, 1, 11, 5, tzinfo=UTC)
    assert history_refreshed_at(after) == datetime(2026, 3, 2, 11, 5, tzinfo=UTC)


def test_history_of_an_unknown_type_is_a_404_and_bad_parameters_a_400(esi, upstreams):
    unknown = get(upstreams, f"/markets/{FORGE}/history/", type_id=999_999_999)
    assert unknown.status_code == 404 and unknown.json() == {"error": "Type not found!"}
    missing = get(upstreams, f"/markets/{FORGE}/history/")
    assert missing.status_code == 400 and "type_id" in missing.json()["error"]
    hostile = get(upstreams, f"/markets/{FORGE}/history/", type_id="34 OR 1=1")
    assert hostile.status_code == 400 and "positive integer" in hostile.json()["error"]


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"order_type": "cheap"}, 400, "order_type must be all, buy or sell"),
        ({"order_type": "all", "page": "0"}, 400, "page must be a positive integer"),
        ({"order_type": "all", "page": "-1"}, 400, "page must be a positive integer"),
        ({"order_type": "all", "page": "1e3"}, 400, "page must be a positive integer"),
        ({"order_type": "all", "type_id": "<script>"}, 400, "type_id must be"),
        ({"order_type": "all", "page": "4"}, 404, "Requested page does not exist!"),
    ],
)
def test_it_rejects_bad_order_parameters_like_esi(esi, upstreams, params, status, message):
    response = get(upstreams, f"/markets/{FORGE}/orders/", **params)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_an_unknown_region_is_a_404_and_a_quiet_one_is_empty(esi, upstreams):
    assert get(upstreams, "/markets/42/orders/", order_type="all").status_code == 404
    quiet = get(upstreams, "/markets/10000001/orders/", order_type="all")
    assert quiet.status_code == 200 and quiet.json() == [] and quiet.headers["X-Pages"] == "1"


def test_types_lists_the_types_on_the_market(esi, upstreams):
    _, orders = all_orders(upstreams)
    response = get(upstreams, f"/markets/{FORGE}/types/")
    assert response.json() == sorted({o["type_id"] for o in orders})
    assert response.headers["X-Pages"] == "1"


def test_prices_cover_every_type_with_history(esi, upstreams):
    response = get(upstreams, "/markets/prices/")
    prices = response.json()
    archive = history_archive(SAMPLE_HISTORY)
    assert [p["type_id"] for p in prices] == sorted(archive.type_ids())
    tritanium = next(p for p in prices if p["type_id"] == 34)
    # The average is The Forge's latest day, as ESI's is Jita-dominated.
    assert tritanium["average_price"] == next(
        t.price for t in archive.trading(FORGE) if t.type_id == 34
    )
    assert tritanium["adjusted_price"] > 0
    expires = parsedate_to_datetime(response.headers["Expires"])
    assert expires.minute == 0 and expires.second == 0


def test_too_many_errors_earn_a_420_until_the_window_resets(esi, upstreams):
    esi.configure(error_limit=3, error_window=60)
    remains = [
        get(upstreams, f"/markets/{FORGE}/orders/", order_type="nope").headers[
            "X-ESI-Error-Limit-Remain"
        ]
        for _ in range(3)
    ]
    assert remains == ["2", "1", "0"]
    limited = get(upstreams, f"/markets/{FORGE}/orders/", order_type="all")
    assert limited.status_code == 420
    assert limited.headers["X-ESI-Error-Limit-Remain"] == "0"
    assert "error limit" in limited.json()["error"]


def test_an_empty_token_bucket_answers_429_with_retry_after(esi, upstreams):
    esi.configure(rate_limit="4/1m")
    statuses = [get(upstreams, "/markets/prices/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = get(upstreams, "/markets/prices/")
    assert 55 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-Ratelimit-Remaining"] == "0"


def test_history_requests_beyond_the_limit_answer_429(esi, upstreams):
    esi.configure(history_rate="2/1m")
    statuses = [
        get(upstreams, f"/markets/{FORGE}/history/", type_id=34).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_a_malformed_compatibility_date_is_refused(esi, upstreams):
    response = requests.get(
        upstreams.url(f"/esi/markets/{FORGE}/orders/"),
        params={"order_type": "all"},
        headers={"X-Compatibility-Date": "yesterday"},
        timeout=5,
    )
    assert response.status_code == 400


def test_knobs_can_be_set_over_http(esi, upstreams):
    url = upstreams.url("/esi/_replay/state")
    answer = requests.post(
        url, json={"orders": {str(FORGE): 250}, "page_size": 100, "warm": [FORGE]}, timeout=30
    )
    assert answer.status_code == 200
    assert answer.json()["knobs"]["page_size"] == 100
    first = get(upstreams, f"/markets/{FORGE}/orders/", order_type="all")
    assert first.headers["X-Pages"] == "3"
    rolled = requests.post(url, json={"roll_over": [FORGE]}, timeout=5).json()
    assert rolled["clocks"][str(FORGE)]["number"] == 1
    refused = requests.post(url, json={"speed": "ludicrous"}, timeout=5)
    assert refused.status_code == 400 and "speed" in refused.json()["error"]


def test_prices_round_to_four_significant_digits_away_from_the_spread():
    assert price_round(1234567.8, up=True) == 1235000.0
    assert price_round(1234567.8, up=False) == 1234000.0
    assert price_round(9.456, up=True) == 9.46
    assert price_round(9.456, up=False) == 9.45
    assert price_round(4.0, up=True) == 4.0 == price_round(4.0, up=False)
    assert price_round(0.001, up=False) == 0.01


def test_slots_are_shared_out_in_proportion_and_add_up():
    assert slots_allocate([1, 1, 2], 8) == [2, 2, 4]
    assert sum(slots_allocate([0.3, 5.1, 9.9, 0.2], 101)) == 101
    assert slots_allocate([1, 2], 0) == [0, 0]


def test_an_order_book_is_too_big_past_a_million_orders():
    with pytest.raises(ValueError, match="at most"):
        OrderBook(region_id=FORGE, trading=[], stations=[], size=2_000_000)


@pytest.mark.skipif(not FULL_HISTORY.exists(), reason="the shared history archive is absent")
def test_the_full_forge_is_about_400k_orders_on_about_400_pages(upstreams):
    replay = upstreams.state["esi"]
    replay.configure(history="full")
    snapshot = replay.snapshot(FORGE)  # loads the archive and builds the book: seconds
    assert 380_000 <= len(snapshot.orders) <= 420_000
    response = get(upstreams, f"/markets/{FORGE}/orders/", order_type="all", page=400)
    assert response.status_code == 200
    assert 380 <= int(response.headers["X-Pages"]) <= 420
    assert len(json.loads(response.content)) == 1000
