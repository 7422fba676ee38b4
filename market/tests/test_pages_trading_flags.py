"""Station trading as a trader first sees it: ranked by what they can earn a day at the station,
untrustworthy rows hidden with their count per reason and one click to show them (each with its
reasons), the filters a trader expects, and the same on the JSON API.

The book is hand-made. What trades at the station (``StationTradeDay``, ``ObservedDay``) and the
depth prices and min volumes (``BestPrice``) are written directly, as the ingest would."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.template.defaultfilters import floatformat
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from accounts.models import TradingProfile
from market.cells import number_text, volume_text
from market.models import BestPrice, Category, Group, ObservedDay, StationTradeDay, Type
from market.queries import caches_clear
from market.tests.factories import JITA, book_store, daily_volume, market_type, order
from tests.fixtures import api_bad_parameter

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_desk")]

URL = "/market/trading/"
API = f"/api/market/station-trading?station_id={JITA.station_id}"
TRITANIUM, PYERITE, MEXALLON, ISOGEN, NOCXIUM, ZYDRINE = 34, 35, 36, 37, 38, 39
RIFTER_BLUEPRINT, MEGACYTE, MORPHITE = 691, 40, 11399
MATERIAL, BLUEPRINT, SKINS = 4, 9, 91


def watch(days: int = 2) -> list:
    """The Forge watched all day on each of the last ``days`` days (not today)."""
    today = timezone.now().date()
    dates = [today - timedelta(days=back) for back in range(1, days + 1)]
    for day in dates:
        ObservedDay.objects.create(
            region_id=JITA.region_id, date=day, observed_seconds=86400, pairs=288
        )
    return dates


def traded(type_id: int, day, *, sold: int, bought: int, bid_reprices: int = 0) -> None:
    StationTradeDay.objects.create(
        region_id=JITA.region_id,
        location_id=JITA.station_id,
        type_id=type_id,
        date=day,
        sold_to_buy_orders=sold,
        bought_from_sell_orders=bought,
        bid_reprices=bid_reprices,
    )


def best_price(type_id: int, **columns) -> None:
    BestPrice.objects.current(region_id=JITA.region_id).filter(
        location_id=JITA.station_id, type_id=type_id
    ).update(**columns)


def desk_forget() -> None:
    """What the ingest's warm-up shared before the test wrote the station figures goes."""
    cache.clear()
    caches_clear()


@pytest.fixture
def categories(db):
    material = Category.objects.create(id=MATERIAL, name="Material", published=True)
    blueprint = Category.objects.create(id=BLUEPRINT, name="Blueprint", published=True)
    Category.objects.create(id=SKINS, name="SKINs", published=True)
    minerals = Group.objects.create(id=18, name="Mineral", category=material, published=True)
    blueprints = Group.objects.create(
        id=105, name="Frigate Blueprint", category=blueprint, published=True
    )
    for type_id, name, group in [
        (TRITANIUM, "Tritanium", minerals),
        (PYERITE, "Pyerite", minerals),
        (MEXALLON, "Mexallon", minerals),
        (ISOGEN, "Isogen", minerals),
        (NOCXIUM, "Nocxium", minerals),
        (ZYDRINE, "Zydrine", minerals),
        (MEGACYTE, "Megacyte", minerals),
        (MORPHITE, "Morphite", minerals),
        (RIFTER_BLUEPRINT, "Rifter Blueprint", blueprints),
    ]:
        market_type(type_id, name)
        Type.objects.filter(pk=type_id).update(group=group)


@pytest.fixture
def jita(categories):
    """Nine types at Jita 4-4, watched for two whole days. At skill-0 fees (3 % broker fee on
    both orders, 8 % sales tax) profit = 0.89 x ask - 1.03 x bid a unit; at a 10 % share:

    - Megacyte: 1,300 / 1,000; 200 sold and 100 bought a day: 127 x 10 = 1,270 a day.
    - Tritanium: 6.00 / 5.00; 60,000 and 40,000 a day: 0.19 x 4,000 = 760 a day.
    - Rifter Blueprint: 1.5 M / 1.0 M, 20 a day: 305,000 x 2 = 610,000 a day, but a blueprint.
    - Pyerite loses money (10.20 / 10.00); Mexallon's best bid wants 100,000 units at least
      (its 25 units a day cannot sell into it; traded one day of two); Isogen and Morphite never
      traded, and have no history; Nocxium's best bid is one unit at 2 M where the depth bid
      is 1 M; Zydrine's best ask is 3 units at 99 ISK.
    """
    book_store(
        JITA.region_id,
        [
            order(MEGACYTE, "1000", 1000, buy=True),
            order(MEGACYTE, "1300", 1000),
            order(TRITANIUM, "5.00", 100_000, buy=True),
            order(TRITANIUM, "6.00", 100_000),
            order(RIFTER_BLUEPRINT, "1000000", 10, buy=True),
            order(RIFTER_BLUEPRINT, "1500000", 10),
            order(PYERITE, "10.00", 100_000, buy=True),
            order(PYERITE, "10.20", 100_000),
            order(MEXALLON, "50.00", 10_000, buy=True, min_volume=100_000),
            order(MEXALLON, "60.00", 10_000),
            order(ISOGEN, "100.00", 1000, buy=True),
            order(ISOGEN, "130.00", 1000),
            order(MORPHITE, "200.00", 1000, buy=True),
            order(MORPHITE, "260.00", 1000),
            order(NOCXIUM, "2000000", 1, buy=True),
            order(NOCXIUM, "1000000", 10, buy=True),
            order(NOCXIUM, "2600000", 50),
            order(ZYDRINE, "50.00", 1000, buy=True),
            order(ZYDRINE, "99.00", 3),
        ],
    )
    best_price(MEXALLON, best_bid_min_volume=100_000)
    best_price(NOCXIUM, depth_bid=Decimal("1000000"), depth_ask=Decimal("2600000"))
    best_price(TRITANIUM, depth_bid=Decimal("4.98"), depth_ask=Decimal("6.02"))
    for type_id in (MEXALLON, NOCXIUM, ZYDRINE, MEGACYTE, RIFTER_BLUEPRINT):
        daily_volume(JITA.region_id, type_id, "1000")
    # The minerals trade by the hundred thousand in the region (a station never counts more).
    daily_volume(JITA.region_id, TRITANIUM, "100000")
    daily_volume(JITA.region_id, PYERITE, "100000")
    yesterday, day_before = watch(2)
    for day in (yesterday, day_before):
        traded(MEGACYTE, day, sold=200, bought=100)
        traded(TRITANIUM, day, sold=60_000, bought=40_000, bid_reprices=24)
        traded(RIFTER_BLUEPRINT, day, sold=20, bought=20)
        traded(PYERITE, day, sold=50_000, bought=50_000)
        traded(NOCXIUM, day, sold=4, bought=4)
        traded(ZYDRINE, day, sold=500, bought=500)
    traded(MEXALLON, yesterday, sold=500, bought=500)
    desk_forget()


def page(client, query: str = "") -> HTMLParser:
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 200, response.content
    return HTMLParser(response.content.decode())


def names(html: HTMLParser) -> list[str]:
    return [a.text(strip=True) for a in html.css("#trading-rows tbody th a")]


def api(client, query: str = "") -> dict:
    response = client.get(f"{API}&{query}")
    assert response.status_code == 200, response.content
    return response.json()


# --- the default view ----------------------------------------------------------------------------


@pytest.mark.embedded
def test_the_default_view_ranks_by_daily_profit_and_says_what_it_hid(client, jita):
    html = page(client)
    assert names(html) == ["Megacyte", "Tritanium"]
    summary = html.css_first("#flag-summary")
    assert summary.text(strip=True) == (
        "6 rows hidden: no volume (2), bait order (1), loses money (1), outlier price (1), "
        "tiny order (1) —show them"
    )
    show = summary.css_first("a")
    assert "include_flagged=1" in show.attributes["href"]
    assert show.attributes["hx-get"] == show.attributes["href"]
    # Blueprints are left out for everyone until they choose otherwise, and it says so.
    text = html.text()
    assert "2 types shown of the 9 with both a bid and an ask at Jita" in text
    assert "leaving out Blueprint, SKINs" in text
    # The achievable columns by hand: 10 % of the station's 100 a day, 127 x 10.
    row = html.css_first("#trading-rows tbody tr")
    cells = [cell.text(strip=True) for cell in row.css("td")]
    assert cells[4:7] == ["100", "1,270", "10"]


def test_show_them_lists_every_flagged_row_with_its_reasons(client, jita):
    first = page(client)
    html = page(client, first.css_first("#flag-summary a").attributes["href"].split("?", 1)[1])
    # Nocxium 254,000 x 0.4, Zydrine 36.61 x 50, Megacyte, Tritanium, Mexallon 1.90 x 25; Isogen
    # and Morphite earn nothing (the better margin first: a tie, then the lower id); Pyerite loses.
    assert names(html) == [
        "Nocxium",
        "Zydrine",
        "Megacyte",
        "Tritanium",
        "Mexallon",
        "Isogen",
        "Morphite",
        "Pyerite",
    ]
    badges = {
        tr.css_first("th a").text(strip=True): [
            (mark.text(strip=True), mark.attributes["title"]) for mark in tr.css("th mark.flag")
        ]
        for tr in html.css("#trading-rows tbody tr")
    }
    assert badges["Megacyte"] == badges["Tritanium"] == []
    assert [label for label, _ in badges["Mexallon"]] == ["bait order"]
    assert [label for label, _ in badges["Nocxium"]] == ["outlier price"]
    assert [label for label, _ in badges["Zydrine"]] == ["tiny order"]
    assert [label for label, _ in badges["Isogen"]] == ["no volume"]
    assert [label for label, _ in badges["Pyerite"]] == ["loses money"]
    # The badge's title explains the rule.
    assert "minimum quantity" in badges["Mexallon"][0][1]
    assert "10,000 ISK" in badges["Zydrine"][0][1]
    summary = html.css_first("#flag-summary")
    assert summary.text(strip=True).startswith("6 flagged rows shown, each with its reasons")
    assert "include_flagged" not in summary.css_first("a").attributes["href"]  # "hide them"


def test_show_them_swaps_only_the_table_and_keeps_the_choice_in_the_form(client, jita):
    response = client.get(
        f"{URL}?include_flagged=1", headers={"HX-Request": "true", "HX-Target": "trading-table"}
    )
    text = response.content.decode()
    assert "<form" not in text and text.count('<section id="trading-table"') == 1
    html = HTMLParser(text)
    kept = html.css_first("#trading-include-flagged")
    assert kept.attributes["value"] == "1" and kept.attributes["hx-swap-oob"] == "true"
    assert len(html.css("#trading-rows tbody tr")) == 8


@pytest.mark.embedded
def test_the_api_gives_every_row_its_flags_and_says_what_it_hid(client, jita):
    body = api(client)
    assert body["hidden"] == {
        "total": 6,
        "reasons": {
            "no_volume": 2,
            "bait_min_volume": 1,
            "loss": 1,
            "outlier": 1,
            "tiny_order": 1,
        },
    }
    assert body["count"] == 2 and body["market_share"] == 0.1
    assert body["excluded_category_ids"] == [BLUEPRINT, SKINS]
    assert body["station_volumes_known"] is True
    tritanium = body["results"][1]
    assert {key: tritanium[key] for key in tritanium if key not in {"type_name"}} == {
        "type_id": TRITANIUM,
        "best_bid": 5.0,
        "best_ask": 6.0,
        "depth_price_bid": 4.98,
        "depth_price_ask": 6.02,
        "broker_fee_bid": 0.15,
        "broker_fee_ask": 0.18,
        "sales_tax": 0.48,
        "profit": 0.19,
        "margin": 0.038,
        "daily_volume": 100000.0,
        "daily_profit": 19000.0,
        "has_history": True,
        "station_daily_volume": 40000.0,
        "volume_basis": "station",
        "achievable_units": 4000,
        "achievable_daily_profit": 760.0,
        "bid_reprices_daily": 24.0,
        "ask_reprices_daily": 0.0,
        "flags": [],
    }
    everything = api(client, "include_flagged=1")
    assert everything["hidden"] == {"total": 0, "reasons": {}}
    assert everything["count"] == 8
    flags = {row["type_name"]: row["flags"] for row in everything["results"]}
    assert flags["Mexallon"] == ["bait_min_volume"]
    assert flags["Pyerite"] == ["loss"]
    assert flags["Isogen"] == flags["Morphite"] == ["no_volume"]
    nocxium = next(row for row in everything["results"] if row["type_id"] == NOCXIUM)
    assert (nocxium["best_bid"], nocxium["depth_price_bid"]) == (2000000.0, 1000000.0)


def test_counts_and_pages_agree_with_what_is_shown(client, jita):
    first = api(client, "include_flagged=1&page_size=3")
    assert first["count"] == 8 and len(first["results"]) == 3
    pages = [first]
    while pages[-1]["next"]:
        pages.append(client.get(pages[-1]["next"]).json())
    assert sum(len(p["results"]) for p in pages) == 8
    assert api(client, "page_size=1")["next"] is not None
    assert api(client, "page_size=2")["next"] is None


def test_negative_profit_rows_never_show_by_default_whatever_the_sort(client, jita):
    for sort in ("-margin", "profit", "type_name", "-daily_profit"):
        assert "Pyerite" not in names(page(client, f"sort={sort}"))
        assert PYERITE not in [row["type_id"] for row in api(client, f"sort={sort}")["results"]]


# --- filters -------------------------------------------------------------------------------------


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("query", "expected", "hidden"),
    [
        # Tritanium trades 40,000 a day at the station, Megacyte 100.
        ("min_station_volume=1000", ["Tritanium"], 1),  # and Pyerite, which loses money
        ("min_station_volume=100", ["Megacyte", "Tritanium"], 3),  # Zydrine, Mexallon too
        ("min_achievable_profit=1000", ["Megacyte"], 2),  # Nocxium's outlier and Zydrine
        ("min_achievable_profit=1k", ["Megacyte"], 2),
        ("exclude_category=none", ["Rifter Blueprint", "Megacyte", "Tritanium"], 6),
        ("exclude_category=4", ["Rifter Blueprint"], 0),
        ("exclude_category=4,9", [], 0),
        ("exclude_category=9&exclude_category=91", ["Megacyte", "Tritanium"], 6),
        ("trades_daily=1", ["Megacyte", "Tritanium"], 3),  # not Mexallon, Isogen, Morphite
        ("trades_daily=1&exclude_category=none", ["Rifter Blueprint", "Megacyte", "Tritanium"], 3),
        ("trades_daily=0", ["Megacyte", "Tritanium"], 6),
        # Together: both bounds hold (Zydrine's 1,830 a day on 500 units is tiny, hidden).
        ("min_station_volume=100&min_achievable_profit=1000", ["Megacyte"], 1),
    ],
)
def test_each_filter_narrows_the_rows_and_the_hidden_count(client, jita, query, expected, hidden):
    assert names(page(client, query)) == expected
    body = api(client, query)
    assert [row["type_name"] for row in body["results"]] == expected
    assert body["hidden"]["total"] == hidden


def test_trades_daily_without_station_figures_asks_the_regions_history(client, categories):
    book_store(
        JITA.region_id,
        [
            order(TRITANIUM, "5.00", 100_000, buy=True),
            order(TRITANIUM, "6.00", 100_000),
            order(MEGACYTE, "1000", 1000, buy=True),
            order(MEGACYTE, "1300", 1000),
        ],
    )
    daily_volume(JITA.region_id, TRITANIUM, "1000")  # traded on each of the 30 days
    daily_volume(JITA.region_id, MEGACYTE, "50")
    from market.models import TypeRegionStats

    TypeRegionStats.objects.filter(type_id=MEGACYTE).update(days_traded=12)
    desk_forget()
    assert names(page(client, "trades_daily=1")) == ["Tritanium"]
    assert names(page(client)) == ["Megacyte", "Tritanium"]  # 127 x 5 = 635 > 0.19 x 100


def test_an_unwatched_station_ranks_on_the_regions_volume_and_says_so(client, categories):
    book_store(
        JITA.region_id,
        [order(TRITANIUM, "5.00", 100_000, buy=True), order(TRITANIUM, "6.00", 100_000)],
    )
    daily_volume(JITA.region_id, TRITANIUM, "1000")
    desk_forget()
    html = page(client)
    assert "What trades at Jita itself is not known yet" in html.css_first("#volume-basis").text()
    [row] = api(client)["results"]
    assert (row["station_daily_volume"], row["volume_basis"]) == (None, "region")
    assert (row["achievable_units"], row["achievable_daily_profit"]) == (100, 19.0)
    assert api(client)["station_volumes_known"] is False


@pytest.mark.parametrize(
    ("query", "parameter", "fragment"),
    [
        ("share=0", "share", "above 0 and at most 1"),
        ("share=1.5", "share", "above 0 and at most 1"),
        ("share=150%25", "share", "above 0 and at most 1"),
        ("share=lots", "share", "enter a number"),
        ("min_station_volume=-1", "min_station_volume", "at least 0"),
        ("min_station_volume=1e999999k", "min_station_volume", "must be below"),
        ("min_achievable_profit=abc", "min_achievable_profit", "enter a number"),
        ("min_achievable_profit=NaN", "min_achievable_profit", "min_achievable_profit:"),
        ("exclude_category=blueprints", "exclude_category", "must be category ids"),
        ("exclude_category=9,-1", "exclude_category", "must be category ids"),
        ("exclude_category=%C2%B2", "exclude_category", "must be category ids"),
        ("exclude_category=424242", "exclude_category", "unknown category 424242"),
        ("trades_daily=maybe", "trades_daily", "must be one of"),
        ("include_flagged=2", "include_flagged", "must be one of"),
        ("sort=flags", "sort", "must be one of"),
    ],
)
def test_a_bad_parameter_is_named_on_the_api_and_the_page(client, jita, query, parameter, fragment):
    api_bad_parameter(client.get(f"{API}&{query}"), parameter, fragment)
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert f"{parameter}:" in response.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "&".join(f"exclude_category={n}" for n in range(150)),
        "exclude_category=" + ",".join(str(n) for n in range(5000)),
    ],
    ids=["repeated", "comma-separated"],
)
def test_thousands_of_categories_are_refused_not_looked_up(client, jita, query):
    response = client.get(f"{API}&{query}")
    assert response.status_code == 400
    assert response.json() == {
        "error": "exclude_category: at most 100 categories",
        "parameter": "exclude_category",
    }


# --- the trader's own share and categories -------------------------------------------------------


def test_the_profiles_market_share_sets_the_units_and_the_query_overrides_it(client, user, jita):
    TradingProfile.objects.create(user=user, market_share=Decimal("0.5"))
    client.force_login(user)
    tritanium = next(row for row in api(client)["results"] if row["type_id"] == TRITANIUM)
    assert tritanium["achievable_units"] == 20000  # half of 40,000
    assert api(client)["market_share"] == 0.5
    overridden = api(client, "share=20%25")
    tritanium = next(row for row in overridden["results"] if row["type_id"] == TRITANIUM)
    assert (tritanium["achievable_units"], overridden["market_share"]) == (8000, 0.2)
    # The page suggests the profile's share in the input.
    assert page(client).css_first("input[name=share]").attributes["placeholder"] == "50%"


@pytest.mark.embedded
def test_a_traders_categories_are_kept_for_their_next_visit(client, user, other_user, jita):
    client.force_login(user)
    html = page(client, "exclude_category=none&exclude_category=4")
    assert names(html) == ["Rifter Blueprint"]
    assert TradingProfile.objects.get(user=user).excluded_category_ids == [MATERIAL]
    # Next visit, no parameter: their choice, on the page and the API alike.
    assert names(page(client)) == ["Rifter Blueprint"]
    assert api(client)["excluded_category_ids"] == [MATERIAL]
    boxes = page(client).css("details.categories input[type=checkbox]")
    assert {box.attributes["value"] for box in boxes if "checked" in box.attributes} == {"4"}
    # Unticking every box is a choice too: nothing left out.
    page(client, "exclude_category=none")
    assert TradingProfile.objects.get(user=user).excluded_category_ids == []
    assert names(page(client))[0] == "Rifter Blueprint"
    # Nobody else's view changes.
    client.force_login(other_user)
    assert names(page(client)) == ["Megacyte", "Tritanium"]
    client.logout()
    assert names(page(client)) == ["Megacyte", "Tritanium"]


def test_an_anonymous_choice_of_categories_lives_in_the_url_only(client, jita):
    assert names(page(client, "exclude_category=none")) == [
        "Rifter Blueprint",
        "Megacyte",
        "Tritanium",
    ]
    assert not TradingProfile.objects.exists()
    assert names(page(client)) == ["Megacyte", "Tritanium"]


def test_the_category_boxes_reflect_the_defaults_and_submit_a_choice(client, jita):
    html = page(client)
    form = html.css_first("#trading-filters")
    marker = form.css_first("input[type=hidden][name=exclude_category]")
    assert marker.attributes["value"] == "none"
    checked = {
        box.attributes["value"]
        for box in form.css("details.categories input[type=checkbox]")
        if "checked" in box.attributes
    }
    assert checked == {str(BLUEPRINT), str(SKINS)}
    assert "Leave out: Blueprint, SKINs" in form.css_first("details.categories summary").text()


def test_the_profile_page_sets_the_market_share(client, user):
    client.force_login(user)
    response = client.post(
        "/account/trading-profile/",
        {"accounting_level": "0", "broker_relations_level": "0", "market_share": "0.25"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and "Saved." in response.content.decode()
    profile = TradingProfile.objects.get(user=user)
    assert profile.market_share == Decimal("0.25")
    # A new profile starts with blueprints and SKINs left out.
    assert profile.excluded_category_ids == [BLUEPRINT, SKINS]
    # Left blank, the share stays; out of range, it is refused by name.
    client.post(
        "/account/trading-profile/", {"accounting_level": "1", "broker_relations_level": "0"}
    )
    assert TradingProfile.objects.get(user=user).market_share == Decimal("0.25")
    refused = client.post(
        "/account/trading-profile/",
        {"accounting_level": "0", "broker_relations_level": "0", "market_share": "2"},
    )
    assert refused.status_code == 400 and "less than or equal to 1" in refused.content.decode()


# --- numbers as the table writes them ------------------------------------------------------------


@given(
    value=st.decimals(
        min_value=Decimal("-1e13"), max_value=Decimal("1e13"), allow_nan=False, places=6
    )
    | st.decimals(min_value=Decimal(-1000), max_value=Decimal(1000), allow_nan=False, places=60),
    places=st.sampled_from([2, 1, 0, -1, -2]),
)
def test_the_tables_numbers_are_written_as_floatformat_writes_them(value, places):
    """The page writes its ~800 numbers in Python for speed; they must read as the template
    filter wrote them before (half up, thousands separated, no "-0.00")."""
    assert number_text(value, places) == str(floatformat(value, f"{places}g"))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1234.5"), "1,235"),  # half up
        (Decimal(100), "100"),
        (Decimal("99.95"), "100.0"),  # below 100: to a tenth
        (Decimal("12.04"), "12.0"),
        (Decimal(12), "12"),
        (None, "—"),  # not known
    ],
)
def test_a_daily_volume_is_whole_from_100_and_to_a_tenth_below(value, text):
    assert volume_text(value) == text


def test_a_station_never_counts_more_a_day_than_its_whole_region(client, jita):
    # Megacyte: 200 sold and 100 bought a day at Jita 4-4, but the region's history says 150 a
    # day: the desk takes the sold side at 150, and the station volume (the slower side) at 100.
    daily_volume(JITA.region_id, MEGACYTE, "150")
    daily_volume(JITA.region_id, TRITANIUM, "30000")
    desk_forget()
    rows = {row["type_id"]: row for row in api(client)["results"]}
    assert rows[MEGACYTE]["station_daily_volume"] == 100
    # Tritanium: 60,000 sold and 40,000 bought a day, the region 30,000: both sides capped.
    assert rows[TRITANIUM]["station_daily_volume"] == 30000
    assert rows[TRITANIUM]["achievable_units"] == 3000  # 10 % of 30,000
    # What was observed is still there to see, on the station-volume API.
    observed = client.get(
        f"/api/market/station-volume?station_id={JITA.station_id}&type_id={TRITANIUM}"
    ).json()
    assert observed["daily_units"] == 100000
