import gzip
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from market.hubs import HUBS_BY_KEY
from market.routes import JumpGraph, is_high_sec, security_rounded
from market.trading import TradingInputError

DATA = Path(__file__).resolve().parent / "data" / "jumps"
SHARED_SDE = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "eve" / "sde"

JITA = HUBS_BY_KEY["jita"].system_id
AMARR = HUBS_BY_KEY["amarr"].system_id
DODIXIE = HUBS_BY_KEY["dodixie"].system_id
RENS = HUBS_BY_KEY["rens"].system_id
HEK = HUBS_BY_KEY["hek"].system_id
# Once on the Jita-Amarr pipe; since the Triglavian invasion it is in Pochven, whose gates only
# link Pochven systems: cut off from the rest of New Eden.
NIARJA = 30003504
TAMA = 30002813  # 0.3: low-sec, one gate from high-sec Nourvukaiken
J_SPACE = 31000005  # Thera: a wormhole system, no stargates at all


@pytest.fixture(scope="module")
def graph() -> JumpGraph:
    return JumpGraph.from_csv(DATA / "mapSolarSystemJumps.csv.gz", DATA / "mapSolarSystems.csv.gz")


@pytest.mark.embedded
def test_it_counts_jita_to_amarr_as_traders_know_it(graph):
    assert graph.jumps(JITA, AMARR, "shortest") == 11
    assert graph.jumps(JITA, AMARR, "secure") == 45


@pytest.mark.embedded
def test_it_counts_rens_to_hek_the_same_both_ways(graph):
    assert graph.jumps(RENS, HEK, "shortest") == 6
    assert graph.jumps(RENS, HEK, "secure") == 6
    assert graph.jumps(HEK, RENS, "secure") == 6


def test_routes_are_symmetric_between_every_pair_of_hubs(graph):
    hubs = [JITA, AMARR, DODIXIE, RENS, HEK]
    for origin in hubs:
        for destination in hubs:
            for route in ("shortest", "secure"):
                there = graph.jumps(origin, destination, route)
                assert there == graph.jumps(destination, origin, route)
                assert there is not None
    assert graph.jumps(JITA, JITA) == 0


def test_a_secure_route_is_never_shorter_than_the_shortest(graph):
    for destination in (AMARR, DODIXIE, RENS, HEK):
        assert graph.jumps(JITA, destination, "secure") >= graph.jumps(JITA, destination)


def test_shortest_route_defaults_and_is_the_default_preference(graph):
    assert graph.jumps(JITA, AMARR) == graph.jumps(JITA, AMARR, "shortest")


def test_a_system_without_gates_is_unreachable_not_an_error(graph):
    assert J_SPACE in graph
    assert graph.jumps(JITA, J_SPACE) is None
    assert graph.jumps(J_SPACE, JITA, "secure") is None


def test_pochven_is_cut_off_from_the_hubs(graph):
    assert graph.jumps(JITA, NIARJA) is None
    assert graph.jumps(NIARJA, 30000157) is not None  # Otela, another Pochven system


def test_a_secure_route_cannot_start_or_end_in_low_sec(graph):
    assert not graph.is_high_sec(TAMA)
    assert graph.jumps(JITA, TAMA) is not None
    assert graph.jumps(JITA, TAMA, "secure") is None
    assert graph.jumps(TAMA, TAMA, "secure") is None
    assert graph.jumps(TAMA, TAMA) == 0


def test_it_names_the_bad_parameter(graph):
    with pytest.raises(TradingInputError) as error:
        graph.jumps(JITA, AMARR, "fastest")
    assert error.value.param == "route" and "shortest, secure" in str(error.value)
    with pytest.raises(TradingInputError) as error:
        graph.jumps(JITA, 12345)
    assert error.value.param == "destination" and "12345" in str(error.value)
    with pytest.raises(TradingInputError) as error:
        graph.jumps("Jita", AMARR)
    assert error.value.param == "origin"


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("true_security", "shown", "high_sec"),
    [
        ("0.45", "0.5", True),  # EVE rounds half up: 0.45 is high-sec
        ("0.449999", "0.4", False),
        (0.45, "0.5", True),  # a float from the database must not become 0.44999…
        ("0.5", "0.5", True),
        ("1.0", "1.0", True),
        ("0.04", "0.1", False),  # never shown as 0.0 while positive
        ("0.0", "0.0", False),
        ("-0.04", "0.0", False),
        ("-0.99", "-1.0", False),
    ],
)
def test_security_rounds_as_eve_shows_it(true_security, shown, high_sec):
    assert security_rounded(true_security) == Decimal(shown)
    assert is_high_sec(true_security) is high_sec


def test_a_system_with_unknown_security_is_not_high_sec():
    graph = JumpGraph(pairs=[(1, 2), (2, 3)], security={1: "0.9", 2: None, 3: "0.9"})
    assert graph.jumps(1, 3) == 2
    assert graph.jumps(1, 3, "secure") is None


def test_one_direction_of_a_gate_is_enough():
    graph = JumpGraph(pairs=[(1, 2), (3, 2)], security={1: 1.0, 2: 1.0, 3: 1.0})
    assert graph.jumps(1, 3) == 2 and graph.jumps(3, 1) == 2


def test_it_searches_each_origin_once_and_keeps_a_bounded_cache():
    # A line of systems 1-2-…-50.
    graph = JumpGraph(
        pairs=[(n, n + 1) for n in range(1, 50)],
        security={n: 0.9 for n in range(1, 51)},
        cache_size=3,
    )
    assert graph.jumps(1, 50) == 49
    searched = graph._cache[(1, "shortest")]
    assert graph.jumps(1, 20) == 19
    assert graph._cache[(1, "shortest")] is searched
    for origin in (2, 3, 4):
        graph.jumps(origin, 50)
    assert len(graph._cache) == 3 and (1, "shortest") not in graph._cache


def test_concurrent_readers_get_the_same_answers(graph):
    answers = []

    def ask():
        answers.append((graph.jumps(DODIXIE, HEK), graph.jumps(DODIXIE, HEK, "secure")))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(answers)) == 1


def test_it_reports_a_missing_column_and_a_bad_line(tmp_path):
    jumps = tmp_path / "mapSolarSystemJumps.csv"
    systems = tmp_path / "mapSolarSystems.csv"
    jumps.write_text("fromSolarSystemID,toSolarSystemID\n1,2\n2,three\n")
    systems.write_text("solarSystemID,security\n1,0.9\n2,0.9\n")
    with pytest.raises(ValueError, match=r"mapSolarSystemJumps\.csv line 3"):
        JumpGraph.from_csv(jumps, systems)
    systems.write_text("solarSystemID,sec\n1,0.9\n")
    jumps.write_text("fromSolarSystemID,toSolarSystemID\n1,2\n")
    with pytest.raises(ValueError, match="no column security"):
        JumpGraph.from_csv(jumps, systems)


def test_it_reads_headers_in_any_case_with_a_bom_and_gzip(tmp_path):
    jumps = tmp_path / "jumps.csv.gz"
    jumps.write_bytes(gzip.compress("\ufeffFROMSOLARSYSTEMID,TOSOLARSYSTEMID\n1,2\n".encode()))
    systems = tmp_path / "systems.csv"
    systems.write_text("SolarSystemID,Security\n1,0.5\n2,None\n")
    graph = JumpGraph.from_csv(jumps, systems)
    assert graph.jumps(1, 2) == 1 and graph.jumps(1, 2, "secure") is None


@pytest.mark.skipif(not SHARED_SDE.exists(), reason="the shared SDE is not on this machine")
def test_the_full_shared_sde_builds_fast_and_agrees_with_the_compact_copy(graph):
    started = time.perf_counter()
    full = JumpGraph.from_csv(
        SHARED_SDE / "mapSolarSystemJumps.csv", SHARED_SDE / "mapSolarSystems.csv"
    )
    built_in = time.perf_counter() - started
    assert built_in < 1.0
    assert len(full) == len(graph)
    assert full.jumps(JITA, AMARR) == 11 and full.jumps(JITA, AMARR, "secure") == 45
    assert full.jumps(RENS, HEK) == 6 and full.jumps(RENS, HEK, "secure") == 6
    for destination in (AMARR, DODIXIE, RENS, HEK, NIARJA, TAMA):
        for route in ("shortest", "secure"):
            assert full.jumps(JITA, destination, route) == graph.jumps(JITA, destination, route)
