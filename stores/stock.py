"""The dashboard's view of the stock checks: the stores a user buys from, and each want's stock
there (`stores.availability`'s cells and "where to buy", over the latest `CheckResult` rows)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.humanize.templatetags.humanize import NaturalTimeFormatter, naturaltime
from django.utils import timezone

from stores.adapters import Listing
from stores.availability import CheckState, stock_cell
from stores.models import CheckResult, PreferredStore, Store, WantedCard, printing_numbers

# Read on every stores page: in plain SQL, ~0.4 ms of CPU where the queryset took ~1.2 ms (most
# of it building and compiling the join).
_PREFERRED_SQL = f"""
    SELECT s.* FROM {Store._meta.db_table} s
    JOIN {PreferredStore._meta.db_table} p ON p.store_id = s.id
    WHERE p.user_id = %s AND s.active = %s ORDER BY s.name, s.id
"""


def stores_preferred(*, owner: Any) -> list[Store]:
    """The active stores ``owner`` buys from, by name: the dashboard's columns."""
    return list(Store.objects.raw(_PREFERRED_SQL, [getattr(owner, "pk", owner), True]))


def stores_currency(stores: Iterable[Store]) -> str:
    """The currency ``stores`` all sell in; "" when they differ or there are none."""
    currencies = {store.currency for store in stores}
    return currencies.pop() if len(currencies) == 1 else ""


class TimeAgo:
    """``naturaltime`` ("5 minutes ago") of many times against one ``now``, each distinct
    answer worked out once: a page of 500 stock cells asks for it 500 times."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or timezone.now()
        self._said: dict[tuple[str, int], str] = {}

    def __call__(self, value: datetime | None) -> str:
        if value is None:
            return ""
        delta = self.now - value
        if delta.days != 0 or delta.seconds == 0:
            # A day or more (calendar-aware), in the future, or now: Django's own words.
            return str(naturaltime(value))
        # Under a day: naturaltime says seconds, minutes or hours, from the delta alone.
        seconds = delta.seconds
        if seconds < 60:
            bucket = ("past-second", seconds)
        elif seconds < 3600:
            bucket = ("past-minute", seconds // 60)
        else:
            bucket = ("past-hour", seconds // 3600)
        said = self._said.get(bucket)
        if said is None:
            said = self._said[bucket] = str(
                NaturalTimeFormatter.time_strings[bucket[0]] % {"count": bucket[1]}
            )
        return said


def stock_attach(
    *,
    owner: Any,
    wants: Iterable[WantedCard],
    stores: list[Store] | None = None,
    ago: Callable[[datetime], str] | None = None,
) -> list[Store]:
    """Give each want ``stock`` — a (store, StockCell) per store ``owner`` buys from (or
    ``stores``, when the caller read them) — and ``stock_pending`` (a check of it is still
    running). ``ago`` words each cell's ``checked_at`` (`TimeAgo`). Returns those stores, by name."""
    wants = list(wants)
    if stores is None:
        stores = stores_preferred(owner=owner)
    ago = ago or TimeAgo()
    now = getattr(ago, "now", None) or timezone.now()
    results = {
        (r.store_id, r.card_id): r
        for r in CheckResult.objects.filter(
            store__in=stores, card_id__in={w.card_id for w in wants}
        )
    }
    lost = now - timedelta(seconds=settings.STORE_CHECK_LOST_AFTER)
    currency = stores_currency(stores)
    set_numbers = printing_numbers(wants)
    for wanted in wants:
        criteria = wanted.criteria(set_numbers=set_numbers)
        # A max price is in the stores' currency: the spec chips say which.
        wanted.currency = currency
        wanted.stock = []
        for store in stores:
            result = results.get((store.pk, wanted.card_id))
            state = None
            if result is not None:
                state = CheckState(
                    status=result.status,
                    # Only copies in stock can be offered (`stock_cell`); a store's sold-out
                    # variants are most of what it lists, and decoding them was a third of
                    # the dashboard's time.
                    listings=[Listing.from_dict(x) for x in result.listings if x.get("in_stock")],
                    checked_at=result.checked_at,
                    pending=result.queued_at is not None and result.queued_at > lost,
                    error=result.error,
                )
            cell = stock_cell(store_id=store.pk, criteria=criteria, state=state)
            if cell.checked_at is not None:
                cell = dataclasses.replace(cell, checked_ago=ago(cell.checked_at))
            wanted.stock.append((store, cell))
        wanted.stock_pending = any(
            cell.state == "pending" or cell.rechecking for _, cell in wanted.stock
        )
        # The cheapest copy at any of the stores: the column a narrow screen always shows.
        offering = [(store, cell) for store, cell in wanted.stock if cell.best is not None]
        wanted.best = min(offering, key=lambda pair: pair[1].best.price, default=None)
        wanted.stock_poll_seconds = settings.STORE_POLL_SECONDS
    return stores
