"""Periodic market jobs: each hub region's order snapshot, the daily market history, the SDE, and
the types newer than the SDE (from ESI).

One schedule per hub region, so an admin can retime or pause each in the django-q2 admin. A run
that finds the region's snapshot not yet expired returns at once without asking ESI.
"""

from __future__ import annotations

import time

from lenny.schedules import periodic_job
from market.hubs import HUBS_BY_KEY
from market.ingest import history_refresh, snapshot_fetch
from market.sde_source import sde_bootstrap_wait, sde_is_empty, sde_source_refresh
from market.universe import types_resolve_due

# A snapshot job may take this long (The Forge: seconds; a slow ESI: minutes) …
ORDERS_TIMEOUT = 240
# … and the history job stops starting requests after this budget. ESI allows 300 history
# requests a minute, so one run covers ~2,500 types; the next runs pick up what is left.
HISTORY_TIMEOUT = 600
HISTORY_BUDGET = 500


def _orders(hub_key: str) -> str:
    return snapshot_fetch(region_id=HUBS_BY_KEY[hub_key].region_id).summary()


def _orders_description(hub_key: str) -> str:
    hub = HUBS_BY_KEY[hub_key]
    return f"{hub.region_name} order snapshot ({hub.name.split(' ', 1)[0]})"


# One schedule per hub region, so an admin can retime or pause each in the django-q2 admin.
ORDERS_SCHEDULE = {"minutes": 5, "timeout": ORDERS_TIMEOUT, "lock_seconds": ORDERS_TIMEOUT + 60}


@periodic_job("market-orders-jita", **ORDERS_SCHEDULE, description=_orders_description("jita"))
def orders_jita() -> str:
    return _orders("jita")


@periodic_job("market-orders-amarr", **ORDERS_SCHEDULE, description=_orders_description("amarr"))
def orders_amarr() -> str:
    return _orders("amarr")


@periodic_job(
    "market-orders-dodixie", **ORDERS_SCHEDULE, description=_orders_description("dodixie")
)
def orders_dodixie() -> str:
    return _orders("dodixie")


@periodic_job("market-orders-rens", **ORDERS_SCHEDULE, description=_orders_description("rens"))
def orders_rens() -> str:
    return _orders("rens")


@periodic_job("market-orders-hek", **ORDERS_SCHEDULE, description=_orders_description("hek"))
def orders_hek() -> str:
    return _orders("hek")


# ESI refreshes history at 11:05 UTC. From 11:10 every 15 minutes until the day's due types are
# done; afterwards a run finds nothing due and returns after one query per region.
@periodic_job(
    "market-history",
    cron="10-59/15 11-23 * * *",
    timeout=HISTORY_TIMEOUT,
    lock_seconds=HISTORY_TIMEOUT + 60,
    description="daily market history of the types traded at the hubs",
)
def history() -> str:
    outcomes = history_refresh(deadline=time.monotonic() + HISTORY_BUDGET)
    return "; ".join(outcome.summary() for outcome in outcomes) or "nothing due"


# --- Static data (SDE) ---------------------------------------------------------------------------
# A fresh install fills itself: ``sde-bootstrap`` runs every minute and does nothing but one
# query while the SDE is there; while it is empty it imports it at once (through ``sde_refresh``,
# whose lock keeps the two jobs from importing at the same time on several workers).

# Fuzzwork's whole dump: a minute or two to download and import on a small server.
SDE_TIMEOUT = 600


# Fuzzwork publishes a new dump after each game patch; the check itself is one conditional
# request a file.
@periodic_job(
    "sde-refresh",
    minutes=6 * 60,
    timeout=SDE_TIMEOUT,
    lock_seconds=SDE_TIMEOUT + 60,
    description="re-import the SDE when its source changed (ETag / Last-Modified)",
)
def sde_refresh() -> str:
    return sde_source_refresh().summary()


@periodic_job(
    "sde-bootstrap",
    minutes=1,
    timeout=SDE_TIMEOUT,
    lock_seconds=SDE_TIMEOUT + 60,
    description="download and import the SDE at once while there is none",
)
def sde_bootstrap() -> str:
    if not sde_is_empty():
        return "static data present"
    waiting = sde_bootstrap_wait()
    if waiting is not None:
        # Not a failure of its own: the failed attempts are recorded (sde-refresh's runs, which
        # /healthz reports), and a failed task a minute would pile up in django-q2's table.
        return (
            f"no static data: the download from {waiting.url} failed ({waiting.error}); "
            f"next attempt at {waiting.retry_at:%H:%M} UTC"
        )
    return sde_refresh()


# --- Types newer than the SDE, from ESI ----------------------------------------------------------
# Each new snapshot queues ``types_after_snapshot`` for its own new types (``market.universe``);
# the hourly run catches what those missed (ESI was down, a run was skipped) and refreshes the
# ESI types not checked for 30 days. Both take the same lock: one resolution at a time.
TYPES_TIMEOUT = 300
TYPES_BUDGET = 240


@periodic_job(
    "market-types",
    minutes=60,
    timeout=TYPES_TIMEOUT,
    lock_seconds=TYPES_TIMEOUT + 60,
    description="names and volumes of the types the SDE lacks, from ESI",
)
def types_refresh() -> str:
    return types_resolve_due(refresh=True, deadline=time.monotonic() + TYPES_BUDGET).summary()


@periodic_job("market-types", timeout=TYPES_TIMEOUT, lock_seconds=TYPES_TIMEOUT + 60)
def types_after_snapshot(snapshot_id: int) -> str:
    return types_resolve_due(
        snapshot_id=snapshot_id, deadline=time.monotonic() + TYPES_BUDGET
    ).summary()


# --- Player structures ---------------------------------------------------------------------------
# Each tracked structure has its own schedule (``structure:<id>``, ``market.structures``); this
# job re-creates the missing ones and drops those of stopped structures.


@periodic_job(
    "structure-schedules",
    minutes=60,
    timeout=120,
    description="one fetch schedule per tracked player structure",
)
def structure_schedules() -> str:
    from market.structures.schedules import structure_schedules_ensure

    created = structure_schedules_ensure()
    return f"{len(created)} structure schedules created" if created else "all in place"
