"""Does a store's listing satisfy a want? Pure rules over plain data.

A want names a card and, optionally, the printing and copy the user accepts: set, collector
number, finish, worst acceptable condition, language and a max price per copy. Several wants for
one card mean "any of these". A listing matches when it is that card (by its normalised name or
front face; art cards, tokens, oversized cards, playmats and sleeves whose names merely contain
the card's name do not count) and passes every rule the want sets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from functools import lru_cache
from typing import Any

from stores.adapters.base import Listing
from stores.catalog.names import name_normalise
from stores.listings import (
    CONDITIONS,
    FINISHES,
    collector_key,
    condition_at_least,
    condition_rank,
    set_name_key,
)

ANY = ""

# Words that make a product something other than the card itself when they appear next to the
# card's name or in the set's name: "Tarmogoyf (Art Card)", "Relic Tokens: ... - Tarmogoyf".
_NOT_A_CARD_RE = re.compile(
    r"\b(?:art cards?|art series|tokens?|emblems?|oversized?|jumbo|playmats?|play mats?|"
    r"sleeves?|deck ?box(?:es)?|binders?|portfolios?|proxy|proxies|playtest|checklists?|"
    r"life counters?|dice|spindowns?|pins?|posters?|puzzles?|figures?|minigames?|"
    r"substitute cards?|helper cards?|code cards?)\b"
)


def name_key(name: str) -> str:
    """A card name folded for comparison, exactly as the catalog folds it for search.

    "Æther Vial" ~ "aether vial"; "Driven/Despair" ~ "driven // despair".
    """
    return name_normalise(name)


def _names_of(card_name: str) -> set[str]:
    """The keys a store may list the card under: its full name and its front face."""
    full = name_key(card_name)
    return {full, full.split(" // ")[0]}


def _listed_candidates(listed_name: str) -> list[str]:
    """What a listed name may be, read from the most to the least literal.

    Stores append treatments (" - Borderless", " - The List") and group notes in brackets
    ("(Retro)", "[Unfinity]"); a card name itself never holds " - ".
    """
    without_groups = re.sub(r"\s*[\(\[][^\)\]]*[\)\]]", "", listed_name)
    raw = [
        listed_name,
        listed_name.split(" - ")[0],
        without_groups,
        without_groups.split(" - ")[0],
    ]
    seen: list[str] = []
    for candidate in raw:
        key = name_key(candidate)
        if key and key not in seen:
            seen.append(key)
    return seen


# The dashboard asks this of every listing of every want at every store on each view (a 100-card
# list at five stores: some 5,000 times, 40 % of its CPU time); the answer depends only on the
# three names, and the same listings come back until their store is checked again.
NAME_MATCHES_CACHED = 65536


@lru_cache(maxsize=NAME_MATCHES_CACHED)
def name_matches(listed_name: str, card_name: str, set_name: str = "") -> bool:
    """Whether a product listed as ``listed_name`` (in ``set_name``) is the card itself."""
    card_keys = _names_of(card_name)
    if not any(c in card_keys for c in _listed_candidates(listed_name)):
        return False
    # Whatever the store wrote besides the card's name must not make it another product.
    rest = name_key(listed_name)
    for key in sorted(card_keys, key=len, reverse=True):
        if key and key in rest:
            rest = rest.replace(key, " ", 1)
            break
    card_words = name_key(card_name)
    extra = [m.group() for m in _NOT_A_CARD_RE.finditer(f"{rest} {name_key(set_name)}")]
    return not any(word not in card_words for word in extra)


@dataclass(frozen=True)
class WantCriteria:
    """One acceptable kind of copy of a card; empty fields accept anything."""

    card_name: str
    set_code: str = ANY
    set_name: str = ANY
    collector_number: str = ANY
    # The catalog has no other printing of the card in the set: a listing of the set that
    # gives no number (Crystal Commerce never does) is this printing.
    number_implied_by_set: bool = False
    finish: str = ANY  # "", "any", or one of FINISHES
    worst_condition: str = ANY  # "" or one of CONDITIONS
    language: str = ANY
    max_price: Decimal | None = None

    @classmethod
    def from_criteria(cls, criteria: Mapping[str, Any]) -> list[WantCriteria]:
        """The alternatives of a want given as plain data (`WantedCard.criteria()`):
        ``{"name": ..., "specs": [{"set_code": ..., "finish": ..., ...}, ...]}``; no specs
        means any copy of the card.
        """
        specs = criteria.get("specs") or [{}]
        known = {f.name for f in fields(cls)} - {"card_name"}
        return [
            cls(card_name=criteria["name"], **{k: v for k, v in spec.items() if k in known})
            for spec in specs
        ]

    def __post_init__(self) -> None:
        if not self.card_name.strip():
            raise ValueError("a want needs a card name")
        if self.finish not in (ANY, "any", *FINISHES):
            raise ValueError(f"finish {self.finish!r} is not one of any, {', '.join(FINISHES)}")
        if self.worst_condition not in (ANY, *CONDITIONS):
            raise ValueError(
                f"condition {self.worst_condition!r} is not one of {', '.join(CONDITIONS)}"
            )
        if self.max_price is not None and (
            not isinstance(self.max_price, Decimal) or self.max_price < 0
        ):
            raise ValueError(f"max price {self.max_price!r} is not a non-negative Decimal")


def listing_mismatch(listing: Listing, want: WantCriteria) -> str | None:
    """Why ``listing`` does not satisfy ``want``, or None when it does."""
    if not name_matches(listing.name, want.card_name, listing.set_name):
        return f"{listing.name!r} is not {want.card_name!r}"
    if want.set_code or want.set_name:
        if listing.set_code and want.set_code:
            if listing.set_code.lower() != want.set_code.lower():
                return f"set {listing.set_code} is not {want.set_code}"
        elif not (
            want.set_name
            and listing.set_name
            and set_name_key(listing.set_name) == set_name_key(want.set_name)
        ):
            return (
                f"set {listing.set_name or 'unknown'!r} is not {want.set_name or want.set_code!r}"
            )
    if want.collector_number:
        if not listing.collector_number:
            # A store that lists no numbers promises the printing asked for only when the set
            # (matched above) has no other printing of the card.
            if not (want.number_implied_by_set and (want.set_code or want.set_name)):
                return "the store does not say which collector number this is"
        elif collector_key(listing.collector_number) != collector_key(want.collector_number):
            return f"collector number {listing.collector_number} is not {want.collector_number}"
    if want.finish not in (ANY, "any") and listing.finish != want.finish:
        return f"finish {listing.finish} is not {want.finish}"
    # Every copy is at least Damaged, even one whose store does not name its condition.
    if want.worst_condition not in (ANY, CONDITIONS[-1]) and not condition_at_least(
        listing.condition, want.worst_condition
    ):
        return f"condition {listing.condition or 'unknown'} is worse than {want.worst_condition}"
    if want.language and listing.language != want.language:
        return f"language {listing.language} is not {want.language}"
    if want.max_price is not None and listing.price > want.max_price:
        return f"price {listing.price} is over {want.max_price}"
    return None


def listing_matches(listing: Listing, want: WantCriteria) -> bool:
    return listing_mismatch(listing, want) is None


def listings_matching(
    listings: Iterable[Listing], wants: Sequence[WantCriteria], *, in_stock_only: bool = True
) -> list[Listing]:
    """The listings that satisfy any of ``wants``, cheapest first (then the better copy)."""
    found = [
        listing
        for listing in listings
        if (listing.in_stock or not in_stock_only)
        and any(listing_matches(listing, want) for want in wants)
    ]
    return sorted(
        found,
        key=lambda x: (
            x.price,
            condition_rank(x.condition) if x.condition else len(CONDITIONS),
            x.url,
        ),
    )
