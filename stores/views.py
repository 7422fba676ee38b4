from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from stores.catalog import card_search, catalog_last_import, decklist_preview
from stores.forms import DecklistForm, WantAddForm, WantAmountForm, WantSpecForm
from stores.models import WantedCard, WantSpec

PREVIEW_SALT = "stores.decklist-preview"
PREVIEW_MAX_AGE = 3600


def _dashboard(request: HttpRequest, **context) -> HttpResponse:
    context.setdefault("form", WantAddForm())
    return render(
        request,
        "stores/dashboard.html",
        {
            "wants": WantedCard.objects.for_owner(request.user),
            "catalog": catalog_last_import(),
            **context,
        },
    )


def _fresh(request: HttpRequest, wanted: WantedCard) -> WantedCard:
    """The want again, with its card and specs loaded the way the rows show them."""
    return WantedCard.objects.for_owner(request.user).get(pk=wanted.pk)


def _row(request: HttpRequest, wanted: WantedCard, **context) -> HttpResponse:
    context["wanted"] = _fresh(request, wanted)
    return render(request, "stores/dashboard.html#want_row", context)


def _owned(request: HttpRequest, pk: int) -> WantedCard:
    return get_object_or_404(WantedCard, pk=pk, owner=request.user)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return _dashboard(request)


@require_GET
def card_suggest(request: HttpRequest) -> HttpResponse:
    """Autocomplete suggestions for a card input (the catalog is public, like Scryfall's)."""
    field = request.GET.get("field", "q")
    query = request.GET.get(field, "")[:200]
    cards = card_search(query, limit=8) if query.strip() else []
    return render(request, "stores/autocomplete.html#suggestions", {"cards": cards})


@login_required
@require_POST
def want_add(request: HttpRequest) -> HttpResponse:
    form = WantAddForm(request.POST)
    if not form.is_valid():
        if request.htmx:
            return render(request, "stores/dashboard.html#want_form", {"form": form})
        return _dashboard(request, form=form)
    data = form.cleaned_data
    wanted, created = WantedCard.objects.merge(
        owner=request.user,
        card=data["card"],
        amount=data["amount"],
        specs=[form.spec()] if form.has_spec() else [],
    )
    if created:
        copies = "a copy" if data["amount"] == 1 else f"{data['amount']} copies"
        note = f"Added {copies} of {wanted.card.name}."
    else:
        note = f"{wanted.card.name} was on your list already: you now want {wanted.amount}."
    if not request.htmx:
        messages.success(request, note)
        return redirect("stores:dashboard")
    return render(
        request,
        "stores/dashboard.html#want_added",
        {
            "form": WantAddForm(),
            "note": note,
            "wanted": _fresh(request, wanted),
            "created": created,
        },
    )


@login_required
@require_GET
def want_row(request: HttpRequest, pk: int) -> HttpResponse:
    return _row(request, _owned(request, pk))


@login_required
@require_POST
def want_amount(request: HttpRequest, pk: int) -> HttpResponse:
    wanted = _owned(request, pk)
    form = WantAmountForm(request.POST, instance=wanted)
    if form.is_valid():
        form.save()
    elif not request.htmx:
        messages.error(request, f"{wanted.card.name}: {form.errors['amount'][0]}")
    if not request.htmx:
        return redirect("stores:dashboard")
    errors = form.errors.get("amount")
    return _row(request, wanted, amount_error=errors[0] if errors else "")


@login_required
@require_POST
def want_delete(request: HttpRequest, pk: int) -> HttpResponse:
    wanted = _owned(request, pk)
    wanted.delete()
    if request.htmx:
        return HttpResponse("")
    messages.success(request, f"Removed {wanted.card.name} from your want list.")
    return redirect("stores:dashboard")


@login_required
def want_spec_add(request: HttpRequest, pk: int) -> HttpResponse:
    wanted = _owned(request, pk)
    form = WantSpecForm(request.POST or None, wanted=wanted)
    if request.method == "POST" and form.is_valid():
        spec = WantSpec(wanted=wanted, **form.spec())
        if spec.identity() not in {s.identity() for s in wanted.specs.all()}:
            spec.save()
        if not request.htmx:
            return redirect("stores:dashboard")
        return _row(request, wanted)
    if not request.htmx:
        return _dashboard(request, spec_form=form, spec_form_for=wanted.pk)
    return _row(request, wanted, spec_form=form, spec_form_for=wanted.pk)


@login_required
@require_POST
def want_spec_delete(request: HttpRequest, pk: int) -> HttpResponse:
    spec = get_object_or_404(WantSpec, pk=pk, wanted__owner=request.user)
    spec.delete()
    if not request.htmx:
        return redirect("stores:dashboard")
    return _row(request, spec.wanted)


@login_required
def decklist_import(request: HttpRequest) -> HttpResponse:
    form = DecklistForm(request.POST or None, request.FILES or None)
    context = {"form": form}
    if request.method == "POST" and form.is_valid():
        preview = decklist_preview(
            owner=request.user,
            parsed=form.cleaned_data["parsed"],
            keep_printings=form.cleaned_data["keep_printings"],
            mode=form.cleaned_data["mode"],
        )
        payload = preview.payload(owner_id=request.user.pk, nonce=uuid.uuid4().hex)
        context["preview"] = preview
        context["payload"] = signing.dumps(payload, salt=PREVIEW_SALT, compress=True)
    return render(request, "stores/decklist_import.html", context)


@login_required
@require_POST
def decklist_confirm(request: HttpRequest) -> HttpResponse:
    try:
        payload = signing.loads(
            request.POST.get("payload", ""), salt=PREVIEW_SALT, max_age=PREVIEW_MAX_AGE
        )
    except signing.SignatureExpired:
        messages.error(request, "That preview is more than an hour old: preview the list again.")
        return redirect("stores:decklist_import")
    except signing.BadSignature:
        messages.error(request, "That preview could not be read: preview the list again.")
        return redirect("stores:decklist_import")
    if payload.get("owner") != request.user.pk:
        raise Http404("no such preview")
    # A preview is imported once, even if the confirm button is pressed twice.
    if not cache.add(f"stores:decklist-import:{payload['nonce']}", 1, PREVIEW_MAX_AGE):
        messages.info(request, "That deck list was imported already.")
        return redirect("stores:dashboard")
    added, merged = WantedCard.objects.merge_rows(
        owner=request.user, rows=payload["rows"], mode=payload["mode"]
    )
    messages.success(
        request,
        f"Imported the deck list: {added} new cards, {merged} merged with cards you track.",
    )
    return redirect("stores:dashboard")


@login_required
@require_GET
def wants_export(request: HttpRequest) -> HttpResponse:
    lines = [wanted.export_line() for wanted in WantedCard.objects.for_owner(request.user)]
    response = HttpResponse(
        "\n".join(lines) + ("\n" if lines else ""), content_type="text/plain; charset=utf-8"
    )
    response["Content-Disposition"] = 'inline; filename="want-list.txt"'
    return response
