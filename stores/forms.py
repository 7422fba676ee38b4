from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.validators import ProhibitNullCharactersValidator

from stores.catalog import card_resolve, card_suggestions
from stores.decklists import decklist_parse
from stores.models import LANGUAGES, MAX_AMOUNT, Card, Condition, WantedCard, WantSpec
from stores.wants import want_spec_check

MAX_DECKLIST_BYTES = 256 * 1024
# A Commander deck with its sideboard and maybeboard is a few hundred lines.
MAX_DECKLIST_LINES = 1000
TOO_LONG = (
    f"The deck list is longer than {MAX_DECKLIST_BYTES // 1024} KB: not a deck list "
    f"(Lenny imports at most {MAX_DECKLIST_LINES:,} card lines at a time)."
)


class SpecFieldsMixin(forms.Form):
    """The optional printing spec of a want: validated against the card's real printings."""

    set_code = forms.CharField(
        label="Set",
        max_length=10,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "code, e.g. A25", "spellcheck": "false"}),
    )
    collector_number = forms.CharField(
        label="Number",
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "e.g. 208"}),
    )
    finish = forms.ChoiceField(
        choices=WantSpec.FINISH_CHOICES, required=False, initial=WantSpec.ANY_FINISH
    )
    worst_condition = forms.ChoiceField(
        label="Worst condition",
        choices=[
            (c.value, f"{c.value} or better" if c != Condition.DMG else "any condition")
            for c in Condition
        ],
        required=False,
        initial=Condition.DMG,
    )
    language = forms.ChoiceField(choices=[("", "any language"), *LANGUAGES.items()], required=False)
    max_price = forms.DecimalField(
        label="Max price per copy",
        required=False,
        min_value=Decimal("0.01"),
        max_digits=10,
        decimal_places=2,
    )

    SPEC_FIELDS = (
        "set_code",
        "collector_number",
        "finish",
        "worst_condition",
        "language",
        "max_price",
    )

    def has_spec(self) -> bool:
        data = self.cleaned_data
        return bool(
            data.get("set_code")
            or data.get("collector_number")
            or data.get("finish") not in ("", WantSpec.ANY_FINISH)
            or data.get("worst_condition") not in ("", Condition.DMG)
            or data.get("language")
            or data.get("max_price") is not None
        )

    def spec_errors(self) -> bool:
        return any(name in self.errors for name in self.SPEC_FIELDS)

    def spec_validate(self, card: Card) -> None:
        """Refuse what the card was never printed as, naming the valid options."""
        data = self.cleaned_data
        problems, chosen_set = want_spec_check(
            card=card,
            set_code=data.get("set_code", ""),
            collector_number=data.get("collector_number", ""),
            finish=data.get("finish") or WantSpec.ANY_FINISH,
            language=data.get("language", ""),
        )
        for name, message in problems.items():
            self.add_error(name if name in self.fields else None, message)
        self.chosen_set = chosen_set

    def spec(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "set": getattr(self, "chosen_set", None),
            "collector_number": data.get("collector_number", "").strip(),
            "finish": data.get("finish") or WantSpec.ANY_FINISH,
            "worst_condition": data.get("worst_condition") or Condition.DMG,
            "language": data.get("language", ""),
            "max_price": data.get("max_price"),
        }


class WantAddForm(SpecFieldsMixin):
    card = forms.CharField(max_length=200)
    amount = forms.IntegerField(min_value=1, max_value=MAX_AMOUNT, initial=1)

    field_order = ["card", "amount"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.suggestions: list[Card] = []
        # A "did you mean" button submits the form with its card instead of the typed name.
        if self.is_bound and self.data.get("suggested_card"):
            self.data = self.data.copy()
            self.data["card"] = self.data["suggested_card"]

    def clean_card(self) -> Card:
        name = self.cleaned_data["card"].strip()
        card = card_resolve(name)
        if card is None:
            self.suggestions = card_suggestions(name)
            raise forms.ValidationError(f"No card named “{name}” in the catalog.")
        return card

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if isinstance(data.get("card"), Card):
            self.spec_validate(data["card"])
        return data


class WantAmountForm(forms.ModelForm):
    # The add form's bounds: the model field's own would say "at least 0" for -1 and "at least
    # 1" for 0.
    amount = forms.IntegerField(min_value=1, max_value=MAX_AMOUNT)

    class Meta:
        model = WantedCard
        fields = ["amount"]


class WantSpecForm(SpecFieldsMixin):
    def __init__(self, *args: Any, wanted: WantedCard, **kwargs: Any) -> None:
        # Its own element ids: it shares the page with the add form and other rows' forms.
        kwargs.setdefault("auto_id", f"want-{wanted.pk}-%s")
        super().__init__(*args, **kwargs)
        self.wanted = wanted

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors and not self.has_spec():
            raise forms.ValidationError(
                "Choose what to narrow down: set, number, finish, condition, language or price."
            )
        if not self.errors:
            self.spec_validate(self.wanted.card)
        return data


class DecklistTextField(forms.CharField):
    """The pasted list: a NUL character is the parser's to name by its line ("line 3: the card
    name contains control or unknown characters"), as in an uploaded file; Django's field would
    refuse the whole text without saying where."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators = [
            v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)
        ]


class DecklistForm(forms.Form):
    MODES = [
        ("add", "add the amounts to what I track"),
        ("max", "keep the larger amount"),
        ("replace", "replace the amounts with the list's"),
    ]

    text = DecklistTextField(
        label="Paste a deck list",
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}),
        max_length=MAX_DECKLIST_BYTES,
        error_messages={"max_length": TOO_LONG},
    )
    file = forms.FileField(
        label="or upload a file (.txt, .dek)",
        required=False,
        help_text="MTG Arena, MTGO (.txt or .dek) and Moxfield exports",
    )
    keep_printings = forms.BooleanField(
        label="Keep the printings the list names (set, number, foil) as specs",
        required=False,
    )
    mode = forms.ChoiceField(choices=MODES, initial="add", widget=forms.RadioSelect)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "text" in self.errors or "file" in self.errors:
            # The field's own error says what is wrong; "paste a deck list" would not.
            return data
        upload = data.get("file")
        if upload and data.get("text", "").strip():
            raise forms.ValidationError(
                "Paste a deck list or choose a file, not both: which one should be imported?"
            )
        if upload:
            if upload.size > MAX_DECKLIST_BYTES:
                raise forms.ValidationError(
                    f"The file is larger than {MAX_DECKLIST_BYTES // 1024} KB: not a deck list."
                )
            data["source"] = upload.read()
        elif data.get("text", "").strip():
            data["source"] = data["text"]
        else:
            raise forms.ValidationError("Paste a deck list or choose a file.")
        data["parsed"] = parsed = decklist_parse(data["source"])
        if not parsed.lines and not parsed.errors:
            raise forms.ValidationError("No cards found in that deck list.")
        if len(parsed.lines) + len(parsed.errors) > MAX_DECKLIST_LINES:
            raise forms.ValidationError(
                f"That list has {len(parsed.lines) + len(parsed.errors):,} card lines; Lenny "
                f"imports at most {MAX_DECKLIST_LINES:,} at a time: import it in parts."
            )
        return data
