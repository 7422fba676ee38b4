"""Fixtures for the market data engine's tests (SDE import, snapshots, history).

Nothing here is autouse: the ESI client's own tests share this folder and set up their own.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

from market.hubs import HUBS
from market.replay.sde import SAMPLE_FOLDER

HERE = Path(__file__).resolve().parent
SDE_SAMPLE = SAMPLE_FOLDER
SHARED_SDE = HERE.parents[2] / "shared" / "fixtures" / "eve" / "sde"
FORGE = 10000002
DOMAIN = 10000043
JITA_STATION = 60003760


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
def sde_loaded(db) -> None:
    call_command("import_sde", str(SDE_SAMPLE), stdout=io.StringIO())


@pytest.fixture
def esi(upstreams, settings):
    """The replay ESI on its small real history sample: The Forge at 6 pages of 500 orders,
    Domain at one page; retries and waits shortened so faults play out in a blink."""
    settings.ESI_BACKOFF_BASE = 0.01
    settings.ESI_BACKOFF_MAX = 0.05
    settings.ESI_ROLLOVER_WAIT = 0.05
    settings.ESI_MAX_RETRIES = 2
    settings.ESI_MAX_WAIT = 10
    settings.UPSTREAM_TIMEOUT = 5
    replay = upstreams.state["esi"]
    replay.configure(history="sample", orders={FORGE: 3000, DOMAIN: 400}, page_size=500)
    return replay


@pytest.fixture
def hub_region_ids() -> list[int]:
    return [hub.region_id for hub in HUBS]
