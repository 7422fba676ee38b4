"""The desk's query forms take any text a URL can carry: a cleaned value or a form error that
names the parameter, never an exception (``1e999999k`` once overflowed Decimal's exponent)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.forms import HaulingForm, StationTradingForm

pytestmark = pytest.mark.embedded

NUMERIC = ["min_margin", "min_volume", "min_profit", "max_price", "volume_cap", "sales_tax"]
EXPONENTS = st.integers(min_value=-(10**12), max_value=10**12)
NUMBERS = st.one_of(
    st.builds(
        lambda sign, mantissa, exponent, suffix: f"{sign}{mantissa}e{exponent}{suffix}",
        st.sampled_from(["", "-", "+"]),
        st.sampled_from(["1", "9.99", "0", "0.0001"]),
        EXPONENTS,
        st.sampled_from(["", "k", "m", "b", "t", "K", "%", " %"]),
    ),
    st.text(alphabet="0123456789.,_ -+eEkmbt%²٣NaInfinity", max_size=30),
)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(NUMERIC), value=NUMBERS)
def test_any_number_text_is_a_value_or_a_named_error(name, value):
    form = StationTradingForm({name: value})
    if not form.is_valid():
        parameter, message = form.first_error()
        assert parameter == name and message.startswith(f"{name}: ")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("budget", "1e999999k", "budget: must be below 1,000,000,000,000,000, got '1e999999k'"),
        ("cargo_m3", "-1e999999m", "cargo_m3: must be at least 0, got '-1e999999m'"),
        ("budget", "9e99999999999b", "budget: must be below 1,000,000,000,000,000"),
    ],
)
def test_an_overflowing_amount_is_out_of_range_not_a_crash(name, value, message):
    form = HaulingForm({name: value})
    assert not form.is_valid()
    parameter, text = form.first_error()
    assert parameter == name and text.startswith(message)
