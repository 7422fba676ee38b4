"""Stock checks: which of a user's stores has the cards they want, and telling them when that
changes.

One check is one card at one store (`check_run`, run by the django-q2 task
``stores.tasks.store_check``). It answers from the cache while the store's last answer is younger
than ``STORE_CHECK_TTL``; otherwise it searches the store through its platform adapter, politely
(`stores.politeness`: the store's limits hold across every worker) and with retries after
timeouts, 429s, 5xx answers and "too many searches" pages. The card's listings are saved on its
`CheckResult`, compared with the previous ones, and every user who wants the card at that store
gets one `StockAlert` (and one e-mail) when it comes into stock or under their max price
(`stores.alerts`). What the dashboard shows of the checks is `stores.stock`'s.

A page the adapter cannot read fails the check with the reason and a snippet of the page, kept
on the result and the store's `StoreHealth`: it never passes for "out of stock".
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from stores.adapters import (
    Listing,
    ParseFailure,
    UpstreamError,
    adapter_for,
    set_codes_fill,
)
from stores.adapters.search import listings_fetch
from stores.alerts import alerts_raise
from stores.fetching import OffSiteRefused, store_page_get
from stores.listings import set_codes_by_name
from stores.matching import name_matches
from stores.models import (
    Card,
    CheckResult,
    PreferredStore,
    Set,
    Store,
    StoreHealth,
    WantedCard,
)
from stores.politeness import Limits, PolitenessGate, StoreBusy

log = logging.getLogger(__name__)

CACHE_PREFIX = "stores:listings:"
# Answers worth another try after a pause; any other status is the store's final word.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
# Parse failures worth another try: the store slowed us down, or the page came cut off.
RETRY_KINDS = frozenset({"rate_limited", "truncated"})
# Split cards are listed under their full name; searching one half finds too much else.
FULL_NAME_LAYOUTS = frozenset({"split", "aftermath"})
TASK = "stores.tasks.store_check"


class CheckFailed(Exception):
    """A check that found out nothing about the store's stock, and why."""

    def __init__(self, kind: str, reason: str, snippet: str = "") -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.snippet = snippet


@dataclass(frozen=True)
class CheckOutcome:
    """What one check did, for the task's result and the logs."""

    status: str  # "ok", "cached", "failed" or "skipped"
    requests: int = 0
    listings: int = 0
    alerts: int = 0
    error: str = ""

    def __str__(self) -> str:
        text = f"{self.status}: {self.listings} listings, {self.requests} requests"
        if self.alerts:
            text += f", {self.alerts} alerts"
        return f"{text} ({self.error})" if self.error else text


# --- queueing -----------------------------------------------------------------------------------
def check_queue(*, store: Store, card: Card, refresh: bool = False) -> bool:
    """Queue a check of ``card`` at ``store``; False when one is already queued or running."""
    if not store.active:
        return False
    result, _ = CheckResult.objects.get_or_create(store=store, card=card)
    return _claim_and_enqueue([result.pk], refresh=refresh) == 1


def checks_queue(
    *, pairs: Iterable[tuple[int, int]], refresh: bool = False, stale_only: bool = False
) -> int:
    """Queue checks for (store id, card id) pairs, in the order given; returns how many.

    ``stale_only`` skips the pairs checked within ``STORE_CHECK_TTL``. Pairs of inactive
    stores, and checks already in flight, are skipped.
    """
    pairs = list(dict.fromkeys(pairs))
    if not pairs:
        return 0
    active = set(
        Store.objects.filter(active=True, pk__in={s for s, _ in pairs}).values_list("pk", flat=True)
    )
    pairs = [(s, c) for s, c in pairs if s in active]
    in_pairs = {"store_id__in": {s for s, _ in pairs}, "card_id__in": {c for _, c in pairs}}
    known = set(CheckResult.objects.filter(**in_pairs).values_list("store_id", "card_id"))
    missing = [CheckResult(store_id=s, card_id=c) for s, c in pairs if (s, c) not in known]
    if missing:
        CheckResult.objects.bulk_create(missing, ignore_conflicts=True)
    existing = {
        (r.store_id, r.card_id): r
        for r in CheckResult.objects.filter(**in_pairs).only(
            "pk", "store_id", "card_id", "checked_at"
        )
    }
    fresh_after = timezone.now() - timedelta(seconds=settings.STORE_CHECK_TTL)
    ids = [
        existing[pair].pk
        for pair in pairs
        if pair in existing
        and not (
            stale_only and existing[pair].checked_at and existing[pair].checked_at > fresh_after
        )
    ]
    return _claim_and_enqueue(ids, refresh=refresh)


def checks_queue_for_want(*, wanted: WantedCard) -> int:
    """A card just added: check it at once at each of its owner's stores."""
    stores = PreferredStore.objects.filter(user_id=wanted.owner_id, store__active=True)
    return checks_queue(
        pairs=[(s, wanted.card_id) for s in stores.values_list("store_id", flat=True)]
    )


def checks_queue_for_owner(
    *, owner: Any, store: Store | None = None, stale_only: bool = True
) -> int:
    """Check ``owner``'s cards at their stores (or at ``store`` only), the stale ones by default."""
    stores = PreferredStore.objects.filter(user=owner, store__active=True)
    if store is not None:
        stores = stores.filter(store=store)
    store_ids = list(stores.values_list("store_id", flat=True))
    card_ids = list(WantedCard.objects.filter(owner=owner).values_list("card_id", flat=True))
    return checks_queue(pairs=[(s, c) for c in card_ids for s in store_ids], stale_only=stale_only)


def preferred_stores_set(*, user: Any, store_ids: set[int]) -> bool:
    """Make ``user`` buy at the active stores among ``store_ids`` and check their cards at the
    stores new to them. False when some ids are not active stores (they are left out)."""
    chosen = list(Store.objects.filter(active=True, pk__in=store_ids))
    with transaction.atomic():
        PreferredStore.objects.filter(user=user).exclude(store__in=chosen).delete()
        current = set(PreferredStore.objects.filter(user=user).values_list("store_id", flat=True))
        added = [store for store in chosen if store.pk not in current]
        PreferredStore.objects.bulk_create(
            [PreferredStore(user=user, store=store) for store in added], ignore_conflicts=True
        )
    for store in added:
        checks_queue_for_owner(owner=user, store=store)
    return len(chosen) == len(store_ids)


def checks_queue_stale() -> int:
    """Every card someone tracks, at every active store they buy from, not checked lately.

    Cards go round the stores (card 1 at stores A, B, C, then card 2 …) so the workers spread
    over the stores instead of queueing up behind one store's politeness limits.
    """
    wanted = (
        PreferredStore.objects.filter(store__active=True)
        .filter(user__wanted_cards__isnull=False)
        .values_list("user__wanted_cards__card_id", "store_id")
        .distinct()
        .order_by("user__wanted_cards__card_id", "store_id")
    )
    return checks_queue(pairs=[(s, c) for c, s in wanted], stale_only=True)


def _claim_and_enqueue(result_ids: list[int], *, refresh: bool) -> int:
    """Mark the results as queued (unless a check of theirs is in flight) and queue a task for
    each one claimed. The claim is one UPDATE, so two workers never queue the same check."""
    if not result_ids:
        return 0
    now = timezone.now()
    lost = now - timedelta(seconds=settings.STORE_CHECK_LOST_AFTER)
    free = Q(queued_at__isnull=True) | Q(queued_at__lte=lost)
    claimed: list[int] = []
    with transaction.atomic():
        free_ids = set(
            CheckResult.objects.select_for_update(skip_locked=True)
            .filter(free, pk__in=result_ids)
            .values_list("pk", flat=True)
        )
        if free_ids:
            CheckResult.objects.filter(pk__in=free_ids).update(queued_at=now)
        claimed = [pk for pk in result_ids if pk in free_ids]
        transaction.on_commit(lambda: _enqueue(claimed, refresh=refresh))
    return len(claimed)


def _enqueue(result_ids: list[int], *, refresh: bool) -> None:
    from django_q.tasks import async_task

    timeout = int(settings.STORE_MAX_WAIT + 2 * settings.STORE_REQUEST_TIMEOUT + 30)
    # One transaction: on the embedded set-up's ORM broker each task is a row, and 80 of them
    # committed one by one took 0.41 s of a deck import's confirm (0.02 s together). A task
    # lost to an error here is queued again once its claim is given up for lost.
    with transaction.atomic():
        for pk in result_ids:
            async_task(
                TASK,
                pk,
                refresh=refresh,
                # The outcome is on the CheckResult; a failed task is still kept by django-q2.
                q_options={"timeout": timeout, "task_name": f"store-check-{pk}", "save": False},
            )


# --- one check ----------------------------------------------------------------------------------
def check_run(*, result_id: int, refresh: bool = False) -> CheckOutcome:
    """Check one card at one store: from the cache while it is fresh, else at the store."""
    result = CheckResult.objects.select_related("store", "card").filter(pk=result_id).first()
    if result is None:
        return CheckOutcome("skipped", error="no such check")
    store, card = result.store, result.card
    if not store.active:
        CheckResult.objects.filter(pk=result.pk).update(queued_at=None)
        return CheckOutcome("skipped", error=f"{store.name} is not active")
    started = time.monotonic()
    key = listings_cache_key(store, card)
    cached = None if refresh else cache.get(key)
    if cached is not None:
        outcome = _result_apply(
            result,
            listings=cached["listings"],
            checked_at=datetime.fromisoformat(cached["at"]),
            requests=0,
            status="cached",
        )
    else:
        fetcher = PoliteFetcher(store)
        try:
            listings = card_listings_fetch(store=store, card=card, fetcher=fetcher)
        except CheckFailed as exc:
            outcome = _failure_record(result, exc, requests=fetcher.requests)
        else:
            now = timezone.now()
            data = [listing.as_dict() for listing in listings]
            cache.set(key, {"at": now.isoformat(), "listings": data}, settings.STORE_CHECK_TTL)
            outcome = _result_apply(
                result, listings=data, checked_at=now, requests=fetcher.requests, status="ok"
            )
    log.info(
        "store check store=%r card=%r status=%s listings=%d requests=%d alerts=%d ms=%.0f%s",
        store.name,
        card.name,
        outcome.status,
        outcome.listings,
        outcome.requests,
        outcome.alerts,
        (time.monotonic() - started) * 1000,
        f" error={outcome.error!r}" if outcome.error else "",
    )
    return outcome


def check_ttl_minutes() -> int:
    """How old a store's answer may be before a re-check asks the store again, in minutes."""
    return max(1, round(settings.STORE_CHECK_TTL / 60))


def listings_cache_key(store: Store, card: Card) -> str:
    # The address is in the key: a store moved to another site starts afresh.
    where = hashlib.sha1(f"{store.platform} {store.base_url}".encode()).hexdigest()[:12]
    return f"{CACHE_PREFIX}{store.pk}:{card.pk}:{where}"


def search_name(card: Card) -> str:
    """What to type into a store's search box for ``card``."""
    return card.name if card.layout in FULL_NAME_LAYOUTS else card.front_face_name


def card_listings_fetch(*, store: Store, card: Card, fetcher: PoliteFetcher) -> list[Listing]:
    """The store's listings of ``card`` (in stock or not), with set codes from the catalog.

    Retries the search after timeouts, 429s, 5xx answers and "too many searches" pages (which
    also pause the store for every worker); raises CheckFailed when that does not help.
    """
    adapter = adapter_for(store.platform)
    attempt = 0
    while True:
        try:
            found = listings_fetch(
                adapter=adapter, base_url=store.base_url, card_name=search_name(card), fetch=fetcher
            )
            break
        except ParseFailure as exc:
            failure = CheckFailed(exc.kind, exc.reason, exc.snippet)
            if exc.kind not in RETRY_KINDS:
                raise failure from None
            if exc.kind == "rate_limited":
                fetcher.gate.pause(_backoff(attempt), "the store said: too many searches")
        except UpstreamError as exc:
            failure = CheckFailed("http", f"{store.name} answered HTTP {exc.status} for {exc.url}")
            if exc.status not in RETRY_STATUSES:
                raise failure from None
            if exc.status == 429:
                wait = fetcher.retry_after or _backoff(attempt)
                if wait > settings.STORE_MAX_WAIT:
                    raise CheckFailed(
                        "rate_limited",
                        f"{store.name} asked Lenny to wait {wait:.0f} s (429), longer than "
                        f"STORE_MAX_WAIT={settings.STORE_MAX_WAIT:g} s",
                    ) from None
                fetcher.gate.pause(wait, f"the store answered 429 (Retry-After {wait:.0f} s)")
        except StoreUnreachable as exc:
            failure = CheckFailed("network", str(exc))
        except StoreBusy as exc:
            raise CheckFailed("busy", str(exc)) from None
        except OffSiteRefused as exc:
            # Never retried: the store's site sends Lenny elsewhere, a curator must look.
            raise CheckFailed("redirect", f"{store.name}: {exc.reason}") from None
        except ValueError as exc:  # a store whose base URL is not a URL
            raise CheckFailed("config", str(exc)) from None
        if attempt >= settings.STORE_MAX_RETRIES:
            failure.reason += f" (gave up after {attempt + 1} tries)"
            raise failure
        attempt += 1
        delay = _backoff(attempt - 1)
        if time.time() + delay > fetcher.deadline:
            failure.reason += " (no time left to try again)"
            raise failure
        time.sleep(delay)
    own = [_link_checked(x) for x in found if name_matches(x.name, card.name, x.set_name)]
    return set_codes_fill(own, codes=_catalog_set_codes())


def _link_checked(listing: Listing) -> Listing:
    """A store page's product link goes on Lenny's pages: only http(s) links are kept."""
    if urlsplit(listing.url).scheme in ("http", "https"):
        return listing
    return replace(listing, url="")


def _backoff(attempt: int) -> float:
    base = settings.STORE_BACKOFF_BASE * 2**attempt
    return min(settings.STORE_BACKOFF_MAX, base) * random.uniform(0.75, 1.25)


def _catalog_set_codes() -> dict[str, str]:
    # The catalog's sets change once a day at most; every check needs them.
    return cache.get_or_set(
        "stores:set-codes-by-name",
        lambda: set_codes_by_name(Set.objects.filter(digital=False).values_list("name", "code")),
        3600,
    )


class StoreUnreachable(Exception):
    pass


_sessions = threading.local()


def _session() -> requests.Session:
    # One session per thread keeps connections to a store alive between its pages.
    session = getattr(_sessions, "session", None)
    if session is None:
        session = requests.Session()
        session.headers["User-Agent"] = settings.LENNY_USER_AGENT
        _sessions.session = session
    return session


class PoliteFetcher:
    """``fetch(url) -> (status, text)`` for the adapters, within the store's politeness limits.

    Counts the requests it sends and remembers a 429's Retry-After. Network errors and timeouts
    raise StoreUnreachable; HTTP errors are the caller's to judge.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.gate = store_gate(store)
        self.deadline = time.time() + settings.STORE_MAX_WAIT
        self.requests = 0
        self.retry_after: float | None = None

    def __call__(self, url: str) -> tuple[int, str]:
        with self.gate.request(deadline=self.deadline):
            self.requests += 1
            try:
                response = store_page_get(
                    _session(),
                    url,
                    base_url=self.store.base_url,
                    timeout=settings.STORE_REQUEST_TIMEOUT,
                )
                body = response.content
            except requests.Timeout:
                raise StoreUnreachable(
                    f"{self.store.name} did not answer within "
                    f"{settings.STORE_REQUEST_TIMEOUT:g} s ({url})"
                ) from None
            except requests.RequestException as exc:
                raise StoreUnreachable(f"could not reach {self.store.name}: {exc}") from None
        self.retry_after = _seconds(response.headers.get("Retry-After"))
        # Store pages are UTF-8 even when the server names no charset.
        if "charset" in response.headers.get("Content-Type", "").lower():
            return response.status_code, response.text
        return response.status_code, body.decode("utf-8", errors="replace")


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def store_gate(store: Store) -> PolitenessGate:
    return PolitenessGate(
        key=str(store.pk),
        limits=Limits(max_in_flight=store.max_in_flight, per_minute=store.max_requests_per_minute),
    )


# --- results and health ----------------------------------------------------------------
def _result_apply(
    result: CheckResult,
    *,
    listings: list[dict[str, Any]],
    checked_at: datetime,
    requests: int,
    status: str,
) -> CheckOutcome:
    """Save a successful answer, compare it with the previous one and raise the alerts."""
    with transaction.atomic():
        locked = CheckResult.objects.select_for_update().get(pk=result.pk)
        if status == "cached" and locked.checked_at == checked_at:
            CheckResult.objects.filter(pk=result.pk).update(queued_at=None)
            return CheckOutcome("cached", listings=len(listings))
        previous = locked.listings if locked.checked_at else None
        previous_at = locked.checked_at
        now = timezone.now()
        CheckResult.objects.filter(pk=result.pk).update(
            status=CheckResult.Status.OK,
            listings=listings,
            checked_at=checked_at,
            attempted_at=now,
            queued_at=None,
            requests=requests,
            error_kind="",
            error="",
            error_snippet="",
        )
        if status == "ok":
            _health_success(result.store, now)
        alerts = alerts_raise(
            result=result, previous=previous, previous_at=previous_at, listings=listings
        )
    return CheckOutcome(status, requests=requests, listings=len(listings), alerts=alerts)


def _failure_record(result: CheckResult, failure: CheckFailed, *, requests: int) -> CheckOutcome:
    now = timezone.now()
    snippet = (failure.snippet or "")[:1000]
    with transaction.atomic():
        CheckResult.objects.filter(pk=result.pk).update(
            status=CheckResult.Status.FAILED,
            attempted_at=now,
            queued_at=None,
            requests=requests,
            error_kind=failure.kind,
            error=failure.reason[:2000],
            error_snippet=snippet,
        )
        StoreHealth.objects.get_or_create(store=result.store)
        StoreHealth.objects.filter(store=result.store).update(
            last_failure_at=now,
            last_failure_kind=failure.kind,
            last_failure=failure.reason[:2000],
            last_failure_snippet=snippet,
            consecutive_failures=F("consecutive_failures") + 1,
            checks_failed=F("checks_failed") + 1,
        )
    return CheckOutcome("failed", requests=requests, error=failure.reason)


def _health_success(store: Store, now: datetime) -> None:
    StoreHealth.objects.get_or_create(store=store)
    StoreHealth.objects.filter(store=store).update(
        last_success_at=now, consecutive_failures=0, checks_ok=F("checks_ok") + 1
    )
