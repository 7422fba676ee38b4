"""Hauling rows a trader can trust: the relist capped at what the destination absorbs, the days to
sell, the flags on every row, what the default view hides and says it hid, the trip's profit as
the default order, unknown volumes, and the books each trip cuts from the hubs' whole books.

Books go in through the real ingest; what the ingest of this branch does not fill yet (depth
prices, the smallest min_volume at the best bid) is written on the BestPrice rows, and the
station's own volumes are StationTradeDay and ObservedDay rows, as the liquidity ingest writes
them. The rules as pure maths (arrays against Decimals, counting against walking) are in
test_trading_haul_trust.py.
"""

from __future__ import annotations

import random
from decimal import Decimal as D

import pytest
from django.core.cache import cache
from django.utils import timezone
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from accounts.models import TradingProfile
from market.models import BestPrice, ObservedDay, Order, StationTradeDay
from market.queries import caches_clear
from market.tests.factories import (
    AMARR,
    DODIXIE,
    JITA,
    book_store,
    daily_volume,
    market_type,
    order,
)
from market.trading import (
    BookOrder,
    hauling_instant,
    hauling_relist,
)
from tests.fixtures import api_bad_parameter

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_desk")]

TRITANIUM, PYERITE, MEXALLON, NOCXIUM, ZYDRINE, MEGACYTE, PLEX = 34, 35, 36, 38, 39, 40, 44992
UNKNOWN_TYPE = 47508  # sold on the market, not in the SDE (the types helper names it later)
PAIR = f"from_station_id={JITA.station_id}&to_station_id={AMARR.station_id}"
API = f"/api/market/hauling?{PAIR}"
PAGE = f"/market/hauling/?{PAIR}"


def best_prices(hub, type_id: int, **values) -> None:
    """What the liquidity ingest adds to a station's best prices (depth, min_volume), then the
    caches forgotten, as a new snapshot would."""
    BestPrice.objects.current(region_id=hub.region_id).filter(
        location_id=hub.station_id, type_id=type_id
    ).update(**values)
    cache.clear()
    caches_clear()


def station_volume(hub, type_id: int, *, bought: int = 0, sold: int = 0) -> None:
    """One fully watched day at the hub's station: ``bought`` units taken from sell orders,
    ``sold`` into buy orders."""
    today = timezone.now().date()
    ObservedDay.objects.update_or_create(
        region_id=hub.region_id, date=today, defaults={"observed_seconds": 86400, "pairs": 288}
    )
    StationTradeDay.objects.create(
        region_id=hub.region_id,
        location_id=hub.station_id,
        type_id=type_id,
        date=today,
        bought_from_sell_orders=bought,
        sold_to_buy_orders=sold,
    )
    cache.clear()
    caches_clear()


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def by_type(response) -> dict[int, dict]:
    return {row["type_id"]: row for row in rows(response)}


@pytest.fixture
def trusted(db):
    """Tritanium: Jita 5.00 to Amarr's 6.00 bid, deep on both sides, traded daily at Amarr."""
    market_type(TRITANIUM, "Tritanium")
    book_store(JITA.region_id, [order(TRITANIUM, "5.00", 10_000)])
    book_store(AMARR.region_id, [order(TRITANIUM, "6.00", 5_000, buy=True, hub=AMARR)])
    daily_volume(AMARR.region_id, TRITANIUM, "100000")


# --- relist: what the destination absorbs, and the days to sell -------------------------------


@pytest.fixture
def relist_books(db):
    """Mexallon and Nocxium, cheap at Jita, asked dearer at Amarr, where buyers take 40 and 2.5
    a day from sell orders (one watched day)."""
    market_type(MEXALLON, "Mexallon")
    market_type(NOCXIUM, "Nocxium")
    book_store(JITA.region_id, [order(MEXALLON, "50.00", 1_000), order(NOCXIUM, "500.00", 100)])
    book_store(
        AMARR.region_id,
        [order(MEXALLON, "80.00", 200, hub=AMARR), order(NOCXIUM, "800.00", 20, hub=AMARR)],
    )
    daily_volume(AMARR.region_id, MEXALLON, "300")
    daily_volume(AMARR.region_id, NOCXIUM, "30")
    station_volume(AMARR, MEXALLON, bought=40)
    StationTradeDay.objects.create(
        region_id=AMARR.region_id,
        location_id=AMARR.station_id,
        type_id=NOCXIUM,
        date=timezone.now().date(),
        bought_from_sell_orders=2,
        probable_bought=1,  # 3 a day with the probable one; 2.5 below as half a day watched
    )
    ObservedDay.objects.filter(region_id=AMARR.region_id).update(observed_seconds=86400)


RELIST = f"{API}&mode=relist&sales_tax=0.1&broker_fee=0.05"


@pytest.mark.embedded
def test_relist_sells_one_day_of_what_the_destination_absorbs_at_a_10_percent_share(
    client, relist_books
):
    found = by_type(client.get(RELIST))
    mexallon = found[MEXALLON]
    # 40 bought a day at Amarr's station, 10 % of it: 4 units, sold in a day. Each is relisted
    # at 79.99 (a tick under 80.00) and keeps 85 %: 67.9915 - 50.00 = 17.9915.
    assert (mexallon["quantity"], mexallon["days_to_sell"]) == (4, 1)
    assert mexallon["station_daily_volume"] == 40
    assert (mexallon["absorbed_daily"], mexallon["volume_source"]) == (4, "station")
    assert mexallon["net_profit"] == 71.97  # 4 x 17.9915 = 71.966
    # Nocxium: 3 a day at 10 % is 0.3: one unit still goes, sold in 3.3 days.
    nocxium = found[NOCXIUM]
    assert (nocxium["quantity"], nocxium["days_to_sell"]) == (1, 3.333333)
    assert [row["flags"] for row in found.values()] == [[], []]


def test_the_share_is_the_users_own_or_the_urls(client, relist_books, user):
    assert by_type(client.get(f"{RELIST}&share=50%"))[MEXALLON]["quantity"] == 20
    assert client.get(f"{RELIST}&share=0.5").json()["share"] == 0.5
    TradingProfile.objects.create(user=user, market_share=D("0.25"))
    client.force_login(user)
    body = client.get(RELIST).json()
    assert body["share"] == 0.25
    assert by_type(client.get(RELIST))[MEXALLON]["quantity"] == 10
    assert by_type(client.get(f"{RELIST}&share=1"))[MEXALLON]["quantity"] == 40  # the URL wins


def test_relist_falls_back_on_the_regions_volume_and_says_so(client, relist_books):
    ObservedDay.objects.all().delete()  # the station not watched: its volume is unknown
    cache.clear()
    caches_clear()
    mexallon = by_type(client.get(RELIST))[MEXALLON]
    # The region's 300 a day at 10 %: 30 units, in a day.
    assert (mexallon["quantity"], mexallon["days_to_sell"]) == (30, 1)
    assert (mexallon["station_daily_volume"], mexallon["volume_source"]) == (None, "region")
    page = HTMLParser(client.get(f"{PAGE}&mode=relist&sales_tax=0.1").content.decode())
    cells = {
        tr.css_first("th").text(strip=True): [td.text(strip=True) for td in tr.css("td")]
        for tr in page.css("#hauling-rows tbody tr")
    }
    assert "1(region)" in cells["Mexallon"]  # days to sell, by the region's volume
    assert "unknown" in cells["Mexallon"]  # the station's own daily volume


def test_nothing_bought_at_the_destination_means_no_relist(client, relist_books):
    StationTradeDay.objects.filter(type_id=MEXALLON).update(bought_from_sell_orders=0)
    cache.clear()
    caches_clear()
    assert MEXALLON not in by_type(client.get(f"{RELIST}&include_flagged=1"))


# --- instant: min_volume baits ------------------------------------------------------------------


def test_the_instant_walk_skips_a_buy_order_it_cannot_bring_its_min_volume_to():
    plan = hauling_instant(
        sell_orders_at_a=[BookOrder(D("5.00"), 6_000)],
        buy_orders_at_b=[
            # Wants 10,000 at once (EVE lets the last units of an order go below its minimum,
            # but 20,000 are left).
            BookOrder(D("6.50"), 20_000, min_volume=10_000),
            BookOrder(D("6.00"), 5_000),
        ],
        budget=None,
        cargo_m3=None,
        unit_volume=D("0.01"),
        sales_tax=D("0.1"),
    )
    assert [(fill.price, fill.quantity) for fill in plan.sells] == [(D("6.00"), 5_000)]


@pytest.fixture
def bait(trusted):
    """Pyerite: Amarr's best bid (6.50) wants 10,000 units at once; Jita has 6,000."""
    market_type(PYERITE, "Pyerite")
    book_store(
        JITA.region_id,
        [order(TRITANIUM, "5.00", 10_000), order(PYERITE, "5.00", 6_000)],
    )
    book_store(
        AMARR.region_id,
        [
            order(TRITANIUM, "6.00", 5_000, buy=True, hub=AMARR),
            order(PYERITE, "6.50", 20_000, buy=True, hub=AMARR, min_volume=10_000),
            order(PYERITE, "6.00", 5_000, buy=True, hub=AMARR),
        ],
    )
    daily_volume(AMARR.region_id, PYERITE, "50000")
    best_prices(AMARR, PYERITE, best_bid_min_volume=10_000)


def test_a_bait_bid_flags_the_row_and_the_walk_sells_elsewhere(client, bait):
    pyerite = by_type(client.get(f"{API}&sales_tax=0.1&include_flagged=1"))[PYERITE]
    assert pyerite["flags"] == ["bait_min_volume"]
    assert pyerite["best_bid"] == 6.5
    assert pyerite["sells"] == [{"price": 6.0, "quantity": 5000}]
    assert PYERITE not in by_type(client.get(f"{API}&sales_tax=0.1"))


# --- every flag on a hauling row ----------------------------------------------------------------


def one_type(client, asks, bids, *, mode="instant", volume="50000", query="", **prices):
    """One type's row (flagged or not) for these books at Jita and Amarr."""
    market_type(ZYDRINE, "Zydrine")
    book_store(JITA.region_id, [order(ZYDRINE, price, units) for price, units in asks])
    book_store(
        AMARR.region_id,
        [order(ZYDRINE, price, units, buy=mode == "instant", hub=AMARR) for price, units in bids],
    )
    if volume:
        daily_volume(AMARR.region_id, ZYDRINE, volume)
    for hub, values in (("jita", prices.get("jita")), ("amarr", prices.get("amarr"))):
        if values:
            best_prices(JITA if hub == "jita" else AMARR, ZYDRINE, **values)
    caches_clear()
    cache.clear()
    found = rows(client.get(f"{API}&mode={mode}&share=1&include_flagged=1{query}"))
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    ("asks", "bids", "mode", "volume", "prices", "flags"),
    [
        pytest.param(
            [("20000", 1), ("40000", 10)],
            [("45000", 10)],
            "instant",
            "50000",
            {"jita": {"depth_ask": D("40000")}},
            ["outlier"],
            id="one unit far under the depth price at the origin",
        ),
        pytest.param(
            [("5.00", 100)],
            [("6.00", 5000)],
            "instant",
            "50000",
            {},
            ["tiny_order"],
            id="500 ISK at the origin's best ask",
        ),
        pytest.param(
            [("40000", 10)],
            [("90000", 1), ("45000", 10)],
            "instant",
            "50000",
            {"amarr": {"depth_bid": D("50000")}},
            ["outlier"],
            id="one unit far over the depth price at the destination's bid",
        ),
        pytest.param(
            [("5.00", 10000)],
            [("6.00", 5000)],
            "instant",
            "",
            {},
            ["no_volume"],
            id="nothing traded at the destination",
        ),
        pytest.param(
            [("50.00", 1000)],
            [("80.00", 1)],
            "relist",
            "50000",
            {"amarr": {"depth_ask": D("60.00")}},
            ["outlier"],
            id="relist under a lone ask far from the depth price",
        ),
        pytest.param(
            [("10040.00", 1)],
            [("369500000.00", 1)],
            "instant",
            "50000",
            {},
            ["outlier"],
            id="sold at 36,800 times its price: two markets that disagree",
        ),
    ],
)
def test_each_flag_on_a_hauling_row(client, db, asks, bids, mode, volume, prices, flags):
    row = one_type(client, asks, bids, mode=mode, volume=volume, **prices)
    assert row["flags"] == flags
    assert row["net_profit"] > 0  # the walk never plans a unit that loses: no "loss" rows


def test_the_api_puts_depth_prices_next_to_best_prices(client, db):
    row = one_type(
        client,
        [("40000", 10), ("41000", 100)],
        [("45000", 10)],
        jita={"depth_ask": D("40900.00")},
        amarr={"depth_bid": D("45000.00")},
    )
    assert (row["best_ask"], row["depth_price_ask"]) == (40000, 40900)
    assert (row["best_bid"], row["depth_price_bid"]) == (45000, 45000)
    assert row["destination_best_ask"] is None


# --- unknown volumes ------------------------------------------------------------------------------


@pytest.fixture
def unknown_volume(trusted):
    """A type the SDE does not know yet, on sale at Jita and wanted at Amarr."""
    book_store(
        JITA.region_id,
        [order(TRITANIUM, "5.00", 10_000), order(UNKNOWN_TYPE, "20000", 5)],
    )
    book_store(
        AMARR.region_id,
        [
            order(TRITANIUM, "6.00", 5_000, buy=True, hub=AMARR),
            order(UNKNOWN_TYPE, "30000", 5, buy=True, hub=AMARR),
        ],
    )
    daily_volume(AMARR.region_id, UNKNOWN_TYPE, "10")


def test_an_unknown_volume_says_so_instead_of_taking_no_room(client, unknown_volume):
    # An unlimited hold: the plan does not need the volume; the row says it is unknown.
    row = by_type(client.get(f"{API}&sales_tax=0.1"))[UNKNOWN_TYPE]
    assert (row["unit_volume"], row["volume_m3"], row["flags"]) == (None, None, [])
    page = client.get(f"{PAGE}&sales_tax=0.1&cargo_m3=").content.decode()
    assert "volume unknown" in page
    # A limited hold cannot count it: left out of the trip, flagged, and hidden by default.
    limited = client.get(f"{API}&sales_tax=0.1&cargo_m3=60000").json()
    assert [row["type_id"] for row in limited["results"]] == [TRITANIUM]
    assert limited["flagged"]["reasons"] == [
        {"flag": "unknown_volume", "label": "volume unknown", "rows": 1}
    ]
    shown = by_type(client.get(f"{API}&sales_tax=0.1&cargo_m3=60000&include_flagged=1"))
    assert shown[UNKNOWN_TYPE]["flags"] == ["unknown_volume"]
    assert shown[UNKNOWN_TYPE]["trip_profit"] == shown[TRITANIUM]["net_profit"]  # not in it


def test_a_tiny_volume_is_not_shown_as_zero(client, trusted):
    market_type(PLEX, "PLEX", volume=0.0002)
    book_store(JITA.region_id, [order(PLEX, "5000000", 500)])
    book_store(AMARR.region_id, [order(PLEX, "6000000", 3, buy=True, hub=AMARR)])
    daily_volume(AMARR.region_id, PLEX, "100")
    page = HTMLParser(client.get(f"{PAGE}&sales_tax=0.1").content.decode())
    cells = [td.text(strip=True) for td in page.css("#hauling-rows tbody tr td")]
    assert "0.0006" in cells  # 3 PLEX at 0.0002 m³, not "0.0"


# --- what the default view hides, and says it hid -----------------------------------------------


@pytest.fixture
def mixed(bait):
    """One clean row (Tritanium), a bait (Pyerite) and two types nobody trades at Amarr."""
    market_type(MEXALLON, "Mexallon")
    market_type(NOCXIUM, "Nocxium")
    book_store(
        JITA.region_id,
        [
            order(TRITANIUM, "5.00", 10_000),
            order(PYERITE, "5.00", 6_000),
            order(MEXALLON, "50.00", 1_000),
            order(NOCXIUM, "500.00", 100),
        ],
    )
    book_store(
        AMARR.region_id,
        [
            order(TRITANIUM, "6.00", 5_000, buy=True, hub=AMARR),
            order(PYERITE, "6.50", 20_000, buy=True, hub=AMARR, min_volume=10_000),
            order(PYERITE, "6.00", 5_000, buy=True, hub=AMARR),
            order(MEXALLON, "70.00", 500, buy=True, hub=AMARR),
            order(NOCXIUM, "700.00", 50, buy=True, hub=AMARR),
        ],
    )
    best_prices(AMARR, PYERITE, best_bid_min_volume=10_000)


@pytest.mark.embedded
def test_the_default_view_hides_flagged_rows_and_says_why(client, mixed):
    body = client.get(f"{API}&sales_tax=0.1").json()
    assert [row["type_id"] for row in body["results"]] == [TRITANIUM]
    assert body["include_flagged"] is False
    assert body["flagged"] == {
        "rows": 3,
        "hidden": 3,
        "reasons": [
            {"flag": "no_volume", "label": "no volume", "rows": 2},
            {"flag": "bait_min_volume", "label": "bait order", "rows": 1},
        ],
    }
    every = client.get(f"{API}&sales_tax=0.1&include_flagged=1").json()
    assert every["flagged"]["hidden"] == 0 and every["count"] == 4
    assert {row["type_id"]: row["flags"] for row in every["results"]} == {
        TRITANIUM: [],
        PYERITE: ["bait_min_volume"],
        MEXALLON: ["no_volume"],
        NOCXIUM: ["no_volume"],
    }


def test_the_page_says_what_it_hid_and_one_click_shows_it(client, mixed):
    html = HTMLParser(client.get(f"{PAGE}&sales_tax=0.1").content.decode())
    summary = html.css_first("#hauling-flagged")
    assert summary.text(separator=" ", strip=True) == (
        "3 rows hidden: no volume (2), bait order (1) — show them"
    )
    link = summary.css_first("a").attributes["href"]
    assert "include_flagged=1" in link
    shown = HTMLParser(client.get(link).content.decode())
    items = [" ".join(th.text().split()) for th in shown.css("#hauling-rows tbody th")]
    assert "Pyerite bait order" in items
    assert "Mexallon no volume" in items
    assert "Tritanium" in items
    again = shown.css_first("#hauling-flagged")
    assert again.text(separator=" ", strip=True).startswith(
        "3 flagged rows shown, each with its reasons"
    )
    assert "include_flagged" not in again.css_first("a").attributes["href"]


def test_flagged_rows_never_take_the_trips_budget(client, mixed):
    # 20,000 ISK: Tritanium alone shares the trip (4,000 units at 5.00); the flagged rows are
    # each planned as if alone, and are not part of what the trip makes.
    found = by_type(client.get(f"{API}&sales_tax=0.1&budget=20000&include_flagged=1"))
    assert found[TRITANIUM]["quantity"] == 4000
    assert found[TRITANIUM]["trip_profit"] == 1600  # 4,000 x (5.40 - 5.00)
    assert {row["trip_profit"] for row in found.values()} == {1600}
    assert found[MEXALLON]["buy_cost"] == found[NOCXIUM]["buy_cost"] == 20000


# --- the trip's profit orders the rows ----------------------------------------------------------


def test_the_best_trip_comes_first(client, trusted):
    market_type(MEGACYTE, "Megacyte")
    book_store(JITA.region_id, [order(TRITANIUM, "5.00", 10_000), order(MEGACYTE, "1000", 100)])
    book_store(DODIXIE.region_id, [order(MEGACYTE, "1500", 100, buy=True, hub=DODIXIE)])
    daily_volume(DODIXIE.region_id, MEGACYTE, "1000")
    body = client.get("/api/market/hauling?sales_tax=0.1").json()
    trips = [(r["to_station_id"], r["type_id"], r["trip_profit"]) for r in body["results"]]
    # Jita to Dodixie makes 100 x (1,350 - 1,000) = 35,000; Jita to Amarr 5,000 x 0.40 = 2,000.
    assert trips == [(DODIXIE.station_id, MEGACYTE, 35000), (AMARR.station_id, TRITANIUM, 2000)]
    by_profit = client.get("/api/market/hauling?sales_tax=0.1&sort=net_profit").json()
    assert [r["type_id"] for r in by_profit["results"]] == [TRITANIUM, MEGACYTE]


# --- hostile parameters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "parameter", "fragment"),
    [
        ("&share=0", "share", "must be a fraction above 0 and at most 1"),
        ("&share=-5%", "share", "must be a fraction above 0 and at most 1"),
        ("&share=1.5", "share", "got 1.5"),
        ("&share=NaN", "share", "enter a finite number"),
        ("&share=1e999999k", "share", "share:"),
        ("&include_flagged=yes", "include_flagged", "must be one of true, false"),
        ("&sort=flags", "sort", "must be one of"),
        ("&sort=-days_to_sellx", "sort", "must be one of"),
    ],
)
def test_bad_trust_parameters_are_named(client, trusted, query, parameter, fragment):
    api_bad_parameter(client.get(API + query), parameter, fragment)


@pytest.mark.parametrize("sort", ["days_to_sell", "-station_daily_volume", "-trip_profit"])
def test_the_new_columns_sort(client, relist_books, sort):
    assert client.get(f"{RELIST}&sort={sort}").status_code == 200


# --- the cut books plan what the whole books plan ---------------------------------------------


def random_books(rng: random.Random, types: list[int]) -> tuple[list[dict], list[dict]]:
    jita, amarr = [], []
    for type_id in types:
        centre = rng.choice([10, 100, 1000, 50000])
        for _ in range(rng.randint(1, 6)):
            price = D(str(round(centre * rng.uniform(0.8, 1.3), 2)))
            jita.append(order(type_id, price, rng.randint(1, 400)))
        for _ in range(rng.randint(0, 6)):
            price = D(str(round(centre * rng.uniform(0.9, 1.5), 2)))
            amarr.append(
                order(
                    type_id,
                    price,
                    rng.randint(1, 400),
                    buy=rng.random() < 0.6,
                    hub=AMARR,
                    min_volume=rng.choice([1, 1, 1, 50, 300]),
                )
            )
    return jita, amarr


@pytest.mark.embedded
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("mode", ["instant", "relist"])
def test_the_cut_books_plan_what_the_whole_books_plan(client, db, seed, mode):
    rng = random.Random(seed)
    types = list(range(20_001, 20_031))
    for type_id in types:
        market_type(type_id, f"Type {type_id}", volume=rng.choice([0.01, 1, 5]))
        daily_volume(AMARR.region_id, type_id, str(rng.randint(1, 500)))
    jita, amarr = random_books(rng, types)
    book_store(JITA.region_id, jita)
    book_store(AMARR.region_id, amarr)
    found = by_type(
        client.get(
            f"{API}&mode={mode}&sales_tax=0.08&broker_fee=0.03&include_flagged=1&page_size=1000"
        )
    )
    expected = {}
    for type_id in types:
        asks = list(Order.objects.current(region_id=JITA.region_id).filter(type_id=type_id))
        at_b = Order.objects.current(region_id=AMARR.region_id).filter(type_id=type_id)
        options = {"budget": None, "cargo_m3": None, "unit_volume": D(1), "sales_tax": D("0.08")}
        if mode == "instant":
            plan = hauling_instant(
                sell_orders_at_a=asks,
                buy_orders_at_b=list(at_b.filter(is_buy_order=True)),
                **options,
            )
        else:
            best = min((o.price for o in at_b.filter(is_buy_order=False)), default=None)
            daily = found.get(type_id, {}).get("absorbed_daily")
            region = D(str(daily_for(type_id))) / 10
            plan = hauling_relist(
                sell_orders_at_a=asks,
                best_ask_at_b=best,
                broker_fee=D("0.03"),
                max_quantity=max(1, int(region)) if region > 0 else 0,
                **options,
            )
            assert daily is None or D(str(daily)) == region
        if plan is not None:
            expected[type_id] = (plan.quantity, float(round(plan.net_profit, 2)))
    assert {t: (r["quantity"], r["net_profit"]) for t, r in found.items()} == expected


def daily_for(type_id: int) -> D:
    from market.models import TypeRegionStats

    return TypeRegionStats.objects.get(region_id=AMARR.region_id, type_id=type_id).avg_daily_volume


# --- categories a trader leaves out, as in station trading ---------------------------------------

RIFTER_BLUEPRINT = 692


@pytest.fixture
def blueprint_haul(trusted):
    """Tritanium (a Material) and a Rifter Blueprint, both worth hauling from Jita to Amarr."""
    from market.models import Category, Group, Type

    material = Category.objects.create(id=4, name="Material", published=True)
    blueprint = Category.objects.create(id=9, name="Blueprint", published=True)
    Category.objects.create(id=91, name="SKINs", published=True)
    minerals = Group.objects.create(id=18, name="Mineral", category=material, published=True)
    blueprints = Group.objects.create(
        id=105, name="Frigate Blueprint", category=blueprint, published=True
    )
    market_type(RIFTER_BLUEPRINT, "Rifter Blueprint")
    Type.objects.filter(pk=TRITANIUM).update(group=minerals)
    Type.objects.filter(pk=RIFTER_BLUEPRINT).update(group=blueprints)
    book_store(
        JITA.region_id,
        [order(TRITANIUM, "5.00", 10_000), order(RIFTER_BLUEPRINT, "1000.00", 10)],
    )
    book_store(
        AMARR.region_id,
        [
            order(TRITANIUM, "6.00", 5_000, buy=True, hub=AMARR),
            order(RIFTER_BLUEPRINT, "2000.00", 10, buy=True, hub=AMARR),
        ],
    )
    daily_volume(AMARR.region_id, RIFTER_BLUEPRINT, "50")
    caches_clear()


@pytest.mark.embedded
def test_blueprints_and_skins_are_left_out_of_hauling_by_default(client, blueprint_haul):
    body = client.get(f"{API}&sales_tax=0.1").json()
    assert [row["type_id"] for row in body["results"]] == [TRITANIUM]
    assert body["excluded_category_ids"] == [9, 91]
    # Left out is the trader's choice, not a doubt about the row: nothing is "hidden".
    assert body["flagged"]["rows"] == 0
    every = client.get(f"{API}&sales_tax=0.1&exclude_category=none").json()
    assert {row["type_id"] for row in every["results"]} == {TRITANIUM, RIFTER_BLUEPRINT}
    assert every["excluded_category_ids"] == []
    minerals_out = client.get(f"{API}&sales_tax=0.1&exclude_category=4").json()
    assert [row["type_id"] for row in minerals_out["results"]] == [RIFTER_BLUEPRINT]


def test_hauling_follows_the_traders_saved_categories(client, blueprint_haul, user):
    client.force_login(user)
    TradingProfile.for_user(user).excluded_categories_remember(frozenset({4}))
    body = client.get(f"{API}&sales_tax=0.1").json()
    assert [row["type_id"] for row in body["results"]] == [RIFTER_BLUEPRINT]
    # Ticking boxes on the hauling page keeps the choice, for station trading too.
    client.get(f"{PAGE}&sales_tax=0.1&exclude_category=none&exclude_category=91")
    assert TradingProfile.for_user(user).excluded_category_ids == [91]
    again = client.get(f"{API}&sales_tax=0.1").json()
    assert {row["type_id"] for row in again["results"]} == {TRITANIUM, RIFTER_BLUEPRINT}


def test_the_hauling_page_offers_the_categories_and_says_what_it_leaves_out(client, blueprint_haul):
    html = HTMLParser(client.get(f"{PAGE}&sales_tax=0.1").content.decode())
    summary = html.css_first("#hauling-filters details.categories summary")
    assert summary.text(strip=True) == "Leave out: Blueprint, SKINs"
    ticked = {
        box.attributes["value"]
        for box in html.css("#hauling-filters input[name=exclude_category][checked]")
    }
    assert ticked == {"9", "91"}
    items = [" ".join(th.text().split()) for th in html.css("#hauling-rows tbody th")]
    assert items == ["Tritanium"]


def test_a_bad_category_on_hauling_is_named(client, blueprint_haul):
    api_bad_parameter(client.get(f"{API}&exclude_category=x"), "exclude_category", "category ids")
    api_bad_parameter(client.get(f"{API}&exclude_category=123456"), "exclude_category", "unknown")
