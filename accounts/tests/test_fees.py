"""Sales tax and broker fee by CCP's published rules (pure computation, no database)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.fees import DEFAULT_FEE_RATES, FeeRates, fee_rates

pytestmark = pytest.mark.embedded


def test_an_untrained_pilot_pays_the_base_rates():
    assert fee_rates(accounting=0, broker_relations=0) == FeeRates(
        sales_tax=Decimal("0.08"), broker_fee=Decimal("0.03")
    )
    assert fee_rates(accounting=0, broker_relations=0) == DEFAULT_FEE_RATES


@pytest.mark.parametrize(
    ("accounting", "sales_tax"),
    [(1, "0.0712"), (3, "0.0536"), (4, "0.0448"), (5, "0.036")],
)
def test_each_accounting_level_cuts_the_sales_tax_by_eleven_percent(accounting, sales_tax):
    assert fee_rates(accounting=accounting, broker_relations=0).sales_tax == Decimal(sales_tax)


@pytest.mark.parametrize(
    ("broker_relations", "faction", "corporation", "broker_fee"),
    [
        (5, 0, 0, "0.015"),
        (4, 0, 0, "0.018"),
        (5, 5, 5, "0.0125"),
        (5, Decimal("6.73"), Decimal("2.10"), "0.012561"),
        (0, -10, -10, "0.035"),  # bad standings cost more
        (5, 10, 10, "0.01"),  # exactly the floor
    ],
)
def test_broker_relations_and_standings_cut_the_broker_fee(
    broker_relations, faction, corporation, broker_fee
):
    rates = fee_rates(
        accounting=0,
        broker_relations=broker_relations,
        faction_standing=faction,
        corporation_standing=corporation,
    )
    assert rates.broker_fee == Decimal(broker_fee)


def test_the_broker_fee_never_drops_below_one_percent(monkeypatch):
    import accounts.fees as fees

    monkeypatch.setattr(fees, "BASE_BROKER_FEE", Decimal("0.02"))
    assert fees.fee_rates(
        accounting=0, broker_relations=5, faction_standing=10
    ).broker_fee == Decimal("0.01")


def test_float_standings_mean_what_they_say():
    assert fee_rates(accounting=0, broker_relations=0, faction_standing=6.7).broker_fee == Decimal(
        "0.02799"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"accounting": 6, "broker_relations": 0}, "Accounting must be a skill level from 0 to 5"),
        ({"accounting": -1, "broker_relations": 0}, "Accounting"),
        ({"accounting": 0, "broker_relations": 2.5}, "Broker Relations"),
        ({"accounting": True, "broker_relations": 0}, "Accounting"),
        ({"accounting": 0, "broker_relations": 0, "faction_standing": 10.01}, "faction standing"),
        ({"accounting": 0, "broker_relations": 0, "corporation_standing": "nan"}, "corporation"),
        ({"accounting": 0, "broker_relations": 0, "faction_standing": float("inf")}, "faction"),
    ],
)
def test_it_refuses_impossible_skills_and_standings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fee_rates(**kwargs)
