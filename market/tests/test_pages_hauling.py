"""The hauling page: the same plans as the API, the route's jumps, empty states, bad input."""

from __future__ import annotations

import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from market.queries import caches_clear
from market.tests.desk_data import AMARR, DODIXIE, JITA, book_store, map_load, market_type, order

pytestmark = pytest.mark.django_db

TRITANIUM, PYERITE = 34, 35
URL = f"/market/hauling/?from_station_id={JITA.station_id}&to_station_id={AMARR.station_id}"


@pytest.fixture(autouse=True)
def _fresh_desk():
    caches_clear()


@pytest.fixture
def books(db):
    market_type(TRITANIUM, "Tritanium")
    market_type(PYERITE, "Pyerite")
    book_store(
        JITA.region_id,
        [
            order(TRITANIUM, "4.00", 100),
            order(TRITANIUM, "4.50", 200),
            order(PYERITE, "10.00", 50),
        ],
    )
    book_store(
        AMARR.region_id,
        [
            order(TRITANIUM, "6.00", 150, buy=True, hub=AMARR),
            order(PYERITE, "20.00", 10, buy=True, hub=AMARR),
        ],
    )
    book_store(DODIXIE.region_id, [order(PYERITE, "30.00", 5, buy=True, hub=DODIXIE)])


def table(response) -> list[dict[str, str]]:
    html = HTMLParser(response.content.decode())
    labels = [th.text(strip=True).rstrip(" ▾▴") for th in html.css("#hauling-rows thead th")]
    return [
        dict(zip(labels, [c.text(strip=True) for c in tr.css("th, td")], strict=True))
        for tr in html.css("#hauling-rows tbody tr")
    ]


def test_it_lists_what_pays_to_haul_best_first(client, books):
    rows = table(client.get(f"{URL}&sales_tax=0.1"))
    assert [row["Item"] for row in rows] == ["Tritanium", "Pyerite"]
    tritanium = rows[0]
    assert tritanium == {
        "Item": "Tritanium",
        "From": "Jita",
        "To": "Amarr",
        "Quantity": "150",
        "Buy cost": "625.00",
        "Sell revenue": "900.00",
        "Fees and tax": "90.00",
        "Net profit": "185.00",
        "ROI": "29.6 %",
        "m³": "1.5",
        "Jumps": "—",  # no map imported: the route is unknown
        "Profit / jump": "—",
    }
    # Pyerite: 10 at 10.00 into the 20.00 bid: 200 - 100 - 20 tax = 80.
    assert rows[1]["Net profit"] == "80.00"


def test_a_first_visit_plans_jita_to_amarr(client, books):
    response = client.get("/market/hauling/")
    assert "<h1>Hauling from Jita to Amarr</h1>" in response.content.decode()
    assert len(table(response)) == 2


def test_any_hub_to_any_hub_shows_each_trip(client, books):
    rows = table(client.get("/market/hauling/?from_station_id=&to_station_id=&sales_tax=0.1"))
    trips = {(row["Item"], row["From"], row["To"]) for row in rows}
    assert trips == {
        ("Tritanium", "Jita", "Amarr"),
        ("Pyerite", "Jita", "Amarr"),
        ("Pyerite", "Jita", "Dodixie"),
    }


def test_it_counts_the_jumps_of_the_chosen_route(client, books):
    map_load()
    shortest = client.get(f"{URL}&sales_tax=0.1")
    assert "Jita → Amarr: 11 jumps." in shortest.content.decode()
    assert table(shortest)[0]["Profit / jump"] == "17"  # 185 / 11
    secure = client.get(f"{URL}&sales_tax=0.1&route=secure").content.decode()
    assert "Jita → Amarr: 45 jumps through high-sec only." in secure


def test_the_budget_and_the_hold_are_shared_by_the_whole_trip(client, books):
    rows = table(client.get(f"{URL}&sales_tax=0.1&budget=500"))
    spent = sum(float(row["Buy cost"].replace(",", "")) for row in rows)
    assert spent <= 500


def test_it_sorts_by_any_column(client, books):
    by_name = table(client.get(f"{URL}&sort=type_name"))
    assert [row["Item"] for row in by_name] == ["Pyerite", "Tritanium"]
    by_roi = table(client.get(f"{URL}&sort=-roi"))
    assert [row["Item"] for row in by_roi] == ["Pyerite", "Tritanium"]  # 100 % vs 45 %


def test_nothing_to_haul_says_so(client, books):
    text = client.get(f"{URL}&sales_tax=0.9").content.decode()
    assert "Nothing is worth hauling from Jita to Amarr with these settings right now" in text


def test_a_hub_without_data_is_named_in_the_empty_state(client):
    text = client.get(URL).content.decode()
    assert "(no order book for Domain yet)" in text
    assert "(no order book for The Forge yet)" in text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("&mode=teleport", "mode: must be one of instant, relist"),
        ("&cargo_m3=-1", "cargo_m3: must be at least 0, got -1"),
        ("&budget=1e40", "budget: must be below"),
        ("&from_station_id=42", "from_station_id: unknown station 42"),
    ],
)
def test_a_bad_parameter_is_named(client, books, query, message):
    response = client.get(URL + query)
    assert response.status_code == 400
    assert message in response.content.decode()
