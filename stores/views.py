from __future__ import annotations

import functools
import re
import uuid
from pathlib import Path
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from stores.catalog import card_search, catalog_last_import
from stores.checks import (
    check_ttl_minutes,
    checks_queue_for_owner,
    checks_queue_for_want,
    preferred_stores_set,
)
from stores.dashboard import rows_read, summary_render, want_form_blank
from stores.decklists import decklist_parse
from stores.forms import TOO_LONG, DecklistForm, WantAddForm, WantAmountForm, WantSpecForm
from stores.models import PreferredStore, StockAlert, WantedCard, WantSpec
from stores.stock import stock_attach, stores_currency, stores_preferred
from stores.templatetags.catalog_status import CATALOG_NOTICE
from stores.wants import (
    MERGE_MODES,
    decklist_preview,
    decklist_resolve,
    wanted_card_merge,
    wanted_cards_merge,
)

LEFT_OUT = "One of the stores you picked is no longer checked: it was left out."
PREVIEW_SALT = "stores.decklist-preview"
PREVIEW_MAX_AGE = 3600
# A deck list the demo's 43-card catalog covers in full (the README points at it).
DEMO_DECK = Path(__file__).resolve().parent / "demo_deck.txt"


def _stock(request: HttpRequest) -> dict[str, Any]:
    """The user's wants as rendered rows with their stock per store, and "where to buy" them
    (both cached until what they show changes: `stores.dashboard`)."""
    rows = rows_read(owner=request.user)
    return {
        "wants": rows.wants,
        "stores": rows.stores,
        "rows_html": rows.html(request),
        "where_to_buy": summary_render(rows=rows),
        "stock_pending": rows.stock_pending,
    }


def _dashboard(request: HttpRequest, **context) -> HttpResponse:
    if "form" not in context:
        context["form"] = WantAddForm()
        context["want_form_html"] = want_form_blank(request)
    stock = _stock(request)
    if context.get("spec_form_for"):
        # Without htmx ("+ narrow down" opened in a tab, or a refused spec): the page, with
        # that row drawn with its form and errors instead of its cached self.
        stock["rows_html"] = _row_replaced(request, stock["rows_html"], context)
    return render(
        request,
        "stores/dashboard.html",
        {
            **stock,
            "catalog": catalog_last_import(),
            "alerts_unread": StockAlert.objects.filter(user=request.user, read_at=None).count(),
            "check_ttl_minutes": check_ttl_minutes(),
            **context,
        },
    )


def _row_replaced(request: HttpRequest, rows_html: str, context: dict) -> SafeString:
    """``rows_html`` with the row of want ``context["spec_form_for"]`` rendered anew with the
    context (a row is one ``<tr id="want-N">…</tr>``, no nested row)."""
    pk = context["spec_form_for"]
    wanted = _fresh(request, WantedCard(pk=pk))
    row = render_to_string(
        "stores/dashboard.html#want_row", {**context, "wanted": wanted}, request=request
    )
    found = re.search(rf'<tr id="want-{pk}"[ >].*?</tr>', rows_html, re.S)
    if found is None:
        return mark_safe(rows_html)  # rows_html is the template's, escaped
    return mark_safe(rows_html[: found.start()] + row + rows_html[found.end() :])  # idem


def _fresh(request: HttpRequest, wanted: WantedCard) -> WantedCard:
    """The want again, with its card, specs and stock loaded the way the rows show them."""
    fresh = WantedCard.objects.for_owner(request.user).get(pk=wanted.pk)
    stock_attach(owner=request.user, wants=[fresh])
    return fresh


def _row(request: HttpRequest, wanted: WantedCard, **context) -> HttpResponse:
    if not any(context.values()):
        # The row as the page shows it (polled every few seconds while checks run): cached.
        return HttpResponse(rows_read(owner=request.user, want_id=wanted.pk).html(request))
    context["wanted"] = _fresh(request, wanted)
    return render(request, "stores/dashboard.html#want_row", context)


def _owned(request: HttpRequest, pk: int) -> WantedCard:
    return get_object_or_404(WantedCard, pk=pk, owner=request.user)


def _announces_want_changes(view):
    """After an HTMX change to the want list, tell the page (the "where to buy" summary)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if request.htmx and request.method == "POST" and response.status_code == 200:
            trigger_client_event(response, "wants-changed")
        return response

    return wrapper


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
@_announces_want_changes
def want_add(request: HttpRequest) -> HttpResponse:
    form = WantAddForm(request.POST)
    if not form.is_valid():
        if request.htmx:
            return render(request, "stores/dashboard.html#want_form", {"form": form})
        return _dashboard(request, form=form)
    data = form.cleaned_data
    wanted, created = wanted_card_merge(
        owner=request.user,
        card=data["card"],
        amount=data["amount"],
        specs=[form.spec()] if form.has_spec() else [],
    )
    # What the user came for: where the card is, as soon as the stores answer.
    checks_queue_for_want(wanted=wanted)
    if created:
        copies = "a copy" if data["amount"] == 1 else f"{data['amount']} copies"
        note = f"Added {copies} of {wanted.card.name}."
    else:
        note = (
            f"{wanted.card.name} was on your list already: you now want {wanted.amount} "
            f"({wanted.copies_summary(stores_currency(stores_preferred(owner=request.user)))})."
        )
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
            # The first card replaces the "not tracking any cards yet" row.
            "first": created and WantedCard.objects.filter(owner=request.user).count() == 1,
        },
    )


@login_required
@require_GET
def want_row(request: HttpRequest, pk: int) -> HttpResponse:
    return _row(request, _owned(request, pk))


@login_required
@require_POST
@_announces_want_changes
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
@_announces_want_changes
def want_delete(request: HttpRequest, pk: int) -> HttpResponse:
    wanted = _owned(request, pk)
    wanted.delete()
    if request.htmx:
        if WantedCard.objects.filter(owner=request.user).exists():
            return HttpResponse("")
        # The last card went: the table says how to add one, as on a fresh page.
        stores = stores_preferred(owner=request.user)
        return render(request, "stores/dashboard.html#want_empty", {"stores": stores})
    messages.success(request, f"Removed {wanted.card.name} from your want list.")
    return redirect("stores:dashboard")


@login_required
@_announces_want_changes
def want_spec_add(request: HttpRequest, pk: int) -> HttpResponse:
    wanted = _owned(request, pk)
    form = WantSpecForm(request.POST or None, wanted=wanted)
    if request.method == "POST" and form.is_valid():
        wanted.spec_add(**form.spec())
        if not request.htmx:
            return redirect("stores:dashboard")
        return _row(request, wanted)
    if not request.htmx:
        return _dashboard(request, spec_form=form, spec_form_for=wanted.pk)
    return _row(request, wanted, spec_form=form, spec_form_for=wanted.pk)


@login_required
@require_POST
@_announces_want_changes
def want_spec_delete(request: HttpRequest, pk: int) -> HttpResponse:
    spec = get_object_or_404(WantSpec, pk=pk, wanted__owner=request.user)
    spec.delete()
    if not request.htmx:
        return redirect("stores:dashboard")
    return _row(request, spec.wanted)


@csrf_exempt  # checked below, once the request body is known to be readable
@login_required
def decklist_import(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            request.POST, request.FILES  # noqa: B018 (parsing is what may fail)
        except RequestDataTooBig:
            # Past DATA_UPLOAD_MAX_MEMORY_SIZE Django would answer a bare "Bad Request (400)";
            # the page says what was wrong. Nothing was read, so nothing is written.
            context = {"form": DecklistForm(), "too_long": TOO_LONG, **_demo_deck_context()}
            return render(request, "stores/decklist_import.html", context, status=400)
    return _decklist_import(request)


@csrf_protect
def _decklist_import(request: HttpRequest) -> HttpResponse:
    demo = request.method == "GET" and request.GET.get("demo") == "1"
    initial = {"text": demo_deck_text()} if demo else None
    form = DecklistForm(request.POST or None, request.FILES or None, initial=initial)
    context = {"form": form, **_demo_deck_context()}
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
    # The preview's "replace instead" button names its mode; the default is the previewed one.
    mode = request.POST.get("mode") or payload["mode"]
    if mode not in MERGE_MODES:
        return HttpResponseBadRequest(
            f"mode must be one of {', '.join(MERGE_MODES)}",
            content_type="text/plain; charset=utf-8",
        )
    # A preview is imported once, even if the confirm button is pressed twice.
    if not cache.add(f"stores:decklist-import:{payload['nonce']}", 1, PREVIEW_MAX_AGE):
        messages.info(request, "That deck list was imported already.")
        return redirect("stores:dashboard")
    added, merged = wanted_cards_merge(owner=request.user, rows=payload["rows"], mode=mode)
    checks_queue_for_owner(owner=request.user)
    messages.success(
        request,
        f"Imported the deck list: {added} new cards, {merged} merged with cards you track.",
    )
    return redirect("stores:dashboard")


def demo_deck_text() -> str:
    return DEMO_DECK.read_text("utf-8")


def _demo_deck_context() -> dict[str, Any]:
    """Offer the demo deck when the catalog has every card of it (the demo's 43 cards do)."""
    cache_key = "stores:demo-deck-covered"
    covered = cache.get(cache_key)
    if covered is None:
        parsed = decklist_parse(demo_deck_text())
        resolved = decklist_resolve(parsed=parsed, keep_printings=True)
        covered = bool(resolved) and not any(item.problem for item in resolved)
        # Short: an import of the catalog changes the answer.
        cache.set(cache_key, covered, 60)
    return {"demo_deck": covered}


@login_required
@require_GET
def wants_export(request: HttpRequest) -> HttpResponse:
    """The want list as text that imports back whole; ``?format=arena``: plain Arena lines
    (no ``#lenny:`` tags) for tools that refuse tags."""
    plain = request.GET.get("format") == "arena"
    lines = [
        wanted.export_line(specs=not plain) for wanted in WantedCard.objects.for_owner(request.user)
    ]
    response = HttpResponse(
        "\n".join(lines) + ("\n" if lines else ""), content_type="text/plain; charset=utf-8"
    )
    response["Content-Disposition"] = 'inline; filename="want-list.txt"'
    return response


# --- Stock at the user's stores ---------------------------------------------------------------
@login_required
@require_GET
def stock_summary(request: HttpRequest) -> HttpResponse:
    """The "where to buy" summary; the dashboard polls it while checks are running."""
    return HttpResponse(summary_render(rows=rows_read(owner=request.user)))


@login_required
@require_POST
def stock_check(request: HttpRequest) -> HttpResponse:
    """Check the user's cards whose last answer is older than the cache's lifetime."""
    queued = checks_queue_for_owner(owner=request.user)
    if queued:
        # One check is one card at one store.
        messages.info(
            request, f"Checking at your stores: {queued} check{pluralize(queued)} queued…"
        )
    elif not PreferredStore.objects.filter(user=request.user, store__active=True).exists():
        messages.warning(request, "Pick the stores you buy from first, on your account page.")
    elif not WantedCard.objects.filter(owner=request.user).exists():
        messages.info(request, "Your want list is empty: add a card first.")
    else:
        minutes = check_ttl_minutes()
        messages.info(
            request,
            f"Every card was checked in the last {minutes} minute{pluralize(minutes)} or is "
            "being checked now: nothing to do.",
        )
    return redirect("stores:dashboard")


def _alerts(request: HttpRequest, template: str) -> HttpResponse:
    own = StockAlert.objects.filter(user=request.user).select_related("store", "wanted__card")
    return render(request, template, {"alerts": own[:200]})


@login_required
@require_GET
def alerts(request: HttpRequest) -> HttpResponse:
    return _alerts(request, "stores/alerts.html")


@login_required
@require_POST
def alerts_read(request: HttpRequest) -> HttpResponse:
    StockAlert.objects.filter(user=request.user, read_at=None).update(read_at=timezone.now())
    if request.htmx:
        return _alerts(request, "stores/alerts.html#alert_list")
    return redirect("stores:alerts")


@login_required
@require_POST
def preferred_stores(request: HttpRequest) -> HttpResponse:
    """Set the stores the user buys from (the account page's picker); check the new ones."""
    store_ids = set()
    for value in request.POST.getlist("store"):
        # ASCII digits only: "²".isdigit() is true, and int() refuses it.
        if not (value.isascii() and value.isdigit() and len(value) <= 18):
            return HttpResponseBadRequest(
                f"{value[:20]!r} is not a store id", content_type="text/plain; charset=utf-8"
            )
        store_ids.add(int(value))
    # False when a store was deactivated (or never there) since the page was shown.
    complete = preferred_stores_set(user=request.user, store_ids=store_ids)
    if request.htmx:
        context = {"saved": True, "left_out": "" if complete else LEFT_OUT}
        return render(request, "stores/preferred_stores.html", context)
    if not complete:
        messages.warning(request, LEFT_OUT)
    messages.success(request, "Your stores are saved.")
    return redirect("accounts:profile")


# --- The catalog's import, while it is empty ----------------------------------------------------
@require_GET
@login_required
def catalog_status_view(request: HttpRequest) -> HttpResponse:
    """The "importing the card catalog…" notice again, polled by the stores pages while the
    catalog is empty; once the catalog is there, an htmx reload so the page can use it."""
    return CATALOG_NOTICE.view(request)
