from __future__ import annotations

from decimal import Decimal

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

    # Left blank, the share stays what it was (10 % until the trader sets it). Any step: the
    # browser would refuse 0.10 as off a 0.01 grid that starts at 0.0001.
    market_share = forms.DecimalField(
        label="Market share",
        required=False,
        min_value=Decimal("0.0001"),
        max_value=Decimal(1),
        max_digits=5,
        decimal_places=4,
        help_text="The share of a station's daily volume you expect to trade (0.10 is 10 %).",
        widget=forms.NumberInput(attrs={"step": "any", "min": "0.0001", "max": "1"}),
    )

    class Meta:
        model = TradingProfile
        fields = [
            "accounting_level",
            "broker_relations_level",
            "faction_standing",
            "corporation_standing",
            "market_share",
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

    def clean_market_share(self) -> Decimal:
        share = self.cleaned_data.get("market_share")
        return self.instance.market_share if share is None else share
