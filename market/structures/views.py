"""The structures pages: the list of tracked structures a user may see, adding one with a
linked character (search by name or paste an id), a structure's page, stopping, resuming and
taking over; and the two JSON endpoints under /api/market/structures.

A private structure is a 404 for everyone but the user who added it, on every page and in the
API: the same answer as for an id nobody tracks. A character id that is not one of the user's
own is a 404 too.
"""

from __future__ import annotations

from typing import Any

import msgspec
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Character
from accounts.scopes import STRUCTURE_SCOPES
from lenny.lib.htmx import page_or_partial
from market.models import MarketSnapshot, Structure
from market.queries.stations import region_name
from market.structures.candidates import structure_candidates
from market.structures.forms import StructureAddForm, StructureSearchForm, TakeOverForm
from market.structures.queries import structure_get_or_404, structure_id_valid, system_names
from market.structures.services import (
    StructureTrackError,
    structure_resume,
    structure_stop,
    structure_take_over,
    structure_track,
)

GRANT_SCOPES = ",".join(STRUCTURE_SCOPES)
_encoder = msgspec.json.Encoder()


def _characters(request: HttpRequest) -> list[Character]:
    if not request.user.is_authenticated:
        return []
    return list(Character.objects.owned_by(request.user))


def _own_character(request: HttpRequest, character_id: int) -> Character:
    return get_object_or_404(Character.objects.owned_by(request.user), character_id=character_id)


def _may_manage(request: HttpRequest, structure: Structure) -> bool:
    user = request.user
    return user.is_authenticated and (structure.added_by_id == user.pk or user.is_staff)


def _managed_or_404(request: HttpRequest, structure_id: int) -> Structure:
    """The structure if the user added it (or is staff); a 404 for anyone else, as for a
    structure they cannot see."""
    structure = structure_get_or_404(structure_id, user=request.user)
    if not _may_manage(request, structure):
        raise Http404("no such structure")
    return structure


def _list_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    structures = list(
        Structure.objects.visible_to(request.user)
        .select_related("character")
        .order_by("-is_tracking", "name")
    )
    systems = system_names([s.solar_system_id for s in structures if s.solar_system_id])
    for structure in structures:
        structure.system_name = systems.get(structure.solar_system_id, "")
    return {
        "structures": structures,
        "characters": _characters(request),
        "grant_scopes": GRANT_SCOPES,
        "add_form": extra.pop("add_form", None) or StructureAddForm(),
        **extra,
    }


@require_GET
def structures_list(request: HttpRequest) -> HttpResponse:
    return page_or_partial(
        request, "market/structures.html", _list_context(request), partials=["structure-list"]
    )


@login_required
@require_GET
def structures_search(request: HttpRequest) -> HttpResponse:
    form = StructureSearchForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "market/structures.html#candidates",
            {"search_errors": form.errors, "candidates": []},
            status=400,
        )
    character = _own_character(request, form.cleaned_data["character"])
    candidates, note = structure_candidates(character=character, query=form.cleaned_data["q"])
    return render(
        request,
        "market/structures.html#candidates",
        {"candidates": candidates, "note": note, "character": character, "searched": True},
    )


@login_required
@require_POST
def structure_add(request: HttpRequest) -> HttpResponse:
    form = StructureAddForm(request.POST)
    if form.is_valid():
        character = _own_character(request, form.cleaned_data["character"])
        try:
            structure = structure_track(
                structure_id=form.cleaned_data["structure"],
                character=character,
                user=request.user,
                is_private=form.cleaned_data["is_private"],
            )
        except StructureTrackError as exc:
            form.add_error("structure", str(exc))
        else:
            messages.success(
                request,
                f"{structure} is tracked: its book is fetched every "
                f"{structure.fetch_interval_minutes} minutes.",
            )
            return redirect("market:structure_detail", structure_id=structure.structure_id)
    context = _list_context(request, add_form=form)
    return render(request, "market/structures.html", context, status=400)


def _detail_context(request: HttpRequest, structure: Structure, **extra: Any) -> dict[str, Any]:
    books = MarketSnapshot.objects.for_structure(structure.structure_id)
    current = books.filter(is_current=True).first()
    failure = books.filter(status=MarketSnapshot.Status.FAILED).first()
    may_manage = _may_manage(request, structure)
    return {
        "structure": structure,
        "snapshot": current,
        "failure": failure
        if failure and (not current or failure.fetched_at > current.fetched_at)
        else None,
        "system_name": system_names([structure.solar_system_id or 0]).get(
            structure.solar_system_id, ""
        ),
        "region_name": region_name(structure.region_id) if structure.region_id else "",
        "may_manage": may_manage,
        "characters": _characters(request),
        "grant_scopes": GRANT_SCOPES,
        "take_over_form": extra.pop("take_over_form", None) or TakeOverForm(),
        "can_take_over": request.user.is_authenticated and structure.can_be_taken_over,
        **extra,
    }


@require_GET
def structure_detail(request: HttpRequest, structure_id: int) -> HttpResponse:
    structure = structure_get_or_404(structure_id, user=request.user)
    return page_or_partial(
        request,
        "market/structure.html",
        _detail_context(request, structure),
        partials=["structure-status"],
    )


@login_required
@require_POST
def structure_stop_view(request: HttpRequest, structure_id: int) -> HttpResponse:
    structure = _managed_or_404(request, structure_id)
    structure_stop(structure=structure)
    messages.success(request, f"{structure} is no longer fetched.")
    return redirect("market:structure_detail", structure_id=structure.structure_id)


@login_required
@require_POST
def structure_resume_view(request: HttpRequest, structure_id: int) -> HttpResponse:
    structure = _managed_or_404(request, structure_id)
    structure_resume(structure=structure)
    messages.success(request, f"{structure} is fetched again.")
    return redirect("market:structure_detail", structure_id=structure.structure_id)


@login_required
@require_POST
def structure_take_over_view(request: HttpRequest, structure_id: int) -> HttpResponse:
    structure = structure_get_or_404(structure_id, user=request.user)
    form = TakeOverForm(request.POST)
    if form.is_valid():
        character = _own_character(request, form.cleaned_data["character"])
        try:
            structure = structure_take_over(
                structure=structure, character=character, user=request.user
            )
        except StructureTrackError as exc:
            form.add_error("character", str(exc))
        else:
            messages.success(request, f"{structure} is now fetched with {character.name}.")
            return redirect("market:structure_detail", structure_id=structure.structure_id)
    context = _detail_context(request, structure, take_over_form=form)
    return render(request, "market/structure.html", context, status=400)


# --- the API ---------------------------------------------------------------------------------


def _json(data: Any, *, status: int = 200) -> HttpResponse:
    return HttpResponse(_encoder.encode(data), status=status, content_type="application/json")


def _structure_json(structure: Structure, snapshot_id: int | None) -> dict[str, Any]:
    return {
        "structure_id": structure.structure_id,
        "name": str(structure),
        "solar_system_id": structure.solar_system_id,
        "region_id": structure.region_id,
        "owner_corporation_id": structure.owner_corporation_id,
        "type_id": structure.type_id,
        "is_private": structure.is_private,
        "is_tracking": structure.is_tracking,
        "status": structure.status,
        "last_error": structure.last_error,
        "backoff_until": structure.backoff_until.isoformat() if structure.backoff_until else None,
        "last_fetched_at": (
            structure.last_fetched_at.isoformat() if structure.last_fetched_at else None
        ),
        "snapshot_id": snapshot_id,
    }


@require_GET
def structures_api(request: HttpRequest) -> HttpResponse:
    current = MarketSnapshot.objects.structure_current_ids()
    return _json(
        {
            "structures": [
                _structure_json(s, current.get(s.structure_id))
                for s in Structure.objects.visible_to(request.user)
            ]
        }
    )


@require_GET
def structure_api(request: HttpRequest, structure_id: int) -> HttpResponse:
    structure = (
        Structure.objects.visible_to(request.user).filter(pk=structure_id).first()
        if structure_id_valid(structure_id)
        else None
    )
    if structure is None:
        return _json({"error": f"no structure {structure_id}"}, status=404)
    current = MarketSnapshot.objects.structure_current_ids().get(structure_id)
    return _json(_structure_json(structure, current))
