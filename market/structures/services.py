"""Tracking a structure: add one with a character (``structure_track``), stop it, take it over,
retime it. Each keeps the structure's django-q2 schedule in step (``market.structures.schedules``).
Errors are ``StructureTrackError`` with a sentence the form or the command shows as is.
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts.models import Character
from accounts.scopes import STRUCTURE_MARKETS_SCOPE, UNIVERSE_STRUCTURES_SCOPE
from accounts.tokens import TokenInvalid, TokenUnavailable
from market.esi import EsiAuthError, EsiClient, EsiError
from market.models import Structure
from market.structures.fetch import structure_info_fetch
from market.structures.models import FIRST_STRUCTURE_ID
from market.structures.schedules import structure_schedule_drop, structure_schedule_ensure


class StructureTrackError(Exception):
    """Why a structure cannot be tracked (or taken over) with that character."""


def structure_id_parse(text: str | int) -> int:
    """A structure id from a form or the command line, or StructureTrackError naming it."""
    value = str(text).strip()
    if not value.isdigit():
        raise StructureTrackError(f"structure id {value!r} is not a number")
    structure_id = int(value)
    if structure_id < FIRST_STRUCTURE_ID or structure_id >= 2**63:
        raise StructureTrackError(
            f"{structure_id} is not a player structure's id (they are numbers like 1028858195912)"
        )
    return structure_id


def _scopes_check(character: Character) -> None:
    missing = [
        s
        for s in (STRUCTURE_MARKETS_SCOPE, UNIVERSE_STRUCTURES_SCOPE)
        if not character.has_scope(s)
    ]
    if missing:
        raise StructureTrackError(
            f"{character.name} has not granted {' and '.join(missing)}: grant access first"
        )
    if character.needs_relogin:
        raise StructureTrackError(f"{character.name} must log in with EVE again first")


def structure_track(
    *,
    structure_id: int,
    character: Character,
    user: AbstractBaseUser,
    is_private: bool = False,
    client: EsiClient | None = None,
) -> Structure:
    """Track the structure with the user's character: ESI must tell its name with that
    character's token (proof of docking access). A structure already tracked by someone else
    is taken over only when ``can_be_taken_over``; private ones of others are "unknown"."""
    if character.owner_id != user.pk:
        raise StructureTrackError("that character is not one of yours")
    _scopes_check(character)
    existing = Structure.objects.filter(pk=structure_id).select_related("character").first()
    if existing is not None and not existing.is_visible_to(user):
        raise StructureTrackError(f"structure {structure_id} cannot be tracked by you")
    if (
        existing is not None
        and existing.is_tracking
        and existing.added_by_id not in (None, user.pk)
        and not existing.can_be_taken_over
    ):
        raise StructureTrackError(
            f"{existing} is tracked already and its fetching works: nothing to take over"
        )
    try:
        info = structure_info_fetch(structure_id=structure_id, character=character, client=client)
    except EsiAuthError as exc:
        raise StructureTrackError(
            f"ESI refused {character.name} for structure {structure_id} ({exc.status}): "
            "no docking access, or no such structure"
        ) from exc
    except (TokenInvalid, TokenUnavailable) as exc:
        raise StructureTrackError(str(exc)) from exc
    except EsiError as exc:
        raise StructureTrackError(
            f"ESI did not answer for structure {structure_id}: {exc}"
        ) from exc
    with transaction.atomic():
        structure = existing or Structure(structure_id=structure_id, added_at=timezone.now())
        structure.name = info.name
        structure.solar_system_id = info.solar_system_id
        structure.owner_corporation_id = info.owner_corporation_id
        structure.type_id = info.type_id
        structure.region_id = None
        structure.region_derive()
        if structure.region_id is None:
            raise StructureTrackError(
                f"solar system {info.solar_system_id} of {info.name} is not in the imported SDE "
                "(import the SDE first)"
            )
        structure.character = character
        structure.added_by = user
        structure.is_private = is_private
        structure.is_tracking = True
        structure.backoff_until = None
        structure.status = Structure.Status.NEW
        structure.last_error = ""
        structure.save()
        structure_schedule_ensure(structure=structure)
    return structure


def structure_take_over(
    *, structure: Structure, character: Character, user: AbstractBaseUser, client=None
) -> Structure:
    """Fetch a backed-off (or orphaned) structure with the user's own character instead."""
    if not structure.can_be_taken_over and structure.added_by_id != user.pk:
        raise StructureTrackError(f"{structure} is fetched fine: nothing to take over")
    return structure_track(
        structure_id=structure.structure_id,
        character=character,
        user=user,
        is_private=structure.is_private if structure.added_by_id == user.pk else False,
        client=client,
    )


def structure_stop(*, structure: Structure) -> Structure:
    """Stop fetching (the book stays until superseded by nothing: it just ages)."""
    with transaction.atomic():
        structure.is_tracking = False
        structure.status = Structure.Status.STOPPED
        structure.save(update_fields=["is_tracking", "status"])
        structure_schedule_drop(structure=structure)
    return structure


def structure_resume(*, structure: Structure) -> Structure:
    with transaction.atomic():
        structure.is_tracking = True
        structure.status = Structure.Status.NEW
        structure.save(update_fields=["is_tracking", "status"])
        structure_schedule_ensure(structure=structure)
    return structure


def structure_retime(*, structure: Structure, minutes: int) -> Structure:
    if not 1 <= int(minutes) <= 24 * 60:
        raise StructureTrackError("the fetch interval is 1 to 1440 minutes")
    structure.fetch_interval_minutes = int(minutes)
    structure.save(update_fields=["fetch_interval_minutes"])
    structure_schedule_ensure(structure=structure, retime=True)
    return structure
