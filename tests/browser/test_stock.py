"""Watching the stock of a card just added arrive at the dashboard."""

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import expect

from stores.catalog import catalog_import
from stores.checks import check_run
from stores.models import CheckResult, PreferredStore, Store
from stores.replay import site_stock_set

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

SAMPLES = Path(__file__).resolve().parents[2] / "stores" / "replay" / "data" / "scryfall"


def test_a_new_row_goes_from_checking_to_the_price_at_my_store(
    page, live_server, client, user, upstreams, settings
):
    settings.STORE_POLL_SECONDS = 1
    catalog_import(path=SAMPLES / "cards-sample.jsonl", progress=False)
    store = Store.objects.create(
        name="Harlequins",
        platform="crystalcommerce",
        base_url=upstreams.url("/stores/harlequins"),
        max_requests_per_minute=600,
    )
    PreferredStore.objects.create(user=user, store=store)
    site_stock_set(
        upstreams,
        "harlequins",
        "Mystic Snake",
        [{"set_name": "Masters 25", "set_code": "a25", "collector_number": "208",
          "price": "0.95", "quantity": 3, "condition": "LP"}],
    )  # fmt: skip
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )
    page.goto("/stores/")
    page.evaluate("window.noReload = true")

    page.get_by_label("Card", exact=True).fill("Mystic Snake")
    page.get_by_role("button", name="Add", exact=True).click()

    row = page.locator("#want-rows tr.want", has_text="Mystic Snake")
    cell = row.locator("td.stock")
    expect(cell).to_have_text("checking…")
    expect(page.locator("#where-to-buy")).to_contain_text("Some stores are still being checked")

    # The queued check runs, as a worker would run it.
    result = CheckResult.objects.get(store=store)
    assert result.queued_at is not None
    assert check_run(result_id=result.pk).status == "ok"

    expect(cell).to_contain_text("£0.95", timeout=5_000)
    expect(cell).to_contain_text("LP · 3")
    expect(page.locator("#where-to-buy")).to_contain_text("Harlequins", timeout=5_000)
    expect(page.locator("#where-to-buy")).not_to_contain_text("still being checked")
    assert page.evaluate("window.noReload") is True
