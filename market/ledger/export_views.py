"""The ledger as a file, on the ledger's pages: download your own, upload one back.

The download is always the logged-in user's own ledger (it takes no character or user from the
request, so there is nothing to point at another user's data). The upload adds only what is
missing and refuses a file naming a character another user holds (see ``market.ledger.export``).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Character
from market.ledger.export import LedgerFileError, ledger_encode, ledger_export, ledger_import
from market.ledger.models import CharacterOrder, WalletJournalEntry, WalletTransaction

# Years of a busy trader's journal fit in a few megabytes; the command line has no limit
# (``manage.py ledger_import``) for anything larger than a web worker should parse.
IMPORT_MAX_BYTES = 64 * 1024 * 1024


class LedgerImportForm(forms.Form):
    file = forms.FileField(
        label="Ledger file",
        help_text="A file from “Download my ledger”, on this Lenny or another one.",
        widget=forms.ClearableFileInput(attrs={"accept": ".json,application/json"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > IMPORT_MAX_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size / 2**20:,.0f} MB; the upload takes up to "
                f"{IMPORT_MAX_BYTES // 2**20} MB. Use `manage.py ledger_import` for larger files."
            )
        return upload


def _page(request: HttpRequest, form: LedgerImportForm, *, status: int = 200) -> HttpResponse:
    characters = list(Character.objects.owned_by(request.user).order_by("name"))

    def counts(model) -> dict[int, int]:
        # One grouped count per table: joining the three tables at once would multiply them.
        rows = model.objects.filter(character__owner=request.user).values_list("character_id")
        return dict(rows.annotate(n=Count("pk")).order_by())

    journal, transactions, orders = (
        counts(WalletJournalEntry),
        counts(WalletTransaction),
        counts(CharacterOrder),
    )
    for character in characters:
        character.journal_rows = journal.get(character.pk, 0)
        character.transaction_rows = transactions.get(character.pk, 0)
        character.order_rows = orders.get(character.pk, 0)
    return render(
        request,
        "ledger/export.html",
        {"form": form, "characters": characters},
        status=status,
    )


@login_required
@require_GET
def data(request: HttpRequest) -> HttpResponse:
    return _page(request, LedgerImportForm())


@login_required
@require_GET
def export(request: HttpRequest) -> HttpResponse:
    body = ledger_encode(ledger_export(user=request.user))
    response = HttpResponse(body, content_type="application/json")
    stamp = timezone.now().strftime("%Y-%m-%d")
    response["Content-Disposition"] = f'attachment; filename="lenny-ledger-{stamp}.json"'
    # A wallet history: never kept by a shared cache or the browser's back-forward cache.
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def import_(request: HttpRequest) -> HttpResponse:
    form = LedgerImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        result = ledger_import(user=request.user, data=form.cleaned_data["file"].read())
    except LedgerFileError as exc:
        form.add_error("file", f"Nothing was imported: {exc}")
        return _page(request, form, status=400)
    messages.success(request, f"Ledger imported. {result.summary()}")
    return redirect("ledger:data")
