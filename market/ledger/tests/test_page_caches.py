"""The ledger pages' caches: a page answers from them with few queries, shows a new sync's data
as soon as it lands, and never shows one user's ledger to another."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from market.ledger.models import CharacterOrder, LedgerSync, WalletBalance, WalletTransaction
from market.ledger.queries import ledger_compute, ledger_state
from market.ledger.sync import character_sync
from market.ledger.tests.factories import trading_history_hand_made

pytestmark = pytest.mark.django_db

TRITANIUM = 34
PAGES = {"ledger:home": {}, "ledger:profit": {"period": "all"}, "ledger:transactions": {}}
# Session, user, preference, the data's fingerprint, characters and their sync rows, the
# stale-sync notice's task count; the figures come from the cache.
OVERVIEW_QUERIES = 8


def figure(html: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}"[^>]*>(?:<span[^>]*>)?([^<]+)<', html)
    assert match, f"no figure {name}"
    return match.group(1).strip()


def unmasked(html: str) -> str:
    return re.sub(r"[A-Za-z0-9]{64}", "<csrf token>", html)


def pages_get(client) -> dict[str, str]:
    answers = {name: client.get(reverse(name), query) for name, query in PAGES.items()}
    assert all(answer.status_code == 200 for answer in answers.values())
    return {name: answer.content.decode() for name, answer in answers.items()}


def test_the_overview_answers_from_the_cache_in_a_few_queries(
    client, user, hand_made, sde_loaded, django_assert_max_num_queries
):
    client.force_login(user)
    first = client.get(reverse("ledger:home")).content.decode()

    with django_assert_max_num_queries(OVERVIEW_QUERIES):
        again = client.get(reverse("ledger:home")).content.decode()

    assert figure(again, "profit-all") == figure(first, "profit-all") == "775.60"
    assert figure(again, "wallets") == figure(first, "wallets")


def test_the_profit_and_transactions_pages_answer_from_the_cache(
    client, user, hand_made, sde_loaded, django_assert_max_num_queries
):
    client.force_login(user)
    first = pages_get(client)

    with django_assert_max_num_queries(6):
        profit = client.get(reverse("ledger:profit"), {"period": "all"}).content.decode()
    with django_assert_max_num_queries(6):
        transactions = client.get(reverse("ledger:transactions")).content.decode()

    # The same page but for the CSRF tokens, masked anew in every answer (never cached).
    assert unmasked(profit) == unmasked(first["ledger:profit"])
    assert unmasked(transactions) == unmasked(first["ledger:transactions"])


def test_a_cached_page_shows_a_new_sync_as_soon_as_it_lands(
    client, user, hand_made, sde_loaded, replay
):
    client.force_login(user)
    before = pages_get(client)
    assert figure(before["ledger:home"], "profit-all") == "775.60"
    assert "1,007" not in before["ledger:transactions"]

    # The pilot sells the last Tritanium (bought at 110) for 200 an hour ago; the next sync
    # brings it (in full: ESI's own cache would answer "unchanged" within its expiry).
    history = trading_history_hand_made(replay.anchor)
    sale = {
        **history.transactions[-1],
        "_at": replay.anchor - 3600,
        "transaction_id": 1007,
        "type_id": TRITANIUM,
        "quantity": 1,
        "unit_price": 200.0,
        "client_id": 95001007,
    }
    replay.set_history(
        hand_made.character_id, replace(history, transactions=[*history.transactions, sale])
    )
    LedgerSync.objects.filter(character=hand_made).update(needs_full_fetch=True)
    assert all(outcome.ok for outcome in character_sync(character=hand_made))

    after = pages_get(client)

    _, truth = ledger_compute(user=user, method="fifo")
    expected = f"{truth.totals.realized_profit:,.2f}"
    assert expected != "775.60"
    assert figure(after["ledger:home"], "profit-all") == expected
    assert figure(after["ledger:profit"], "profit") == expected
    assert "200.00" in after["ledger:transactions"]
    assert "7 transactions" in after["ledger:transactions"]


def test_another_user_never_sees_a_cached_ledger(client, user, other_user, hand_made, sde_loaded):
    client.force_login(user)
    mine = pages_get(client)
    assert "775.60" in mine["ledger:home"] and "775.60" in mine["ledger:profit"]

    client.force_login(other_user)
    theirs = pages_get(client)

    for name, html in theirs.items():
        assert "775.60" not in html, name
        assert hand_made.name not in html, name
    assert "No EVE character is linked" in theirs["ledger:home"]
    assert "Link an EVE character to see its transactions" in theirs["ledger:transactions"]


def test_an_undercut_found_between_syncs_shows_on_the_overview(client, user, hand_made, sde_loaded):
    client.force_login(user)
    assert figure(client.get(reverse("ledger:home")).content.decode(), "undercut") == "0 undercut"

    # What the undercut check writes when a new snapshot beats the order (no sync involved).
    CharacterOrder.objects.filter(character=hand_made, state="open").update(
        undercut_since=timezone.now(), undercut_by=Decimal("1.00")
    )

    assert figure(client.get(reverse("ledger:home")).content.decode(), "undercut") == "1 undercut"


@pytest.mark.parametrize("vendor", ["postgresql", "sqlite"])
def test_the_fingerprints_follow_the_data(user, hand_made, monkeypatch, vendor):
    # "sqlite": the several-query fallback the embedded database uses, on this database.
    monkeypatch.setattr(connection, "vendor", vendor)
    first = ledger_state(user=user)
    assert ledger_state(user=user) == first

    WalletBalance.objects.create(
        character=hand_made, recorded_at=timezone.now(), balance=Decimal("123.45")
    )
    balance = ledger_state(user=user)
    assert balance.summary == first.summary and balance.pages != first.pages

    WalletTransaction.objects.create(
        character=hand_made,
        transaction_id=99_999,
        date=timezone.now(),
        type_id=TRITANIUM,
        quantity=1,
        unit_price=Decimal("200.00"),
        is_buy=False,
        location_id=60003760,
    )
    trade = ledger_state(user=user)
    assert trade.summary != balance.summary and trade.pages != balance.pages
