"""Where the hauling desk starts: a typical hauler's trip for a newcomer, the user's own last
plan when they come back; a field cleared on purpose means no limit."""

from __future__ import annotations

import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from accounts.models import TradingProfile
from market.queries import caches_clear
from market.tests.factories import AMARR, DODIXIE, JITA, book_store, market_type, order

pytestmark = pytest.mark.django_db

URL = "/market/hauling/"


@pytest.fixture(autouse=True)
def _books(db):
    caches_clear()
    market_type(34, "Tritanium")
    book_store(JITA.region_id, [order(34, "4.00", 100)])
    book_store(AMARR.region_id, [order(34, "6.00", 150, buy=True, hub=AMARR)])
    book_store(DODIXIE.region_id, [order(34, "7.00", 10, buy=True, hub=DODIXIE)])


def plan(response) -> dict[str, str]:
    """The plan the page's form shows: what the next Plan click will ask for."""
    assert response.status_code == 200, response.content[:500]
    form = HTMLParser(response.content.decode()).css_first("#hauling-filters")
    shown = {i.attributes["name"]: i.attributes.get("value") or "" for i in form.css("input")}
    for select in form.css("select"):
        chosen = select.css_first("option[selected]")
        shown[select.attributes["name"]] = chosen.attributes.get("value") or ""
    return {
        key: shown[key]
        for key in ("from_station_id", "to_station_id", "budget", "cargo_m3", "route")
    }


def trip_line(response) -> str:
    return HTMLParser(response.content.decode()).css_first(".trip").text()


TYPICAL = {
    "from_station_id": str(JITA.station_id),
    "to_station_id": str(AMARR.station_id),
    "budget": "1000000000",
    "cargo_m3": "60000",
    "route": "shortest",
}


def test_a_newcomer_starts_from_a_typical_hauler_not_an_unlimited_one(client):
    response = client.get(URL)
    assert plan(response) == TYPICAL
    assert "budget 1,000,000,000 ISK · cargo 60,000 m³" in trip_line(response)
    # A link naming one end keeps the typical wallet and hold.
    linked = client.get(f"{URL}?from_station_id={JITA.station_id}")
    assert plan(linked)["budget"] == "1000000000" and plan(linked)["to_station_id"] == ""


def test_a_user_comes_back_to_their_last_plan(client, user, other_user):
    client.force_login(user)
    client.get(
        f"{URL}?from_station_id={AMARR.station_id}&to_station_id={DODIXIE.station_id}"
        "&budget=2.5b&cargo_m3=12,000&route=secure&mode=instant"
    )
    again = client.get(URL)
    assert plan(again) == {
        "from_station_id": str(AMARR.station_id),
        "to_station_id": str(DODIXIE.station_id),
        "budget": "2500000000",
        "cargo_m3": "12000",
        "route": "secure",
    }
    assert "budget 2,500,000,000 ISK · cargo 12,000 m³" in trip_line(again)
    # Nobody else's desk moves.
    client.force_login(other_user)
    assert plan(client.get(URL)) == TYPICAL


def test_a_cleared_field_is_no_limit_and_is_remembered_so(client, user):
    client.force_login(user)
    cleared = client.get(
        f"{URL}?from_station_id={JITA.station_id}&to_station_id=&budget=&cargo_m3=5k"
    )
    assert "budget unlimited · cargo 5,000 m³" in trip_line(cleared)
    again = plan(client.get(URL))
    assert again["budget"] == "" and again["cargo_m3"] == "5000"
    assert again["from_station_id"] == str(JITA.station_id) and again["to_station_id"] == ""


def test_bad_input_and_polls_remember_nothing(client, user):
    client.force_login(user)
    client.get(f"{URL}?budget=3b")
    saved = TradingProfile.objects.get(user=user)
    bad = client.get(f"{URL}?budget=-5&cargo_m3=1")
    assert bad.status_code == 400 and "budget: must be at least 0" in bad.content.decode()
    client.get(f"{URL}?budget=7b&since=stale-marker", headers={"HX-Request": "true"})
    kept = TradingProfile.objects.get(user=user)
    assert kept.hauling_budget == saved.hauling_budget == 3_000_000_000
    assert kept.hauling_saved_at == saved.hauling_saved_at
