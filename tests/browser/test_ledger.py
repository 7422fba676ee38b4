"""A pilot reads their ledger in a real browser: figures, charts, "Refresh now" with its progress,
profit by cost method, filtered transactions and the undercut order on top of the desk."""

import re

import pytest
from django.conf import settings
from django.utils.module_loading import import_string
from django_q.brokers import get_broker
from django_q.signing import SignedPackage
from playwright.sync_api import expect

from market.ledger.tests.factories import pilot_with_undercut_book
from market.ledger.undercut import orders_undercut_check

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def undercut_pilot(upstreams, settings, user):
    character = pilot_with_undercut_book(upstreams, settings, user)
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


def test_a_pilot_reads_their_ledger(page, undercut_pilot):
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
