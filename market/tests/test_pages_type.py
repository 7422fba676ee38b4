"""A type's page: its order books at the chosen hub, its quotes at all five hubs, its history."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from market.models import Type
from market.tests.factories import (
    AMARR,
    DODIXIE,
    JITA,
    PERIMETER_STATION,
    PERIMETER_SYSTEM,
    book_store,
    daily_volume,
    history,
    order,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_desk")]

TRITANIUM = 34


@pytest.fixture
def tritanium(sde_loaded):
    """Books at Jita and Amarr (none at the other hubs), a month of Forge history."""
    book_store(
        JITA.region_id,
        [
            order(TRITANIUM, "5.00", 1000, buy=True, range="station", order_id=1),
            order(TRITANIUM, "4.90", 500, buy=True, range="10", min_volume=50, order_id=2),
            order(TRITANIUM, "4.95", 700, buy=True, range="solarsystem", order_id=3),
            order(TRITANIUM, "6.00", 800, order_id=4, issued="2026-11-01T08:00:00Z"),
            order(TRITANIUM, "6.10", 90, order_id=5, issued="2026-11-21T08:00:00Z"),
            order(
                TRITANIUM,
                "5.80",
                100,
                order_id=6,
                location_id=PERIMETER_STATION,
                system_id=PERIMETER_SYSTEM,
            ),
        ],
    )
    book_store(
        AMARR.region_id,
        [
            order(TRITANIUM, "5.50", 10, buy=True, hub=AMARR),
            order(TRITANIUM, "6.50", 10, hub=AMARR),
        ],
    )
    daily_volume(JITA.region_id, TRITANIUM, "123456.5", "740000")
    return history(JITA.region_id, TRITANIUM, 400)


def book(response, side: str) -> list[dict[str, str]]:
    """One side's book as {column label: cell text}."""
    html = HTMLParser(response.content.decode())
    labels = [th.text(strip=True).rstrip(" ▾▴") for th in html.css(f"#{side}-book thead th")]
    return [
        dict(zip(labels, [td.text(strip=True) for td in tr.css("td")], strict=True))
        for tr in html.css(f"#{side}-book tbody tr")
    ]


@pytest.mark.embedded
def test_it_shows_both_books_at_the_hub_best_price_first(client, tritanium):
    response = client.get(f"/market/types/{TRITANIUM}/")
    assert response.status_code == 200
    sells = book(response, "sell")
    assert [row["Price"] for row in sells] == ["6.00", "6.10"]  # not Perimeter's 5.80
    # Every order is at the hub: no column repeats its long name on every line.
    assert sells[0] == {
        "Price": "6.00",
        "Volume": "800",
        "Range": "region",
        "Issued": "2026-11-01 08:00",
    }
    buys = book(response, "buy")
    assert [row["Price"] for row in buys] == ["5.00", "4.95", "4.90"]
    assert buys[2]["Volume"] == "500min 50"  # the least one sale must bring
    assert [row["Range"] for row in buys] == ["station", "solarsystem", "10"]


def test_the_whole_region_shows_orders_elsewhere_with_their_station(client, tritanium):
    response = client.get(f"/market/types/{TRITANIUM}/?scope=region")
    sells = book(response, "sell")
    assert [row["Price"] for row in sells] == ["5.80", "6.00", "6.10"]
    assert [row["Location"] for row in sells] == [
        "Perimeter VI - Ytiri Storage",
        "Jita IV - Moon 4 - Caldari Navy Assembly Plant",
        "Jita IV - Moon 4 - Caldari Navy Assembly Plant",
    ]


@pytest.mark.parametrize(
    ("sort", "prices"),
    [
        ("-price", ["5.00", "4.95", "4.90"]),
        ("price", ["4.90", "4.95", "5.00"]),
        ("-volume_remain", ["5.00", "4.95", "4.90"]),
        ("range", ["5.00", "4.95", "4.90"]),  # station, solarsystem, 10 jumps
        ("-range", ["4.90", "4.95", "5.00"]),
    ],
)
def test_each_book_sorts_on_the_server(client, tritanium, sort, prices):
    response = client.get(f"/market/types/{TRITANIUM}/?buy_sort={sort}")
    assert [row["Price"] for row in book(response, "buy")] == prices


def test_it_compares_the_five_hubs_side_by_side(client, tritanium):
    response = client.get(f"/market/types/{TRITANIUM}/")
    html = HTMLParser(response.content.decode())
    rows = {
        tr.css_first("th a").text(strip=True): [td.text(strip=True) for td in tr.css("td")]
        for tr in html.css("#hub-quotes tbody tr")
    }
    assert rows["Jita"] == ["5.00", "6.00", "1.00", "123,457"]  # whole units from 100 up
    assert rows["Amarr"] == ["5.50", "6.50", "1.00", "—"]
    assert rows["Dodixie"] == ["—", "—", "—", "—"]
    assert "no data" in html.css("#hub-quotes tbody tr")[2].text()


def test_the_summary_has_spread_and_30_day_volumes(client, tritanium):
    response = client.get(f"/market/types/{TRITANIUM}/")
    html = HTMLParser(response.content.decode())
    summary = {dd.attributes["data-summary"]: dd.text(strip=True) for dd in html.css("dd")}
    assert summary == {
        "bid": "5.00 ISK",
        "ask": "6.00 ISK",
        "spread": "1.00 ISK (20.0 %)",
        "volume": "123,457 units",
        "isk": "740,000 ISK",
        # The best 5 % of each side's units all sit at the best price here.
        "depth": "5.00 / 6.00 ISK",
        # One snapshot: nothing compared yet, so unknown rather than "nothing trades".
        "station-volume": "not watched long enough yet",
    }


@pytest.mark.parametrize("days", [30, 90, 365])
def test_the_history_chart_covers_the_chosen_window(client, tritanium, days):
    response = client.get(f"/market/types/{TRITANIUM}/?days={days}")
    html = HTMLParser(response.content.decode())
    chart = json.loads(html.css_first("#history-data").text())
    assert len(chart["t"]) == days
    assert chart["t"] == sorted(chart["t"])
    # The last day: average 100 in its 95-105 band, 1000 traded.
    assert (chart["average"][-1], chart["lowest"][-1], chart["highest"][-1]) == (100, 95, 105)
    assert chart["volume"][-1] == 1000
    assert html.css_first("[data-history-chart]") is not None


def test_another_hub_shows_its_own_books_and_history(client, tritanium):
    response = client.get(f"/market/types/{TRITANIUM}/?station_id={AMARR.station_id}")
    assert [row["Price"] for row in book(response, "sell")] == ["6.50"]
    text = response.content.decode()
    assert "History in Domain" in text
    assert "No history for Tritanium in Domain" in text


def test_a_hub_without_a_snapshot_says_so(client, tritanium):
    text = client.get(
        f"/market/types/{TRITANIUM}/?station_id={DODIXIE.station_id}"
    ).content.decode()
    assert "No order book for Sinq Laison yet" in text
    assert "Sinq Laison: no orders fetched yet" in text


def test_an_unknown_type_is_a_404(client, sde_loaded):
    assert client.get("/market/types/999999/").status_code == 404


def test_an_unpublished_type_off_the_market_is_a_404(client, sde_loaded):
    """Type 0 ("#System") is in the SDE, never on the market: no page of empty hub tables."""
    Type.objects.update_or_create(pk=0, defaults={"name": "#System", "published": False})
    assert client.get("/market/types/0/").status_code == 404
    book_store(JITA.region_id, [order(0, "10", 1)])  # should ESI ever list it, it has its page
    assert client.get("/market/types/0/").status_code == 200


def test_a_type_newer_than_the_sde_still_has_its_page(client, sde_loaded):
    book_store(JITA.region_id, [order(88888, "10", 1), order(88888, "9", 1, buy=True)])
    response = client.get("/market/types/88888/")
    assert response.status_code == 200
    assert "<h1>Type 88888</h1>" in response.content.decode()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("station_id=60000358", "station_id: must be one of the five hubs"),
        ("days=7", "days: must be one of 30, 90, 365, got &#x27;7&#x27;"),
        ("buy_sort=owner", "buy_sort: must be one of"),
        ("scope=galaxy", "scope: must be one of station, region"),
    ],
)
def test_a_bad_parameter_is_named(client, tritanium, query, message):
    response = client.get(f"/market/types/{TRITANIUM}/?{query}")
    assert response.status_code == 400
    assert message in response.content.decode()


def test_htmx_swaps_the_books_or_the_chart_alone(client, tritanium):
    htmx = {"HX-Request": "true"}
    live = client.get(
        f"/market/types/{TRITANIUM}/?sell_sort=-price", headers={**htmx, "HX-Target": "type-live"}
    )
    assert live.content.decode().lstrip().startswith('<div id="type-live"')
    assert [row["Price"] for row in book(live, "sell")] == ["6.10", "6.00"]
    chart = client.get(
        f"/market/types/{TRITANIUM}/?days=30", headers={**htmx, "HX-Target": "type-history"}
    )
    assert chart.content.decode().lstrip().startswith('<section id="type-history"')
    assert "<html" not in chart.content.decode()


def test_the_kept_books_and_history_follow_each_new_snapshot_and_history(client, tritanium):
    """The books and the chart are rendered once per region's snapshot and history and kept:
    a new snapshot or new history of the region shows at once, each sort, page and window
    has its own, and another region's new snapshot leaves them be."""
    from market.models import HistoryDay
    from market.queries import history_version_bump

    url = f"/market/types/{TRITANIUM}/"
    assert [row["Price"] for row in book(client.get(url), "sell")] == ["6.00", "6.10"]
    assert [row["Price"] for row in book(client.get(url + "?sell_sort=-price"), "sell")] == [
        "6.10",
        "6.00",
    ]
    book_store(AMARR.region_id, [order(TRITANIUM, "7.50", 10, hub=AMARR)])
    assert [row["Price"] for row in book(client.get(url), "sell")] == ["6.00", "6.10"]
    book_store(JITA.region_id, [order(TRITANIUM, "5.55", 10, order_id=9)])
    assert [row["Price"] for row in book(client.get(url), "sell")] == ["5.55"]

    def chart(query: str) -> dict:
        html = HTMLParser(client.get(url + query).content.decode())
        return json.loads(html.css_first("#history-data").text())

    assert len(chart("?days=30")["t"]) == 30
    assert len(chart("?days=365")["t"]) == 365
    before = chart("?days=30")["volume"][-1]
    HistoryDay.objects.filter(region_id=JITA.region_id, type_id=TRITANIUM).update(volume=7)
    history_version_bump(region_id=JITA.region_id)  # what new history landing does
    assert before != 7
    assert chart("?days=30")["volume"][-1] == 7


def test_the_hub_quotes_follow_each_new_snapshot_and_history_and_are_read_once_per_book(
    client, tritanium
):
    """The five hubs' figures are kept per process until one of their books or histories
    moves: a second view of the type reads only the books' ages for them."""
    from market.models import TypeRegionStats
    from market.queries import history_version_bump

    url = f"/market/types/{TRITANIUM}/"

    def quotes() -> dict[str, list[str]]:
        html = HTMLParser(client.get(url).content.decode())
        return {
            tr.css_first("th a").text(strip=True): [td.text(strip=True) for td in tr.css("td")]
            for tr in html.css("#hub-quotes tbody tr")
        }

    first = quotes()
    assert first["Amarr"] == ["5.50", "6.50", "1.00", "—"]
    with CaptureQueriesContext(connection) as warm:
        assert quotes() == first
    assert not [q for q in warm.captured_queries if "market_bestprice" in q["sql"]]

    # A new Amarr book shows at once.
    book_store(
        AMARR.region_id,
        [
            order(TRITANIUM, "5.60", 10, buy=True, hub=AMARR),
            order(TRITANIUM, "6.40", 10, hub=AMARR),
        ],
    )
    assert quotes()["Amarr"] == ["5.60", "6.40", "0.80", "—"]
    # New history of The Forge: its 30-day volume shows at once too.
    TypeRegionStats.objects.filter(region_id=JITA.region_id, type_id=TRITANIUM).update(
        avg_daily_volume=2000
    )
    history_version_bump(region_id=JITA.region_id)
    assert quotes()["Jita"][3] == "2,000"
