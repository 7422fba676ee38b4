"""Background jobs: the daily catalog refresh, store checks and their periodic re-check."""

from django.conf import settings

from lenny.schedules import PeriodicJob, periodic_job
from stores.catalog import catalog_refresh
from stores.checks import check_run, checks_queue_stale

SCHEDULES = [
    PeriodicJob(
        name="scryfall-catalog-refresh",
        func="stores.tasks.catalog_refresh_daily",
        # Scryfall publishes its bulk files once a day; any hour will do, this one is quiet.
        cron="17 5 * * *",
        timeout=600,
        description="Download Scryfall's sets and default_cards bulk file and import them.",
    ),
    PeriodicJob(
        name="store-stock-recheck",
        func="stores.tasks.stock_recheck",
        minutes=settings.STORE_RECHECK_MINUTES,
        timeout=120,
        description="Queue a check of every tracked card at its users' stores, if not fresh.",
    ),
]


@periodic_job("scryfall-catalog-refresh")
def catalog_refresh_daily() -> str:
    summary = catalog_refresh(progress=False)
    return str(summary) if summary else "already up to date"


def store_check(result_id: int, refresh: bool = False) -> str:
    """One card at one store (queued by `stores.checks.checks_queue`)."""
    return str(check_run(result_id=result_id, refresh=refresh))


@periodic_job("store-stock-recheck")
def stock_recheck() -> str:
    queued = checks_queue_stale()
    return f"queued {queued} checks"
