"""Read a ledger file into one user's ledger, adding only what is missing: `ledger_import`."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from market.ledger.export import LedgerFileError, ledger_import
from market.ledger.management.commands.ledger_export import user_by_name


class Command(BaseCommand):
    help = (
        "Import a file written by ledger_export (or the ledger's Download button) into a user's "
        "ledger. Rows already here are kept; importing twice adds nothing. A bad file or a "
        "character another user holds is an error, and nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="the Lenny user name")
        parser.add_argument("file", help="the ledger file, or - for standard input")

    def handle(self, *args, user: str, file: str, **options):
        owner = user_by_name(user)
        try:
            raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        try:
            result = ledger_import(user=owner, data=raw)
        except LedgerFileError as exc:
            raise CommandError(f"{file}: nothing was imported: {exc}") from None
        self.stdout.write(result.summary())
