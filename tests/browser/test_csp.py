"""Every main page under the Content-Security-Policy in Chromium: no violation, and what the
pages do with script (htmx swaps and polls, uPlot charts, autocompletes, confirmations) still
works."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from market.ledger.tests.factories import pilot_with_undercut_book
from market.tests.factories import JITA, history
from stores.catalog import catalog_import

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

CARDS = Path(__file__).resolve().parents[2] / "stores" / "replay" / "data" / "scryfall"

# Recorded by the page itself, before any of its own scripts run.
WATCH_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def everything(upstreams, settings, user):
    """A pilot with a synced ledger, a Jita book with history, a card catalog; alice is staff."""
    character = pilot_with_undercut_book(upstreams, settings, user)
    history(JITA.region_id, 34, 120)
    for name in ("cards-sample.jsonl", "power9.jsonl"):
        catalog_import(path=CARDS / name, progress=False)
    user.is_staff = user.is_superuser = True
    user.save()
    return character


def test_every_page_runs_under_the_policy_without_a_violation(page, everything):
    console = []
    page.on(
        "console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None
    )
    page.add_init_script(WATCH_VIOLATIONS)

    def visit(path: str) -> None:
        page.goto(path)
        expect(page.locator("body")).to_be_visible()

    def assert_clean(where: str) -> None:
        violations = page.evaluate("window.__csp")
        assert not violations and not console, f"{where}: {violations} {console}"

    visit("/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct horse 9")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r"/$|/ledger/"))
    assert_clean("login")

    visit("/")
    assert_clean("home")

    # Market: the item search's suggestions come through htmx.
    visit("/market/")
    page.get_by_label(re.compile("Find an item")).press_sequentially("Trit", delay=30)
    expect(page.locator("#type-suggestions")).to_contain_text("Tritanium")
    assert_clean("market home")

    # The item page draws its history chart with uPlot.
    visit("/market/types/34/")
    expect(page.locator("[data-history-chart] .uplot canvas").first).to_be_visible()
    assert_clean("item page")

    # Station trading: a filter swaps the table; the live refresh polls (no eval needed).
    visit("/market/trading/")
    page.get_by_label("Min margin").fill("0.5")
    # The swapped-in table's poller listens for "desk-visible" once htmx has processed it.
    page.evaluate(
        "() => { window.__settled = new Promise((done) =>"
        " document.body.addEventListener('htmx:load', done, {once: true})); }"
    )
    with page.expect_response(re.compile(r"/market/trading/\?.*min_margin=0\.5")):
        page.get_by_label("Min margin").press("Enter")
    expect(page).to_have_url(re.compile(r"min_margin=0\.5"))
    page.evaluate(
        "Promise.race([window.__settled, new Promise((_, late) =>"
        " setTimeout(() => late(new Error('htmx never processed the new table')), 10000))])"
    )
    with page.expect_request(re.compile(r"since=")):
        page.evaluate("document.dispatchEvent(new Event('desk-visible'))")
    # A hidden tab does not poll (static/js/lenny.js; an htmx trigger filter would need eval).
    polls = []
    page.on("request", lambda r: polls.append(r.url) if "since=" in r.url else None)
    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});"
        "document.dispatchEvent(new Event('desk-visible'))"
    )
    page.wait_for_timeout(1000)
    assert polls == []
    assert_clean("station trading")

    visit("/market/hauling/")
    assert_clean("hauling")

    # The ledger's charts (uPlot) and its htmx table filters.
    visit("/ledger/")
    expect(page.locator("#profit-chart canvas")).to_have_count(1)
    visit("/ledger/profit/")
    visit("/ledger/transactions/")
    page.get_by_label("Side").select_option("sell")
    expect(page).to_have_url(re.compile(r"side=sell"))
    visit("/ledger/orders/")
    expect(page.locator("#open-orders")).to_be_visible()
    assert_clean("ledger")

    # Stores: the card autocomplete's script runs with the nonce.
    visit("/stores/")
    page.get_by_label("Card", exact=True).press_sequentially("myst", delay=40)
    page.locator(".autocomplete [role=option]", has_text="Mystic Snake").click()
    expect(page.get_by_label("Card", exact=True)).to_have_value("Mystic Snake")
    for path in ("/stores/wants/import", "/stores/alerts/"):
        visit(path)
    assert_clean("stores")

    # Unlinking asks first (a static listener, not an inline onsubmit); dismissing keeps it.
    visit("/account/")
    questions = []
    page.once("dialog", lambda d: (questions.append(d.message), d.dismiss()))
    page.get_by_role("button", name="Unlink").first.click()
    expect(page.get_by_role("button", name="Unlink").first).to_be_visible()
    assert questions and questions[0].startswith("Unlink ")
    assert page.url.endswith("/account/")
    for path in ("/accounts/email/", "/accounts/password/change/", "/accounts/3rdparty/"):
        visit(path)  # allauth's own pages, with its static scripts
    assert_clean("account")

    for path in (
        "/admin/",
        "/admin/accounts/character/",
        f"/admin/auth/user/{everything.owner_id}/change/",
    ):
        visit(path)
    assert_clean("admin")

    visit("/no/such/page/")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    assert_clean("404")
    assert settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["script-src"][:1] == ["'self'"]
