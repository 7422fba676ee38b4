"""Periodic market jobs: each hub region's order snapshot, and the daily market history.

One schedule per hub region, so an admin can retime or pause each in the django-q2 admin. A run
that finds the region's snapshot not yet expired returns at once without asking ESI.
"""

from __future__ import annotations

import time

from lenny.schedules import PeriodicJob, periodic_job
from market.hubs import HUBS_BY_KEY
from market.ingest import history_refresh, snapshot_fetch

# A snapshot job may take this long (The Forge: seconds; a slow ESI: minutes) …
ORDERS_TIMEOUT = 240
# … and the history job stops starting requests after this budget. ESI allows 300 history
# requests a minute, so one run covers ~2,500 types; the next runs pick up what is left.
HISTORY_TIMEOUT = 600
HISTORY_BUDGET = 500


def _orders(hub_key: str) -> str:
    return snapshot_fetch(region_id=HUBS_BY_KEY[hub_key].region_id).summary()


@periodic_job("market-orders-jita", lock_seconds=ORDERS_TIMEOUT + 60)
def orders_jita() -> str:
    return _orders("jita")


@periodic_job("market-orders-amarr", lock_seconds=ORDERS_TIMEOUT + 60)
def orders_amarr() -> str:
    return _orders("amarr")


@periodic_job("market-orders-dodixie", lock_seconds=ORDERS_TIMEOUT + 60)
def orders_dodixie() -> str:
    return _orders("dodixie")


@periodic_job("market-orders-rens", lock_seconds=ORDERS_TIMEOUT + 60)
def orders_rens() -> str:
    return _orders("rens")


@periodic_job("market-orders-hek", lock_seconds=ORDERS_TIMEOUT + 60)
def orders_hek() -> str:
    return _orders("hek")


@periodic_job("market-history", lock_seconds=HISTORY_TIMEOUT + 60)
def history() -> str:
    outcomes = history_refresh(deadline=time.monotonic() + HISTORY_BUDGET)
    return "; ".join(outcome.summary() for outcome in outcomes) or "nothing due"


SCHEDULES = [
    *(
        PeriodicJob(
            name=f"market-orders-{hub.key}",
            func=f"market.tasks.orders_{hub.key}",
            minutes=5,
            timeout=ORDERS_TIMEOUT,
            description=f"{hub.region_name} order snapshot ({hub.name.split(' ', 1)[0]})",
        )
        for hub in HUBS_BY_KEY.values()
    ),
    # ESI refreshes history at 11:05 UTC. From 11:10 every 15 minutes until the day's due types
    # are done; afterwards a run finds nothing due and returns after one query per region.
    PeriodicJob(
        name="market-history",
        func="market.tasks.history",
        cron="10-59/15 11-23 * * *",
        timeout=HISTORY_TIMEOUT,
        description="daily market history of the types traded at the hubs",
    ),
]


# --- Pilot's ledger ----------------------------------------------------------------------------
# Each linked character has one schedule per wallet/order endpoint (``character:<id>:<endpoint>``,
# at ESI's cache interval, default cluster = low priority), created when it is linked; "Refresh
# now" queues the same task on the priority cluster. The periodic job below re-creates schedules
# that are missing (characters linked before this job existed, an admin's clean-up).

import logging  # noqa: E402

from accounts.models import Character  # noqa: E402
from market.ledger_queries import ledger_summary  # noqa: E402
from market.wallet import (  # noqa: E402
    PROFIT_ENDPOINTS,
    character_endpoint_sync,
    character_schedules_ensure,
)

ledger_log = logging.getLogger("market.ledger")


def ledger_endpoint_sync(*, character_id: int, endpoint: str) -> str:
    """One endpoint of one character (both clusters run this)."""
    character = Character.objects.filter(character_id=character_id).select_related("owner").first()
    if character is None:
        return f"character {character_id} is no longer linked"
    outcome = character_endpoint_sync(character=character, endpoint=endpoint)
    if outcome.new_rows and endpoint in PROFIT_ENDPOINTS:
        # Compute the owner's profit now, in the worker, so their next page view finds it ready.
        try:
            ledger_summary(user=character.owner)
        except Exception:
            ledger_log.exception("ledger summary of user %s not computed", character.owner_id)
    return outcome.summary()


@periodic_job("ledger-schedules")
def ledger_schedules() -> str:
    created = [
        name
        for character in Character.objects.usable().iterator()
        for name in character_schedules_ensure(character=character)
    ]
    return f"{len(created)} character schedules created" if created else "all in place"


SCHEDULES.append(
    PeriodicJob(
        name="ledger-schedules",
        func="market.tasks.ledger_schedules",
        minutes=60,
        timeout=120,
        description="per-character wallet and order sync schedules for every linked character",
    )
)
