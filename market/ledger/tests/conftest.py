"""Fixtures of the pilot's ledger tests (``eve``, ``pilot``, ``hand_made`` and ``sde_loaded`` are
shared by other apps' tests too: they are in tests/fixtures.py)."""

import pytest


@pytest.fixture
def replay(eve):
    """The character routes' knobs: ``server.state["characters"]``."""
    return eve.state["characters"]
