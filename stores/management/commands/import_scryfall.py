from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from stores.catalog import (
    CatalogImportError,
    ScryfallClient,
    ScryfallError,
    catalog_import,
    catalog_refresh,
)


class Command(BaseCommand):
    help = (
        "Import Scryfall's card catalog (cards, sets, printings) from a bulk file, its URL, or "
        "by default the latest bulk file listed at SCRYFALL_BASE_URL/bulk-data. Idempotent; "
        "never deletes; a file that cannot be read entirely imports nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "source",
            nargs="?",
            metavar="PATH_OR_URL",
            help="a bulk file (JSON array or JSON Lines, gzipped or not) or its URL",
        )
        parser.add_argument(
            "--bulk",
            default=None,
            metavar="TYPE",
            help="which bulk file to download (default: SCRYFALL_BULK_TYPE, default_cards)",
        )
        parser.add_argument(
            "--sets",
            action="store_true",
            help="with a local file, also fetch the sets' details (types, parents) from /sets",
        )
        parser.add_argument(
            "--force", action="store_true", help="import even if this bulk file was imported"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, source, bulk, sets, force, no_progress, **options):
        progress = False if no_progress else None
        try:
            if source and source.startswith(("http://", "https://")):
                summary = catalog_refresh(url=source, progress=progress)
            elif source:
                path = Path(source)
                if not path.is_file():
                    raise CommandError(f"{source}: no such file")
                set_list = ScryfallClient().sets() if sets else None
                summary = catalog_import(path=path, sets=set_list, progress=progress)
            else:
                summary = catalog_refresh(bulk_type=bulk, force=force, progress=progress)
        except (CatalogImportError, ScryfallError) as exc:
            raise CommandError(f"{exc}. Nothing was imported.") from None
        if summary is None:
            self.stdout.write("The catalog is up to date: this bulk file was imported already.")
        else:
            self.stdout.write(self.style.SUCCESS(str(summary)))
