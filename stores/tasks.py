"""Background jobs: the daily catalog refresh, store checks and their periodic re-check."""

from django.conf import settings

from lenny.schedules import periodic_job
from stores.catalog import catalog_refresh
from stores.catalog.status import (
    CatalogProgress,
    catalog_bootstrap_wait,
    catalog_is_empty,
    catalog_retry_at,
)
from stores.checks import check_run, checks_queue_stale


# Scryfall publishes its bulk files once a day; any hour will do, this one is quiet.
@periodic_job(
    "scryfall-catalog-refresh",
    cron="17 5 * * *",
    timeout=600,
    description="Download Scryfall's sets and default_cards bulk file and import them.",
)
def catalog_refresh_daily() -> str:
    progress = CatalogProgress()
    try:
        # An empty catalog is imported even if Scryfall's file is the one recorded last time.
        summary = catalog_refresh(progress=False, force=catalog_is_empty(), on_progress=progress)
    finally:
        progress.clear()
    return str(summary) if summary else "already up to date"


@periodic_job(
    "scryfall-catalog-bootstrap",
    minutes=1,
    timeout=600,
    description="Fetch the card catalog at once while it is empty (a fresh install).",
)
def catalog_bootstrap() -> str:
    """A fresh install's catalog at once, not at the next 05:17 (one query while it is there)."""
    if not catalog_is_empty():
        return "catalog present"
    waiting = catalog_bootstrap_wait()
    if waiting is not None:
        # Not a failure of its own: the failed attempts are recorded (the refresh job's runs,
        # which /healthz reports), and a failed task a minute would pile up in django-q2's table.
        return (
            f"the card catalog is empty: the last download failed ({waiting.last_error}); "
            f"next attempt at {catalog_retry_at(waiting):%H:%M} UTC"
        )
    return catalog_refresh_daily()


def store_check(result_id: int, refresh: bool = False) -> str:
    """One card at one store (queued by `stores.checks.checks_queue`)."""
    return str(check_run(result_id=result_id, refresh=refresh))


@periodic_job(
    "store-stock-recheck",
    minutes=settings.STORE_RECHECK_MINUTES,
    timeout=120,
    description="Queue a check of every tracked card at its users' stores, if not fresh.",
)
def stock_recheck() -> str:
    queued = checks_queue_stale()
    return f"queued {queued} checks"
