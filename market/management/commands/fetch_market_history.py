"""manage.py fetch_market_history --region ID [--type ID …]: upsert daily market history."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from market.esi import EsiError
from market.ingest import history_fetch, history_types_due


class Command(BaseCommand):
    help = (
        "Fetch ESI's daily market history of a region's types and upsert it. Without --type: "
        "the types traded at the region's hub whose history is older than ESI's 11:05 UTC refresh."
    )

    def add_arguments(self, parser):
        parser.add_argument("--region", type=int, required=True, help="region id")
        parser.add_argument(
            "--type",
            type=int,
            nargs="+",
            action="extend",
            dest="types",
            help="type ids (default: the types due)",
        )

    def handle(self, *args, region: int, types: list[int] | None, **options) -> None:
        try:
            type_ids = types if types else history_types_due(region_id=region)
        except EsiError as exc:
            raise CommandError(f"region {region}: cannot list its types: {exc}") from exc
        if not type_ids:
            self.stdout.write(f"region {region}: every type's history is up to date")
            return
        with tqdm(
            total=len(type_ids),
            unit=" types",
            disable=not self.stdout.isatty(),
            # The raw stream: OutputWrapper would end every refresh with a newline.
            file=self.stdout._out,
            leave=False,
        ) as bar:
            outcome = history_fetch(region_id=region, type_ids=type_ids, progress=bar.update)
        self.stdout.write(outcome.summary())
        if outcome.failed or outcome.aborted:
            raise CommandError(
                f"region {region}: history of {len(outcome.failed)} types could not be fetched"
            )
