"""manage.py track_structure --structure ID --character ID [--private] | --structure ID --stop:
track a player structure's market with a linked character (its owner becomes the user who added
it), or stop tracking it. The admin's way to do what /market/structures/ does."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Character
from market.models import Structure
from market.structures.services import (
    StructureTrackError,
    structure_id_parse,
    structure_stop,
    structure_track,
)


class Command(BaseCommand):
    help = (
        "Track a player structure's market with a linked EVE character (its token must have "
        "esi-markets.structure_markets.v1 and esi-universe.read_structures.v1 and may dock "
        "there), or stop tracking one with --stop."
    )

    def add_arguments(self, parser):
        parser.add_argument("--structure", required=True, help="structure id, e.g. 1028858195912")
        parser.add_argument("--character", help="EVE character id of a linked character")
        parser.add_argument(
            "--private", action="store_true", help="only the character's owner sees it"
        )
        parser.add_argument("--stop", action="store_true", help="stop tracking the structure")

    def handle(
        self, *args, structure: str, character: str | None, private: bool, stop: bool, **options
    ) -> None:
        try:
            structure_id = structure_id_parse(structure)
        except StructureTrackError as exc:
            raise CommandError(f"--structure: {exc}") from exc
        if stop:
            tracked = Structure.objects.filter(pk=structure_id).first()
            if tracked is None:
                raise CommandError(f"--structure: structure {structure_id} is not tracked")
            structure_stop(structure=tracked)
            self.stdout.write(f"{tracked} ({structure_id}): no longer tracked")
            return
        if not character:
            raise CommandError("--character is required (the EVE character id whose token fetches)")
        if not character.strip().isdigit():
            raise CommandError(f"--character: {character!r} is not a character id")
        linked = (
            Character.objects.select_related("owner").filter(character_id=int(character)).first()
        )
        if linked is None:
            raise CommandError(f"--character: no linked character has the id {character}")
        try:
            tracked = structure_track(
                structure_id=structure_id,
                character=linked,
                user=linked.owner,
                is_private=private,
            )
        except StructureTrackError as exc:
            raise CommandError(f"structure {structure_id}: {exc}") from exc
        visibility = "private to " + linked.owner.get_username() if private else "visible to all"
        self.stdout.write(
            f"{tracked} ({structure_id}): tracked with {linked.name}, every "
            f"{tracked.fetch_interval_minutes} minutes, {visibility}"
        )
