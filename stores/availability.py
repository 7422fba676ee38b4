"""What the stock checks mean for a want list: pure rules over plain data.

`stock_cell` says, for one wanted card at one store, what the dashboard shows: the cheapest
matching copy in stock, "not in stock", "checking…" or "check failed". `buy_plan` answers
"where to buy": for each card the cheapest store that has the wanted amount, and what that
comes to per store.

A store that says a copy is available without saying how many (Shopify) counts as one copy:
Lenny never promises more than the store does.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from stores.adapters import Listing
from stores.matching import WantCriteria, listings_matching


@dataclass(frozen=True)
class CheckState:
    """What is known about one card at one store (a `CheckResult` as plain data)."""

    status: str  # "never", "ok" or "failed"
    listings: Sequence[Listing] = ()
    checked_at: datetime | None = None
    pending: bool = False
    error: str = ""


@dataclass(frozen=True)
class StockCell:
    store_id: int
    state: str  # "offer", "none", "pending", "failed" or "unchecked"
    offers: tuple[Listing, ...] = ()  # every matching copy in stock, cheapest first
    checked_at: datetime | None = None
    rechecking: bool = False  # a check is running while an older answer is shown
    error: str = ""
    checked_ago: str = ""  # ``checked_at`` as the page says it ("5 minutes ago"), when known

    @property
    def best(self) -> Listing | None:
        return self.offers[0] if self.offers else None

    @property
    def copies(self) -> int:
        return copies_known(self.offers)

    @property
    def copies_unsure(self) -> bool:
        """Some store did not say how many copies it has."""
        return any(x.quantity is None for x in self.offers)

    @cached_property  # the cell's template asks for its tiers three times
    def tiers(self) -> tuple[PriceTier, ...]:
        """The matching copies by price, cheapest first: what each price buys."""
        return price_tiers(self.offers)

    @property
    def at_best(self) -> PriceTier | None:
        """The copies the shown (cheapest) price buys."""
        tiers = self.tiers
        return tiers[0] if tiers else None

    @property
    def dearer(self) -> tuple[PriceTier, ...]:
        """The next prices up, each named on the cell ("+1 at £0.40")."""
        return self.tiers[1 : 1 + SHOWN_TIERS]

    @property
    def dearer_rest(self) -> PriceTier | None:
        """Every copy beyond the named prices, at the dearest price among them ("up to")."""
        rest = self.tiers[1 + SHOWN_TIERS :]
        if not rest:
            return None
        return PriceTier(
            price=rest[-1].price,
            currency=rest[-1].currency,
            copies=sum(t.copies for t in rest),
            unsure=any(t.unsure for t in rest),
        )


# Prices a stock cell names after the cheapest one; more are summed up as "up to".
SHOWN_TIERS = 2


@dataclass(frozen=True)
class PriceTier:
    """The copies one price buys at a store (``unsure``: some are "in stock", count unknown)."""

    price: Decimal
    currency: str
    copies: int
    unsure: bool


def price_tiers(offers: Sequence[Listing]) -> tuple[PriceTier, ...]:
    """``offers`` grouped by price, cheapest first; a copy of unknown count counts as one."""
    by_price: dict[Decimal, list[Listing]] = {}
    for offer in sorted(offers, key=lambda x: x.price):
        by_price.setdefault(offer.price, []).append(offer)
    return tuple(
        PriceTier(
            price=price,
            currency=group[0].currency,
            copies=copies_known(group),
            unsure=any(x.quantity is None for x in group),
        )
        for price, group in by_price.items()
    )


def copies_known(offers: Sequence[Listing]) -> int:
    return sum(1 if x.quantity is None else x.quantity for x in offers)


def stock_cell(
    *, store_id: int, criteria: Mapping[str, Any], state: CheckState | None
) -> StockCell:
    """What the dashboard shows for one wanted card (``WantedCard.criteria()``) at one store."""
    if state is None or (state.status == "never" and not state.pending):
        return StockCell(store_id, "unchecked")
    if state.status == "never":
        return StockCell(store_id, "pending")
    if state.status == "failed" and not state.pending:
        return StockCell(store_id, "failed", checked_at=state.checked_at, error=state.error)
    if state.status == "failed":
        return StockCell(store_id, "pending", checked_at=state.checked_at)
    offers = tuple(listings_matching(state.listings, WantCriteria.from_criteria(criteria)))
    return StockCell(
        store_id,
        "offer" if offers else "none",
        offers=offers,
        checked_at=state.checked_at,
        rechecking=state.pending,
    )


@dataclass(frozen=True)
class Purchase:
    """``amount`` copies of one card from one store, the cheapest copies first."""

    want_id: int
    card_name: str
    amount: int
    store: Hashable  # whatever the caller keys stores by: an id, a Store
    total: Decimal
    currency: str
    copies: int  # copies the store is known to have (at least ``amount`` when covered)


@dataclass
class StoreTotal:
    store: Hashable
    total: Decimal = Decimal("0")
    currency: str = ""
    cards: int = 0
    copies: int = 0


@dataclass
class BuyPlan:
    purchases: list[Purchase] = field(default_factory=list)
    # (want id, card name, amount, best partial purchase or None) for cards no store covers.
    uncovered: list[tuple[int, str, int, Purchase | None]] = field(default_factory=list)
    totals: list[StoreTotal] = field(default_factory=list)


def cover_cost(offers: Sequence[Listing], amount: int) -> tuple[Decimal, int]:
    """The cost of ``amount`` copies bought cheapest first, and how many copies that found."""
    total, found = Decimal("0"), 0
    for offer in sorted(offers, key=lambda x: x.price):
        take = min(amount - found, 1 if offer.quantity is None else offer.quantity)
        total += offer.price * take
        found += take
        if found >= amount:
            break
    return total, found


def purchase_options(
    want_id: int,
    card_name: str,
    amount: int,
    by_store: Mapping[Any, Sequence[Listing]],
    *,
    currencies: Mapping[Any, str] | None = None,
) -> list[Purchase]:
    """What ``amount`` copies of one card cost at each store that has some (`cover_cost`)."""
    currencies = currencies or {}
    options = []
    for store, offers in by_store.items():
        if not offers:
            continue
        total, found = cover_cost(offers, amount)
        currency = offers[0].currency or currencies.get(store, "")
        options.append(Purchase(want_id, card_name, amount, store, total, currency, found))
    return options


def buy_plan(
    rows: Sequence[tuple[int, str, int, Mapping[Any, Sequence[Listing]]]],
    *,
    currencies: Mapping[Any, str] | None = None,
) -> BuyPlan:
    """For each (want id, card name, amount, {store: matching copies in stock}), the cheapest
    store that has the whole amount, and the totals per store.

    Prices are compared as the stores print them: a user's stores sell in one currency.
    """
    return buy_plan_choose(
        [
            (want_id, card_name, amount, purchase_options(*row, currencies=currencies))
            for row in rows
            for want_id, card_name, amount, _ in [row]
        ]
    )


def buy_plan_choose(rows: Sequence[tuple[int, str, int, Sequence[Purchase]]]) -> BuyPlan:
    """`buy_plan` over each card's `purchase_options` (a cache may keep those per card)."""
    plan = BuyPlan()
    totals: dict[Any, StoreTotal] = {}
    for want_id, card_name, amount, options in rows:
        covering = [p for p in options if p.copies >= amount]
        if covering:
            best = min(covering, key=lambda p: (p.total, -p.copies))
            plan.purchases.append(best)
            entry = totals.setdefault(best.store, StoreTotal(best.store))
            entry.total += best.total
            entry.currency = entry.currency or best.currency
            entry.cards += 1
            entry.copies += amount
        else:
            partial = max(options, key=lambda p: (p.copies, -p.total), default=None)
            plan.uncovered.append((want_id, card_name, amount, partial))
    plan.totals = sorted(totals.values(), key=lambda t: (-t.cards, t.total))
    return plan
