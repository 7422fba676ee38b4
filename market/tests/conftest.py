"""Fixtures for the market data engine's tests (SDE import, snapshots, history).

Nothing here is autouse: the ESI client's own tests share this folder and set up their own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from market.hubs import HUBS
from market.queries import caches_clear
from market.tests.factories import DOMAIN, FORGE, SDE_SAMPLE, SHARED_SDE

# The replay ESI's retries and waits, shortened so faults play out in a blink.
ESI_QUICK = {
    "ESI_BACKOFF_BASE": 0.01,
    "ESI_BACKOFF_MAX": 0.05,
    "ESI_ROLLOVER_WAIT": 0.05,
    "ESI_MAX_RETRIES": 2,
    "ESI_MAX_WAIT": 10,
    "UPSTREAM_TIMEOUT": 5,
}


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers",
        "esi_replay(orders=, page_size=, settings=): the shape of the `esi` fixture's replay ESI",
    )


@pytest.fixture
def sde_sample(tmp_path) -> Path:
    """A writable copy of the small SDE slice, for tests that spoil a file."""
    folder = tmp_path / "sde"
    shutil.copytree(SDE_SAMPLE, folder)
    return folder


@pytest.fixture
def shared_sde() -> Path:
    if not (SHARED_SDE / "invTypes.csv").exists():
        pytest.skip("the shared SDE (../shared/fixtures/eve/sde) is not here")
    return SHARED_SDE


@pytest.fixture
def esi(request, upstreams, settings):
    """The replay ESI on its small real history sample: The Forge at 6 pages of 500 orders,
    Domain at one page; retries and waits shortened so faults play out in a blink.

    A module or test that needs other books or settings says so with
    ``pytest.mark.esi_replay(orders={...}, page_size=..., settings={...})`` (each optional;
    ``settings`` replaces ``ESI_QUICK`` whole)."""
    marker = request.node.get_closest_marker("esi_replay")
    shape = {
        "orders": {FORGE: 3000, DOMAIN: 400},
        "page_size": 500,
        "settings": ESI_QUICK,
        **(marker.kwargs if marker else {}),
    }
    for name, value in shape["settings"].items():
        setattr(settings, name, value)
    replay = upstreams.state["esi"]
    replay.configure(history="sample", orders=shape["orders"], page_size=shape["page_size"])
    return replay


@pytest.fixture
def fresh_desk() -> None:
    """The desk's query caches emptied, as a web worker that has seen nothing yet."""
    caches_clear()


@pytest.fixture
def hub_region_ids() -> list[int]:
    return [hub.region_id for hub in HUBS]
