"""The structures page's forms. Ids arrive as text so a bad one gets a sentence naming the field
(never a 500); the character is looked up among the user's own by the view (404 otherwise)."""

from __future__ import annotations

from django import forms

from market.structures.services import StructureTrackError, structure_id_parse


def _character_id(value: str) -> int:
    value = (value or "").strip()
    # ASCII digits only: "²".isdigit() is true, and int() refuses it (a 500 before).
    if not (value.isascii() and value.isdigit()):
        raise forms.ValidationError(f"character {value!r} is not a character id")
    return int(value)


class StructureSearchForm(forms.Form):
    character = forms.CharField(max_length=20)
    q = forms.CharField(max_length=200, required=False, strip=True)

    def clean_character(self) -> int:
        return _character_id(self.cleaned_data["character"])


class StructureAddForm(forms.Form):
    character = forms.CharField(max_length=20)
    structure = forms.CharField(
        max_length=30, help_text="the structure's id, e.g. 1028858195912", strip=True
    )
    is_private = forms.BooleanField(required=False)

    def clean_character(self) -> int:
        return _character_id(self.cleaned_data["character"])

    def clean_structure(self) -> int:
        try:
            return structure_id_parse(self.cleaned_data["structure"])
        except StructureTrackError as exc:
            raise forms.ValidationError(str(exc)) from exc


class TakeOverForm(forms.Form):
    character = forms.CharField(max_length=20)

    def clean_character(self) -> int:
        return _character_id(self.cleaned_data["character"])
