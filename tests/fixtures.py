"""Fixtures shared by every app's tests: replay upstreams, a clean cache, a real browser."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache import cache

from lenny.replay import ReplayServer, replay_server_build, upstream_settings

ROOT = Path(__file__).resolve().parent.parent
# Small real captures copied into the repo; the big originals stay in ../shared/fixtures.
DATA = ROOT / "tests" / "data"
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(autouse=True)
def _plain_static_files(settings) -> None:
    # The manifest storage needs `collectstatic`; tests render templates straight from static/.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    cache.clear()
    yield


@pytest.fixture(scope="session")
def replay_server() -> Iterator[ReplayServer]:
    server = replay_server_build().start()
    yield server
    server.stop()


@pytest.fixture
def upstreams(replay_server: ReplayServer, settings) -> ReplayServer:
    """The replay upstreams, with a clean request log and no faults, and Lenny pointed at them."""
    replay_server.reset()
    for name, value in upstream_settings(replay_server.base_url).items():
        setattr(settings, name, value)
    return replay_server


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed")
    # Playwright's sync API runs an event loop in this thread; the ORM must still be usable here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "correct horse 9")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("mallory", "", "battery staple 7")
