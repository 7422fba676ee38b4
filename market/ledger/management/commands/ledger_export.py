"""Write one user's whole ledger (all characters) as a JSON file: `ledger_export --user NAME`."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from market.ledger.export import ledger_encode, ledger_export


def user_by_name(name: str):
    model = get_user_model()
    try:
        return model.objects.get_by_natural_key(name)
    except model.DoesNotExist:
        raise CommandError(f"no user named {name!r}") from None


class Command(BaseCommand):
    help = (
        "Export a user's ledger (characters, balances, wallet journal, transactions, orders and "
        "their versions) as JSON, to standard output or --output. No tokens are written."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="the Lenny user name")
        parser.add_argument("--output", "-o", type=Path, help="write here instead of stdout")

    def handle(self, *args, user: str, output: Path | None, **options):
        body = ledger_encode(ledger_export(user=user_by_name(user)))
        if output is None:
            self.stdout.write(body.decode(), ending="\n")
            return
        # Written beside the target and renamed, so an interrupted export never leaves a
        # truncated file under the name of a good one.
        partial = output.with_name(f".{output.name}.partial")
        partial.write_bytes(body)
        partial.replace(output)
        self.stderr.write(f"wrote {output} ({len(body):,} bytes)")
