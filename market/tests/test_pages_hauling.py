"""The hauling page: the same plans as the API, the route's jumps, empty states, bad input.

The books are big enough to be trusted (every best price carries more than 10,000 ISK) and
the destinations have daily volumes: nothing here is flagged (test_hauling_trust.py is about
flagged rows)."""

from __future__ import annotations

import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from market.tests.factories import (
    AMARR,
    DODIXIE,
    JITA,
    book_store,
    daily_volume,
    map_load,
    market_type,
    order,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_desk")]

TRITANIUM, PYERITE = 34, 35
URL = f"/market/hauling/?from_station_id={JITA.station_id}&to_station_id={AMARR.station_id}"


@pytest.fixture
def hauling_books(db):
    market_type(TRITANIUM, "Tritanium")
    market_type(PYERITE, "Pyerite")
    book_store(
        JITA.region_id,
        [
            order(TRITANIUM, "4.00", 3000),
            order(TRITANIUM, "4.50", 6000),
            order(PYERITE, "10.00", 1500),
        ],
    )
    book_store(
        AMARR.region_id,
        [
            order(TRITANIUM, "6.00", 4500, buy=True, hub=AMARR),
            order(PYERITE, "20.00", 600, buy=True, hub=AMARR),
        ],
    )
    book_store(DODIXIE.region_id, [order(PYERITE, "30.00", 500, buy=True, hub=DODIXIE)])
    daily_volume(AMARR.region_id, TRITANIUM, "5000")
    daily_volume(AMARR.region_id, PYERITE, "1000")
    daily_volume(DODIXIE.region_id, PYERITE, "1000")


def table(response) -> list[dict[str, str]]:
    html = HTMLParser(response.content.decode())
    labels = [th.text(strip=True).rstrip(" ▾▴") for th in html.css("#hauling-rows thead th")]
    return [
        dict(zip(labels, [c.text(strip=True) for c in tr.css("th, td")], strict=True))
        for tr in html.css("#hauling-rows tbody tr")
    ]


def test_it_lists_what_pays_to_haul_best_first(client, hauling_books):
    response = client.get(f"{URL}&sales_tax=0.1")
    rows = table(response)
    assert [row["Item"] for row in rows] == ["Tritanium", "Pyerite"]
    # One trip: its ends and jumps are said once above the table, not on every row.
    assert rows[0] == {
        "Item": "Tritanium",
        "Quantity": "4,500",
        # 3,000 at 4.00 and 1,500 at 4.50 into the 6.00 bid: 27,000 - 18,750 - 2,700 tax.
        "Buy cost": "18,750",
        "Sell revenue": "27,000",
        "Fees and tax": "2,700",
        "Net profit": "5,550",
        "ROI": "29.6 %",
        "Days to sell": "now",  # sold into Amarr's buy orders on arrival
        "Daily volume there": "unknown",  # Amarr's station not watched yet
        "m³": "45",
        "Profit / jump": "—",  # no map imported: the route is unknown
    }
    # Pyerite: 600 at 10.00 into the 20.00 bid: 12,000 - 6,000 - 1,200 tax = 4,800.
    assert rows[1]["Net profit"] == "4,800"
    assert "Jita → Amarr: no route" in response.content.decode()


def test_one_trip_adds_up_to_its_totals(client, hauling_books):
    html = HTMLParser(client.get(f"{URL}&sales_tax=0.1").content.decode())
    cells = [
        cell.text(strip=True) for cell in html.css("#hauling-rows tfoot th, #hauling-rows tfoot td")
    ]
    # 18,750 + 6,000 spent, 27,000 + 12,000 sold, 2,700 + 1,200 tax, 5,550 + 4,800 earned:
    # 41.8 % on 24,750.
    cells = dict(
        zip(
            [th.text(strip=True).rstrip(" ▾▴") for th in html.css("#hauling-rows thead th")],
            cells,
            strict=True,
        )
    )
    assert cells == {
        "Item": "The whole trip",
        "Quantity": "",  # units of different types do not add up
        "Buy cost": "24,750",
        "Net profit": "10,350",
        "ROI": "41.8 %",
        "Days to sell": "",
        "Daily volume there": "",
        "Profit / jump": "—",
        "m³": "51",
        "Sell revenue": "39,000",
        "Fees and tax": "3,900",
    }


def test_a_first_visit_plans_jita_to_amarr(client, hauling_books):
    response = client.get("/market/hauling/")
    assert '<h1 id="desk-heading">Hauling from Jita to Amarr</h1>' in response.content.decode()
    assert len(table(response)) == 2


def test_an_htmx_answer_brings_the_heading_and_title_of_the_hubs_chosen(client, hauling_books):
    """The form swaps only the table: the heading and the tab's title, which name the hubs,
    come with it (out of band), or they would still name the hubs the page opened with."""
    response = client.get(
        "/market/hauling/?from_station_id=&to_station_id=",
        headers={"HX-Request": "true", "HX-Target": "hauling-table"},
    )
    text = response.content.decode()
    assert "<form" not in text and text.count('<section id="hauling-table"') == 1
    assert "<title>Hauling · Lenny</title>" in text
    assert '<h1 id="desk-heading" hx-swap-oob="true">Hauling</h1>' in text


def test_any_hub_to_any_hub_shows_each_trip(client, hauling_books):
    response = client.get("/market/hauling/?from_station_id=&to_station_id=&sales_tax=0.1")
    rows = table(response)
    trips = [
        (row["Item"], row["From"], row["To"], row["Trip profit"], row["Net profit"]) for row in rows
    ]
    # The best trip first (what the whole trip makes), each trip's best rows first.
    assert trips == [
        ("Tritanium", "Jita", "Amarr", "10,350", "5,550"),
        ("Pyerite", "Jita", "Amarr", "10,350", "4,800"),
        # 500 at 10.00 into 30.00: 15,000 - 5,000 - 1,500.
        ("Pyerite", "Jita", "Dodixie", "8,500", "8,500"),
    ]
    assert "Each row is a trip of its own" in response.content.decode()
    # Rows of different trips never add up to one: no totals.
    assert HTMLParser(response.content.decode()).css_first("#hauling-rows tfoot") is None


def test_it_counts_the_jumps_of_the_chosen_route(client, hauling_books):
    map_load()
    shortest = client.get(f"{URL}&sales_tax=0.1")
    trip = HTMLParser(shortest.content.decode()).css_first(".trip").text()
    # A first visit plans for a typical hauler, not for an unlimited wallet and hold.
    assert trip.startswith("Jita → Amarr: 11 jumps · budget 1,000,000,000 ISK · cargo 60,000 m³")
    assert table(shortest)[0]["Profit / jump"] == "505"  # 5,550 / 11
    secure = client.get(f"{URL}&sales_tax=0.1&route=secure").content.decode()
    assert "Jita → Amarr: <strong>45 jumps</strong> through high-sec only" in secure


def test_the_budget_and_the_hold_are_shared_by_the_whole_trip(client, hauling_books):
    response = client.get(f"{URL}&sales_tax=0.1&budget=18k")
    rows = {row["Item"]: row for row in table(response)}
    # 18,000 ISK: Pyerite (8.00 a unit on 10.00) pays better per ISK than Tritanium (1.40 on
    # 4.00), so it gets its 600 units for 6,000; the 12,000 left buy 3,000 Tritanium at 4.00.
    assert rows["Pyerite"]["Buy cost"] == "6,000"
    assert (rows["Tritanium"]["Quantity"], rows["Tritanium"]["Buy cost"]) == ("3,000", "12,000")
    assert "budget 18,000 ISK · cargo 60,000 m³" in response.content.decode()


def test_it_sorts_by_any_column(client, hauling_books):
    by_name = table(client.get(f"{URL}&sort=type_name"))
    assert [row["Item"] for row in by_name] == ["Pyerite", "Tritanium"]
    by_roi = table(client.get(f"{URL}&sort=-roi"))
    assert [row["Item"] for row in by_roi] == ["Pyerite", "Tritanium"]  # 80 % vs 29.6 %


def test_nothing_to_haul_says_so(client, hauling_books):
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
        ("&budget=1e40", "budget: must be below 1,000,000,000,000,000, got 1E+40"),
        ("&budget=lots", "budget: enter a number, got &#x27;lots&#x27;"),
        ("&budget=1e999999k", "budget: must be below 1,000,000,000,000,000, got"),
        ("&cargo_m3=9e999999m", "cargo_m3: must be below 1,000,000,000,000,000, got"),
        ("&from_station_id=60008494", "to_station_id: must differ from from_station_id"),
        ("&from_station_id=42", "from_station_id: unknown station 42"),
        ("&share=0", "share: must be a fraction above 0 and at most 1"),
        ("&share=150%", "share: must be a fraction above 0 and at most 1 (e.g. 0.1 or 10% for"),
        ("&share=lots", "share: enter a number, got &#x27;lots&#x27;"),
        ("&include_flagged=maybe", "include_flagged: must be one of true, false"),
        ("&sort=-flags", "sort: must be one of"),
    ],
)
def test_a_bad_parameter_is_named(client, hauling_books, query, message):
    response = client.get(URL + query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_new_snapshot_shows_new_rows_where_the_same_page_was_shown_before(client, hauling_books):
    # The rows' HTML is kept with the plan of a snapshot: the same page again reuses it...
    first = table(client.get(f"{URL}&sales_tax=0.1"))
    assert table(client.get(f"{URL}&sales_tax=0.1")) == first
    # ...and a new book at the destination is a new plan, with rows of its own.
    book_store(
        AMARR.region_id,
        [
            order(TRITANIUM, "7.00", 4500, buy=True, hub=AMARR),
            order(PYERITE, "20.00", 600, buy=True, hub=AMARR),
        ],
    )
    rows = table(client.get(f"{URL}&sales_tax=0.1"))
    assert rows[0]["Item"] == "Tritanium" and rows[0]["Sell revenue"] == "31,500"
    assert rows[0] != first[0]


def test_a_type_name_is_shown_as_text_never_as_markup(client, hauling_books):
    market_type(TRITANIUM, '<script>alert("x")</script> & Co')
    response = client.get(URL)
    body = response.content.decode()
    assert '<script>alert("x")</script>' not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in body
