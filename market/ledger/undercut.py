"""The open orders desk: each open order against the best price at its station right now.

A sell order is *undercut* when its book's current snapshot has a lower ask at the order's
station; a buy order is *outbid* when it has a higher bid. An order's book is its region's, or,
for an order in a tracked player structure with a book of its own (``market.structures``), that
structure's: ESI serves a structure's orders apart from the region's. The order keeps by how much and since
when (the snapshot's Last-Modified: when the market first showed it). A snapshot older than the
order's last change says nothing about its current price, so the order waits for a newer one.
When the best price belongs to the same pilot (another of their orders), nobody undercut them.

Checks run when a snapshot lands (``snapshot_landed``: a region's checks the orders of the region
outside the tracked structures, a structure's the orders in it) and right after a character's
orders sync.
A pilot who asked for it gets one e-mail per undercut episode: when an order becomes undercut; it
is not sent again until the order has been the best price again (or was repriced).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts.models import Character
from market.ledger.models import CharacterOrder, LedgerPreference
from market.models import BestPrice, MarketSnapshot, Order, Structure, Type

log = logging.getLogger(__name__)

# ``undercut_notified_at`` is not among them: only ``_claim`` sets it (under a conditional
# update) and only the end of an episode clears it, so two checks at once never e-mail twice.
CHECK_FIELDS = ("market_price", "market_checked_at", "undercut_by", "undercut_since")


def undercut_compare(
    *,
    is_buy_order: bool,
    price: Decimal,
    best_bid: Decimal | None,
    best_ask: Decimal | None,
) -> tuple[Decimal | None, Decimal | None]:
    """(the price to beat, by how much the order is beaten or None).

    Pure: a sell order competes with the lowest ask, a buy order with the highest bid; a tie is
    not an undercut (the older order fills first, and that may well be this one).
    """
    if is_buy_order:
        if best_bid is None:
            return None, None
        return best_bid, (best_bid - price if best_bid > price else None)
    if best_ask is None:
        return None, None
    return best_ask, (price - best_ask if best_ask < price else None)


@dataclass
class UndercutReport:
    checked: int = 0
    undercut: int = 0
    newly_undercut: list[CharacterOrder] = field(default_factory=list)
    # Undercut and not e-mailed yet: new ones, and those whose e-mail failed or was not wanted.
    unannounced: list[CharacterOrder] = field(default_factory=list)
    waiting: int = 0  # changed after the snapshot: compared at the next one
    emails: int = 0

    def summary(self) -> str:
        return (
            f"{self.checked} orders checked, {self.undercut} undercut "
            f"({len(self.newly_undercut)} new), {self.emails} e-mails"
        )


def orders_undercut_check(
    *,
    region_id: int | None = None,
    structure_id: int | None = None,
    character: Character | None = None,
) -> UndercutReport:
    """Compare open orders (of a region's book, of a structure's book, or of a character) with
    their book's current snapshot: a tracked structure's own book for the orders in it (once
    it has one), the region's for the others."""
    orders = CharacterOrder.objects.open().select_related("character__owner")
    # Structures read from a book of their own: tracked ones with a current snapshot (a stopped
    # structure's last book ages; its orders go back to the region's).
    own_books = set(MarketSnapshot.objects.structure_current_ids()) & set(
        Structure.objects.tracked().values_list("structure_id", flat=True)
    )
    if structure_id:
        orders = orders.filter(location_id=structure_id)
    elif region_id is not None:
        orders = orders.filter(region_id=region_id).exclude(location_id__in=own_books)
    if character is not None:
        orders = orders.filter(character=character)
    report = UndercutReport()
    books = sorted(
        {
            (region, location if location in own_books else 0)
            for region, location in orders.values_list("region_id", "location_id")
        }
    )
    for region, structure in books:
        book_orders = (
            orders.filter(location_id=structure)
            if structure
            else orders.filter(region_id=region).exclude(location_id__in=own_books)
        )
        # Locked while compared: an orders sync repricing one meanwhile waits, then resets it.
        with transaction.atomic():
            locked = list(book_orders.select_for_update(of=("self",)))
            _book_check(region, structure, locked, report)
    if report.unannounced:
        report.emails = _undercut_emails_send(report.unannounced)
    return report


def _book_check(
    region_id: int, structure_id: int, orders: list[CharacterOrder], report: UndercutReport
) -> None:
    """Compare ``orders`` with one book: the region's (``structure_id`` 0) or a structure's."""
    tops: dict[tuple[int, int], tuple[Decimal | None, Decimal | None]] = {}
    snapshot_ids = set()
    book = (
        BestPrice.objects.current_of_structure(structure_id=structure_id)
        if structure_id
        else BestPrice.objects.current(region_id=region_id)
    )
    rows = book.filter(
        type_id__in={order.type_id for order in orders},
        location_id__in={order.location_id for order in orders},
    ).values_list("snapshot_id", "location_id", "type_id", "best_bid", "best_ask")
    for snapshot_id, location_id, type_id, best_bid, best_ask in rows:
        snapshot_ids.add(snapshot_id)
        tops[location_id, type_id] = (best_bid, best_ask)
    # The snapshot these prices came from (chosen in the same statement), or the current one.
    snapshot = (
        MarketSnapshot.objects.filter(pk=snapshot_ids.pop())
        if snapshot_ids
        else MarketSnapshot.objects.for_book(region_id=region_id, structure_id=structure_id).filter(
            is_current=True
        )
    ).first()
    if snapshot is None:
        return
    as_of = snapshot.last_modified or snapshot.fetched_at
    own_order_ids = _open_order_ids_of_owners(orders)
    changed, recovered = [], []
    for order in orders:
        if order.issued > as_of:
            report.waiting += 1
            continue
        best_bid, best_ask = tops.get((order.location_id, order.type_id), (None, None))
        market_price, beaten_by = undercut_compare(
            is_buy_order=order.is_buy_order, price=order.price, best_bid=best_bid, best_ask=best_ask
        )
        if beaten_by is not None and _best_is_own(
            snapshot, order, market_price, own_order_ids[order.character.owner_id]
        ):
            beaten_by = None
        report.checked += 1
        order.market_price = market_price
        order.market_checked_at = as_of
        if beaten_by is None:
            if order.undercut_since is not None:
                recovered.append(order.pk)
            order.undercut_by = order.undercut_since = order.undercut_notified_at = None
        else:
            report.undercut += 1
            if order.undercut_since is None:
                order.undercut_since = as_of
                report.newly_undercut.append(order)
            order.undercut_by = beaten_by
            if order.undercut_notified_at is None:
                report.unannounced.append(order)
        changed.append(order)
    CharacterOrder.objects.bulk_update(changed, CHECK_FIELDS, batch_size=500)
    CharacterOrder.objects.filter(pk__in=recovered).update(undercut_notified_at=None)


def _open_order_ids_of_owners(orders: list[CharacterOrder]) -> dict[int, set[int]]:
    owners = {order.character.owner_id for order in orders}
    ids: dict[int, set[int]] = defaultdict(set)
    for owner_id, order_id in (
        CharacterOrder.objects.open()
        .filter(character__owner_id__in=owners)
        .values_list("character__owner_id", "order_id")
    ):
        ids[owner_id].add(order_id)
    return ids


def _best_is_own(
    snapshot: MarketSnapshot, order: CharacterOrder, price: Decimal, own_ids: set[int]
) -> bool:
    """True when every order at the best price is the pilot's own."""
    at_best = set(
        Order.objects.filter(
            snapshot_id=snapshot.pk,
            type_id=order.type_id,
            location_id=order.location_id,
            is_buy_order=order.is_buy_order,
            price=price,
        ).values_list("order_id", flat=True)[:50]
    )
    return bool(at_best) and at_best <= own_ids


def _undercut_emails_send(orders: list[CharacterOrder]) -> int:
    """One e-mail per user who asked for them, listing their newly undercut orders."""
    by_user: dict[int, list[CharacterOrder]] = defaultdict(list)
    for order in orders:
        by_user[order.character.owner_id].append(order)
    wanting = set(
        LedgerPreference.objects.filter(user_id__in=by_user, email_on_undercut=True)
        .exclude(user__email="")
        .values_list("user_id", flat=True)
    )
    sent = 0
    for user_id in wanting:
        claimed = _claim(by_user[user_id])
        if not claimed:
            continue
        recipient = claimed[0].character.owner.email
        try:
            send_mail(_subject(claimed), _body(claimed), None, [recipient], fail_silently=False)
        except Exception:
            # Not sent: let the next check try again rather than stay silent for this episode.
            log.exception("undercut e-mail to user %s failed", user_id)
            CharacterOrder.objects.filter(pk__in=[o.pk for o in claimed]).update(
                undercut_notified_at=None
            )
            continue
        sent += 1
    return sent


def _claim(orders: list[CharacterOrder]) -> list[CharacterOrder]:
    """Mark each order's episode as e-mailed, unless another check already did (concurrent
    checks after a snapshot and an orders sync must not both send)."""
    now = timezone.now()
    claimed = []
    with transaction.atomic():
        for order in orders:
            taken = CharacterOrder.objects.filter(
                pk=order.pk, undercut_since__isnull=False, undercut_notified_at__isnull=True
            ).update(undercut_notified_at=now)
            if taken:
                order.undercut_notified_at = now
                claimed.append(order)
    return claimed


def _subject(orders: list[CharacterOrder]) -> str:
    if len(orders) == 1:
        order = orders[0]
        verb = "outbid" if order.is_buy_order else "undercut"
        return f"Lenny: your {order.side} order for {_type_name(order.type_id)} was {verb}"
    return f"Lenny: {len(orders)} of your orders were undercut"


def _body(orders: list[CharacterOrder]) -> str:
    names = dict(Type.objects.filter(pk__in={o.type_id for o in orders}).values_list("id", "name"))
    # (Imported here: the ledger's queries import the sync, which imports this module.)
    from market.ledger.queries import location_names

    stations = location_names(o.location_id for o in orders)
    lines = []
    for order in orders:
        verb = "outbid" if order.is_buy_order else "undercut"
        lines.append(
            f"- {order.character.name}: {order.side} {order.volume_remain:,} x "
            f"{names.get(order.type_id, f'type {order.type_id}')} at "
            f"{stations.get(order.location_id, f'location {order.location_id}')}: "
            f"your price {order.price:,.2f} ISK, {verb} by {order.undercut_by:,.2f} ISK "
            f"(best {order.market_price:,.2f} ISK) since {_utc(order.undercut_since)}"
        )
    return (
        "A competitor now beats these orders of yours:\n\n"
        + "\n".join(lines)
        + f"\n\nYour open orders: {settings.SITE_ROOT.rstrip('/')}/ledger/orders/\n\n"
        "You get one e-mail per undercut; turn them off on that page.\n"
    )


def _type_name(type_id: int) -> str:
    return Type.objects.filter(pk=type_id).values_list("name", flat=True).first() or (
        f"type {type_id}"
    )


def _utc(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "now"
