"""Wallet sync against the replay ESI's character routes: journal, transactions, balance, orders,
tokens and scopes, over real sockets."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.models import Schedule

from accounts.tests.factories import (
    ORDERS_SCOPE,
    WALLET_SCOPE,
    character_link_replay,
)
from accounts.tokens import TokenInvalid, access_token_get
from market.ledger.models import (
    CharacterOrder,
    CharacterOrderVersion,
    LedgerSync,
    WalletBalance,
    WalletJournalEntry,
    WalletTransaction,
)
from market.ledger.replay import JOURNAL_DAYS, OrderLife, TradingHistory
from market.ledger.schedules import character_schedules_ensure, schedule_prefix
from market.ledger.sync import ENDPOINTS, character_endpoint_sync, character_sync
from market.ledger.tasks import ledger_schedules

pytestmark = pytest.mark.django_db

TOKEN_ROUTE = "/sso/v2/oauth/token"
TRANSACTIONS_ROUTE = r"/wallet/transactions/$"


def served(replay, character_id: int, route: str) -> tuple[list, list]:
    """What the replay ESI serves now: (journal rows, transaction rows) in ESI's 30 days."""
    history = replay.history(character_id)
    return (
        history.journal_window(replay.as_of("journal"), JOURNAL_DAYS),
        history.transactions_window(replay.as_of("transactions"), JOURNAL_DAYS),
    )


@pytest.mark.embedded
def test_it_syncs_wallet_journal_transactions_and_orders_of_a_linked_character(eve, replay, pilot):
    outcomes = {o.endpoint: o for o in character_sync(character=pilot)}

    assert all(o.ok for o in outcomes.values()), [o.summary() for o in outcomes.values()]
    journal, transactions = served(replay, pilot.character_id, "journal")
    assert WalletJournalEntry.objects.filter(character=pilot).count() == len(journal) > 100
    assert WalletTransaction.objects.filter(character=pilot).count() == len(transactions) > 50
    history = replay.history(pilot.character_id)
    balance = WalletBalance.objects.get(character=pilot)
    assert float(balance.balance) == history.balance_at(replay.as_of("wallet"))
    # Fees and taxes arrive with their amounts and links, as the profit maths needs them.
    tax = WalletJournalEntry.objects.filter(character=pilot, ref_type="transaction_tax").first()
    sale = WalletJournalEntry.objects.get(character=pilot, entry_id=tax.entry_id - 1)
    assert tax.amount < 0 and sale.ref_type == "market_transaction" and sale.date == tax.date
    assert WalletTransaction.objects.filter(transaction_id=sale.context_id).exists()
    opened = CharacterOrder.objects.filter(character=pilot, state="open")
    closed = CharacterOrder.objects.filter(character=pilot, state__in=["expired", "cancelled"])
    assert opened.exists() and closed.count() > 10
    assert CharacterOrderVersion.objects.filter(order__character=pilot).count() >= (
        opened.count() + closed.count()
    )
    states = dict(LedgerSync.objects.filter(character=pilot).values_list("endpoint", "status"))
    assert set(states) == set(ENDPOINTS)
    assert set(states.values()) == {"updated"}


def test_it_walks_transactions_back_with_from_id_and_keeps_the_repeated_row_once(
    eve, replay, pilot
):
    replay.configure(transactions_limit=50)
    _, transactions = served(replay, pilot.character_id, "transactions")

    outcome = character_endpoint_sync(character=pilot, endpoint="transactions")

    assert outcome.status == "updated"
    stored = list(
        WalletTransaction.objects.filter(character=pilot).values_list("transaction_id", flat=True)
    )
    assert sorted(stored) == sorted(t["transaction_id"] for t in transactions)
    assert len(stored) == len(set(stored))
    walk = eve.requests(TRANSACTIONS_ROUTE)
    from_ids = [int(r.arg("from_id")) for r in walk if r.arg("from_id")]
    assert len(walk) == outcome.requests == len(from_ids) + 1
    # Each step asks from the oldest id of the previous answer: that row comes back first.
    ids_desc = sorted((t["transaction_id"] for t in transactions), reverse=True)
    # Each answer brings 49 new rows after the repeated one; the walk ends on an answer that
    # holds nothing but the repeated oldest row.
    last = len(ids_desc) - 1
    expected = [ids_desc[i] for i in range(49, last + 1, 49)]
    if last % 49:
        expected.append(ids_desc[last])
    assert from_ids == expected and len(from_ids) > 5


def test_a_later_walk_stops_at_the_transactions_lenny_already_has(eve, replay, pilot):
    replay.configure(transactions_limit=50)
    character_endpoint_sync(character=pilot, endpoint="transactions")
    before = WalletTransaction.objects.filter(character=pilot).count()
    replay.advance(days=2)
    cache.clear()  # two days later, ESI's cache has expired

    outcome = character_endpoint_sync(character=pilot, endpoint="transactions")

    _, transactions = served(replay, pilot.character_id, "transactions")
    assert outcome.status == "updated" and outcome.new_rows > 0
    assert outcome.requests <= 2  # not the whole month again
    assert WalletTransaction.objects.filter(character=pilot).count() == before + outcome.new_rows
    newest = {t["transaction_id"] for t in transactions}
    assert newest <= set(
        WalletTransaction.objects.filter(character=pilot).values_list("transaction_id", flat=True)
    )


@pytest.mark.embedded
def test_it_keeps_the_journal_beyond_the_30_days_esi_serves(eve, replay, pilot):
    character_endpoint_sync(character=pilot, endpoint="journal")
    first = set(
        WalletJournalEntry.objects.filter(character=pilot).values_list("entry_id", flat=True)
    )
    replay.advance(days=12)
    cache.clear()

    outcome = character_endpoint_sync(character=pilot, endpoint="journal")

    journal, _ = served(replay, pilot.character_id, "journal")
    served_now = {row["id"] for row in journal}
    kept = set(
        WalletJournalEntry.objects.filter(character=pilot).values_list("entry_id", flat=True)
    )
    assert outcome.new_rows > 0
    assert first - served_now, "twelve days on, ESI no longer serves the oldest rows"
    assert kept == first | served_now
    oldest = WalletJournalEntry.objects.filter(character=pilot).order_by("date").first().date
    replay_now = datetime.fromtimestamp(replay.now(), UTC)
    assert replay_now - oldest > timedelta(days=JOURNAL_DAYS + 10)


def test_before_esis_expires_nothing_is_asked_again(eve, replay, pilot):
    character_sync(character=pilot)
    requests = eve.count(r"^/esi/characters/")

    outcomes = character_sync(character=pilot)

    assert eve.count(r"^/esi/characters/") == requests
    assert {o.status for o in outcomes} == {"unchanged"}


def test_on_a_401_it_refreshes_the_token_through_the_token_service_and_retries(eve, pilot):
    eve.state["sso"]["access_tokens"].clear()  # ESI no longer knows the token: 401

    outcome = character_endpoint_sync(character=pilot, endpoint="balance")

    assert outcome.status == "updated"
    assert [r.status for r in eve.requests(r"/characters/\d+/wallet/$")] == [401, 200]
    assert eve.count(TOKEN_ROUTE) == 1
    pilot.refresh_from_db()
    assert pilot.access_token in eve.state["sso"]["access_tokens"]
    assert WalletBalance.objects.filter(character=pilot).count() == 1


def test_a_scope_not_granted_is_named_and_its_routes_are_not_asked(eve, user):
    pilot = character_link_replay(eve, user, scopes=[ORDERS_SCOPE])

    outcomes = {o.endpoint: o for o in character_sync(character=pilot)}

    for endpoint in ("balance", "journal", "transactions"):
        assert outcomes[endpoint].status == "missing_scope"
        assert WALLET_SCOPE in outcomes[endpoint].message
    assert outcomes["orders"].ok and outcomes["order_history"].ok
    assert eve.count(r"/wallet/") == 0
    assert not WalletJournalEntry.objects.exists()


def test_esi_refusing_the_scope_is_reported_as_the_scope_to_grant(eve, user):
    pilot = character_link_replay(eve, user)
    sso = eve.state["sso"]
    # The pilot's login lost the wallet scope at EVE's end (Lenny still believes it has it).
    for grant in [*sso["access_tokens"].values(), *sso["refresh_tokens"].values()]:
        grant["scopes"] = [ORDERS_SCOPE]

    outcome = character_endpoint_sync(character=pilot, endpoint="journal")

    assert outcome.status == "missing_scope" and WALLET_SCOPE in outcome.message
    assert [r.status for r in eve.requests(r"/wallet/journal/")] == [403, 403]
    assert eve.count(TOKEN_ROUTE) == 1  # refreshed once, then believed


def test_a_character_that_needs_a_new_login_is_skipped(eve, user):
    pilot = character_link_replay(eve, user, expires_in=10)
    eve.state["sso"]["invalid_grant_characters"].add(pilot.character_id)
    with pytest.raises(TokenInvalid):
        access_token_get(character=pilot)

    outcomes = character_sync(character=pilot)

    assert {o.status for o in outcomes} == {"needs_relogin"}
    assert eve.count(r"^/esi/") == 0
    assert not Schedule.objects.filter(name__startswith=schedule_prefix(pilot)).exists()


def test_a_malformed_answer_writes_nothing_and_names_the_bad_field(eve, replay, pilot):
    rows = [
        {"id": 1, "date": "2026-01-01T00:00:00Z", "ref_type": "brokers_fee", "amount": -5.0},
        {"id": 2, "date": "2026-01-01T00:00:01Z", "ref_type": "brokers_fee", "amount": "lots"},
    ]
    eve.fault(r"/wallet/journal/", status=200, body=json.dumps(rows), times=2)

    outcome = character_endpoint_sync(character=pilot, endpoint="journal")

    assert outcome.status == "failed"
    assert "$[1].amount" in outcome.message
    assert not WalletJournalEntry.objects.exists()
    state = LedgerSync.objects.get(character=pilot, endpoint="journal")
    assert state.needs_full_fetch and state.status == "failed" and "amount" in state.message
    # The next run asks for everything again (a cached ETag would have said "unchanged").
    eve.clear_faults()
    assert character_endpoint_sync(character=pilot, endpoint="journal").status == "updated"
    assert WalletJournalEntry.objects.filter(character=pilot).count() > 100
    assert not LedgerSync.objects.get(character=pilot, endpoint="journal").needs_full_fetch


def test_an_esi_outage_is_recorded_and_does_not_raise(eve, pilot):
    eve.fault(r"/orders/$", status=503, body='{"error": "down"}', times=None)

    outcome = character_endpoint_sync(character=pilot, endpoint="orders")

    assert outcome.status == "failed" and "503" in outcome.message
    assert LedgerSync.objects.get(character=pilot, endpoint="orders").last_success is None


def test_a_repriced_order_keeps_every_version_and_a_closed_one_learns_its_fate(eve, replay, pilot):
    start = replay.anchor
    order = OrderLife(
        order_id=7001,
        type_id=34,
        is_buy_order=False,
        volume_total=1000,
        versions=[(start - 3600, 5.5), (start + 7200, 5.2)],
        fills=[(start - 1800, 400), (start + 9000, 600)],
        closed_at=start + 9000,
    )
    replay.set_history(pilot.character_id, TradingHistory(orders=[order]))

    character_endpoint_sync(character=pilot, endpoint="orders")
    stored = CharacterOrder.objects.get(character=pilot, order_id=7001)
    assert (stored.state, stored.volume_remain, str(stored.price)) == ("open", 600, "5.50")

    replay.advance(seconds=7800)  # after the price change
    cache.clear()
    character_endpoint_sync(character=pilot, endpoint="orders")
    stored.refresh_from_db()
    assert str(stored.price) == "5.20"
    versions = list(stored.versions.values_list("price", flat=True))
    assert [str(p) for p in versions] == ["5.50", "5.20"]

    replay.advance(seconds=3600 * 2)  # it filled
    cache.clear()
    character_endpoint_sync(character=pilot, endpoint="orders")
    stored.refresh_from_db()
    assert stored.state == "closed"
    character_endpoint_sync(character=pilot, endpoint="order_history")
    stored.refresh_from_db()
    assert (stored.state, stored.volume_remain) == ("expired", 0)


def test_linking_a_character_schedules_its_syncs_at_esis_cache_intervals(eve, user):
    pilot = character_link_replay(eve, user, scopes=[WALLET_SCOPE])

    schedules = {
        s.name.removeprefix(schedule_prefix(pilot)): s
        for s in Schedule.objects.filter(name__startswith=schedule_prefix(pilot))
    }

    assert set(schedules) == {"balance", "journal", "transactions"}  # no orders scope
    assert schedules["balance"].minutes == 2 and schedules["journal"].minutes == 60
    assert all(s.func == "market.ledger.tasks.ledger_endpoint_sync" for s in schedules.values())
    assert all(s.cluster is None for s in schedules.values())  # the default, low-priority queue
    assert all(s.next_run <= timezone.now() + timedelta(minutes=1) for s in schedules.values())
    # Logging in again with more scopes adds the missing jobs; nothing is doubled.
    pilot = character_link_replay(eve, user)
    assert Schedule.objects.filter(name__startswith=schedule_prefix(pilot)).count() == 5
    assert character_schedules_ensure(character=pilot) == []


def test_the_hourly_job_puts_back_missing_schedules(eve, pilot):
    Schedule.objects.filter(name__startswith=schedule_prefix(pilot)).delete()

    assert ledger_schedules() == "5 character schedules created"
    assert ledger_schedules() == "all in place"


def test_the_command_syncs_at_once_and_names_an_unknown_character(eve, pilot):
    out = io.StringIO()

    call_command(
        "ledger_sync", "--character", str(pilot.character_id), "--endpoint", "balance", stdout=out
    )

    assert "Lenny Demo Pilot (2112625428) balance: updated" in out.getvalue()
    with pytest.raises(CommandError, match="no linked character with id 12345"):
        call_command("ledger_sync", "--character", "12345", stdout=io.StringIO())
    eve.fault(r"/wallet/$", status=502, times=None)
    cache.clear()
    with pytest.raises(CommandError, match="1 sync failed"):
        call_command("ledger_sync", "--endpoint", "balance", stdout=io.StringIO())
