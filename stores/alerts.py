"""Restock and price alerts: one `StockAlert` (and one e-mail) per change, never one per check.

A check's new answer is compared with the previous one (`alerts_raise`, called by
`stores.checks` inside the transaction that saves the answer); a want that came into stock, or
under its max price, at one of its owner's stores gets an alert, mailed once after the commit.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from stores.adapters import Listing
from stores.listings import CONDITION_LABELS, money_format
from stores.matching import WantCriteria, listings_matching
from stores.models import CheckResult, StockAlert, Store, WantedCard, printing_numbers

log = logging.getLogger(__name__)


def alerts_raise(
    *,
    result: CheckResult,
    previous: list[dict[str, Any]] | None,
    previous_at: datetime | None,
    listings: list[dict[str, Any]],
) -> int:
    """One alert per want that came into stock (or under its max price) with this answer.

    A want is only compared with an answer from after it was added: the first answer it sees is
    where it starts, not news.
    """
    if previous is None or previous_at is None:
        return 0
    wants = list(
        WantedCard.objects.filter(
            card_id=result.card_id,
            owner__preferred_stores__store_id=result.store_id,
            created_at__lte=previous_at,
        )
        .select_related("owner", "card")
        .prefetch_related("specs__set")
    )
    if not wants:
        return 0
    before = [Listing.from_dict(x) for x in previous]
    after = [Listing.from_dict(x) for x in listings]
    alerts = []
    set_numbers = printing_numbers(wants)
    for wanted in wants:
        criteria = WantCriteria.from_criteria(wanted.criteria(set_numbers=set_numbers))
        found = listings_matching(after, criteria)
        if not found or listings_matching(before, criteria):
            continue
        unpriced = [replace(c, max_price=None) for c in criteria]
        kind = (
            StockAlert.Kind.PRICE
            if listings_matching(before, unpriced)
            else StockAlert.Kind.RESTOCK
        )
        alerts.append(_alert_create(wanted=wanted, store=result.store, kind=kind, best=found[0]))
    return len(alerts)


def _alert_create(*, wanted: WantedCard, store: Store, kind: str, best: Listing) -> StockAlert:
    what = "is back in stock" if kind == StockAlert.Kind.RESTOCK else "dropped under your max price"
    price = money_format(best.price, best.currency or store.currency)
    condition = CONDITION_LABELS.get(best.condition or "", "condition not given")
    finish = "" if best.finish == "nonfoil" else f" {best.finish}"
    message = (
        f"{wanted.card.name} {what} at {store.name}: {price}, {condition}{finish}"
        f"{f' ({best.set_name})' if best.set_name else ''}"
    )
    alert = StockAlert.objects.create(
        user=wanted.owner,
        wanted=wanted,
        store=store,
        kind=kind,
        message=message[:500],
        price=best.price,
        currency=best.currency or store.currency,
        condition=best.condition or "",
        finish=best.finish,
        set_name=best.set_name[:200],
        quantity=best.quantity,
        url=best.url[:500],
    )
    if wanted.owner.email:
        transaction.on_commit(lambda: alert_email(alert_id=alert.pk))
    return alert


def alert_email(*, alert_id: int) -> bool:
    """E-mail one alert to its user, once; True when it was sent now."""
    alert = StockAlert.objects.select_related("user", "store").filter(pk=alert_id).first()
    if alert is None or not alert.user.email:
        return False
    # Claimed before sending: a retried task never mails twice.
    if not StockAlert.objects.filter(pk=alert.pk, emailed_at__isnull=True).update(
        emailed_at=timezone.now()
    ):
        return False
    copies = "quantity unknown" if alert.quantity is None else f"{alert.quantity} in stock"
    body = (
        f"{alert.message}.\n\n"
        f"{copies}\n{alert.url}\n\n"
        f"Your stores at a glance: {settings.SITE_ROOT.rstrip('/')}{reverse('stores:dashboard')}\n"
        "You get one message each time a card you want comes in; Lenny's account page lists "
        "the stores it checks for you.\n"
    )
    try:
        send_mail(f"Lenny: {alert.message}"[:200], body, None, [alert.user.email])
    except Exception:
        # The alert stays in the app; the mail server's trouble is the admin's to see.
        StockAlert.objects.filter(pk=alert.pk).update(emailed_at=None)
        log.exception("could not e-mail stock alert %s", alert.pk)
        return False
    return True
