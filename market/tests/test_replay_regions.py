"""Every market region in the replay ESI: a size table serves regions the history lacks, at the
size derived for them, and the derivation itself."""

import pytest
import requests

from market.replay.regions import (
    STRUCTURE_ID_BASE,
    HubActivity,
    MarketRegion,
    region_sizes_derive,
    structure_locations,
    trading_pool,
)
from market.tests.factories import DOMAIN, FORGE

pytestmark = pytest.mark.esi_replay(orders={FORGE: 2000}, page_size=1000, settings={})
LONETREK = 10000016
DELVE = 10000060
LONETREK_STATIONS = [(60000001, 30000001), (60000002, 30000002), (60000003, 30000003)]


def all_orders(upstreams, region_id):
    url = upstreams.url(f"/esi/markets/{region_id}/orders/")
    first = requests.get(url, params={"order_type": "all"}, timeout=30)
    assert first.status_code == 200, first.text
    orders = first.json()
    for page in range(2, int(first.headers["X-Pages"]) + 1):
        orders += requests.get(url, params={"order_type": "all", "page": page}, timeout=30).json()
    return orders


def test_a_region_without_history_is_served_at_its_size_over_its_types(esi, upstreams):
    delve_structures = structure_locations([30004759, 30004760])
    answer = requests.post(
        upstreams.url("/esi/_replay/state"),
        json={
            "regions": {
                str(LONETREK): {"orders": 2400, "types": 150, "stations": LONETREK_STATIONS},
                str(DELVE): {"orders": 700, "types": 40, "stations": delve_structures},
            }
        },
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["knobs"]["regions"][str(LONETREK)] == {
        "orders": 2400,
        "types": 150,
        "stations": 3,
    }

    lonetrek, delve = all_orders(upstreams, LONETREK), all_orders(upstreams, DELVE)
    forge = all_orders(upstreams, FORGE)

    assert len(lonetrek) == 2400 and len(delve) == 700
    # Its types are the hubs' most traded (the sample's 110; the slowest get no order).
    pool = [t.type_id for t in trading_pool(esi.archive())]
    assert 80 <= len({o["type_id"] for o in lonetrek}) <= 150
    assert {o["type_id"] for o in lonetrek} <= set(pool[:150])
    assert {o["type_id"] for o in delve} <= set(pool[:40])
    assert {o["location_id"] for o in lonetrek} <= {s for s, _ in LONETREK_STATIONS}
    assert all(o["location_id"] > STRUCTURE_ID_BASE for o in delve)
    assert {(o["location_id"], o["system_id"]) for o in delve} <= set(delve_structures)
    # Every order id is unique across the regions, as in EVE.
    ids = [o["order_id"] for o in lonetrek + delve + forge]
    assert len(ids) == len(set(ids))
    # Both sides of each book, buys below sells.
    for orders in (lonetrek, delve):
        assert {o["is_buy_order"] for o in orders} == {True, False}
    types = requests.get(upstreams.url(f"/esi/markets/{LONETREK}/types/"), timeout=10).json()
    assert types == sorted({o["type_id"] for o in lonetrek})


def test_a_hub_in_the_table_keeps_its_own_history_limited_to_its_top_types(esi, upstreams):
    esi.configure(regions={str(DOMAIN): {"orders": 300, "types": 20}})
    orders = all_orders(upstreams, DOMAIN)
    assert len(orders) == 300
    own_types = {t.type_id for t in esi.archive().trading(DOMAIN)}
    assert {o["type_id"] for o in orders} <= own_types
    assert len({o["type_id"] for o in orders}) <= 20


@pytest.mark.parametrize(
    ("regions", "named"),
    [
        ({"the forge": {"orders": 10}}, "the forge"),
        ({str(LONETREK): {"types": 10}}, f"regions[{LONETREK}]"),
        ({str(LONETREK): {"orders": -1}}, f"regions[{LONETREK}]"),
        ({str(LONETREK): {"orders": 10, "stations": [[1]]}}, f"regions[{LONETREK}]"),
        ({"42": {"orders": 10}}, "'42'"),
        ([1, 2], "regions must be an object"),
    ],
)
def test_a_bad_size_table_is_refused_naming_the_region(esi, upstreams, regions, named):
    refused = requests.post(
        upstreams.url("/esi/_replay/state"), json={"regions": regions}, timeout=10
    )
    assert refused.status_code == 400
    assert named in refused.json()["error"]
    assert esi.regions == {}


HUBS = [
    HubActivity(FORGE, orders=400_000, types=12_000, types_per_day=8_000, trades_per_day=392_000),
    HubActivity(DOMAIN, orders=64_000, types=9_900, types_per_day=4_600, trades_per_day=64_000),
    HubActivity(10000030, orders=20_000, types=7_500, types_per_day=2_500, trades_per_day=20_000),
]
REGIONS = [
    MarketRegion(FORGE, "The Forge", stations=347),
    MarketRegion(DOMAIN, "Domain", stations=364),
    MarketRegion(10000030, "Heimatar", stations=218),
    MarketRegion(LONETREK, "Lonetrek", stations=449),
    MarketRegion(10000001, "Derelik", stations=84),
    MarketRegion(10000041, "Syndicate", stations=123),
    MarketRegion(DELVE, "Delve", stations=13),
    MarketRegion(10000039, "Esoteria", stations=0),
]


def test_sizes_follow_the_archive_for_hubs_and_the_stations_elsewhere():
    sizes, derivation = region_sizes_derive(hubs=HUBS, regions=REGIONS)
    by_id = {s.region_id: s for s in sizes}

    assert by_id[FORGE].orders == 400_000 and by_id[FORGE].basis == "history"
    assert by_id[DOMAIN].types == 9_900
    # Off-hub orders per station, median of the hubs: Domain's 64,000 x 0.2 / 363 = 35.3.
    assert derivation.off_hub_orders_per_station == pytest.approx(64_000 * 0.2 / 363)
    assert by_id[LONETREK].orders == round(derivation.off_hub_orders_per_station * 449)
    assert by_id[LONETREK].basis == "stations"
    # Structure markets (fewer NPC stations than the median non-hub region: 13, 84, 123, 449)
    # trade like that median region.
    assert derivation.floor_stations == 103
    assert by_id[DELVE].orders == by_id[10000039].orders == by_id[10000001].orders
    assert by_id[DELVE].orders == round(derivation.off_hub_orders_per_station * 103)
    assert by_id[DELVE].orders < by_id[10000041].orders < by_id[LONETREK].orders
    # Types grow with orders as the types the hubs trade a day do, never more than orders.
    a, b = derivation.types_fit
    assert a * 20_000**b == pytest.approx(2_500, rel=0.1)
    assert by_id[LONETREK].types == round(a * by_id[LONETREK].orders ** b)
    assert by_id[DELVE].types < by_id[LONETREK].types < 2_500
    assert all(s.types <= s.orders for s in sizes)
    assert sum(s.orders for s in sizes) < 2 * by_id[FORGE].orders


def test_sizes_cannot_be_derived_without_any_hub():
    with pytest.raises(ValueError, match="covers no region"):
        region_sizes_derive(hubs=[], regions=REGIONS)
