"""Fixtures of the pilot's ledger tests (``eve``, ``pilot`` and ``hand_made`` are shared, in
tests/fixtures.py; the market's ``sde_loaded`` is declared once, in ``market/tests``)."""

import pytest

from market.tests.conftest import sde_loaded

__all__ = ["sde_loaded"]


@pytest.fixture
def replay(eve):
    """The character routes' knobs: ``server.state["characters"]``."""
    return eve.state["characters"]
