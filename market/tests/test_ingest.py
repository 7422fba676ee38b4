"""The ingest pipeline's pure parts (decoding, book tops) and its jobs, schedules and health."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import connection
from django.utils.module_loading import import_string
from django_q.models import Schedule

from lenny.models import JobRun
from lenny.schedules import schedules_sync
from market import tasks
from market.health import report
from market.hubs import HUBS
from market.ingest import (
    ORDER_COLUMNS,
    MarketDataError,
    OrderBookTops,
    orders_decode,
    orders_first_seen,
    orders_unique,
)
from market.ingest.columns import RANGES, orders_array, orders_copy_data
from market.ingest.payloads import orders_rows
from market.models import MarketSnapshot
from market.tests.factories import FORGE

ORDER = {
    "order_id": 6_500_000_001,
    "type_id": 34,
    "location_id": 60003760,
    "system_id": 30000142,
    "is_buy_order": False,
    "price": 5.5,
    "volume_remain": 100,
    "volume_total": 200,
    "min_volume": 1,
    "range": "region",
    "duration": 90,
    "issued": "2026-01-02T03:04:05Z",
}


def page(*orders: dict) -> bytes:
    return json.dumps(list(orders)).encode()


def order(**changes) -> dict:
    return {**ORDER, **changes}


# --- decoding (pure) ---------------------------------------------------------------------------


def test_it_decodes_pages_into_orders_with_every_field():
    [decoded] = list(orders_decode([page(ORDER)]))
    assert [(o.order_id, o.price, o.range, o.issued) for o in decoded] == [
        (6_500_000_001, 5.5, "region", "2026-01-02T03:04:05Z")
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"order_id": 1', "page 2: not valid JSON (Input data was truncated)"),
        (b'{"error": "nope"}', "page 2: Expected `array`, got `object`"),
        (page(order(price="free")), "page 2: Expected `float`, got `str` - at `$[0].price`"),
        (page(order(price=-1)), "page 2: Expected `float` >= 0.0 - at `$[0].price`"),
        (page(order(price=1e20)), "page 2: Expected `float` < 1e+17 - at `$[0].price`"),
        (page(order(volume_remain=2**31)), "at `$[0].volume_remain`"),
        (page(order(range="galaxy")), "Invalid enum value 'galaxy' - at `$[0].range`"),
        (page(order(is_buy_order="yes")), "Expected `bool`, got `str` - at `$[0].is_buy_order`"),
        (
            page({k: v for k, v in ORDER.items() if k != "type_id"}),
            "missing required field `type_id`",
        ),
        (page(order(issued="")), "at `$[0].issued`"),
    ],
)
def test_it_refuses_hostile_pages_naming_page_and_field(body, message):
    with pytest.raises(MarketDataError) as caught:
        list(orders_decode([page(ORDER), body]))
    assert message in str(caught.value)


def test_it_ignores_fields_esi_may_add_later():
    [decoded] = list(orders_decode([page(order(new_field="hello"))]))
    assert decoded[0].order_id == ORDER["order_id"]


def test_an_order_repeated_across_pages_is_kept_once():
    pages = [page(order(order_id=1), order(order_id=2)), page(order(order_id=2, price=9.0))]
    unique = [o for orders in orders_unique(pages) for o in orders]
    assert [(o.order_id, o.price) for o in unique] == [(1, 5.5), (2, 5.5)]


def test_book_tops_have_best_prices_counts_and_volumes_per_station_and_type():
    orders = [
        order(order_id=1, is_buy_order=True, price=4.0, volume_remain=10),
        order(order_id=2, is_buy_order=True, price=4.5, volume_remain=3),
        order(order_id=3, is_buy_order=True, price=4.5, volume_remain=7),
        order(order_id=4, price=5.0, volume_remain=20),
        order(order_id=5, price=5.5, volume_remain=1),
        order(order_id=6, price=6.0, volume_remain=2, location_id=60008494),
        order(order_id=7, price=7.0, volume_remain=5, type_id=35),
    ]
    tops = OrderBookTops()
    for decoded in orders_decode([page(*orders[:3]), page(*orders[3:])]):
        tops.add(decoded)

    assert sorted(tops.rows()) == [
        # location, type, bid, ask, bids, asks, at-bid, at-ask, bid volume, ask volume
        (60003760, 34, 4.5, 5.0, 3, 2, 10, 20, 20, 21),
        (60003760, 35, None, 7.0, 0, 1, 0, 5, 0, 5),
        (60008494, 34, None, 6.0, 0, 1, 0, 2, 0, 2),
    ]
    assert len(tops) == 3


def test_an_order_repeated_within_a_page_is_kept_once_too():
    seen: set[int] = set()
    [decoded] = orders_decode([page(order(order_id=1), order(order_id=1, price=9.0))])
    assert [(o.order_id, o.price) for o in orders_first_seen(decoded, seen)] == [(1, 5.5)]
    assert seen == {1}


def test_book_tops_keep_structures_and_stations_apart():
    # Player structures have ids far above 2^32; type ids stay below 2^31.
    structure = 1_035_466_617_946
    tops = OrderBookTops()
    [decoded] = orders_decode(
        [page(order(order_id=1, location_id=structure, type_id=2**31 - 1), order(order_id=2))]
    )
    tops.add(decoded)
    rows = list(tops.rows("snapshot", "region"))
    assert [row[:4] for row in rows] == [
        ("snapshot", "region", 60003760, 34),
        ("snapshot", "region", structure, 2**31 - 1),
    ]


# --- COPY data (binary) -------------------------------------------------------------------------


def copied(orders: list[dict]) -> list[tuple]:
    """The orders as the ingest COPYs them (PostgreSQL's binary format), read back."""
    [decoded] = orders_decode([page(*orders)])
    columns = orders_array(orders_rows(decoded))
    names = ", ".join(ORDER_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE copied (LIKE market_order)")
        cursor.execute("ALTER TABLE copied ALTER COLUMN snapshot_id SET DEFAULT 0")
        with cursor.copy(f"COPY copied ({names}) FROM STDIN (FORMAT binary)") as copy:
            copy.write(orders_copy_data([columns], header=True, trailer=True))
        cursor.execute(f"SELECT {names} FROM copied ORDER BY order_id")
        return cursor.fetchall()


def as_text_reads_them(orders: list[dict]) -> list[tuple]:
    """What PostgreSQL makes of the same orders given as text, as the ingest's CSV used to send
    them: each value's JSON text (the price's as the float it was decoded to) cast to its column."""
    casts = (
        "bigint", "integer", "bigint", "integer", "boolean", "numeric(20,2)", "integer",
        "integer", "integer", "varchar(12)", "integer", "timestamptz",
    )  # fmt: skip
    selects, params = [], []
    for o in sorted(orders, key=lambda o: o["order_id"]):
        texts = [
            json.dumps(o[name]) if name != "price" else repr(float(o[name]))
            for name in ORDER_COLUMNS
        ]
        texts = [t.strip('"') for t in texts]
        selects.append(", ".join(f"%s::{cast}" for cast in casts))
        params += texts
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(f"SELECT {s}" for s in selects), params)
        return cursor.fetchall()


@pytest.mark.django_db
def test_orders_are_copied_exactly_as_postgresql_reads_their_text():
    if connection.vendor != "postgresql":
        pytest.skip("the binary COPY is PostgreSQL's")
    prices = [0, 0.01, 5.5, 5.675, 0.005, 1234567.891, 1e16, 99999999999999.99, 12345678901234567]
    issued = [
        "2026-01-02T03:04:05Z",
        "2024-02-29T23:59:59Z",
        "1999-12-31T00:00:00Z",
        "2026-01-02T03:04:05.123456Z",  # not ESI's form: read one by one, exactly
        "2026-01-02T03:04:05+02:00",
        "2026-01-02 03:04:05",  # no zone: UTC
    ]
    orders = [
        order(
            order_id=n + 1,
            price=prices[n % len(prices)],
            range=RANGES[n % len(RANGES)],
            issued=issued[n % len(issued)],
            is_buy_order=n % 2 == 0,
            volume_remain=n,
        )
        for n in range(max(len(prices), len(RANGES), len(issued)))
    ]
    orders.append(
        order(order_id=2**63 - 1, type_id=2**31 - 1, location_id=1_035_466_617_946,
              volume_total=2**31 - 1, min_volume=2**31 - 1, duration=2**31 - 1)
    )  # fmt: skip

    rows = copied(orders)

    assert rows == as_text_reads_them(orders)
    assert rows[3][5] == Decimal("5.68")  # '5.675' to the cent, half away from zero
    assert {row[9] for row in rows} == set(RANGES)


@pytest.mark.parametrize(
    "issued",
    [
        '2026-01-02T03:04:05Z",true,1],[42',  # a quote, commas and a row break as JSON writes it
        "2026-01-02T03:04:05Z],[7,8,9",
        "2026-01-02\\T03:04:05Z",  # a backslash
        "2026-01-02T03:04:05Z\n4,5,6",  # a line break
        "2026-01-02 03:04:05 Café",
        "2026-02-30T03:04:05Z",  # ESI's form, no such day
        "yesterday at noon",
    ],
)
def test_an_issued_that_is_not_a_date_and_time_is_refused_naming_the_order(issued):
    [decoded] = orders_decode([page(order(order_id=1), order(order_id=42, issued=issued))])

    with pytest.raises(MarketDataError) as refused:
        orders_array(orders_rows(decoded))

    assert str(refused.value) == f"order 42: issued {issued!r} is not a date and time"


# --- jobs, schedules, health --------------------------------------------------------------------


@pytest.mark.django_db
def test_every_hub_region_has_its_own_five_minute_schedule_and_history_runs_daily():
    schedules_sync()

    for hub in HUBS:
        schedule = Schedule.objects.get(name=f"lenny:market-orders-{hub.key}")
        assert (schedule.schedule_type, schedule.minutes) == (Schedule.MINUTES, 5)
        assert import_string(schedule.func).job_name == f"market-orders-{hub.key}"
    history = Schedule.objects.get(name="lenny:market-history")
    assert history.schedule_type == Schedule.CRON and history.cron.endswith("11-23 * * *")
    assert import_string(history.func) is tasks.history


@pytest.mark.django_db
def test_the_forge_job_stores_a_snapshot_then_does_nothing_until_it_expires(esi, upstreams):
    first = tasks.orders_jita()
    sent = upstreams.count("/esi/markets/")

    second = tasks.orders_jita()

    assert first.startswith(f"region {FORGE}: 6 pages, 3,000 orders")
    assert "has not expired" in second and upstreams.count("/esi/markets/") == sent
    run = JobRun.objects.get(name="market-orders-jita")
    assert (run.runs, run.failures) == (2, 0)


@pytest.mark.django_db
def test_a_failed_job_is_recorded_and_shows_in_health(esi, upstreams):
    upstreams.fault(r"/orders/", status=503, times=None)

    with pytest.raises(Exception, match="snapshot not replaced"):
        tasks.orders_jita()

    run = JobRun.objects.get(name="market-orders-jita")
    assert run.failures == 1 and "503" in run.last_error
    health = report()
    assert "503" in health["hubs"]["jita"]["last_error"]
    assert health["hubs"]["jita"]["snapshot_age"] is None
    assert health["esi"]["errors"]["503"] >= 1


@pytest.mark.django_db
def test_health_reports_each_hubs_snapshot_age(esi, upstreams, admin_client):
    tasks.orders_jita()

    response = admin_client.get("/healthz")  # details are for staff

    market = response.json()["market"]
    assert market["ok"] is True
    assert market["hubs"]["jita"]["orders"] == 3000
    assert 0 <= market["hubs"]["jita"]["snapshot_age"] < 60
    assert market["hubs"]["amarr"]["orders"] is None
    assert market["esi"]["requests"] >= 6
    assert MarketSnapshot.objects.count() == 1


@pytest.mark.django_db
def test_the_demo_loads_the_sde_every_hub_book_and_the_history_of_every_type_it_shows(
    esi, upstreams
):
    import io

    from market.models import BestPrice, Station, TypeRegionStats
    from market.replay import demo_load

    out = io.StringIO()
    demo_load(base_url=upstreams.base_url, stdout=out)

    assert Station.objects.filter(pk=60003760).exists()
    assert set(MarketSnapshot.objects.current_ids()) == {hub.region_id for hub in HUBS}
    # Every type on the market at every hub has its history before the desk opens, so station
    # trading and hauling start from the real daily volumes.
    for hub in HUBS:
        at_hub = set(
            BestPrice.objects.current(region_id=hub.region_id)
            .filter(location_id=hub.station_id)
            .values_list("type_id", flat=True)
        )
        with_history = set(
            TypeRegionStats.objects.filter(
                region_id=hub.region_id, has_history=True, avg_daily_volume__gt=0
            ).values_list("type_id", flat=True)
        )
        assert at_hub and at_hub <= with_history, hub.key
    assert out.getvalue().count("history: region") == 5
    assert "failed" not in out.getvalue()
    # Each hub's book came as a series over the past hour, compared pair by pair: the desk opens
    # with every hub station's traded volume.
    from market.queries.liquidity import station_liquidity

    for hub in HUBS:
        assert station_liquidity(location_id=hub.station_id, region_id=hub.region_id), hub.key
    assert "superseded" not in out.getvalue() and "dropped" not in out.getvalue()
    # The replay keeps ESI's history rate limit for the demo's workers.
    assert esi.history_rate == "300/1m"
