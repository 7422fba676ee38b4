"""Helpers shared by every app (as healthchecks keeps ``hc/lib``): tables, htmx answers, money.

Nothing here knows about EVE or cards; apps import from here, never the other way round.
"""
