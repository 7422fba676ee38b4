"""Condition, finish, language, price and SKU normalisation: what stores write, what Lenny reads."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stores.listings import (
    CONDITIONS,
    FINISHES,
    LANGUAGES,
    Money,
    condition_at_least,
    condition_normalise,
    finish_normalise,
    language_normalise,
    minor_units_to_decimal,
    price_parse,
    set_code_lookup,
    set_codes_by_name,
    sku_parse,
    title_split_set,
    title_strip_finish,
    variant_traits,
)

pytestmark = pytest.mark.embedded


@pytest.mark.parametrize(
    ("text", "condition"),
    [
        ("NM-Mint, English", "NM"),
        ("Near Mint", "NM"),
        ("Near Mint Foil", "NM"),
        ("Near Mint Foil Foreign", "NM"),
        ("near-mint", "NM"),
        ("NM", "NM"),
        ("NM/M", "NM"),
        ("Mint", "NM"),
        ("Lightly Played", "LP"),
        ("Lightly Played, English", "LP"),
        ("Light Play, English", "LP"),
        ("Lightly Played Foil", "LP"),
        ("Slightly Played", "LP"),
        ("SP", "LP"),
        ("LP", "LP"),
        ("Excellent", "LP"),
        ("EX", "LP"),
        ("Moderately Played", "MP"),
        ("Moderate Play, English", "MP"),
        ("Played", "MP"),
        ("Good", "MP"),
        ("MP", "MP"),
        ("Heavily Played", "HP"),
        ("Heavy Play, English", "HP"),
        ("HP", "HP"),
        ("Damaged", "DMG"),
        ("Damaged Foil", "DMG"),
        ("DMG", "DMG"),
        ("Poor", "DMG"),
        ("  NEAR   MINT  ", "NM"),
        ("Foil, English", None),
        ("Extended Art", None),
        ("Sealed", None),
        ("Default Title", None),
        ("", None),
    ],
)
def test_it_reads_the_condition_stores_write(text, condition):
    assert condition_normalise(text) == condition


@pytest.mark.parametrize(
    ("text", "finish"),
    [
        ("Near Mint Foil", "foil"),
        ("Foil, English", "foil"),
        ("NM-Mint, English", None),
        ("Near Mint", None),
        ("Non-Foil", "nonfoil"),
        ("Near Mint Non Foil", "nonfoil"),
        ("Foil Etched", "etched"),
        ("Etched Foil", "etched"),
        ("Lightly Played Etched", "etched"),
        ("Surge Foil", "foil"),
        ("Foiled Again", None),
    ],
)
def test_it_reads_the_finish_stores_write(text, finish):
    assert finish_normalise(text) == finish


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("NM-Mint, English", "en"),
        ("Lightly Played Foreign", "foreign"),
        ("Near Mint Foil Foreign", "foreign"),
        ("Near Mint, Japanese", "ja"),
        ("Near Mint Chinese Simplified", "zhs"),
        ("Traditional Chinese", "zht"),
        ("Near Mint, Deutsch", "de"),
        ("Français", "fr"),
        ("Near Mint", None),
        # Two-letter codes are too ambiguous in free text ("It", "Es"); only SKUs use them.
        ("Played It", None),
    ],
)
def test_it_reads_the_language_stores_write(text, language):
    assert language_normalise(text) == language


def test_it_reads_all_three_traits_from_one_variant_title():
    traits = variant_traits("Lightly Played Foil Foreign")
    assert (traits.condition, traits.finish, traits.language) == ("LP", "foil", "foreign")


@pytest.mark.parametrize(
    ("condition", "worst", "accepted"),
    [
        ("NM", "LP", True),
        ("LP", "LP", True),
        ("MP", "LP", False),
        ("DMG", "DMG", True),
        ("HP", "NM", False),
        (None, "DMG", False),
    ],
)
def test_it_accepts_a_condition_as_good_as_the_worst_acceptable(condition, worst, accepted):
    assert condition_at_least(condition, worst) is accepted


@pytest.mark.parametrize(
    ("title", "name", "finish"),
    [
        ("Steam Vents", "Steam Vents", None),
        ("Tarmogoyf - Foil", "Tarmogoyf", "foil"),
        ("Steam Vents - Foil - Borderless", "Steam Vents - Borderless", "foil"),
        ("Tarmogoyf (Foil)", "Tarmogoyf", "foil"),
        ("Sol Ring - Foil Etched", "Sol Ring", "etched"),
        ("Restless Vents - Borderless", "Restless Vents - Borderless", None),
        (
            "Scrounging Deathclaw - Tarmogoyf - Surge Foil - Showcase",
            "Scrounging Deathclaw - Tarmogoyf - Surge Foil - Showcase",
            "foil",
        ),
        (
            "Tarmogoyf - Foil (30th Anniversary Play Promos)",
            "Tarmogoyf - Foil (30th Anniversary Play Promos)",
            "foil",
        ),
        (
            "Steam Vents (Borderless) (Galaxy Foil)",
            "Steam Vents (Borderless) (Galaxy Foil)",
            "foil",
        ),
    ],
)
def test_it_takes_a_bare_finish_suffix_off_the_product_name(title, name, finish):
    assert title_strip_finish(title) == (name, finish)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Steam Vents [Guilds of Ravnica]", ("Steam Vents", "Guilds of Ravnica")),
        ("Steam Vents (Retro) [Ravnica Remastered]", ("Steam Vents (Retro)", "Ravnica Remastered")),
        ("Steam Vents", ("Steam Vents", "")),
    ],
)
def test_it_splits_the_set_off_a_shopify_title(title, expected):
    assert title_split_set(title) == expected


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("£30.19", "30.19", "GBP"),
        ("£ 30.19", "30.19", "GBP"),
        ("  £11.22\n  ", "11.22", "GBP"),
        ("$1,234.50", "1234.50", "USD"),
        ("CA$ 12.00", "12.00", "CAD"),
        ("1.234,50 €", "1234.50", "EUR"),
        ("12,50 €", "12.50", "EUR"),
        ("12.00 GBP", "12.00", "GBP"),
        ("£5", "5.00", "GBP"),
        ("1 234,00 €", "1234.00", "EUR"),
        ("17", "17.00", ""),
    ],
)
def test_it_reads_prices_as_decimals_with_their_currency(text, amount, currency):
    assert price_parse(text) == Money(Decimal(amount), currency)


@pytest.mark.parametrize(
    "text", ["", "£", "Out of stock.", "-£5.00", "£ -5", "£100000000", "9" * 40, "1" + "0" * 27]
)
def test_it_refuses_text_without_a_price(text):
    with pytest.raises(ValueError, match="price"):
        price_parse(text)


def test_it_reads_shopify_minor_units_and_refuses_anything_else():
    assert minor_units_to_decimal(1160) == Decimal("11.60")
    assert minor_units_to_decimal("23420") == Decimal("234.20")
    for bad in (None, 11.6, "11.60", -5, True, "", [1160], "²", 10**13, "9" * 40):
        with pytest.raises(ValueError, match="minor units"):
            minor_units_to_decimal(bad)


@pytest.mark.parametrize(
    ("sku", "expected"),
    [
        ("GRN-257-EN-NF-1", ("grn", "257", "en", "nonfoil", "NM")),
        ("RVR-412-RETRO-EN-FO-1", ("rvr", "412", "en", "foil", "NM")),
        ("PGRN-257-EN-NF-1", ("pgrn", "257", "en", "nonfoil", "NM")),
        ("EXP-12-EN-FO-5", ("exp", "12", "en", "foil", "DMG")),
        ("GRN-257-JA-NF-2", ("grn", "257", "ja", "nonfoil", "LP")),
        ("grn-007-en-nf-3", ("grn", "7", "en", "nonfoil", "MP")),
        ("GRN-257-XX-ZZ-9", ("grn", "257", None, None, None)),
    ],
)
def test_it_reads_binderpos_skus(sku, expected):
    traits = sku_parse(sku)
    assert traits is not None
    assert (
        traits.set_code,
        traits.collector_number,
        traits.language,
        traits.finish,
        traits.condition,
    ) == expected


@pytest.mark.parametrize("sku", ["", "ABC", "GRN-257", "12345", "GRN 257 EN NF 1", None, 42])
def test_it_ignores_what_is_not_a_binderpos_sku(sku):
    assert sku_parse(sku) is None


def test_it_finds_a_set_code_by_the_set_name_a_store_writes():
    codes = set_codes_by_name([("Guilds of Ravnica", "GRN"), ("Time Spiral Remastered", "tsr")])
    assert set_code_lookup("guilds of  ravnica", codes) == "grn"
    assert set_code_lookup("Time Spiral: Remastered", codes) == "tsr"
    assert set_code_lookup("Promo Pack: Throne of Eldraine", codes) == ""
    assert set_code_lookup("", codes) == ""


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_it_never_fails_on_any_text(text):
    assert condition_normalise(text) in (*CONDITIONS, None)
    assert finish_normalise(text) in (*FINISHES, None)
    assert language_normalise(text) in (*LANGUAGES, None)
    title_strip_finish(text)
    title_split_set(text)
    sku_parse(text)
    try:
        money = price_parse(text)
    except ValueError:
        pass
    else:
        assert money.amount >= 0
