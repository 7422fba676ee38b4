import time

import pytest
import requests

from lenny.replay import ReplayResponse, ReplayServer


@pytest.fixture
def server():
    srv = ReplayServer()

    @srv.route("GET", r"/things/(?P<thing_id>\d+)/")
    def thing(req):
        return ReplayResponse.json({"id": int(req.params["thing_id"]), "page": req.arg("page")})

    @srv.route("POST", r"/echo")
    def echo(req):
        return ReplayResponse.json(req.form())

    with srv:
        yield srv


def test_it_routes_and_counts_requests(server):
    r = requests.get(server.url("/things/7/?page=2"), timeout=5)
    assert r.json() == {"id": 7, "page": "2"}
    requests.post(server.url("/echo"), data={"a": "b"}, timeout=5)
    assert server.count("/things/") == 1
    assert server.count("", method="POST") == 1
    assert server.requests("/things/")[0].arg("page") == "2"


def test_it_answers_unknown_routes_and_wrong_methods_like_an_upstream(server):
    assert requests.get(server.url("/nope"), timeout=5).status_code == 404
    r = requests.post(server.url("/things/1/"), timeout=5)
    assert r.status_code == 405 and r.headers["Allow"] == "GET"


def test_it_injects_a_status_with_headers_a_limited_number_of_times(server):
    server.fault(r"/things/", status=429, headers={"Retry-After": "3"}, times=2)
    statuses = [requests.get(server.url("/things/1/"), timeout=5).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]
    r = requests.get(server.url("/things/1/"), timeout=5)
    assert r.status_code == 200


def test_it_matches_faults_on_query_parameters(server):
    server.fault(r"/things/", query={"page": "37"}, status=502)
    assert requests.get(server.url("/things/1/?page=36"), timeout=5).status_code == 200
    assert requests.get(server.url("/things/1/?page=37"), timeout=5).status_code == 502


def test_it_adds_latency(server):
    server.fault(r"/things/", latency=0.3, times=None)
    started = time.monotonic()
    requests.get(server.url("/things/1/"), timeout=5)
    assert time.monotonic() - started >= 0.3


def test_a_hang_makes_the_client_time_out(server):
    server.fault(r"/things/", hang=2)
    with pytest.raises(requests.exceptions.Timeout):
        requests.get(server.url("/things/1/"), timeout=0.5)


def test_a_truncated_body_breaks_the_read(server):
    server.fault(r"/things/", truncate=True)
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(server.url("/things/1/"), timeout=5).json()


def test_a_client_that_gives_up_is_a_note_in_the_log_not_a_traceback(server, capfd, caplog):
    # A slow, large answer: the client times out and leaves before the replay writes it.
    server.fault(r"/things/", status=200, body="x" * 4_000_000, latency=0.5)
    with caplog.at_level("INFO", logger="lenny.replay"), pytest.raises(requests.Timeout):
        requests.get(server.url("/things/1/"), timeout=0.1)
    time.sleep(1.0)

    assert "Traceback" not in capfd.readouterr().err
    assert any("the client left before its answer was sent" in m for m in caplog.messages)
    # … and the replay answers the next client as before.
    assert requests.get(server.url("/things/2/"), timeout=5).json()["id"] == 2


def test_faults_and_log_are_controllable_over_http(server):
    requests.post(
        server.url("/_replay/faults"), json={"pattern": "/things/", "status": 503}, timeout=5
    )
    assert requests.get(server.url("/things/1/"), timeout=5).status_code == 503
    log = requests.get(server.url("/_replay/log"), timeout=5).json()
    assert [entry["status"] for entry in log] == [503]
    requests.post(server.url("/_replay/reset"), timeout=5)
    assert server.count() == 0


def test_the_shared_fixture_points_settings_at_the_replay(upstreams, settings):
    assert upstreams.url("/esi") == settings.ESI_BASE_URL
    assert settings.SCRYFALL_BASE_URL.startswith("http://127.0.0.1:")
