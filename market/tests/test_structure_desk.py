"""A tracked player structure is a market location like a hub, everywhere in the desk: station
trading at it, hauling from and to it (jumps from its system), the item page beside the hubs, the
orders API on its own book; someone else's private structure is a 404 on every page and API.

The structure here is the replay's Perimeter tower (next to Jita), its book stored through the
real ingest as its own snapshot (``snapshot_store(structure_id=…)``), with prices of its own so a
row read from Jita's book instead would show."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from lenny.lib.htmx import POLL_PARAM
from market.ingest import snapshot_store
from market.models import MarketSnapshot, Structure
from market.prewarm import DeskPrewarm
from market.queries.caches import _recent, region_book, structure_book
from market.tests.factories import (
    AMARR,
    FORGE,
    JITA,
    book_store,
    daily_volume,
    map_load,
    market_type,
    order,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_desk")]

TTT = 1028858195912  # Perimeter - Tranquility Trading Tower (the replay's public structure)
TTT_NAME = "Perimeter - Tranquility Trading Tower"
PERIMETER = 30000144
HIDEOUT = 1030049082711  # someone's private structure, also in The Forge here
TRITANIUM, MEGACYTE = 34, 40

STATION_TRADING = "/api/market/station-trading"
HAULING = "/api/market/hauling"


def at_ttt(type_id: int, price: str, volume: int, *, buy: bool = False, **kwargs) -> dict:
    return order(type_id, price, volume, buy=buy, location_id=TTT, system_id=PERIMETER, **kwargs)


def structure_book_store(orders: list[dict], *, structure_id: int = TTT) -> MarketSnapshot:
    last_modified = (timezone.now() - timedelta(minutes=2)).replace(microsecond=0)
    return snapshot_store(
        region_id=FORGE,
        structure_id=structure_id,
        pages=[json.dumps(orders).encode()],
        last_modified=last_modified,
        expires=last_modified + timedelta(minutes=5),
    )


def ttt_book(*, megacyte_bid: str = "1100") -> MarketSnapshot:
    return structure_book_store(
        [
            at_ttt(TRITANIUM, "4.00", 200_000, buy=True),
            at_ttt(TRITANIUM, "4.60", 200_000),
            at_ttt(MEGACYTE, megacyte_bid, 1000, buy=True),
            at_ttt(MEGACYTE, "1500", 1000),
        ]
    )


@pytest.fixture
def desk(db, other_user):
    """Jita and Amarr with books, the public Perimeter tower with its own (cheaper tritanium,
    dearer megacyte), and a private structure of ``other_user`` with a book as well."""
    market_type(TRITANIUM, "Tritanium")
    market_type(MEGACYTE, "Megacyte")
    for region in (JITA.region_id, AMARR.region_id):
        daily_volume(region, TRITANIUM, "1000000")
        daily_volume(region, MEGACYTE, "1000")
    book_store(
        JITA.region_id,
        [
            order(TRITANIUM, "5.00", 100_000, buy=True),
            order(TRITANIUM, "6.00", 100_000),
            order(MEGACYTE, "1000", 1000, buy=True),
            order(MEGACYTE, "1300", 1000),
        ],
    )
    book_store(
        AMARR.region_id,
        [
            order(TRITANIUM, "7.00", 100_000, buy=True, hub=AMARR),
            order(TRITANIUM, "7.50", 100_000, hub=AMARR),
            order(MEGACYTE, "900", 1000, buy=True, hub=AMARR),
            order(MEGACYTE, "950", 1000, hub=AMARR),
        ],
    )
    Structure.objects.create(
        structure_id=TTT, name=TTT_NAME, solar_system_id=PERIMETER, region_id=FORGE
    )
    Structure.objects.create(
        structure_id=HIDEOUT,
        name="Secret Hideout",
        solar_system_id=PERIMETER,
        region_id=FORGE,
        is_private=True,
        added_by=other_user,
    )
    ttt_book()
    structure_book_store(
        [order(TRITANIUM, "1.00", 10, location_id=HIDEOUT, system_id=PERIMETER)],
        structure_id=HIDEOUT,
    )


def rows_by_type(response) -> dict[int, dict]:
    assert response.status_code == 200, response.content
    return {row["type_id"]: row for row in response.json()["results"]}


# --- station trading -----------------------------------------------------------------------------


def test_station_trading_at_a_structure_reads_its_own_book(client, desk):
    answer = client.get(f"{STATION_TRADING}?station_id={TTT}&include_flagged=1")
    rows = rows_by_type(answer)
    assert (rows[TRITANIUM]["best_bid"], rows[TRITANIUM]["best_ask"]) == (4.0, 4.6)
    assert (rows[MEGACYTE]["best_bid"], rows[MEGACYTE]["best_ask"]) == (1100.0, 1500.0)
    snapshot = answer.json()["snapshot"]
    assert snapshot["structure_id"] == TTT and snapshot["region_id"] == FORGE
    assert snapshot["snapshot_id"] == MarketSnapshot.objects.structure_current_ids()[TTT]
    # Jita's own table is untouched by the structure's book.
    jita = rows_by_type(client.get(f"{STATION_TRADING}?station_id={JITA.station_id}"))
    assert jita[TRITANIUM]["best_bid"] == 5.0
    assert (
        "structure_id"
        not in client.get(f"{STATION_TRADING}?station_id={JITA.station_id}").json()["snapshot"]
    )


def test_the_trading_page_offers_the_visible_structures_after_the_hubs(client, desk, other_user):
    page = client.get(reverse("market:station_trading")).content.decode()
    selector = page[page.index('name="station_id"') : page.index("</select>")]
    assert selector.index("Hek") < selector.index('label="Player structures"')
    assert f'value="{TTT}"' in selector and TTT_NAME in selector
    assert "Secret Hideout" not in selector  # someone else's private one

    at_ttt_page = client.get(f"{reverse('market:station_trading')}?station_id={TTT}")
    html = at_ttt_page.content.decode()
    assert at_ttt_page.status_code == 200
    assert f"Station trading at {TTT_NAME}" in html
    assert f'<option value="{TTT}" selected data-structure>' in html
    assert f"{TTT_NAME}: orders" in html  # the age line is the structure's book's

    client.force_login(other_user)
    own = client.get(reverse("market:station_trading")).content.decode()
    assert "Secret Hideout" in own


def test_the_trading_table_polls_for_the_structures_own_snapshot(client, desk):
    url = f"{reverse('market:station_trading')}?station_id={TTT}"
    html = client.get(url).content.decode()
    marker = re.search(r'"since": "([^"]+)"', html).group(1)
    assert f"s{TTT}:" in marker
    poll = {"station_id": TTT, POLL_PARAM: marker}
    url = reverse("market:station_trading")
    assert client.get(url, poll, HTTP_HX_REQUEST="true").status_code == 204
    # A new Jita book does not touch the tower's table; a new book of the tower does.
    book_store(JITA.region_id, [order(TRITANIUM, "5.10", 100_000, buy=True)])
    assert client.get(url, poll, HTTP_HX_REQUEST="true").status_code == 204
    ttt_book(megacyte_bid="1150")
    fresh = client.get(url, poll, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="trading-table")
    assert fresh.status_code == 200
    assert "1,150.00" in fresh.content.decode()


def test_someone_elses_private_structure_is_a_404_on_every_desk_page_and_api(
    client, desk, user, other_user
):
    pages = [
        f"{reverse('market:station_trading')}?station_id={HIDEOUT}",
        f"{reverse('market:hauling')}?from_station_id={HIDEOUT}&to_station_id={AMARR.station_id}",
        f"{reverse('market:hauling')}?from_station_id={JITA.station_id}&to_station_id={HIDEOUT}",
        f"{reverse('market:type_detail', args=[TRITANIUM])}?station_id={HIDEOUT}",
        f"{STATION_TRADING}?station_id={HIDEOUT}",
        f"{HAULING}?from_station_id={HIDEOUT}",
        f"{HAULING}?to_station_id={HIDEOUT}",
        f"/api/market/orders?region_id={FORGE}&location_id={HIDEOUT}",
        f"/api/market/station-volume?station_id={HIDEOUT}&type_id={TRITANIUM}",
    ]
    for visitor in (None, user):
        if visitor is not None:
            client.force_login(visitor)
        for url in pages:
            answer = client.get(url)
            assert answer.status_code == 404, (visitor, url, answer.status_code)
            assert b"Secret Hideout" not in answer.content
            if url.startswith("/api/"):
                assert answer.json()["parameter"] in {
                    "station_id",
                    "from_station_id",
                    "to_station_id",
                    "location_id",
                }
    # Its owner sees it everywhere.
    client.force_login(other_user)
    for url in pages[:-1]:  # (no trades were inferred there: the volume API has no region yet)
        assert client.get(url).status_code == 200, url
    rows = rows_by_type(client.get(f"{STATION_TRADING}?station_id={HIDEOUT}&include_flagged=1"))
    assert rows == {}  # an ask only: nothing to station-trade, but its own book


@pytest.mark.parametrize(
    ("value", "status", "message"),
    [
        ("99999999999999", 404, "station_id: no tracked structure 99999999999999"),
        (str(2**63 - 1), 404, f"station_id: no tracked structure {2**63 - 1}"),
        (str(2**63), 400, "station_id: is not a station id"),
        ("-1028858195912", 400, "station_id: is not a station id"),
        ("1028858195912.5", 400, "station_id: must be a whole station id"),
        ("1e12", 400, "station_id: must be a whole station id"),
        ("42", 400, "station_id: unknown station 42"),
    ],
)
def test_hostile_location_ids_are_a_clear_4xx(client, desk, value, status, message):
    answer = client.get(STATION_TRADING, {"station_id": value})
    assert answer.status_code == status
    assert answer.json()["error"].startswith(message)
    page = client.get(reverse("market:station_trading"), {"station_id": value})
    assert page.status_code == status


def test_a_stopped_structure_is_no_market_location_any_more(client, desk):
    Structure.objects.filter(pk=TTT).update(is_tracking=False)
    assert client.get(f"{STATION_TRADING}?station_id={TTT}").status_code == 404
    page = client.get(reverse("market:station_trading")).content.decode()
    assert TTT_NAME not in page


# --- hauling -------------------------------------------------------------------------------------


def test_hauling_from_a_structure_to_a_hub_counts_jumps_from_its_system(client, desk):
    map_load()
    cheap = client.get(
        HAULING,
        {"from_station_id": TTT, "to_station_id": AMARR.station_id, "include_flagged": 1},
    ).json()
    assert cheap["trips"][0]["from_station_id"] == TTT
    shortest = cheap["trips"][0]["jumps"]
    jita_to_amarr = client.get(
        HAULING, {"from_station_id": JITA.station_id, "to_station_id": AMARR.station_id}
    ).json()["trips"][0]["jumps"]
    # Counted from Perimeter, one gate from Jita: 12 jumps where Jita's are 11.
    assert (shortest, jita_to_amarr) == (12, 11)
    secure = client.get(
        HAULING,
        {"from_station_id": TTT, "to_station_id": AMARR.station_id, "route": "secure"},
    ).json()["trips"][0]["jumps"]
    assert secure > shortest
    row = {r["type_id"]: r for r in cheap["results"]}[TRITANIUM]
    # Bought at the tower's 4.60 ask (Jita asks 6.00), sold into Amarr's 7.00 bids.
    assert row["best_ask"] == 4.6 and row["best_bid"] == 7.0
    assert row["buys"][0]["price"] == 4.6
    assert {s["structure_id"] for s in cheap["snapshots"] if "structure_id" in s} == {TTT}


def test_hauling_from_a_hub_to_a_structure_sells_into_its_bids(client, desk):
    map_load()
    # Amarr's megacyte at 950, the tower's bids at 1,100.
    answer = client.get(
        HAULING,
        {"from_station_id": AMARR.station_id, "to_station_id": TTT, "include_flagged": 1},
    ).json()
    row = {r["type_id"]: r for r in answer["results"]}[MEGACYTE]
    assert (row["best_ask"], row["best_bid"]) == (950.0, 1100.0)
    assert row["to_station_id"] == TTT
    assert answer["trips"][0]["jumps"] == 12  # to Perimeter, one gate past Jita

    page = client.get(
        reverse("market:hauling"),
        {"from_station_id": AMARR.station_id, "to_station_id": TTT, "include_flagged": 1},
    ).content.decode()
    assert f"Hauling from Amarr to {TTT_NAME}" in page
    assert "Megacyte" in page


def test_a_structure_end_with_any_hub_on_the_other_plans_a_trip_to_each_hub(client, desk):
    map_load()
    answer = client.get(HAULING, {"from_station_id": TTT, "include_flagged": 1}).json()
    jumps = {trip["to_station_id"]: trip["jumps"] for trip in answer["trips"]}
    assert len(jumps) == 5 and TTT not in jumps  # the five hubs, not the tower
    assert jumps[JITA.station_id] == 1
    page = client.get(reverse("market:hauling"), {"from_station_id": TTT}).content.decode()
    assert "any of the five trade hubs" in page


def test_a_remembered_structure_end_that_went_away_falls_back_to_any_hub(client, desk, user):
    client.force_login(user)
    assert (
        client.get(
            reverse("market:hauling"), {"from_station_id": TTT, "to_station_id": AMARR.station_id}
        ).status_code
        == 200
    )
    Structure.objects.filter(pk=TTT).update(is_tracking=False)
    again = client.get(reverse("market:hauling"))
    assert again.status_code == 200
    assert "Hauling to Amarr" in again.content.decode()


# --- the item page and the orders API ---------------------------------------------------------


def test_the_item_page_shows_the_hubs_and_the_structures_side_by_side(client, desk):
    html = client.get(reverse("market:type_detail", args=[MEGACYTE])).content.decode()
    quotes = html[
        html.index('id="hub-quotes"') : html.index("</table>", html.index('id="hub-quotes"'))
    ]
    assert quotes.index("Jita") < quotes.index(TTT_NAME)
    row = quotes[quotes.index(f'data-structure="{TTT}"') :]
    row = row[: row.index("</tr>")]
    assert "1,100.00" in row and "1,500.00" in row
    assert reverse("market:structure_detail", args=[TTT]) in row
    # A structure's book is fetched on its own schedule (with a pilot's token): its age is shown.
    assert re.search(r"<small[^>]*data-age>orders [^<]+ old</small>", row)
    assert "Region&#x27;s daily volume" in quotes or "Region's daily volume" in quotes
    assert "Secret Hideout" not in html
    volume = html[html.index('id="station-volume"') :]
    assert TTT_NAME in volume[: volume.index("</table>")]


def test_the_item_page_at_a_structure_lists_the_structures_orders(client, desk):
    html = client.get(
        reverse("market:type_detail", args=[MEGACYTE]), {"station_id": TTT}
    ).content.decode()
    summary = html[html.index('data-summary="bid"') :]
    assert summary.startswith('data-summary="bid">1,100.00 ISK')
    book = html[html.index('id="buy-book"') :]
    book = book[: book.index("</table>")]
    assert "1,100.00" in book and "1,000.00" not in book  # the tower's bids, not Jita's


def test_the_orders_api_lists_a_structures_own_book_by_location_id(client, desk):
    structure = client.get("/api/market/orders", {"region_id": FORGE, "location_id": TTT})
    assert structure.status_code == 200
    body = structure.json()
    assert {row["location_id"] for row in body["results"]} == {TTT}
    assert len(body["results"]) == 4
    assert body["snapshot"]["structure_id"] == TTT
    region = client.get("/api/market/orders", {"region_id": FORGE}).json()
    assert {row["location_id"] for row in region["results"]} == {JITA.station_id}
    # A structure of another region's id is not this region's: nothing of its book.
    elsewhere = client.get(
        "/api/market/orders", {"region_id": AMARR.region_id, "location_id": TTT}
    ).json()
    assert elsewhere["results"] == []


# --- the pre-warm thread -----------------------------------------------------------------------


def test_a_new_structure_snapshot_makes_again_what_reads_the_structure(client, desk):
    client.get(f"{STATION_TRADING}?station_id={TTT}&min_margin=0.01")
    prewarm = DeskPrewarm()
    first = prewarm.round()
    assert structure_book(TTT) in first and region_book(FORGE) in first
    assert prewarm.round() == []
    assert _recent.reading([structure_book(TTT)])
    assert not _recent.reading([structure_book(HIDEOUT)])

    ttt_book(megacyte_bid="1120")
    assert prewarm.round() == [structure_book(TTT)]
    rows = rows_by_type(client.get(f"{STATION_TRADING}?station_id={TTT}&min_margin=0.01"))
    assert rows[MEGACYTE]["best_bid"] == 1120.0


def test_hauling_notes_the_structure_book_it_reads(client, desk):
    client.get(HAULING, {"from_station_id": TTT, "to_station_id": AMARR.station_id})
    assert _recent.reading([structure_book(TTT)])
    assert _recent.reading([region_book(AMARR.region_id)])
    # A new Jita book alone does not re-plan the tower's trip.
    assert not _recent.reading([region_book(FORGE)])


@pytest.mark.parametrize(
    ("url", "parameter", "status"),
    [
        (f"{HAULING}?from_station_id=99999999999999", "from_station_id", 404),
        (f"{HAULING}?to_station_id=99999999999999", "to_station_id", 404),
        (f"{HAULING}?from_station_id={2**64}", "from_station_id", 400),
        (f"{HAULING}?to_station_id=%C2%B2", "to_station_id", 400),
        (f"/api/market/orders?region_id={FORGE}&location_id={2**64}", "location_id", 400),
        (f"/api/market/orders?region_id={FORGE}&location_id=-{TTT}", "location_id", 400),
        (f"/api/market/station-volume?station_id={2**64}&type_id={TRITANIUM}", "station_id", 400),
    ],
)
def test_hostile_ids_on_the_other_location_parameters(client, desk, url, parameter, status):
    answer = client.get(url)
    assert answer.status_code == status, answer.content
    assert answer.json()["parameter"] == parameter
    assert answer.json()["error"].startswith(f"{parameter}: ")


def test_hauling_to_the_same_structure_is_a_400_naming_the_end(client, desk):
    answer = client.get(HAULING, {"from_station_id": TTT, "to_station_id": TTT})
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "to_station_id: must differ from from_station_id",
        "parameter": "to_station_id",
    }
