"""What trades at a station, read back: the station-volume API and the type page's figures.

The days are made through the real ingest (two snapshots of Jita's book five minutes apart, see
``test_liquidity``) or written directly where a test needs a given number of watched hours.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from market.ingest import snapshot_store
from market.models import ObservedDay, StationTradeDay
from market.queries import caches_clear
from market.tests.factories import AMARR, JITA, daily_volume, order
from tests.fixtures import api_bad_parameter as bad

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_desk")]

TRITANIUM = 34
STRUCTURE = 1_035_466_617_946


def books(before: list[dict], after: list[dict], *, hub=JITA) -> None:
    """Two snapshots of the hub's region, 10 and 5 minutes ago."""
    now = timezone.now().replace(microsecond=0)
    for orders, age in ((before, 10), (after, 5)):
        at = now - timedelta(minutes=age)
        snapshot_store(
            region_id=hub.region_id,
            pages=[json.dumps(orders).encode()],
            last_modified=at,
            expires=at + timedelta(minutes=5),
        )


def trading_at_jita() -> None:
    """In five minutes at Jita: 300 sold into the bid, 30 bought from an ask, a sell order at
    the best ask vanished (25 probable), the bid repriced once."""
    books(
        [
            order(TRITANIUM, "4.00", 1000, buy=True, order_id=1),
            order(TRITANIUM, "5.00", 25, order_id=2),
            order(TRITANIUM, "5.50", 50, order_id=3),
        ],
        [
            order(TRITANIUM, "4.01", 700, buy=True, order_id=1),
            order(TRITANIUM, "5.50", 20, order_id=3),
        ],
    )


def watched(hours: float, *, days_ago: int = 0) -> None:
    ObservedDay.objects.update_or_create(
        region_id=JITA.region_id,
        date=timezone.now().date() - timedelta(days=days_ago),
        defaults={"observed_seconds": int(hours * 3600), "pairs": 1},
    )


# --- the API -------------------------------------------------------------------------------------


@pytest.mark.embedded
def test_it_lists_every_day_of_the_window_newest_first_with_the_observed_average(client):
    today = timezone.now().date()
    StationTradeDay.objects.create(
        region_id=JITA.region_id,
        location_id=JITA.station_id,
        type_id=TRITANIUM,
        date=today - timedelta(days=1),
        sold_to_buy_orders=300,
        bought_from_sell_orders=150,
        probable_sold=0,
        probable_bought=30,
        isk=Decimal("1950.50"),
        probable_isk=Decimal("150.00"),
        bid_reprices=4,
        ask_reprices=6,
    )
    watched(6, days_ago=1)  # six watched hours with 480 units: 1,920 a day
    watched(30, days_ago=2)  # more than a day of pairs (overlapping runs): counts as one day

    response = client.get(
        f"/api/market/station-volume?station_id={JITA.station_id}&type_id={TRITANIUM}&days=3"
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["station_id"], body["type_id"]) == (JITA.station_id, TRITANIUM)
    assert [day["date"] for day in body["days"]] == [
        str(today - timedelta(days=back)) for back in range(3)
    ]
    assert body["days"][0] == {
        "date": str(today),
        "sold_to_buy_orders": 0,
        "bought_from_sell_orders": 0,
        "probable_units": 0,
        "isk": 0,
        "probable_isk": 0,
        "bid_reprices": 0,
        "ask_reprices": 0,
        "observed_hours": 0,
    }
    assert body["days"][1] == {
        "date": str(today - timedelta(days=1)),
        "sold_to_buy_orders": 300,
        "bought_from_sell_orders": 150,
        "probable_units": 30,
        "isk": 1950.5,
        "probable_isk": 150,
        "bid_reprices": 4,
        "ask_reprices": 6,
        "observed_hours": 6,
    }
    assert body["days"][2]["observed_hours"] == 24
    # 480 units over 30 watched hours (6 + a capped 24): 384 a day.
    assert body["daily_units"] == 384


@pytest.mark.embedded
def test_the_days_default_to_a_week_and_the_average_is_null_under_an_hour_watched(client):
    watched(0.5)

    body = client.get(
        f"/api/market/station-volume?station_id={JITA.station_id}&type_id={TRITANIUM}"
    ).json()

    assert len(body["days"]) == 7
    assert body["days"][0]["observed_hours"] == 0.5
    assert body["daily_units"] is None  # unknown, not "nothing trades"


def test_the_ingest_feeds_the_api(client):
    trading_at_jita()

    body = client.get(
        f"/api/market/station-volume?station_id={JITA.station_id}&type_id={TRITANIUM}&days=2"
    ).json()

    [day] = [day for day in body["days"] if day["observed_hours"]]  # today (at midnight: -1)
    assert (day["sold_to_buy_orders"], day["bought_from_sell_orders"]) == (300, 30)
    assert (day["probable_units"], day["isk"], day["probable_isk"]) == (25, 1200 + 165, 125)
    assert (day["bid_reprices"], day["ask_reprices"]) == (1, 0)
    assert day["observed_hours"] == round(300 / 3600, 2)
    assert body["daily_units"] is None  # five minutes watched say too little


@pytest.mark.embedded
def test_a_structure_the_ingest_saw_trades_at_is_a_known_station(client):
    StationTradeDay.objects.create(
        region_id=JITA.region_id,
        location_id=STRUCTURE,
        type_id=TRITANIUM,
        date=timezone.now().date(),
        sold_to_buy_orders=5,
    )

    body = client.get(
        f"/api/market/station-volume?station_id={STRUCTURE}&type_id={TRITANIUM}&days=1"
    ).json()

    assert body["days"][0]["sold_to_buy_orders"] == 5


@pytest.mark.embedded
def test_an_unknown_station_is_a_404_naming_it(client):
    response = client.get(f"/api/market/station-volume?station_id=61999999&type_id={TRITANIUM}")

    assert response.status_code == 404
    assert response.json() == {
        "error": "station_id: unknown station 61999999",
        "parameter": "station_id",
    }


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("query", "parameter", "fragment"),
    [
        (f"type_id={TRITANIUM}", "station_id", "is required"),
        (f"station_id={JITA.station_id}", "type_id", "is required"),
        (f"station_id=jita&type_id={TRITANIUM}", "station_id", "'jita'"),
        (f"station_id=-1&type_id={TRITANIUM}", "station_id", "not a station id"),
        (f"station_id={JITA.station_id}&type_id=1e99", "type_id", "'1e99'"),
        (f"station_id={JITA.station_id}&type_id={TRITANIUM}&days=0", "days", "from 1 to 35"),
        (f"station_id={JITA.station_id}&type_id={TRITANIUM}&days=36", "days", "from 1 to 35"),
        (f"station_id={JITA.station_id}&type_id={TRITANIUM}&days=week", "days", "'week'"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(client, query, parameter, fragment):
    bad(client.get(f"/api/market/station-volume?{query}"), parameter, fragment)


# --- the type page -------------------------------------------------------------------------------


def summary(response, name: str) -> str:
    html = HTMLParser(response.content.decode())
    return html.css_first(f'[data-summary="{name}"]').text(strip=True)


def station_volume_rows(response) -> dict[str, list[str]]:
    html = HTMLParser(response.content.decode())
    return {
        tr.css_first("th").text(strip=True): [td.text(strip=True) for td in tr.css("td")]
        for tr in html.css("#station-volume tbody tr")
    }


def test_the_type_page_shows_each_hubs_observed_volume_competition_and_depth(client, sde_loaded):
    trading_at_jita()
    books(
        [order(TRITANIUM, "6.00", 10, hub=AMARR, order_id=11)],
        [order(TRITANIUM, "6.00", 10, hub=AMARR, order_id=11)],
        hub=AMARR,
    )
    watched(2)  # Jita's region watched two hours today (Amarr's only the five minutes)

    response = client.get(f"/market/types/{TRITANIUM}/")

    assert response.status_code == 200
    rows = station_volume_rows(response)
    # 300 certain sold over two hours: 3,600 a day; 30 certain + 25 probable bought: 660.
    assert rows["Jita"] == ["3,600", "660", "7 %", "12.0 / 0.0", "2.0 h"]
    assert rows["Amarr"] == ["not watched long enough yet (under an hour of snapshots)"]
    assert summary(response, "station-volume") == (
        "3,600 sold to buy orders, 660 bought from sell orders(7 % probable)"
    )
    # Jita's book now: a bid of 700 at 4.01 and an ask of 20 at 5.50: depth = best.
    assert summary(response, "depth") == "4.01 / 5.50 ISK"


def test_an_observed_volume_above_the_regions_says_the_hours_are_too_few(client, sde_loaded):
    """Two watched hours of a slow type read as more than its whole region trades a day: the
    page says so beside the figure (the desk counts at most the region's)."""
    trading_at_jita()
    watched(2)  # 3,600 sold + 660 bought a day, observed
    daily_volume(JITA.region_id, TRITANIUM, "1000")

    response = client.get(f"/market/types/{TRITANIUM}/")

    html = HTMLParser(response.content.decode())
    notes = [node.text(strip=True) for node in html.css("[data-above-region]")]
    assert notes == ["more than the region's 1,000 a day: 2.0 h watched is too few to tell"] * 2
    assert station_volume_rows(response)["Jita"][:2] == ["3,600", "660"]  # still shown

    daily_volume(JITA.region_id, TRITANIUM, "10000")
    caches_clear()  # the page's figures are kept per snapshot
    assert "data-above-region" not in client.get(f"/market/types/{TRITANIUM}/").content.decode()
