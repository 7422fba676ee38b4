"""The JSON API: the same numbers as the pages, pagination with ``next``, and a 400 that names
the bad parameter. Books are small and hand-computed; jump counts come from the real SDE map."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from accounts.models import TradingProfile
from market.api import _orders_page
from market.queries import caches_clear, region_ages
from market.tests.factories import (
    AMARR,
    HEK,
    JITA,
    PERIMETER_STATION,
    PERIMETER_SYSTEM,
    RENS,
    book_store,
    daily_volume,
    history,
    map_load,
    market_type,
    order,
)
from tests.fixtures import api_bad_parameter as bad

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_desk")]

TRITANIUM, PYERITE, RIFTER = 34, 35, 587
ESI_FIELDS = {
    "order_id",
    "type_id",
    "location_id",
    "system_id",
    "is_buy_order",
    "price",
    "volume_remain",
    "volume_total",
    "min_volume",
    "range",
    "duration",
    "issued",
}


# --- orders --------------------------------------------------------------------------------------


@pytest.fixture
def forge(db):
    return book_store(
        JITA.region_id,
        [
            order(TRITANIUM, "5.00", 1000, buy=True, order_id=11, min_volume=10, range="station"),
            order(TRITANIUM, "6.00", 800, order_id=12),
            order(TRITANIUM, "6.10", 900, order_id=13),
            order(PYERITE, "10.00", 100, buy=True, order_id=14),
            order(
                PYERITE,
                "10.50",
                40,
                order_id=15,
                location_id=PERIMETER_STATION,
                system_id=PERIMETER_SYSTEM,
            ),
        ],
    )


@pytest.mark.embedded
def test_orders_come_with_every_esi_field(client, forge):
    response = client.get(f"/api/market/orders?region_id={JITA.region_id}&type_id={TRITANIUM}")
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    assert body["snapshot"]["snapshot_id"] == forge.id
    assert body["snapshot"]["orders"] == 5
    assert [row["order_id"] for row in body["results"]] == [11, 12, 13]
    first = body["results"][0]
    assert set(first) == ESI_FIELDS
    assert first == {
        "order_id": 11,
        "type_id": TRITANIUM,
        "location_id": JITA.station_id,
        "system_id": JITA.system_id,
        "is_buy_order": True,
        "price": 5.0,
        "volume_remain": 1000,
        "volume_total": 1000,
        "min_volume": 10,
        "range": "station",
        "duration": 90,
        "issued": "2026-11-20T10:00:00Z",
    }


@pytest.mark.parametrize(
    ("query", "order_ids"),
    [
        ("", [11, 12, 13, 14, 15]),
        ("&is_buy_order=true", [11, 14]),
        ("&is_buy_order=false", [12, 13, 15]),
        ("&is_buy_order=0&type_id=35", [15]),
        (f"&location_id={PERIMETER_STATION}", [15]),
        ("&type_id=36", []),
    ],
)
def test_orders_filter_by_type_location_and_side(client, forge, query, order_ids):
    response = client.get(f"/api/market/orders?region_id={JITA.region_id}{query}")
    assert [row["order_id"] for row in response.json()["results"]] == order_ids


def test_orders_page_on_with_next(client, forge):
    url = f"/api/market/orders?region_id={JITA.region_id}&page_size=2"
    seen = []
    while url:
        body = client.get(url).json()
        seen += [row["order_id"] for row in body["results"]]
        url = body["next"]
        assert len(seen) <= 5
    assert seen == [11, 12, 13, 14, 15]


def test_a_new_snapshot_s_orders_show_at_once_and_a_page_is_read_once(client, forge):
    url = f"/api/market/orders?region_id={JITA.region_id}&type_id={TRITANIUM}&page_size=2"
    first = client.get(url)
    assert [row["order_id"] for row in first.json()["results"]] == [11, 12]
    # The same page again is the same answer, without reading the orders again.
    with CaptureQueriesContext(connection) as queries:
        again = client.get(url)
    assert again.content == first.content
    assert not [q for q in queries.captured_queries if "market_order" in q["sql"]]
    # The next page is its own query, and the last one says no more follow.
    body = client.get(first.json()["next"]).json()
    assert [row["order_id"] for row in body["results"]] == [13] and body["next"] is None

    # A crawl of the whole region reads each page once: those pages are not kept.
    crawl = f"/api/market/orders?region_id={JITA.region_id}&page_size=2"
    client.get(crawl)
    with CaptureQueriesContext(connection) as queries:
        client.get(crawl)
    assert [q for q in queries.captured_queries if "market_order" in q["sql"]]

    # A new book replaces the old one: its orders, not the old snapshot's page.
    newer = book_store(JITA.region_id, [order(TRITANIUM, "5.50", 70, order_id=21)])
    body = client.get(url).json()
    assert body["snapshot"]["snapshot_id"] == newer.id
    assert [(row["order_id"], row["price"]) for row in body["results"]] == [(21, 5.5)]
    assert body["next"] is None


def test_a_page_of_a_book_replaced_meanwhile_is_never_answered_from_its_old_rows(client, forge):
    # The age was read just before a new book landed: the old snapshot's rows are not answered
    # (SQLite deletes them in chunks after the swap), and the view reads the age again.
    stale = region_ages([JITA.region_id])[JITA.region_id]
    newer = book_store(JITA.region_id, [order(TRITANIUM, "5.50", 70, order_id=21)])
    assert _orders_page(stale, filters={"type_id": TRITANIUM}, after=None, size=100) is None
    body = client.get(f"/api/market/orders?region_id={JITA.region_id}&type_id={TRITANIUM}").json()
    assert body["snapshot"]["snapshot_id"] == newer.id
    assert [row["order_id"] for row in body["results"]] == [21]


def test_orders_of_a_region_without_a_snapshot_are_an_empty_list(client, forge):
    body = client.get(f"/api/market/orders?region_id={AMARR.region_id}").json()
    assert body == {
        "snapshot": {
            "region_id": AMARR.region_id,
            "snapshot_id": None,
            "last_modified": None,
            "expires": None,
            "orders": 0,
        },
        "next": None,
        "results": [],
    }


@pytest.mark.parametrize(
    ("query", "parameter", "fragment"),
    [
        ("", "region_id", "region_id: is required"),
        ("region_id=abc", "region_id", "must be a whole region id, got 'abc'"),
        ("region_id=42", "region_id", "unknown region 42"),
        ("region_id=10000002&type_id=-3", "type_id", "type_id:"),
        ("region_id=10000002&is_buy_order=maybe", "is_buy_order", "must be one of true, false"),
        ("region_id=10000002&page_size=5000", "page_size", "must be from 1 to 1000"),
        ("region_id=10000002&after=x", "after", "after:"),
        ("region_id=1e3", "region_id", "region_id:"),
    ],
)
def test_orders_name_the_bad_parameter(client, forge, query, parameter, fragment):
    bad(client.get(f"/api/market/orders?{query}"), parameter, fragment)


# --- history -------------------------------------------------------------------------------------


def test_history_gives_daily_rows_for_the_last_days(client):
    dates = history(JITA.region_id, TRITANIUM, 40)
    body = client.get(
        f"/api/market/history?region_id={JITA.region_id}&type_id={TRITANIUM}&days=30"
    ).json()
    assert body["count"] == 30
    assert body["next"] is None
    assert [row["date"] for row in body["results"]] == [d.isoformat() for d in dates[-30:]]
    last = body["results"][-1]
    assert last == {
        "date": dates[-1].isoformat(),
        "average": 100.0,
        "highest": 105.0,
        "lowest": 95.0,
        "volume": 1000,
        "order_count": 10,
    }


def test_history_pages_with_next(client):
    history(JITA.region_id, TRITANIUM, 40)
    url = f"/api/market/history?region_id={JITA.region_id}&type_id={TRITANIUM}&days=90&page_size=25"
    first = client.get(url).json()
    assert first["count"] == 40 and len(first["results"]) == 25
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 15 and second["next"] is None


def test_history_of_a_type_never_traded_is_empty(client):
    body = client.get(f"/api/market/history?region_id={JITA.region_id}&type_id=99").json()
    assert body["results"] == [] and body["count"] == 0


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("type_id=34", "region_id"),
        ("region_id=10000002", "type_id"),
        ("region_id=10000002&type_id=34&days=0", "days"),
        ("region_id=10000002&type_id=34&days=100000", "days"),
        ("region_id=10000002&type_id=34&days=ten", "days"),
    ],
)
def test_history_names_the_bad_parameter(client, query, parameter):
    bad(client.get(f"/api/market/history?{query}"), parameter, f"{parameter}:")


# --- station trading -----------------------------------------------------------------------------


@pytest.mark.embedded
def test_station_trading_rows_match_the_hand_computation(client, forge):
    market_type(TRITANIUM, "Tritanium")
    daily_volume(JITA.region_id, TRITANIUM, "1000")
    response = client.get(
        f"/api/market/station-trading?station_id={JITA.station_id}"
        "&sales_tax=0.036&broker_fee=0.015&sort=type_id&include_flagged=1"
    )
    body = response.json()
    assert body["fees"] == {"sales_tax": 0.036, "broker_fee": 0.015}
    assert body["count"] == 1  # Pyerite's ask is at Perimeter, not at Jita
    assert body["results"] == [
        {
            "type_id": TRITANIUM,
            "type_name": "Tritanium",
            "best_bid": 5.0,
            "best_ask": 6.0,
            # Each side's best 5 % of units all sit at its best price.
            "depth_price_bid": 5.0,
            "depth_price_ask": 6.0,
            "broker_fee_bid": 0.08,  # 0.075
            "broker_fee_ask": 0.09,
            "sales_tax": 0.22,  # 0.216
            "profit": 0.62,  # 0.619
            "margin": 0.1238,
            "daily_volume": 1000.0,
            "daily_profit": 619.0,
            "has_history": True,
            # Not watched yet: 10 % of the region's 1,000 a day, 0.619 x 100 = 61.90.
            "station_daily_volume": None,
            "volume_basis": "region",
            "achievable_units": 100,
            "achievable_daily_profit": 61.9,
            "bid_reprices_daily": None,
            "ask_reprices_daily": None,
            # 1,000 units at 5.00 and 800 at 6.00: under 10,000 ISK on either side.
            "flags": ["tiny_order"],
        }
    ]


def test_station_trading_filters_and_pages_like_the_page(client, forge):
    orders = []
    for offset in range(7):
        type_id = 2000 + offset
        orders += [order(type_id, "100", 1, buy=True), order(type_id, str(100 + offset), 1)]
    book_store(JITA.region_id, orders)
    url = (
        f"/api/market/station-trading?station_id={JITA.station_id}"
        "&sales_tax=0.01&broker_fee=0.01&min_margin=0&sort=-margin&include_flagged=1"
    )
    first = client.get(f"{url}&page_size=2").json()
    # profit = 0.98 x ask - 101: asks of 104 … 106 pay, 100 … 103 do not.
    assert first["count"] == 3
    assert [row["type_id"] for row in first["results"]] == [2006, 2005]
    second = client.get(first["next"]).json()
    assert [row["type_id"] for row in second["results"]] == [2004]
    assert second["next"] is None
    # None of them has history: a daily volume of 0 that means "unknown".
    assert {(row["daily_volume"], row["has_history"]) for row in second["results"]} == {(0, False)}


def test_station_trading_before_any_snapshot_is_empty(client):
    body = client.get(f"/api/market/station-trading?station_id={JITA.station_id}").json()
    assert body["results"] == [] and body["snapshot"]["snapshot_id"] is None


@pytest.mark.parametrize(
    ("query", "parameter", "fragment"),
    [
        ("", "station_id", "station_id: is required"),
        ("station_id=5", "station_id", "unknown station 5"),
        ("station_id=60003760&sales_tax=0.5x", "sales_tax", "enter a number"),
        ("station_id=60003760&sales_tax=1", "sales_tax", "from 0 to below 1"),
        ("station_id=60003760&broker_fee=-0.01", "broker_fee", "from 0 to below 1"),
        ("station_id=60003760&min_margin=Infinity", "min_margin", "min_margin:"),
        ("station_id=60003760&min_volume=-1", "min_volume", "at least 0"),
        ("station_id=60003760&sort=DROP%20TABLE", "sort", "must be one of"),
        ("station_id=60003760&market_group=12", "market_group", "unknown market group 12"),
        ("station_id=60003760&min_volume=1e999999k", "min_volume", "must be below"),
        ("station_id=60003760&min_profit=1e999999k", "min_profit", "must be below"),
        ("station_id=60003760&max_price=1e999999k", "max_price", "must be below"),
        ("station_id=60003760&volume_cap=1e999999k", "volume_cap", "must be below"),
    ],
)
def test_station_trading_names_the_bad_parameter(client, forge, query, parameter, fragment):
    bad(client.get(f"/api/market/station-trading?{query}"), parameter, fragment)


# --- hauling -------------------------------------------------------------------------------------

# The walk's arithmetic is shown on small books, which the flags call tiny orders (less than
# 10,000 ISK at the best price): these tests ask for the flagged rows too. A lone type is planned
# the same either way (test_hauling_trust.py has the flags and what the default view hides).
HAUL = (
    f"/api/market/hauling?from_station_id={JITA.station_id}&to_station_id={AMARR.station_id}"
    "&include_flagged=1"
)


@pytest.fixture
def haul(db):
    """Tritanium: cheap at Jita over three levels, wanted at Amarr over three levels."""
    market_type(TRITANIUM, "Tritanium", volume=0.01)
    book_store(
        JITA.region_id,
        [
            order(TRITANIUM, "4.00", 100),
            order(TRITANIUM, "4.50", 200),
            order(TRITANIUM, "5.00", 300),
        ],
    )
    book_store(
        AMARR.region_id,
        [
            order(TRITANIUM, "6.00", 150, buy=True, hub=AMARR),
            order(TRITANIUM, "5.00", 400, buy=True, hub=AMARR),
            order(TRITANIUM, "4.80", 1000, buy=True, hub=AMARR),
            order(TRITANIUM, "7.00", 50, hub=AMARR),
            order(TRITANIUM, "7.50", 10, hub=AMARR),
        ],
    )
    daily_volume(AMARR.region_id, TRITANIUM, "250")


def only_row(response) -> dict:
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.embedded
def test_instant_walks_both_books_until_a_unit_stops_paying(client, haul):
    row = only_row(client.get(f"{HAUL}&mode=instant&sales_tax=0.1"))
    # Into the 6.00 bid (5.40 after tax): 100 at 4.00, then 50 at 4.50. The 5.00 bid nets 4.50,
    # no better than the next ask (4.50): the walk stops there.
    assert row["quantity"] == 150
    assert row["buy_cost"] == 625.0  # 400 + 225
    assert row["sell_revenue"] == 900.0  # 150 x 6.00
    assert row["fees_and_tax"] == 90.0  # 10 % tax, no broker fee when taking orders
    assert row["net_profit"] == 185.0
    assert row["roi"] == 0.296
    assert row["volume_m3"] == 1.5
    assert row["buys"] == [{"price": 4.0, "quantity": 100}, {"price": 4.5, "quantity": 50}]
    assert row["sells"] == [{"price": 6.0, "quantity": 150}]
    # 400 ISK of Tritanium at Jita's best ask and 900 at Amarr's best bid: tiny orders.
    assert row["flags"] == ["tiny_order"]
    assert row["days_to_sell"] == 0  # sold into Amarr's buy orders on arrival


def test_instant_stops_when_the_budget_runs_out(client, haul):
    row = only_row(client.get(f"{HAUL}&mode=instant&sales_tax=0.1&budget=500"))
    # 100 at 4.00 (400), then 22 at 4.50 (99): 499 spent, 1 ISK left.
    assert row["quantity"] == 122
    assert row["buy_cost"] == 499.0
    assert row["net_profit"] == 159.8  # 732 - 499 - 73.2


def test_instant_stops_when_the_hold_is_full(client, haul):
    row = only_row(client.get(f"{HAUL}&mode=instant&sales_tax=0.1&cargo_m3=1.2"))
    # 1.2 m³ / 0.01 = 120 units: 100 at 4.00 and 20 at 4.50.
    assert row["quantity"] == 120
    assert row["buy_cost"] == 490.0
    assert row["net_profit"] == 158.0  # 720 - 490 - 72
    assert row["volume_m3"] == 1.2


def test_instant_honours_min_volume_on_buy_orders(client, haul):
    book_store(
        AMARR.region_id,
        [
            # Pays best, but only for 700 units at once: Jita's 600 units cannot fill it.
            order(TRITANIUM, "7.00", 800, buy=True, hub=AMARR, min_volume=700),
            order(TRITANIUM, "6.00", 150, buy=True, hub=AMARR),
        ],
    )
    caches_clear()
    row = only_row(client.get(f"{HAUL}&mode=instant&sales_tax=0.1"))
    assert row["sells"] == [{"price": 6.0, "quantity": 150}]
    assert row["net_profit"] == 185.0


def test_instant_fills_a_min_volume_order_it_can_reach(client, haul):
    book_store(
        AMARR.region_id,
        [
            order(TRITANIUM, "7.00", 800, buy=True, hub=AMARR, min_volume=500),
            order(TRITANIUM, "6.00", 150, buy=True, hub=AMARR),
        ],
    )
    caches_clear()
    row = only_row(client.get(f"{HAUL}&mode=instant&sales_tax=0.1"))
    # All 600 Jita units net less than 6.30 each: one sale of 600 ≥ 500 into the 7.00 order.
    assert row["sells"] == [{"price": 7.0, "quantity": 600}]
    assert row["net_profit"] == 980.0  # 4200 - 2800 - 420


@pytest.mark.embedded
def test_relist_sells_one_tick_under_the_best_ask(client, haul):
    row = only_row(client.get(f"{HAUL}&mode=relist&sales_tax=0.1&broker_fee=0.05&share=1"))
    # Relist at 6.99 (7.00 less a 0.01 tick), 5.9415 kept per unit after 15 %: every Jita ask
    # pays, but Amarr buys 250 a day (its region's history: the station is not watched yet),
    # all of it at a 100 % share: 100 at 4.00 and 150 at 4.50, sold in one day.
    assert row["quantity"] == 250
    assert row["buy_cost"] == 1075.0
    assert row["sell_revenue"] == 1747.5
    assert row["fees_and_tax"] == 262.13  # 87.375 broker fee + 174.75 tax
    assert row["net_profit"] == 410.38  # 410.375
    assert row["roi"] == 0.381744
    assert row["sells"] == [{"price": 6.99, "quantity": 250}]
    assert (row["days_to_sell"], row["absorbed_daily"], row["volume_source"]) == (1, 250, "region")


def test_hauling_uses_the_packaged_volume_of_ships(client):
    market_type(RIFTER, "Rifter", volume=27289, packaged_volume=2500)
    book_store(JITA.region_id, [order(RIFTER, "500000", 10)])
    book_store(AMARR.region_id, [order(RIFTER, "700000", 10, buy=True, hub=AMARR)])
    row = only_row(client.get(f"{HAUL}&cargo_m3=6000"))
    assert row["quantity"] == 2  # 6000 / 2500, not 0 by the assembled 27,289 m³
    assert row["volume_m3"] == 5000.0


def test_jumps_come_from_the_sde_map(client, haul):
    map_load()
    shortest = client.get(f"{HAUL}&route=shortest").json()
    assert shortest["trips"] == [
        {"from_station_id": JITA.station_id, "to_station_id": AMARR.station_id, "jumps": 11}
    ]
    secure = client.get(f"{HAUL}&route=secure&sales_tax=0.1").json()
    assert secure["trips"][0]["jumps"] == 45
    row = secure["results"][0]
    assert row["jumps"] == 45
    assert Decimal(str(row["profit_per_jump"])) == Decimal("4.11")  # 185 / 45
    for route in ("shortest", "secure"):
        rens_hek = client.get(
            f"/api/market/hauling?from_station_id={RENS.station_id}"
            f"&to_station_id={HEK.station_id}&route={route}"
        ).json()
        assert rens_hek["trips"][0]["jumps"] == 6
        assert rens_hek["results"] == []  # no books there yet: nothing to haul


def test_any_hub_to_any_hub_plans_every_trip(client, haul):
    body = client.get("/api/market/hauling?sales_tax=0.1&include_flagged=1").json()
    assert len(body["trips"]) == 20  # 5 hubs x 4 destinations
    assert [(r["from_station_id"], r["to_station_id"]) for r in body["results"]] == [
        (JITA.station_id, AMARR.station_id)
    ]
    from_jita = client.get(f"/api/market/hauling?from_station_id={JITA.station_id}").json()
    assert len(from_jita["trips"]) == 4


def test_a_new_snapshot_is_a_new_hauling_answer(client, haul):
    """Answers are kept per snapshot: the next one at either end is planned and shown anew,
    without anything forgetting the kept plans."""
    before = client.get(f"{HAUL}&sales_tax=0.1").json()
    assert only_row(client.get(f"{HAUL}&sales_tax=0.1"))["sells"][0]["price"] == 6.0
    landed = book_store(AMARR.region_id, [order(TRITANIUM, "6.50", 150, buy=True, hub=AMARR)])
    after = client.get(f"{HAUL}&sales_tax=0.1").json()
    amarr = [age for age in after["snapshots"] if age["region_id"] == AMARR.region_id]
    assert amarr[0]["snapshot_id"] == landed.id
    assert landed.id not in [age["snapshot_id"] for age in before["snapshots"]]
    assert after["results"][0]["sells"] == [{"price": 6.5, "quantity": 150}]


def test_a_kept_hauling_answer_is_each_callers_own(client, haul, user):
    """A plan kept for the default fees is not shown to a trader with others, nor theirs to
    anyone else."""

    def tax(body: dict) -> Decimal:
        row = body["results"][0]
        return Decimal(str(row["fees_and_tax"])) / Decimal(str(row["sell_revenue"]))

    anonymous = client.get(HAUL).json()
    TradingProfile.objects.create(user=user, accounting_level=5)
    client.force_login(user)
    trader = client.get(HAUL).json()
    client.logout()
    again = client.get(HAUL).json()
    assert tax(anonymous) == tax(again) == Decimal("0.08")
    assert tax(trader).quantize(Decimal("0.0001")) == Decimal("0.0360")
    assert trader["fees"] == {"sales_tax": 0.036, "broker_fee": 0.03}


def test_a_warm_hauling_answer_reads_the_database_twice(client, haul, user):
    """Once its plan is kept, an answer asks the database only which snapshots are current and
    whether the stargate map changed (each JSON answer's CPU is mostly its reads); a trader's
    also reads their session and profile, once."""
    client.get(HAUL)
    with CaptureQueriesContext(connection) as anonymous:
        assert client.get(f"{HAUL}&page_size=1").status_code == 200
    assert len(anonymous) == 2
    TradingProfile.objects.create(user=user, accounting_level=5)
    client.force_login(user)
    client.get(HAUL)
    with CaptureQueriesContext(connection) as trader:
        assert client.get(f"{HAUL}&page_size=1").status_code == 200
    profile_reads = [q for q in trader if TradingProfile._meta.db_table in q["sql"]]
    assert len(profile_reads) == 1
    assert len(trader) <= 5  # the session, the user, the profile, the snapshots, the map


def test_hauling_with_nothing_worth_it_is_empty(client, haul):
    # Amarr's buyers at 6.00 keep only 3.00 after a 50 % tax: below every Jita ask.
    body = client.get(f"{HAUL}&sales_tax=0.5").json()
    assert body["results"] == [] and body["count"] == 0


@pytest.mark.parametrize(
    ("query", "parameter", "fragment"),
    [
        ("&mode=fast", "mode", "must be one of instant, relist"),
        ("&route=scenic", "route", "must be one of shortest, secure"),
        ("&budget=-5", "budget", "at least 0"),
        ("&cargo_m3=lots", "cargo_m3", "enter a number, got 'lots'"),
        ("&cargo_m3=1e999999k", "cargo_m3", "must be below 1,000,000,000,000,000"),
        ("&budget=1e999999b", "budget", "must be below 1,000,000,000,000,000"),
        ("&sales_tax=3.6", "sales_tax", "from 0 to below 1"),
        ("&sort=jumps;", "sort", "must be one of"),
        (f"&to_station_id={JITA.station_id}&x=1", "to_station_id", "must differ"),
    ],
)
def test_hauling_names_the_bad_parameter(client, haul, query, parameter, fragment):
    url = f"/api/market/hauling?from_station_id={JITA.station_id}&to_station_id={AMARR.station_id}"
    if "to_station_id" in query:
        url = f"/api/market/hauling?from_station_id={JITA.station_id}"
    bad(client.get(url + query), parameter, fragment)


def test_the_api_and_the_page_show_the_same_numbers(client, haul):
    body = client.get(f"{HAUL}&sales_tax=0.1").json()
    page = client.get(
        f"/market/hauling/?from_station_id={JITA.station_id}"
        f"&to_station_id={AMARR.station_id}&sales_tax=0.1&include_flagged=1"
    ).content.decode()
    html = HTMLParser(page)
    labels = [th.text(strip=True).rstrip(" ▾▴") for th in html.css("#hauling-rows thead th")]
    shown = [
        dict(zip(labels, [cell.text(strip=True) for cell in tr.css("th, td")], strict=True))
        for tr in html.css("#hauling-rows tbody tr")
    ]
    assert len(shown) == len(body["results"]) > 0
    for api, row in zip(body["results"], shown, strict=True):
        # The page rounds ISK totals to whole ISK (half up) and ratios to a tenth of a percent;
        # a flagged row says why next to its name.
        assert row["Item"] == api["type_name"] + "tiny order"
        assert row["Quantity"] == f"{api['quantity']:,}"
        for label, key in (("Buy cost", "buy_cost"), ("Net profit", "net_profit")):
            whole = Decimal(str(api[key])).quantize(Decimal(1), rounding=ROUND_HALF_UP)
            assert row[label] == f"{whole:,}"
        roi = (Decimal(str(api["roi"])) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        assert row["ROI"] == f"{roi} %"


# --- fees, written the same way by every endpoint ---------------------------------------------


@pytest.mark.parametrize(
    ("accounting", "fees"),
    [
        (None, '"fees":{"sales_tax":0.08,"broker_fee":0.03}'),
        (5, '"fees":{"sales_tax":0.036,"broker_fee":0.03}'),
    ],
)
def test_every_endpoint_writes_the_fees_alike(client, haul, user, accounting, fees):
    """The profile's rates come out of the fee rules as 0.0800; a client comparing the fees of
    two endpoints (or against 0.08) must see the same number written the same way."""
    if accounting is not None:
        TradingProfile.objects.create(user=user, accounting_level=accounting)
        client.force_login(user)
    trading = client.get(f"/api/market/station-trading?station_id={JITA.station_id}")
    haul_ = client.get(HAUL)
    assert fees in trading.content.decode()
    assert fees in haul_.content.decode()
    given = client.get(f"{HAUL}&sales_tax=0.0800&broker_fee=3.00%").content.decode()
    assert '"fees":{"sales_tax":0.08,"broker_fee":0.03}' in given
