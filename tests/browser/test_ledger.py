"""A pilot reads their ledger in a real browser: figures, charts, "Refresh now" with its progress,
profit by cost method, filtered transactions and the undercut order on top of the desk."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.brokers import get_broker
from django_q.signing import SignedPackage
from playwright.sync_api import expect

from market.tests.ledger_support import (
    book_order,
    character_link_replay,
    sde_sample_load,
    snapshot_land,
    trading_history_hand_made,
    upstreams_configure,
)
from market.undercut import orders_undercut_check
from market.wallet import character_sync

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def pilot(upstreams, settings, user):
    upstreams_configure(upstreams, settings)
    sde_sample_load()
    replay = upstreams.state["characters"]
    replay.set_history(2112625428, trading_history_hand_made(replay.anchor))
    character = character_link_replay(upstreams, user)
    assert all(outcome.ok for outcome in character_sync(character=character))
    # Someone sells Tritanium at 175 in Jita: the pilot's 180 is undercut by 5.
    snapshot_land(
        [book_order(1, type_id=34, price="175.00"), book_order(2, type_id=35, price="11.00")],
        last_modified=timezone.now().replace(microsecond=0) - timedelta(minutes=1),
    )
    orders_undercut_check(character=character)
    return character


def priority_queue_run() -> int:
    """Be the priority cluster's worker for a moment: run what "Refresh now" queued."""
    broker = get_broker(settings.LEDGER_PRIORITY_CLUSTER)
    done = 0
    while broker.queue_size():
        for ack_id, payload in broker.dequeue() or []:
            task = SignedPackage.loads(payload)
            import_string(task["func"])(*task["args"], **task["kwargs"])
            broker.acknowledge(ack_id)
            done += 1
    return done


def test_a_pilot_reads_their_ledger(page, pilot):
    get_broker(settings.LEDGER_PRIORITY_CLUSTER).purge_queue()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct horse 9")
    page.get_by_role("button", name="Sign In").click()
    page.goto("/ledger/")

    expect(page.get_by_role("heading", name="Pilot's ledger")).to_be_visible()
    expect(page.locator('[data-figure="profit-all"]')).to_have_text(re.compile(r"775\.60"))
    expect(page.locator('[data-figure="undercut"]')).to_have_text("1 undercut")
    expect(page.locator("#profit-chart canvas")).to_have_count(1)  # drawn by uPlot
    expect(page.locator("#balance-chart canvas")).to_have_count(1)

    page.get_by_role("button", name="Refresh now").click()
    expect(page.get_by_role("status")).to_contain_text("of 5 done")
    assert priority_queue_run() == 5
    expect(page.get_by_role("status")).to_contain_text("Refreshed", timeout=10_000)

    ledger_nav = page.get_by_role("navigation", name="Ledger")
    ledger_nav.get_by_role("link", name="Profit").click()
    page.get_by_role("link", name="all time").click()
    expect(page.locator('[data-figure="profit"]')).to_have_text("775.60")
    page.get_by_label("Cost of goods sold").select_option("average")
    page.get_by_role("button", name="Use this method").click()
    expect(page.get_by_text("Ledger preferences saved.")).to_be_visible()
    expect(page.locator('[data-figure="profit"]')).to_have_text("770.60")
    expect(page.locator("#cost-unknown")).to_contain_text("Pyerite")

    ledger_nav.get_by_role("link", name="Transactions").click()
    page.get_by_label("Side").select_option("sell")  # htmx swaps the table in
    expect(page.locator("#ledger-transactions tbody tr")).to_have_count(4)
    expect(page).to_have_url(re.compile(r"side=sell"))

    ledger_nav.get_by_role("link", name="Open orders").click()
    first = page.locator("#open-orders tbody tr").first
    expect(first).to_contain_text("Tritanium")
    expect(first).to_contain_text("Undercut by 5.00")
