"""manage.py import_sde PATH_OR_URL: load EVE's static data (regions, systems, stations, types)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from market.sde import TABLES_BY_NAME, ImportReport, ParsedTable, SdeError, sde_import


class Command(BaseCommand):
    help = (
        "Import the static data export from a folder of Fuzzwork-style CSV files (invTypes.csv, "
        "mapRegions.csv, …, optionally .bz2/.gz) or from a base URL serving them."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="folder or http(s) base URL of the CSV tables")
        parser.add_argument(
            "--table",
            action="append",
            dest="tables",
            choices=list(TABLES_BY_NAME),
            help="import only this table (repeatable); default: all found",
        )

    def handle(self, *args, source: str, tables: list[str] | None, **options) -> None:
        bar: tqdm | None = None

        def on_parsed(parsed: list[ParsedTable]) -> None:
            nonlocal bar
            # Only on a terminal: logs of scheduled or piped runs stay one line per table.
            bar = tqdm(
                total=sum(len(t.rows) for t in parsed),
                unit=" rows",
                disable=not self.stdout.isatty(),
                # The raw stream: OutputWrapper would end every refresh with a newline.
                file=self.stdout._out,
                leave=False,
            )

        def progress(table: str, rows: int) -> None:
            if bar is not None:
                bar.set_description(table, refresh=False)
                bar.update(rows)

        try:
            report = sde_import(
                source=source, tables=tables, progress=progress, on_parsed=on_parsed
            )
        except SdeError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if bar is not None:
                bar.close()
        self._print(report)

    def _print(self, report: ImportReport) -> None:
        for table in report.tables:
            self.stdout.write(table.summary())
        if report.missing:
            self.stdout.write(f"not found, skipped: {', '.join(report.missing)}")
        rows = sum(t.rows for t in report.tables)
        if report.changed:
            created = sum(t.created for t in report.tables)
            updated = sum(t.updated for t in report.tables)
            self.stdout.write(
                self.style.SUCCESS(
                    f"SDE imported: {created:,} rows new, {updated:,} changed, "
                    f"{rows:,} read in {report.seconds:.1f} s."
                )
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"SDE already up to date: {rows:,} rows read, nothing changed "
                    f"({report.seconds:.1f} s)."
                )
            )
