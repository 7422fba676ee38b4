"""Wallet and order sync: a linked character's ESI data, from ESI into the ledger's tables.

Five endpoints, each synced on its own at ESI's cache interval (``ENDPOINTS``) by a per-character
django-q2 schedule on the default (low-priority) cluster, and all at once on the priority cluster
when the pilot presses "Refresh now" (``ledger_refresh_request``):

- ``balance``: ``/characters/{id}/wallet/``, kept as a time series (a row when it changes);
- ``journal``: ``/characters/{id}/wallet/journal/`` (paged). ESI serves only the last 30 days;
  rows are only ever added here, so the history Lenny has outlives ESI's;
- ``transactions``: ``/characters/{id}/wallet/transactions/``, newest first, at most 2500 an
  answer; older ones by walking back with ``from_id`` (the ``from_id`` row itself comes back
  again: rows are deduplicated on ``transaction_id``) until an answer brings nothing new or
  reaches the transactions already stored;
- ``orders`` and ``order_history``: ``/characters/{id}/orders/`` and ``/orders/history/``
  (paged). Every version of an order is kept (a price change re-issues it and costs a broker fee,
  which the profit maths attaches to the order's item).

Every call goes through ``accounts.tokens.esi_call_with_token`` (a 401/403 refreshes the token
once and retries once) and ``market.esi.EsiClient`` (conditional requests: before ESI's Expires
nothing is sent, after it a 304 means "unchanged"). Each endpoint's answer is validated whole and
written in one transaction: a bad row names itself and writes nothing.

``character_endpoint_sync`` wraps one endpoint with its bookkeeping (``LedgerSync``): a missing
scope or a login that needs renewing is recorded and skipped, never retried in a loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.db import DatabaseError, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import Character
from accounts.scopes import ORDERS_SCOPE, WALLET_SCOPE
from accounts.tokens import TokenInvalid, TokenUnavailable, esi_call_with_token
from market.esi import EsiAuthError, EsiClient, EsiError, EsiResult
from market.ledger.models import (
    CharacterOrder,
    CharacterOrderVersion,
    LedgerSync,
    WalletBalance,
    WalletJournalEntry,
    WalletTransaction,
)
from market.ledger.payloads import (
    EsiCharacterOrderRow,
    EsiJournalRow,
    EsiTransactionRow,
    Isk,
    WalletSyncError,
    esi_decode,
    isk_or_none,
)
from market.ledger.undercut import orders_undercut_check

log = logging.getLogger(__name__)

Endpoint = LedgerSync.Endpoint
Status = LedgerSync.Status


@dataclass(frozen=True)
class EndpointSpec:
    key: str
    path: str
    scope: str
    # ESI's cache timer for the route: asking sooner returns the same answer.
    cache_seconds: int

    @property
    def label(self) -> str:
        return Endpoint(self.key).label

    @property
    def schedule_minutes(self) -> int:
        return max(1, self.cache_seconds // 60)


ENDPOINTS: dict[str, EndpointSpec] = {
    spec.key: spec
    for spec in (
        EndpointSpec(Endpoint.BALANCE, "/characters/{character_id}/wallet/", WALLET_SCOPE, 120),
        EndpointSpec(Endpoint.ORDERS, "/characters/{character_id}/orders/", ORDERS_SCOPE, 1200),
        EndpointSpec(
            Endpoint.TRANSACTIONS,
            "/characters/{character_id}/wallet/transactions/",
            WALLET_SCOPE,
            3600,
        ),
        EndpointSpec(
            Endpoint.JOURNAL, "/characters/{character_id}/wallet/journal/", WALLET_SCOPE, 3600
        ),
        EndpointSpec(
            Endpoint.ORDER_HISTORY,
            "/characters/{character_id}/orders/history/",
            ORDERS_SCOPE,
            3600,
        ),
    )
}
# The endpoints whose new rows change the profit figures.
PROFIT_ENDPOINTS = (
    Endpoint.TRANSACTIONS,
    Endpoint.JOURNAL,
    Endpoint.ORDER_HISTORY,
    Endpoint.ORDERS,
)
# A transactions walk that needs more answers than this (500k transactions) is broken, not busy.
TRANSACTIONS_MAX_REQUESTS = 200
# Seconds one endpoint's sync may take; below the cluster's retry like every task's timeout.
SYNC_TIMEOUT = 120
# A "Refresh now" that has not finished after this long (no priority worker running) is dropped.
REFRESH_STALE_AFTER = timedelta(minutes=15)
SYNC_TASK = "market.ledger.tasks.ledger_endpoint_sync"

T = TypeVar("T")


# --- outcomes ----------------------------------------------------------------------------------


@dataclass
class SyncOutcome:
    endpoint: str
    status: str  # a LedgerSync.Status value
    message: str = ""
    new_rows: int = 0
    requests: int = 0
    expires: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status in (Status.UPDATED, Status.UNCHANGED)

    def summary(self) -> str:
        text = f"{self.endpoint}: {Status(self.status).label}"
        if self.status == Status.UPDATED:
            text += f", {self.new_rows} new"
        return f"{text} ({self.message})" if self.message else text


def _esi_get(
    character: Character, client: EsiClient, endpoint: str, *, paged: bool = False, **options: Any
) -> EsiResult:
    """One of the character's endpoints, with the character's token."""
    path = ENDPOINTS[endpoint].path.format(character_id=character.character_id)
    fetch = client.get_paged if paged else client.get
    return esi_call_with_token(
        character=character, call=lambda token: fetch(path, token=token, **options)
    )


def _unchanged(endpoint: str, result: EsiResult) -> SyncOutcome:
    """The outcome of a conditional request ESI answered with 304."""
    return SyncOutcome(endpoint, Status.UNCHANGED, expires=result.expires)


# --- the five endpoints ------------------------------------------------------------------------


def wallet_sync(
    *, character: Character, client: EsiClient, conditional: bool = True
) -> SyncOutcome:
    """The wallet balance; a new row in the time series when it changed."""
    result = _esi_get(character, client, Endpoint.BALANCE, conditional=conditional)
    if result.not_modified:
        return _unchanged(Endpoint.BALANCE, result)
    balance = isk_or_none(esi_decode(result.data, Isk, "wallet balance"))
    recorded_at = result.last_modified or timezone.now()
    with transaction.atomic():
        latest = WalletBalance.objects.filter(character=character).order_by("-recorded_at").first()
        created = False
        if latest is None or (latest.balance != balance and latest.recorded_at < recorded_at):
            _, created = WalletBalance.objects.get_or_create(
                character=character, recorded_at=recorded_at, defaults={"balance": balance}
            )
    return SyncOutcome(
        Endpoint.BALANCE,
        Status.UPDATED if created else Status.UNCHANGED,
        f"{balance:,.2f} ISK",
        new_rows=int(created),
        requests=1,
        expires=result.expires,
    )


def journal_sync(
    *, character: Character, client: EsiClient, conditional: bool = True
) -> SyncOutcome:
    """Every page of the journal; rows Lenny has not seen are added, none is ever removed."""
    result = _esi_get(character, client, Endpoint.JOURNAL, paged=True, conditional=conditional)
    if result.not_modified:
        return _unchanged(Endpoint.JOURNAL, result)
    rows = _unique(esi_decode(result.data, list[EsiJournalRow], "wallet journal"), key="id")
    with transaction.atomic():
        known = _known_ids(
            WalletJournalEntry.objects.filter(character=character),
            "entry_id",
            [row.id for row in rows],
        )
        new = [
            WalletJournalEntry(
                character=character,
                entry_id=row.id,
                date=row.date,
                ref_type=row.ref_type,
                amount=isk_or_none(row.amount),
                balance=isk_or_none(row.balance),
                context_id=row.context_id,
                context_id_type=row.context_id_type or "",
                description=row.description,
                reason=row.reason or "",
                first_party_id=row.first_party_id,
                second_party_id=row.second_party_id,
                tax=isk_or_none(row.tax),
                tax_receiver_id=row.tax_receiver_id,
            )
            for row in rows
            if row.id not in known
        ]
        WalletJournalEntry.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
    return SyncOutcome(
        Endpoint.JOURNAL,
        Status.UPDATED if new else Status.UNCHANGED,
        new_rows=len(new),
        requests=result.pages,
        expires=result.expires,
    )


def transactions_sync(
    *,
    character: Character,
    client: EsiClient,
    conditional: bool = True,
    max_requests: int = TRANSACTIONS_MAX_REQUESTS,
) -> SyncOutcome:
    """The newest transactions, then older ones by ``from_id`` until nothing new comes back."""
    newest_known = WalletTransaction.objects.filter(character=character).aggregate(
        newest=Max("transaction_id")
    )["newest"]
    first = _esi_get(character, client, Endpoint.TRANSACTIONS, conditional=conditional)
    if first.not_modified:
        return _unchanged(Endpoint.TRANSACTIONS, first)
    rows: dict[int, EsiTransactionRow] = {}
    batch = esi_decode(first.data, list[EsiTransactionRow], "wallet transactions")
    requests = 1
    while True:
        fresh = [row for row in batch if row.transaction_id not in rows]
        for row in fresh:
            rows[row.transaction_id] = row
        if not fresh:
            break  # only the from_id row again (or nothing): ESI has no older transactions
        oldest = min(row.transaction_id for row in batch)
        if newest_known is not None and oldest <= newest_known:
            break  # joined up with the transactions Lenny already has
        if requests >= max_requests:
            raise WalletSyncError(
                f"walked back {requests} answers of wallet transactions without reaching the "
                f"end (last from_id {oldest}); nothing stored"
            )
        # Each step back is a different URL; a conditional request could answer "unchanged"
        # without the rows this walk needs.
        answer = _esi_get(
            character, client, Endpoint.TRANSACTIONS, params={"from_id": oldest}, conditional=False
        )
        requests += 1
        batch = esi_decode(
            answer.data, list[EsiTransactionRow], f"wallet transactions from {oldest}"
        )
    with transaction.atomic():
        known = _known_ids(
            WalletTransaction.objects.filter(character=character), "transaction_id", list(rows)
        )
        new = [
            WalletTransaction(
                character=character,
                transaction_id=row.transaction_id,
                date=row.date,
                type_id=row.type_id,
                quantity=row.quantity,
                unit_price=isk_or_none(row.unit_price),
                is_buy=row.is_buy,
                is_personal=row.is_personal,
                location_id=row.location_id,
                client_id=row.client_id,
                journal_ref_id=row.journal_ref_id,
            )
            for row in rows.values()
            if row.transaction_id not in known
        ]
        WalletTransaction.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
    return SyncOutcome(
        Endpoint.TRANSACTIONS,
        Status.UPDATED if new else Status.UNCHANGED,
        f"{requests} request{'s' if requests != 1 else ''}",
        new_rows=len(new),
        requests=requests,
        expires=first.expires,
    )


def orders_sync(
    *, character: Character, client: EsiClient, conditional: bool = True
) -> SyncOutcome:
    """The open orders. An order no longer listed has closed; order history tells how."""
    result = _esi_get(character, client, Endpoint.ORDERS, conditional=conditional)
    if result.not_modified:
        return _unchanged(Endpoint.ORDERS, result)
    rows = _unique(
        esi_decode(result.data, list[EsiCharacterOrderRow], "open orders"), key="order_id"
    )
    with transaction.atomic():
        new = _orders_store(character, rows, open_list=True)
        closed = (
            CharacterOrder.objects.filter(character=character, state=CharacterOrder.State.OPEN)
            .exclude(order_id__in=[row.order_id for row in rows])
            .update(
                state=CharacterOrder.State.CLOSED,
                undercut_by=None,
                undercut_since=None,
                undercut_notified_at=None,
            )
        )
    # Compare the orders as they are now with the market at once, not at the next snapshot.
    orders_undercut_check(character=character)
    message = f"{len(rows)} open" + (f", {closed} closed" if closed else "")
    return SyncOutcome(
        Endpoint.ORDERS, Status.UPDATED, message, new_rows=new, requests=1, expires=result.expires
    )


def order_history_sync(
    *, character: Character, client: EsiClient, conditional: bool = True
) -> SyncOutcome:
    """Closed orders of the last 90 days (paged): how each ended, and its last version."""
    result = _esi_get(
        character, client, Endpoint.ORDER_HISTORY, paged=True, conditional=conditional
    )
    if result.not_modified:
        return _unchanged(Endpoint.ORDER_HISTORY, result)
    rows = _unique(
        esi_decode(result.data, list[EsiCharacterOrderRow], "order history"), key="order_id"
    )
    with transaction.atomic():
        new = _orders_store(character, rows, open_list=False)
    return SyncOutcome(
        Endpoint.ORDER_HISTORY,
        Status.UPDATED if new else Status.UNCHANGED,
        new_rows=new,
        requests=result.pages,
        expires=result.expires,
    )


ORDER_FIELDS = (
    "type_id",
    "region_id",
    "location_id",
    "is_buy_order",
    "price",
    "volume_total",
    "volume_remain",
    "min_volume",
    "range",
    "duration",
    "escrow",
    "is_corporation",
    "issued",
    "state",
    "last_seen",
)
UNDERCUT_FIELDS = ("undercut_by", "undercut_since", "undercut_notified_at", "market_checked_at")


def _orders_store(
    character: Character, rows: list[EsiCharacterOrderRow], *, open_list: bool
) -> int:
    """Upsert ``rows`` and their versions; return how many versions were new (a new order is
    a new version too)."""
    now = timezone.now()
    known = {
        order.order_id: order
        for order in CharacterOrder.objects.select_for_update().filter(
            character=character, order_id__in=[row.order_id for row in rows]
        )
    }
    created, updated = [], []
    for row in rows:
        state = (
            CharacterOrder.State.OPEN if open_list else CharacterOrder.State(row.state or "expired")
        )
        values = {
            "type_id": row.type_id,
            "region_id": row.region_id,
            "location_id": row.location_id,
            "is_buy_order": row.is_buy_order,
            "price": isk_or_none(row.price),
            "volume_total": row.volume_total,
            "volume_remain": row.volume_remain,
            "min_volume": row.min_volume,
            "range": row.range[:12],
            "duration": row.duration,
            "escrow": isk_or_none(row.escrow),
            "is_corporation": row.is_corporation,
            "issued": row.issued,
            "state": state,
            "last_seen": now,
        }
        order = known.get(row.order_id)
        if order is None:
            created.append(CharacterOrder(character=character, order_id=row.order_id, **values))
            continue
        if not open_list and order.state == CharacterOrder.State.OPEN and order.issued > row.issued:
            continue  # the history is an hour behind the open list: keep the newer news
        repriced = order.issued != row.issued or order.price != values["price"]
        for name, value in values.items():
            setattr(order, name, value)
        if repriced or state != CharacterOrder.State.OPEN:
            # A new price is a new race against the market: the next check starts it afresh.
            for name in UNDERCUT_FIELDS:
                setattr(order, name, None)
        updated.append(order)
    CharacterOrder.objects.bulk_create(created, batch_size=500)
    CharacterOrder.objects.bulk_update(updated, [*ORDER_FIELDS, *UNDERCUT_FIELDS], batch_size=500)
    by_id = {order.order_id: order for order in [*created, *updated]}
    seen = set(
        CharacterOrderVersion.objects.filter(order__in=updated).values_list("order_id", "issued")
    )
    versions = [
        CharacterOrderVersion(
            order=by_id[row.order_id],
            issued=row.issued,
            price=isk_or_none(row.price),
            volume_total=row.volume_total,
        )
        for row in rows
        if row.order_id in by_id and (by_id[row.order_id].pk, row.issued) not in seen
    ]
    CharacterOrderVersion.objects.bulk_create(versions, batch_size=500, ignore_conflicts=True)
    return len(versions)


def _unique(rows: list[T], *, key: str) -> list[T]:
    """The first of each id: ESI's pages shift when rows arrive mid-fetch, repeating some."""
    seen: set[int] = set()
    unique = []
    for row in rows:
        value = getattr(row, key)
        if value not in seen:
            seen.add(value)
            unique.append(row)
    return unique


def _known_ids(queryset, field: str, ids: list[int]) -> set[int]:
    known: set[int] = set()
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        known.update(queryset.filter(**{f"{field}__in": chunk}).values_list(field, flat=True))
    return known


SYNCS: dict[str, Callable[..., SyncOutcome]] = {
    Endpoint.BALANCE: wallet_sync,
    Endpoint.JOURNAL: journal_sync,
    Endpoint.TRANSACTIONS: transactions_sync,
    Endpoint.ORDERS: orders_sync,
    Endpoint.ORDER_HISTORY: order_history_sync,
}


# --- one endpoint with its bookkeeping ---------------------------------------------------------


def character_endpoint_sync(
    *, character: Character, endpoint: str, client: EsiClient | None = None
) -> SyncOutcome:
    """Sync one endpoint and record how it went in ``LedgerSync``; expected failures (a missing
    scope, a login to renew, ESI or SSO trouble) are recorded and returned, not raised."""
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown ledger endpoint {endpoint!r}: one of {', '.join(ENDPOINTS)}")
    spec = ENDPOINTS[endpoint]
    state, _ = LedgerSync.objects.get_or_create(character=character, endpoint=endpoint)
    LedgerSync.objects.filter(pk=state.pk).update(last_started=timezone.now())
    if character.needs_relogin:
        outcome = SyncOutcome(
            endpoint, Status.NEEDS_RELOGIN, "skipped until the pilot logs in again"
        )
    elif not character.has_scope(spec.scope):
        outcome = SyncOutcome(endpoint, Status.MISSING_SCOPE, f"grant {spec.scope}")
    else:
        outcome = _sync_guarded(character, spec, client, full=state.needs_full_fetch)
    finished = timezone.now()
    LedgerSync.objects.filter(pk=state.pk).update(
        status=outcome.status,
        message=outcome.message[:500],
        last_finished=finished,
        expires=outcome.expires or state.expires,
        needs_full_fetch=outcome.status == Status.FAILED
        or (state.needs_full_fetch and not outcome.ok),
        **({"last_success": finished} if outcome.ok else {}),
    )
    log.info("ledger sync character=%s %s", character.character_id, outcome.summary())
    return outcome


def _sync_guarded(
    character: Character, spec: EndpointSpec, client: EsiClient | None, *, full: bool
) -> SyncOutcome:
    own_client = client is None
    client = client or EsiClient()
    try:
        return SYNCS[spec.key](character=character, client=client, conditional=not full)
    except TokenInvalid:
        return SyncOutcome(spec.key, Status.NEEDS_RELOGIN, "EVE SSO refused the login; skipped")
    except TokenUnavailable as exc:
        return SyncOutcome(spec.key, Status.FAILED, f"no token from EVE SSO right now: {exc}")
    except EsiAuthError as exc:
        if exc.status == 403:
            # The token was refreshed once already: ESI really refuses it this scope.
            return SyncOutcome(
                spec.key, Status.MISSING_SCOPE, f"ESI refused the token: grant {spec.scope}"
            )
        return SyncOutcome(spec.key, Status.FAILED, str(exc))
    except (EsiError, WalletSyncError, DatabaseError) as exc:
        log.warning("ledger sync of %s for %s failed: %s", spec.key, character.character_id, exc)
        return SyncOutcome(spec.key, Status.FAILED, str(exc) or type(exc).__name__)
    finally:
        if own_client:
            client.close()


def character_sync(
    *, character: Character, endpoints: Iterable[str] | None = None
) -> list[SyncOutcome]:
    """Every endpoint of one character, one after the other, sharing one ESI client."""
    with EsiClient() as client:
        return [
            character_endpoint_sync(character=character, endpoint=endpoint, client=client)
            for endpoint in (endpoints or ENDPOINTS)
        ]
