"""The station-trading page: hand-computed books, the trader's own fees, filters in the URL,
server-side sorting and paging, empty states and bad parameters. (Flags, hidden rows and the
achievable ranking: test_pages_trading_flags.py.)"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from accounts.models import TradingProfile
from market.models import MarketGroup
from market.tests.factories import (
    JITA,
    PERIMETER_STATION,
    PERIMETER_SYSTEM,
    book_store,
    daily_volume,
    market_type,
    order,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_desk")]

TRITANIUM, PYERITE, MEXALLON, ISOGEN = 34, 35, 36, 37
URL = "/market/trading/"
# Accounting 5 and Broker Relations 5: 8 % x (1 - 0.55) and 3 % - 1.5 %.
SKILLED = "sales_tax=0.036&broker_fee=0.015"
# Pyerite loses money and Isogen's orders are tiny with no volume: flagged, so hidden by default.
ALL = "include_flagged=1"


@pytest.fixture
def minerals(db) -> MarketGroup:
    group = MarketGroup.objects.create(id=1857, name="Minerals")
    market_type(TRITANIUM, "Tritanium", group=group)
    market_type(PYERITE, "Pyerite", group=group)
    market_type(MEXALLON, "Mexallon", group=group)
    market_type(ISOGEN, "Isogen")  # outside the group
    return group


@pytest.fixture
def jita_book(minerals):
    book_store(
        JITA.region_id,
        [
            order(TRITANIUM, "5.00", 5000, buy=True),
            order(TRITANIUM, "4.90", 500, buy=True),
            order(TRITANIUM, "6.00", 8000),
            order(TRITANIUM, "6.10", 900),
            # Elsewhere in The Forge: a better bid and a cheaper ask the Jita trader cannot use.
            order(
                TRITANIUM,
                "5.50",
                100,
                buy=True,
                location_id=PERIMETER_STATION,
                system_id=PERIMETER_SYSTEM,
            ),
            order(
                TRITANIUM, "5.20", 100, location_id=PERIMETER_STATION, system_id=PERIMETER_SYSTEM
            ),
            order(PYERITE, "10.00", 100, buy=True),
            order(PYERITE, "10.20", 100),
            order(MEXALLON, "50.00", 100),  # nobody buys it at Jita
            order(ISOGEN, "100.00", 10, buy=True),
            order(ISOGEN, "130.00", 10),
        ],
    )
    daily_volume(JITA.region_id, TRITANIUM, "1000")
    daily_volume(JITA.region_id, PYERITE, "50")


def table(response) -> list[dict[str, str]]:
    """The trading table's rows as {column label: cell text}."""
    html = HTMLParser(response.content.decode())
    labels = [th.text(strip=True).rstrip(" ▾▴") for th in html.css("#trading-rows thead th")]
    rows = []
    for tr in html.css("#trading-rows tbody tr"):
        # The item's cell holds its name's link and any flag badges: the name alone here.
        cells = [tr.css_first("th a").text(strip=True)]
        cells += [cell.text(strip=True) for cell in tr.css("td")]
        rows.append(dict(zip(labels, cells, strict=True)))
    return rows


def names(response) -> list[str]:
    return [row["Item"] for row in table(response)]


@pytest.mark.embedded
def test_it_prices_each_type_at_the_station_by_hand(client, jita_book):
    response = client.get(f"{URL}?station_id={JITA.station_id}&{SKILLED}&sort=type_name&{ALL}")
    assert response.status_code == 200
    rows = {row["Item"]: row for row in table(response)}
    # Only Jita's own orders count: bid 5.00, ask 6.00 (not Perimeter's 5.50 / 5.20).
    # fees 0.015 x 5 = 0.075 and 0.015 x 6 = 0.09, tax 0.036 x 6 = 0.216,
    # profit 6 - 5 - 0.075 - 0.09 - 0.216 = 0.619, margin 0.619 / 5 = 12.38 %,
    # daily profit 0.619 x 1000 = 619; the station is not watched yet, so your units a day are
    # 10 % of the region's 1,000: 100, and your profit a day 0.619 x 100 = 61.90.
    assert rows["Tritanium"] == {
        "Item": "Tritanium",
        "Bid": "5.00",
        "Ask": "6.00",
        "Broker fee (bid)": "0.08",  # 0.075, shown to the cent
        "Broker fee (ask)": "0.09",
        "Sales tax": "0.22",
        "Profit / unit": "0.62",
        "Margin": "12.4 %",
        "Station volume": "—",
        "Units / day": "100",
        "Profit / day": "62",
        "Region volume": "1,000",
        "Region profit / day": "619",
        # Each side's best 5 % of units all sit at its best price.
        "Depth bid": "5.00",
        "Depth ask": "6.00",
        "Bid reprices / day": "—",
        "Ask reprices / day": "—",
    }
    # 10.20 - 10 - 0.15 - 0.153 - 0.3672 = -0.4702: shown, in red, a loss.
    assert rows["Pyerite"]["Profit / unit"] == "-0.47"
    assert rows["Pyerite"]["Margin"] == "-4.7 %"
    # No history: its daily volume, and so its daily profit, are unknown however good the margin.
    assert rows["Isogen"]["Margin"] == "21.9 %"
    assert (rows["Isogen"]["Region volume"], rows["Isogen"]["Region profit / day"]) == ("—", "—")
    assert "Mexallon" not in rows  # no bid at Jita
    assert "3 types with both a bid and an ask at Jita." in response.content.decode()


def test_a_logged_in_trader_gets_the_fees_of_their_profile(client, user, jita_book):
    TradingProfile.objects.create(user=user, accounting_level=5, broker_relations_level=5)
    client.force_login(user)
    skilled = table(client.get(f"{URL}?sort=type_name&{ALL}"))
    client.logout()
    overridden = table(client.get(f"{URL}?sort=type_name&{SKILLED}&{ALL}"))
    assert skilled == overridden
    assert skilled[2]["Profit / unit"] == "0.62"


def test_anonymous_traders_get_the_default_fees(client, jita_book):
    response = client.get(f"{URL}?sort=type_name&{ALL}")
    tritanium = table(response)[2]
    # 0.03 x 5 = 0.15, 0.03 x 6 = 0.18, 0.08 x 6 = 0.48: profit 0.19, margin 3.8 %.
    assert tritanium["Broker fee (bid)"] == "0.15"
    assert tritanium["Sales tax"] == "0.48"
    assert tritanium["Profit / unit"] == "0.19"
    assert tritanium["Margin"] == "3.8 %"
    assert "sales tax 8 %, broker fee 3 %" in response.content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("min_margin=0.15", ["Isogen"]),
        ("min_margin=0.1238", ["Isogen", "Tritanium"]),  # inclusive
        ("min_volume=100", ["Tritanium"]),
        ("min_volume=50", ["Pyerite", "Tritanium"]),
        ("min_profit=0", ["Isogen", "Tritanium"]),
        ("max_price=20", ["Pyerite", "Tritanium"]),
        ("market_group=1857", ["Pyerite", "Tritanium"]),
        ("min_margin=0.1&market_group=1857&min_volume=1", ["Tritanium"]),
    ],
)
def test_each_filter_narrows_the_table(client, jita_book, query, expected):
    response = client.get(f"{URL}?{SKILLED}&sort=type_name&{query}&{ALL}")
    assert names(response) == expected
    assert f"{len(expected)} type" in response.content.decode()
    assert "of the 3 with both a bid and an ask at Jita" in response.content.decode()


def test_a_market_group_filter_covers_its_whole_subtree(client, jita_book, minerals):
    materials = MarketGroup.objects.create(id=533, name="Materials")
    minerals.parent = materials
    minerals.save()
    response = client.get(f"{URL}?{SKILLED}&sort=type_name&market_group=533&{ALL}")
    assert names(response) == ["Pyerite", "Tritanium"]


def test_the_market_group_select_lists_the_tree_with_the_chosen_group_selected(
    client, jita_book, minerals
):
    materials = MarketGroup.objects.create(id=533, name="Materials & <Ores>")
    minerals.parent = materials
    minerals.save()

    chosen = HTMLParser(client.get(f"{URL}?market_group=1857").text)
    select = chosen.css_first("select[name=market_group]")
    options = [
        (o.attributes["value"], o.text(), "selected" in o.attributes) for o in select.css("option")
    ]
    assert options == [
        ("", "All groups", False),
        ("533", "All Materials & <Ores>", False),
        ("1857", "Minerals", True),
    ]
    assert select.css_first("optgroup").attributes["label"] == "Materials & <Ores>"
    # The next page, with no group or one that is not in the tree, selects none.
    for query in ("", "?market_group=1857%22%3E", "?market_group=99"):
        page = HTMLParser(client.get(f"{URL}{query}").text)
        assert not page.css("select[name=market_group] option[selected]"), query


def test_a_volume_cap_limits_the_daily_profit(client, jita_book):
    response = client.get(f"{URL}?{SKILLED}&sort=type_name&volume_cap=200")
    assert table(response)[0]["Region profit / day"] == "124"  # 0.619 x 200 = 123.80
    # Your 100 units a day (10 % of 1,000) stay under the cap; a cap of 40 binds.
    assert table(response)[0]["Profit / day"] == "62"
    capped = table(client.get(f"{URL}?{SKILLED}&volume_cap=40"))
    assert (capped[0]["Units / day"], capped[0]["Profit / day"]) == ("40", "25")


def test_every_column_sorts_both_ways_on_the_server(client, jita_book):
    by_margin = names(client.get(f"{URL}?{SKILLED}&sort=-margin&{ALL}"))
    assert by_margin == ["Isogen", "Tritanium", "Pyerite"]
    assert names(client.get(f"{URL}?{SKILLED}&sort=margin&{ALL}")) == by_margin[::-1]
    response = client.get(f"{URL}?{SKILLED}&sort=-margin&{ALL}")
    header = HTMLParser(response.content.decode()).css_first("th a[aria-sort]")
    assert header.text(strip=True) == "Margin"
    assert header.attributes["aria-sort"] == "descending"
    # Clicking it again sorts the other way, keeping the filters in the URL.
    assert "sort=margin" in header.attributes["href"]
    assert "sales_tax=0.036" in header.attributes["href"]


def test_it_pages_a_long_table(client, minerals):
    orders = []
    for offset in range(55):
        type_id = 1000 + offset
        market_type(type_id, f"Item {offset:02}")
        orders += [order(type_id, "100", 1, buy=True), order(type_id, "150", 1)]
    book_store(JITA.region_id, orders)
    first = client.get(f"{URL}?sort=type_name&{ALL}")  # one-unit orders: tiny, no volume
    assert len(table(first)) == 50
    html = HTMLParser(first.content.decode())
    assert html.css_first(".pager").text(strip=True).count("page 1 of 2")
    following = html.css_first("a[rel=next]").attributes["href"]
    second = client.get(following)
    assert names(second) == [f"Item {n}" for n in range(50, 55)]
    # A page past the end shows the last one rather than nothing.
    assert names(client.get(f"{URL}?sort=type_name&page=9&{ALL}")) == names(second)


def test_it_says_when_no_order_book_has_landed_yet(client):
    response = client.get(URL)
    assert response.status_code == 200
    text = response.content.decode()
    assert "No order book for The Forge yet" in text
    assert "The Forge: no orders fetched yet" in text


def test_it_says_when_nothing_matches(client, jita_book):
    response = client.get(f"{URL}?min_margin=5&{ALL}")
    assert "No type at Jita matches these filters" in response.content.decode()


def test_it_shows_how_old_the_data_is(client, jita_book):
    text = client.get(URL).content.decode()
    assert "The Forge: orders" in text
    assert "3 min</time> old" in text
    assert "next refresh in" in text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("min_margin=abc", "min_margin: enter a number, got &#x27;abc&#x27;"),
        ("min_margin=NaN", "min_margin: enter a"),
        ("max_price=-1", "max_price: must be at least 0, got -1"),
        ("station_id=1", "station_id: unknown station 1"),
        ("station_id=jita", "station_id: must be a whole station id"),
        ("sales_tax=1.5", "sales_tax: must be a fraction from 0 to below 1"),
        ("market_group=999999", "market_group: unknown market group 999999"),
        ("sort=price;drop", "sort: must be one of"),
        ("page=0", "page: must be from 1"),
        ("min_volume=1e999999", "min_volume:"),
        # The thousands suffix overflowed Decimal's exponent: a 500, not a form error.
        ("min_volume=1e999999k", "min_volume: must be below 1,000,000,000,000,000, got"),
        ("min_profit=1e999999k", "min_profit: must be below 1,000,000,000,000,000, got"),
        ("max_price=-1e999999b", "max_price: must be at least 0, got"),
        ("volume_cap=1e999999t", "volume_cap: must be below"),
    ],
)
def test_a_bad_parameter_is_named_in_the_error(client, jita_book, query, message):
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert message in response.content.decode()
    assert 'role="alert"' in response.content.decode()


def test_an_htmx_filter_swaps_only_the_table(client, jita_book):
    response = client.get(
        f"{URL}?{SKILLED}&min_margin=0.15&{ALL}",
        headers={"HX-Request": "true", "HX-Target": "trading-table"},
    )
    assert response.status_code == 200
    text = response.content.decode()
    # The table, and the title and heading (out of band) that name the hub.
    assert re.match(
        r"\s*<title>Station trading · Jita · Lenny</title>\s*"
        r'<h1 id="desk-heading" hx-swap-oob="true">Station trading at Jita</h1>\s*'
        r'<section id="trading-table"',
        text,
    )
    assert "<html" not in text and "<form" not in text
    assert names(response) == ["Isogen"]
    # The filter form's hidden sort follows the table (out of band) so the next filter keeps it.
    assert 'id="trading-sort"' in text and 'hx-swap-oob="true"' in text


def test_an_htmx_error_is_swapped_in_not_dropped(client, jita_book):
    response = client.get(
        f"{URL}?min_margin=x", headers={"HX-Request": "true", "HX-Target": "trading-table"}
    )
    # htmx does not swap a 4xx: the error comes as a 200 table that says what is wrong.
    assert response.status_code == 200
    assert "min_margin: enter a number" in response.content.decode()


def test_the_page_reads_only_the_current_snapshot(client, jita_book):
    book_store(JITA.region_id, [order(TRITANIUM, "7.00", 5, buy=True), order(TRITANIUM, "9.00", 5)])
    rows = table(client.get(f"{URL}?sort=type_name&{ALL}"))
    assert [(r["Item"], r["Bid"], r["Ask"]) for r in rows] == [("Tritanium", "7.00", "9.00")]


def test_decimal_places_are_kept_exact_in_the_maths(client, jita_book):
    # 0.619 x 1000 exactly, not 618.9999…: rounding happens only for display.
    response = client.get(f"/api/market/station-trading?station_id={JITA.station_id}&{SKILLED}")
    tritanium = next(r for r in response.json()["results"] if r["type_id"] == TRITANIUM)
    assert Decimal(str(tritanium["daily_profit"])) == Decimal("619.00")


def test_equal_daily_profits_list_the_better_margin_first(client, minerals):
    market_type(30, "Thin Margin")
    market_type(31, "Fat Margin")
    book_store(
        JITA.region_id,
        [
            order(30, "100", 1, buy=True),
            order(30, "105", 1),  # -1.9 %
            order(31, "100", 1, buy=True),
            order(31, "150", 1),  # 40.9 %
            order(TRITANIUM, "5.00", 1, buy=True),
            order(TRITANIUM, "6.00", 1),
        ],
    )
    daily_volume(JITA.region_id, TRITANIUM, "1000")
    # Neither has history, so both make 0 a day: the fatter margin first, not the lower type id.
    assert names(client.get(f"{URL}?{SKILLED}&{ALL}")) == [
        "Tritanium",
        "Fat Margin",
        "Thin Margin",
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("min_margin=12%25", ["Isogen"]),  # 12 %: 12.7 % passes, 3.8 % does not
        ("max_price=0.02k", ["Pyerite", "Tritanium"]),  # 20 ISK, as traders write it
        ("min_volume=1,000", ["Tritanium"]),
        ("sales_tax=3.6%25&broker_fee=1.5%25&min_profit=0.6", ["Isogen", "Tritanium"]),
    ],
)
def test_it_reads_amounts_and_rates_as_traders_write_them(client, jita_book, query, expected):
    response = client.get(f"{URL}?sort=type_name&{query}&{ALL}")
    assert response.status_code == 200
    assert names(response) == expected


def test_an_empty_filtered_table_offers_to_clear_the_filters(client, jita_book):
    response = client.get(f"{URL}?{SKILLED}&min_margin=5&sort=-margin&{ALL}")
    html = HTMLParser(response.content.decode())
    link = html.css_first("#trading-table a[hx-get]")
    assert link.text(strip=True) == "Show all 3 without the filters"
    # The fees and the sort stay; only the filters go.
    everything = client.get(link.attributes["href"])
    assert names(everything) == ["Isogen", "Tritanium", "Pyerite"]
    assert "sales_tax=0.036" in link.attributes["href"]
    assert "min_margin" not in link.attributes["href"]


def test_a_long_table_has_first_and_last_links(client, minerals):
    orders = []
    for offset in range(160):
        type_id = 2000 + offset
        market_type(type_id, f"Item {offset:03}")
        orders += [order(type_id, "100", 1, buy=True), order(type_id, "150", 1)]
    book_store(JITA.region_id, orders)
    html = HTMLParser(client.get(f"{URL}?sort=type_name&page=2&{ALL}").content.decode())
    links = {a.attributes["rel"]: a.attributes["href"] for a in html.css(".pager a")}
    assert set(links) == {"prev", "next", "last"}  # page 1 is "previous" already
    assert "page=4" in links["last"]
    last = HTMLParser(client.get(links["last"]).content.decode())
    assert {a.attributes["rel"] for a in last.css(".pager a")} == {"first", "prev"}
    assert "page 4 of 4" in last.css_first(".pager").text()


def test_the_fee_inputs_suggest_the_rates_as_the_api_writes_them(client, jita_book):
    # 0.08 and 0.03, as the JSON API writes them, not the 0.0800 the fee rules compute.
    html = HTMLParser(client.get(URL).content.decode())
    assert html.css_first("input[name=sales_tax]").attributes["placeholder"] == "0.08"
    assert html.css_first("input[name=broker_fee]").attributes["placeholder"] == "0.03"
