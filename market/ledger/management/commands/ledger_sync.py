"""Sync linked characters' wallets and orders from ESI now, outside the schedules."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Character
from market.ledger.sync import ENDPOINTS, character_sync


class Command(BaseCommand):
    help = (
        "Sync the wallet balance, journal, transactions, open orders and order history of "
        "linked characters (all usable ones unless --character is given)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--character", type=int, action="append", help="EVE character id (repeatable)"
        )
        parser.add_argument(
            "--endpoint", action="append", choices=list(ENDPOINTS), help="only these (repeatable)"
        )

    def handle(self, *args, character: list[int] | None, endpoint: list[str] | None, **options):
        characters = Character.objects.usable()
        if character:
            characters = Character.objects.filter(character_id__in=character)
            missing = set(character) - set(characters.values_list("character_id", flat=True))
            if missing:
                raise CommandError(f"no linked character with id {', '.join(map(str, missing))}")
        failed = 0
        for each in characters:
            for outcome in character_sync(character=each, endpoints=endpoint):
                self.stdout.write(f"{each.name} ({each.character_id}) {outcome.summary()}")
                failed += outcome.status == "failed"
        if failed:
            raise CommandError(f"{failed} sync{'s' if failed != 1 else ''} failed")
