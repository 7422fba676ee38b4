"""Lenny's web server for real, on a free port: a database outage, the access log, static files.

These start gunicorn exactly as `manage.py run` does (or `manage.py runserver`) in a subprocess
and talk to it over a real socket, because what they check happens outside Django's test client:
connecting to the database, gunicorn's own log lines, whitenoise's file serving.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path

from lenny.management.commands.run import web_command_build
from tests.fixtures import free_port, http_get, server_env, shared_database_url, web_server

ROOT = Path(__file__).resolve().parent.parent


def test_with_the_database_down_pages_are_a_styled_503_that_retries(tmp_path):
    port = free_port()
    dead = free_port()  # nothing listens there: every connection is refused
    env = server_env(tmp_path, DATABASE_URL=f"postgres://root@127.0.0.1:{dead}/lenny")
    argv = web_command_build(bind=f"127.0.0.1:{port}", workers=1)
    with web_server(argv, port, env, tmp_path / "web.log") as base:
        for path in ["/market/", "/market/trading/", "/accounts/login/", "/admin/login/"]:
            status, headers, body = http_get(base + path)
            assert status == 503, (path, status, body[:300])
            assert headers["Retry-After"] == "15"
            assert b"The database is unavailable, retrying" in body
            assert b'http-equiv="refresh"' in body  # the page tries again by itself
            assert b"Traceback" not in body and str(dead).encode() not in body

        # The JSON API answers in its own shape.
        status, headers, body = http_get(base + "/api/market/station-trading?station_id=60003760")
        assert status == 503 and headers["Retry-After"] == "15"
        assert json.loads(body) == {
            "error": "the database is unavailable, retrying",
            "retry_after": 15,
        }

        # Pages that need no database still answer.
        status, headers, body = http_get(base + "/favicon.ico")
        assert status == 200 and headers["Content-Type"] == "image/x-icon"
        assert body[:4] == b"\x00\x00\x01\x00"
        status, _, body = http_get(base + "/no/such/page/")
        assert status == 404 and b"Page not found" in body and b"/no/such/page/" in body


def test_the_access_log_never_shows_the_oauth_code_or_state(tmp_path, transactional_db):
    port = free_port()
    env = server_env(
        tmp_path,
        DATABASE_URL=shared_database_url(),
        EVE_SSO_CLIENT_ID="lenny-test-client",
        EVE_SSO_SECRET="lenny-test-secret",
    )
    argv = web_command_build(bind=f"127.0.0.1:{port}", workers=1)
    log = tmp_path / "web.log"
    with web_server(argv, port, env, log) as base:
        # EVE SSO's redirect back (the provider is eveonline_v2; the old path is a 404).
        for provider in ("eveonline_v2", "eveonline"):
            callback = f"/accounts/{provider}/login/callback/?code=SECRETCODE123&state=S2STATE456"
            status, _, _ = http_get(base + callback)
            assert status < 500
        http_get(base + "/accounts/login/?next=/ledger/&access_token=TOKEN789&password=hunter2x")
        http_get(base + "/market/?region=10000002")
        time.sleep(0.5)  # gunicorn writes the line after the response
    text = log.read_text()
    assert "/accounts/eveonline_v2/login/callback/?code=" in text, text[-2000:]
    for secret in ["SECRETCODE123", "S2STATE456", "TOKEN789", "hunter2x"]:
        assert secret not in text, f"{secret} leaked into the log:\n{text[-2000:]}"
    # Ordinary parameters stay readable, so the log is still useful.
    assert "/market/?region=10000002" in text
    assert "next=/ledger/" in text


def test_an_access_log_format_that_prints_headers_still_masks_their_secrets(
    tmp_path, transactional_db
):
    # An operator's own format (gunicorn's --access-logformat) may print request headers: the
    # credentials among them are masked, the rest is written as it came.
    port = free_port()
    env = server_env(tmp_path, DATABASE_URL=shared_database_url())
    line_format = (
        'ACCESS "%(r)s" %(s)s cookie=%({Cookie}i)s auth=%({authorization}i)s via=%({X-Via}i)s'
        " env=%({http_cookie}e)s"
    )
    argv = [
        *web_command_build(bind=f"127.0.0.1:{port}", workers=1),
        "--access-logformat",
        line_format,
    ]
    log = tmp_path / "web.log"
    with web_server(argv, port, env, log) as base:
        request = urllib.request.Request(
            base + "/market/?code=SECRETCODE123",
            headers={
                "Cookie": "sessionid=COOKIESECRET1",
                "Authorization": "Bearer AUTHSECRET2",
                "X-Via": "desk-proxy",
            },
        )
        with urllib.request.urlopen(request, timeout=20) as answer:
            assert answer.status == 200
        time.sleep(0.5)  # gunicorn writes the line after the response
    line = next(line for line in log.read_text().splitlines() if line.startswith("ACCESS"))
    assert line == (
        'ACCESS "GET /market/?code=******** HTTP/1.1" 200 cookie=******** auth=******** via=desk-proxy'
        " env=********"
    )


def test_runserver_with_debug_off_serves_pages_and_static_files_before_collectstatic(
    tmp_path, transactional_db
):
    port = free_port()
    empty = tmp_path / "staticfiles"  # collectstatic has never run
    env = server_env(tmp_path, DATABASE_URL=shared_database_url(), STATIC_ROOT=str(empty))
    argv = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    with web_server(argv, port, env, tmp_path / "runserver.log") as base:
        status, _, body = http_get(base + "/")
        assert status == 200, body[:500]
        assert b'href="/static/css/lenny.css"' in body
        status, _, css = http_get(base + "/static/css/lenny.css")
        assert status == 200 and b"Pico" in css
        status, _, _ = http_get(base + "/static/js/lenny.js")
        assert status == 200


def test_compose_starts_gunicorn_with_the_redacting_logger():
    compose = (ROOT / "compose.yaml").read_text()
    gunicorn_lines = [line for line in compose.splitlines() if "gunicorn lenny.wsgi" in line]
    assert gunicorn_lines
    for line in gunicorn_lines:
        assert "--logger-class accounts.access_log.RedactingGunicornLogger" in line


def test_the_image_starts_gunicorn_with_the_redacting_logger():
    # `docker run` of the bare image must not log OAuth codes either.
    cmd = next(
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD")
    )
    assert '"--logger-class", "accounts.access_log.RedactingGunicornLogger"' in cmd
