"""The ledger pages' filters (GET queries) and the pilot's ledger preferences."""

from __future__ import annotations

from typing import Any

from django import forms

from market.ledger_queries import PERIODS
from market.models import LedgerPreference, Type

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


class _QueryForm(forms.Form):
    """A GET form; blank parameters count as absent, and the field names are the URL's."""

    def __init__(self, data: Any = None, **kwargs: Any) -> None:
        if data is not None:
            data = {key: value for key, value in data.items() if str(value).strip() != ""}
        super().__init__(data, **kwargs)


class TransactionFilterForm(_QueryForm):
    character = forms.IntegerField(
        required=False, min_value=1, widget=forms.Select, help_text="EVE character id"
    )
    item = forms.CharField(required=False, max_length=100, label="Item")
    side = forms.ChoiceField(
        required=False, choices=[("", "Buys and sells"), ("buy", "Buys"), ("sell", "Sells")]
    )
    since = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))
    sort = forms.ChoiceField(required=False, choices=[(key, key) for key in TRANSACTION_SORTS])
    page = forms.IntegerField(required=False, min_value=1)

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
        if text.isdigit():
            return [int(text)]
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


class LedgerPreferenceForm(forms.ModelForm):
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = LedgerPreference
        fields = ["cost_method", "email_on_undercut"]
        labels = {"cost_method": "Cost of goods sold"}
