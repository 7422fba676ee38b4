"""Matching store listings to a want: the card itself, in the printing and copy the user accepts."""

from dataclasses import replace
from decimal import Decimal

import pytest

from stores.adapters import Listing
from stores.matching import (
    WantCriteria,
    listing_matches,
    listing_mismatch,
    listings_matching,
    name_key,
    name_matches,
)

pytestmark = pytest.mark.embedded


def listing(**changes) -> Listing:
    base = Listing(
        name="Steam Vents",
        set_name="Guilds of Ravnica",
        set_code="grn",
        collector_number="257",
        finish="nonfoil",
        condition="NM",
        language="en",
        price=Decimal("11.60"),
        currency="GBP",
        quantity=1,
        url="https://store.example/products/steam-vents-grn",
        in_stock=True,
        variant="Near Mint",
    )
    return replace(base, **changes)


@pytest.mark.parametrize(
    ("listed", "set_name", "card", "matches"),
    [
        ("Tarmogoyf", "Future Sight", "Tarmogoyf", True),
        ("TARMOGOYF", "Future Sight", "Tarmogoyf", True),
        ("Tarmogoyf - The List", "The List", "Tarmogoyf", True),
        ("Steam Vents (Retro)", "Ravnica Remastered", "Steam Vents", True),
        ("Steam Vents - Borderless", "Unfinity", "Steam Vents", True),
        ("Steam Vents (Borderless) (Galaxy Foil)", "Unfinity", "Steam Vents", True),
        ("Steam Vents [Guilds of Ravnica]", "", "Steam Vents", True),
        ("Restless Vents", "The Lost Caverns of Ixalan", "Steam Vents", False),
        ("Steam", "", "Steam Vents", False),
        # Art cards, tokens and other products whose names merely contain the card's name.
        ("Tarmogoyf (Art Card)", "Modern Horizons 2 Art Series", "Tarmogoyf", False),
        ("Tarmogoyf - Art Card - Gold Stamped", "", "Tarmogoyf", False),
        ("Tarmogoyf", "Modern Horizons Art Series", "Tarmogoyf", False),
        ("Tarmogoyf Art Card", "", "Tarmogoyf", False),
        ("Tarmogoyf Token", "", "Tarmogoyf", False),
        ("Tarmogoyf - Oversized", "", "Tarmogoyf", False),
        ("Tarmogoyf", "Commander 2017 Oversized", "Tarmogoyf", False),
        ("Tarmogoyf Playmat", "", "Tarmogoyf", False),
        ("Tarmogoyf - Playmat", "Accessories", "Tarmogoyf", False),
        ("Tarmogoyf Sleeves (100)", "", "Tarmogoyf", False),
        ("Tarmogoyf (Sleeves)", "", "Tarmogoyf", False),
        ("Ultra Pro - Relic Tokens: Eternal Collection - Tarmogoyf", "", "Tarmogoyf", False),
        ("Tarmogoyf", "Relic Tokens Eternal Collection", "Tarmogoyf", False),
        ("Scrounging Deathclaw - Tarmogoyf - Showcase", "Fallout - Alt Art", "Tarmogoyf", False),
        # A card whose own name holds such a word is still itself.
        ("Figure of Destiny", "Eventide", "Figure of Destiny", True),
        ("Pair o' Dice Lost", "Unhinged", "Pair o' Dice Lost", True),
        # Front faces, split cards and the ways stores spell them.
        ("Driven", "Amonkhet", "Driven // Despair", True),
        ("Driven/Despair", "Amonkhet", "Driven // Despair", True),
        ("Driven // Despair", "Amonkhet", "Driven // Despair", True),
        ("Despair", "Amonkhet", "Driven // Despair", False),
        ("Aether Vial", "Darksteel", "Æther Vial", True),
        ("Lim-Dul's Vault", "Alliances", "Lim-Dûl's Vault", True),
        ("Dromoka's Command", "Dragons of Tarkir", "Dromokas Command", True),
        ("B.F.M. (Big Furry Monster)", "Unglued", "B.F.M. (Big Furry Monster)", True),
    ],
)
def test_it_matches_only_the_card_itself(listed, set_name, card, matches):
    assert name_matches(listed, card, set_name) is matches


def test_it_folds_names_the_same_way_whatever_the_spelling():
    assert name_key("Æther Vial") == name_key("aether vial")
    assert name_key("Fire/Ice") == name_key("Fire // Ice") == "fire // ice"
    assert name_key("Dromoka\u2019s Command") == name_key("Dromoka's Command")


@pytest.mark.parametrize(
    ("changes", "want", "reason"),
    [
        ({}, {}, None),
        ({}, {"set_code": "GRN"}, None),
        ({}, {"set_code": "rtr"}, "set grn is not rtr"),
        # A store without set codes is compared by set name.
        ({"set_code": ""}, {"set_code": "grn", "set_name": "Guilds of Ravnica"}, None),
        ({"set_code": ""}, {"set_name": "guilds of ravnica"}, None),
        ({"set_code": ""}, {"set_code": "rtr", "set_name": "Return to Ravnica"}, "set"),
        ({"set_code": "", "set_name": ""}, {"set_name": "Guilds of Ravnica"}, "set"),
        ({}, {"collector_number": "257"}, None),
        ({}, {"collector_number": "0257"}, None),
        ({}, {"collector_number": "283"}, "collector number 257 is not 283"),
        ({"collector_number": ""}, {"collector_number": "257"}, "does not say"),
        # A store that lists no numbers (Crystal Commerce): the set settles the printing when the
        # card has no other one in it; not without a set to match, nor in another set.
        (
            {"collector_number": ""},
            {"set_code": "grn", "collector_number": "257", "number_implied_by_set": True},
            None,
        ),
        (
            {"collector_number": ""},
            {"collector_number": "257", "number_implied_by_set": True},
            "does not say",
        ),
        (
            {"collector_number": "", "set_code": "rtr"},
            {"set_code": "grn", "collector_number": "257", "number_implied_by_set": True},
            "set rtr is not grn",
        ),
        (
            {},
            {"set_code": "grn", "collector_number": "283", "number_implied_by_set": True},
            "collector number 257 is not 283",
        ),
        ({}, {"finish": "any"}, None),
        ({}, {"finish": "nonfoil"}, None),
        ({}, {"finish": "foil"}, "finish nonfoil is not foil"),
        ({"finish": "etched"}, {"finish": "foil"}, "finish etched is not foil"),
        ({"condition": "LP"}, {"worst_condition": "LP"}, None),
        ({"condition": "NM"}, {"worst_condition": "LP"}, None),
        ({"condition": "MP"}, {"worst_condition": "LP"}, "condition MP is worse than LP"),
        # Whatever its state, a copy is at least Damaged; anything stricter needs the grade.
        ({"condition": None}, {"worst_condition": "DMG"}, None),
        ({"condition": None}, {"worst_condition": "HP"}, "condition unknown is worse than HP"),
        ({"condition": None}, {}, None),
        ({}, {"language": "en"}, None),
        ({"language": "foreign"}, {"language": "en"}, "language foreign is not en"),
        ({"language": "foreign"}, {"language": "ja"}, "language foreign is not ja"),
        ({}, {"max_price": Decimal("11.60")}, None),
        ({}, {"max_price": Decimal("11.59")}, "price 11.60 is over 11.59"),
        ({"name": "Steam Vents (Art Card)"}, {}, "is not 'Steam Vents'"),
    ],
)
def test_it_applies_every_rule_of_a_want(changes, want, reason):
    mismatch = listing_mismatch(listing(**changes), WantCriteria("Steam Vents", **want))
    if reason is None:
        assert mismatch is None
    else:
        assert mismatch is not None and reason in mismatch


def test_it_lists_the_cheapest_in_stock_match_of_any_wanted_kind_first():
    listings = [
        listing(price=Decimal("30.00"), finish="foil", variant="a"),
        listing(price=Decimal("9.00"), condition="HP", variant="b"),
        listing(price=Decimal("12.00"), condition="LP", variant="c"),
        listing(price=Decimal("5.00"), quantity=0, in_stock=False, variant="sold out"),
        listing(price=Decimal("12.00"), condition="NM", variant="d"),
        listing(name="Steam Vents (Art Card)", price=Decimal("1.00"), variant="art"),
    ]
    wants = [
        WantCriteria("Steam Vents", finish="nonfoil", worst_condition="LP"),
        WantCriteria("Steam Vents", finish="foil", max_price=Decimal("40")),
    ]
    found = listings_matching(listings, wants)
    assert [x.variant for x in found] == ["d", "c", "a"]
    everything = listings_matching(listings, wants, in_stock_only=False)
    assert [x.variant for x in everything] == ["sold out", "d", "c", "a"]


def test_it_matches_a_listing_with_unknown_quantity_that_is_in_stock():
    shopify = listing(quantity=None, in_stock=True)
    assert listing_matches(shopify, WantCriteria("Steam Vents"))
    assert listings_matching([shopify], [WantCriteria("Steam Vents")]) == [shopify]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"card_name": " "}, "card name"),
        ({"finish": "shiny"}, "finish 'shiny'"),
        ({"worst_condition": "Played"}, "condition 'Played'"),
        ({"max_price": Decimal("-1")}, "max price"),
        ({"max_price": 5}, "max price"),
    ],
)
def test_it_refuses_a_want_it_could_not_apply(fields, message):
    with pytest.raises(ValueError, match=message):
        WantCriteria(**{"card_name": "Steam Vents", **fields})


def test_it_reads_a_want_list_entry_given_as_plain_data():
    criteria = {
        "name": "Steam Vents",
        "front_face": "Steam Vents",
        "amount": 2,
        "specs": [
            {
                "set_code": "grn",
                "set_name": "Guilds of Ravnica",
                "collector_number": "",
                "finish": "any",
                "worst_condition": "LP",
                "language": "",
                "max_price": Decimal("12.00"),
            },
            {"set_code": "rvr", "set_name": "Ravnica Remastered", "finish": "foil"},
        ],
    }
    wants = WantCriteria.from_criteria(criteria)
    assert [(w.set_code, w.finish, w.worst_condition) for w in wants] == [
        ("grn", "any", "LP"),
        ("rvr", "foil", ""),
    ]
    assert listings_matching([listing()], wants) == [listing()]
    assert listings_matching([listing(price=Decimal("12.01"))], wants) == []
    # No specs: any copy of the card.
    (anything,) = WantCriteria.from_criteria({"name": "Steam Vents", "specs": []})
    assert listing_matches(listing(condition="DMG", language="foreign"), anything)
