from __future__ import annotations

from django import forms

from accounts.models import TradingProfile

SKILL_CHOICES = [(level, str(level)) for level in range(6)]


class TradingProfileForm(forms.ModelForm):
    accounting_level = forms.TypedChoiceField(
        label="Accounting", choices=SKILL_CHOICES, coerce=int, help_text="Cuts the sales tax."
    )
    broker_relations_level = forms.TypedChoiceField(
        label="Broker Relations",
        choices=SKILL_CHOICES,
        coerce=int,
        help_text="Cuts the broker fee.",
    )

    class Meta:
        model = TradingProfile
        fields = [
            "accounting_level",
            "broker_relations_level",
            "faction_standing",
            "corporation_standing",
        ]
        labels = {
            "faction_standing": "Faction standing",
            "corporation_standing": "Corporation standing",
        }
        widgets = {
            "faction_standing": forms.NumberInput(
                attrs={"step": "0.01", "min": "-10", "max": "10"}
            ),
            "corporation_standing": forms.NumberInput(
                attrs={"step": "0.01", "min": "-10", "max": "10"}
            ),
        }
