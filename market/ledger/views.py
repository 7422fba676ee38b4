"""The pilot's ledger pages: overview, transactions, profit and the open orders desk.

Everything is the logged-in user's own: another user's character id is a 404, never an empty
page that would confirm it exists.
"""

from __future__ import annotations

import hashlib
import logging
from functools import cached_property

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from redis.exceptions import RedisError

from accounts.models import Character
from lenny.lib.htmx import no_change, page_or_partial, poll_unchanged, refresh_page
from market.ledger import queries
from market.ledger.forms import (
    PERIOD_LABELS,
    TRANSACTION_SORTS,
    LedgerPreferenceForm,
    ProfitFilterForm,
    RefreshForm,
    TransactionFilterForm,
    local_path_error,
)
from market.ledger.models import LedgerPreference
from market.ledger.schedules import (
    ledger_refresh_forget,
    ledger_refresh_progress,
    ledger_refresh_request,
)

log = logging.getLogger(__name__)

TRANSACTIONS_PER_PAGE = 50
QUEUE_DOWN_MESSAGE = (
    "The task queue is unavailable, so nothing was refreshed. "
    "Wallets sync by themselves again once it is back."
)
UNKNOWN_SALES_SHOWN = 50


def _characters(request: HttpRequest) -> list[Character]:
    return list(Character.objects.owned_by(request.user))


def _own_character(request: HttpRequest, character_id: int | None) -> Character | None:
    if character_id is None:
        return None
    return get_object_or_404(Character.objects.owned_by(request.user), character_id=character_id)


def _bad_request(request: HttpRequest, errors: list[str]) -> HttpResponse:
    """A 400 that names each refused parameter ("next: must be a path on this site…")."""
    return render(request, "ledger/bad_request.html", {"errors": errors}, status=400)


def _form_errors(form) -> list[str]:
    return [
        f"{field}: {error}" if field != "__all__" else str(error)
        for field, errors in form.errors.items()
        for error in errors
    ]


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    preference = LedgerPreference.for_user(request.user)
    # What only changes with a sync is one cache get; the sync states are read fresh.
    figures = queries.overview_figures(user=request.user, method=preference.cost_method)
    characters = queries.characters_with_syncs(user=request.user)
    return render(
        request,
        "ledger/home.html",
        {
            "summary": figures,
            "preference": preference,
            "characters": queries.characters_overview(characters=characters, figures=figures),
            "wallet_total": figures.wallet_total,
            "realized_30": figures.realized_30,
            "loss_before_30": figures.loss_before_30,
            "orders": figures.orders,
            "chart": queries.chart_finish(figures.chart),
            "progress": ledger_refresh_progress(user=request.user, characters=characters),
            "first_sync_pending": queries.profit_first_sync_pending(
                user=request.user, characters=characters
            ),
            # The stale-sync notice reads the same rows (ledger/_sync_stale.html).
            "synced_characters": characters,
        },
    )


class _TransactionsPage:
    """The visible page of the transactions table, read only when the template renders it: a
    table from the fragment cache (``{% cache %}`` in ledger/transactions.html, keyed by
    ``key``) costs no count, no rows and no names."""

    def __init__(self, *, user, character: Character | None, data: dict, sort: str, query: str):
        self.user, self.character, self.data, self.sort = user, character, data, sort
        state = queries.ledger_state(user=user)
        # The rows follow from the user's transactions (and character names: ``summary``) and
        # the filter; the links in the table from the query string.
        filters = sorted((name, str(value)) for name, value in data.items())
        self.key = hashlib.blake2b(
            repr((state.summary, filters, sort, query)).encode(), digest_size=12
        ).hexdigest()

    @cached_property
    def page(self):
        rows = queries.transactions_filtered(
            user=self.user, character=self.character, data=self.data
        )
        page = Paginator(
            rows.order_by(*TRANSACTION_SORTS[self.sort]), TRANSACTIONS_PER_PAGE
        ).get_page(self.data.get("page") or 1)
        names = queries.type_names(row.type_id for row in page)
        places = queries.location_names(row.location_id for row in page)
        for row in page:
            row.type_name = names[row.type_id]
            row.location_name = places[row.location_id]
        return page


@login_required
@require_GET
def transactions(request: HttpRequest) -> HttpResponse:
    characters = _characters(request)
    form = TransactionFilterForm(request.GET, characters=characters)
    valid = form.is_valid()
    data = form.cleaned_data if valid else {}
    character = _own_character(request, data.get("character"))
    sort = data.get("sort") or "-date"
    query = request.GET.copy()
    query.pop("page", None)
    listing = _TransactionsPage(
        user=request.user, character=character, data=data, sort=sort, query=query.urlencode()
    )
    context = {
        "form": form,
        "listing": listing,
        "sort": sort,
        "query": query.urlencode(),
        "characters": characters,
    }
    status = 200 if valid else 400
    return page_or_partial(
        request,
        "ledger/transactions.html",
        context,
        partials={"ledger-transactions": "table"},
        status=status,
        partial_status=status,
    )


class _ProfitTables:
    """The profit page's figures, worked out only when the template renders them: a page whose
    tables come from the fragment cache (``{% cache %}`` in ledger/profit.html, keyed by
    ``key``) reads neither the summary nor the item names."""

    def __init__(self, *, user, method: str, state: queries.LedgerState, period: str) -> None:
        self.user, self.method, self.state = user, method, state
        self.since = queries.period_start(period)
        # Everything the tables show follows from these; the day moves the period's start.
        self.key = f"{method}:{period}:{self.since}:{timezone.now().date()}:{state.summary}"

    @cached_property
    def summary(self) -> queries.LedgerSummary:
        return queries.ledger_summary(user=self.user, method=self.method, state=self.state)

    @cached_property
    def total(self):
        return self.summary.total(since=self.since)

    @cached_property
    def _by_item(self):
        return self.summary.by_item(since=self.since)

    @cached_property
    def _unknown(self):
        return self.summary.unknown_sales(since=self.since)[-UNKNOWN_SALES_SHOWN:]

    @cached_property
    def _names(self) -> dict[int, str]:
        return queries.type_names(
            [*self._by_item, *self.summary.inventory, *(sale.type_id for sale in self._unknown)]
        )

    @cached_property
    def items(self) -> list:
        names, inventory = self._names, self.summary.inventory
        return sorted(
            (
                (names[type_id], type_id, line, inventory.get(type_id))
                for type_id, line in self._by_item.items()
            ),
            key=lambda item: (-item[2].realized_profit, item[0]),
        )

    @cached_property
    def days(self) -> list:
        since = self.since
        return [
            (day, line)
            for day, line in reversed(self.summary.by_day.items())
            if since is None or day >= since
        ]

    @cached_property
    def by_character(self) -> list:
        characters = self.summary.character_names
        return sorted(
            (characters.get(character_id, str(character_id)), line)
            for character_id, line in self.summary.by_character(since=self.since).items()
        )

    @cached_property
    def inventory(self) -> list:
        return sorted(
            (
                (self._names[type_id], position)
                for type_id, position in self.summary.inventory.items()
            ),
            key=lambda item: -item[1].cost,
        )

    @cached_property
    def unknown_sales(self) -> list:
        return [(sale, self._names[sale.type_id]) for sale in reversed(self._unknown)]


@login_required
@require_GET
def profit(request: HttpRequest) -> HttpResponse:
    form = ProfitFilterForm(request.GET)
    period = form.period_or_default()
    preference = LedgerPreference.for_user(request.user)
    method = preference.cost_method
    state = queries.ledger_state(user=request.user)
    # The chart is the overview's, cached with its figures.
    figures = queries.overview_figures(user=request.user, method=method, state=state)
    return render(
        request,
        "ledger/profit.html",
        {
            "form": form,
            "period": period,
            "periods": PERIOD_LABELS,
            "preference": preference,
            "preference_form": LedgerPreferenceForm(
                instance=preference, initial={"next": request.get_full_path()}
            ),
            "tables": _ProfitTables(user=request.user, method=method, state=state, period=period),
            "chart": queries.chart_finish(figures.chart),
        },
        status=200 if form.is_valid() else 400,
    )


@login_required
@require_GET
def orders(request: HttpRequest) -> HttpResponse:
    preference = LedgerPreference.for_user(request.user)
    context = queries.orders_desk(user=request.user)
    context.update(
        preference=preference,
        preference_form=LedgerPreferenceForm(
            instance=preference, initial={"next": request.get_full_path()}
        ),
    )
    return render(request, "ledger/orders.html", context)


@login_required
@require_GET
def orders_table(request: HttpRequest) -> HttpResponse:
    """The desk's table for its polling: 204 while nothing changed, so htmx leaves it be."""
    context = queries.orders_desk(user=request.user)
    if poll_unchanged(request, context["version"], param="version"):
        return no_change()
    return render(request, "ledger/orders.html#table", context)


@login_required
@require_POST
def refresh(request: HttpRequest) -> HttpResponse:
    form = RefreshForm(request.POST)
    if not form.is_valid():
        return _bad_request(request, _form_errors(form))
    character = _own_character(request, form.cleaned_data["character"])
    asked_at = timezone.now()
    try:
        progress = ledger_refresh_request(user=request.user, character=character)
    except (RedisError, OSError) as error:
        # The task queue (Redis) is away. Forget the "requested" marks, so the page does not
        # wait for jobs that were never queued, and say what happened.
        ledger_refresh_forget(user=request.user, since=asked_at)
        log.warning("ledger refresh not queued for user %s: %s", request.user.pk, error)
        if request.htmx:
            return render(
                request,
                "ledger/home.html#progress",
                {
                    "progress": ledger_refresh_progress(user=request.user),
                    "queue_error": QUEUE_DOWN_MESSAGE,
                },
            )
        messages.error(request, QUEUE_DOWN_MESSAGE)
        return redirect("ledger:home")
    if request.htmx:
        return render(request, "ledger/home.html#progress", {"progress": progress})
    if progress.total:
        messages.info(request, "Refreshing your wallets and orders from ESI…")
    else:
        messages.warning(
            request, "No character can be refreshed: link one, or log in with EVE again."
        )
    return redirect("ledger:home")


@login_required
@require_GET
def refresh_progress(request: HttpRequest) -> HttpResponse:
    progress = ledger_refresh_progress(user=request.user)
    response = render(request, "ledger/home.html#progress", {"progress": progress})
    if request.htmx and not progress.pending and request.GET.get("polling"):
        # Done: show the fresh figures (the whole page, charts included).
        return refresh_page(response)
    return response


@login_required
@require_POST
def preferences(request: HttpRequest) -> HttpResponse:
    # Where to go back to is checked before anything is saved: a preference saved and then a
    # failed redirect would tell the pilot it did not work when it did.
    target = request.POST.get("next") or ""
    problem = local_path_error(target, host=request.get_host(), secure=request.is_secure())
    if problem:
        return _bad_request(request, [f"next: {problem}"])
    back = HttpResponseRedirect(target or reverse("ledger:profit"))
    preference = LedgerPreference.for_user(request.user)
    form = LedgerPreferenceForm(request.POST, instance=preference)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {errors[0]}")
        return back
    form.save()
    email_note = ""
    if form.cleaned_data["email_on_undercut"] and not request.user.email:
        email_note = " Add an e-mail address to your account to receive undercut alerts."
    messages.success(request, f"Ledger preferences saved.{email_note}")
    return back
