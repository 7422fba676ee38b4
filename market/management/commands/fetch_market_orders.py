"""manage.py fetch_market_orders --region ID: replace a region's order snapshot from ESI."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from market.hubs import HUBS
from market.ingest import SnapshotError, snapshot_fetch


class Command(BaseCommand):
    help = (
        "Fetch a region's whole order book from ESI and make it the current snapshot. "
        "Does nothing while the current snapshot has not expired."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--region",
            type=int,
            action="append",
            dest="regions",
            help="region id (repeatable); default: the five trade hub regions",
        )
        parser.add_argument(
            "--force", action="store_true", help="fetch even if the current snapshot is fresh"
        )

    def handle(self, *args, regions: list[int] | None, force: bool, **options) -> None:
        failures = []
        for region_id in regions or [hub.region_id for hub in HUBS]:
            try:
                outcome = snapshot_fetch(region_id=region_id, force=force)
            except SnapshotError as exc:
                failures.append(str(exc))
                self.stderr.write(self.style.ERROR(str(exc)))
                continue
            self.stdout.write(outcome.summary())
        if failures:
            raise CommandError(f"{len(failures)} of the regions failed; see above")
