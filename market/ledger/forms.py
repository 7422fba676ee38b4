"""The ledger pages' filters (GET queries), "Refresh now" and the pilot's ledger preferences.

Numbers and ids from a request are read by the market desk's fields (``market.forms``), never
with ``str.isdigit()`` + ``int()``: "²" is a digit to ``isdigit()`` and not a number to ``int()``.
Every error names the parameter it is about.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.http import url_has_allowed_host_and_scheme

from market.forms import IdField, PageField
from market.ledger.models import LedgerPreference
from market.ledger.queries import PERIODS
from market.models import Type

TRANSACTION_SORTS = {
    "-date": ("-date", "-transaction_id"),
    "date": ("date", "transaction_id"),
    "-quantity": ("-quantity", "-date"),
    "quantity": ("quantity", "-date"),
    "-unit_price": ("-unit_price", "-date"),
    "unit_price": ("unit_price", "-date"),
}
PERIOD_LABELS = {
    key: "all time" if days is None else "a year" if days == 365 else f"{days} days"
    for key, days in PERIODS.items()
}
# Type ids an item search may match at most: a broader search asks for a narrower one.
MAX_ITEM_MATCHES = 500
# No market transaction predates EVE's launch; the upper bound keeps "the day after" a date
# (the filter's end) inside what ``datetime`` can hold, far beyond any real trade.
EARLIEST_DATE = date(2003, 5, 6)
LATEST_DATE = date(2999, 12, 31)
# An item filter that reads as a whole number is a type id; anything else is (part of) a name.
_TYPE_ID = IdField(noun="type")


class _QueryForm(forms.Form):
    """A GET form; blank parameters count as absent, and the field names are the URL's."""

    def __init__(self, data: Any = None, **kwargs: Any) -> None:
        if data is not None:
            data = {key: value for key, value in data.items() if str(value).strip() != ""}
        super().__init__(data, **kwargs)


class DayField(forms.DateField):
    """A UTC day between EVE's launch and a far future that date arithmetic can still reach."""

    def validate(self, value: date | None) -> None:
        super().validate(value)
        if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE:
            raise ValidationError(
                f"must be a date from {EARLIEST_DATE:%Y-%m-%d} to {LATEST_DATE:%Y-%m-%d}, "
                f"got {value:%Y-%m-%d}"
            )


class TransactionFilterForm(_QueryForm):
    character = IdField(noun="character", widget=forms.Select, help_text="EVE character id")
    item = forms.CharField(required=False, max_length=100, label="Item")
    side = forms.ChoiceField(
        required=False, choices=[("", "Buys and sells"), ("buy", "Buys"), ("sell", "Sells")]
    )
    since = DayField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    until = DayField(required=False, label="To", widget=forms.DateInput({"type": "date"}))
    sort = forms.ChoiceField(required=False, choices=[(key, key) for key in TRANSACTION_SORTS])
    page = PageField()

    def __init__(self, data: Any = None, *, characters: list = (), **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.fields["character"].widget.choices = [("", "All characters")] + [
            (c.character_id, c.name) for c in characters
        ]

    def clean_item(self) -> list[int] | None:
        """The type ids the item text names: an id, or names containing the text."""
        text = (self.cleaned_data.get("item") or "").strip()
        if not text:
            return None
        try:
            type_id = _TYPE_ID.clean(text)
        except ValidationError:
            type_id = None  # not an id: a name, or part of one
        if type_id is not None:
            return [type_id]
        ids = list(
            Type.objects.filter(name__icontains=text).values_list("id", flat=True)[
                : MAX_ITEM_MATCHES + 1
            ]
        )
        if not ids:
            raise forms.ValidationError(f"no item is called anything like “{text}”")
        if len(ids) > MAX_ITEM_MATCHES:
            raise forms.ValidationError(f"“{text}” matches too many items; type more of the name")
        return ids

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "must be on or after From")
        return data


class ProfitFilterForm(_QueryForm):
    period = forms.ChoiceField(required=False, choices=list(PERIOD_LABELS.items()))

    def period_or_default(self) -> str:
        return (self.cleaned_data.get("period") if self.is_valid() else None) or "30"


class RefreshForm(forms.Form):
    """ "Refresh now": every character of the user, or the one named."""

    character = IdField(noun="character")


def local_path_error(target: str, *, host: str, secure: bool) -> str:
    """Why ``target`` is not a path on this site to send the user back to ("" when it is)."""
    if not target:
        return ""
    if not target.startswith("/") or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={host}, require_https=secure
    ):
        return f"must be a path on this site, such as /ledger/, got {target[:60]!r}"
    return ""


class LedgerPreferenceForm(forms.ModelForm):
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = LedgerPreference
        fields = ["cost_method", "email_on_undercut"]
        labels = {"cost_method": "Cost of goods sold"}
