"""Background jobs for the card catalog."""

from lenny.schedules import PeriodicJob, periodic_job
from stores.catalog import catalog_refresh

SCHEDULES = [
    PeriodicJob(
        name="scryfall-catalog-refresh",
        func="stores.tasks.catalog_refresh_daily",
        # Scryfall publishes its bulk files once a day; any hour will do, this one is quiet.
        cron="17 5 * * *",
        timeout=600,
        description="Download Scryfall's sets and default_cards bulk file and import them.",
    )
]


@periodic_job("scryfall-catalog-refresh")
def catalog_refresh_daily() -> str:
    summary = catalog_refresh(progress=False)
    return str(summary) if summary else "already up to date"
