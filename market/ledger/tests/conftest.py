"""The market's fixtures the ledger's tests use too (declared once, in ``market/tests``)."""

from market.tests.conftest import sde_loaded

__all__ = ["sde_loaded"]
