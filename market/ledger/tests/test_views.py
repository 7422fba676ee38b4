"""The ledger's pages, fed by a real sync from the replay ESI: figures a pilot can check by hand,
filters, preferences, and nobody else's data."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import character_link_replay
from market.ledger.models import LedgerPreference, WalletTransaction
from market.ledger.queries import ledger_compute, ledger_summary
from market.ledger.sync import character_sync
from market.ledger.tests.factories import trading_history_hand_made

pytestmark = pytest.mark.django_db

TRITANIUM, PYERITE = 34, 35


def figure(html: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}"[^>]*>(?:<span[^>]*>)?([^<]+)<', html)
    assert match, f"no figure {name}"
    return match.group(1).strip()


@pytest.mark.embedded
def test_profit_by_item_follows_fifo_with_fees_and_cost_unknown_sales(
    client, user, hand_made, sde_loaded
):
    client.force_login(user)

    page = client.get(reverse("ledger:profit"), {"period": "all"})

    html = page.content.decode()
    assert page.status_code == 200
    # 2,900 sold for 1,990 of FIFO cost, 104.40 tax, 30 broker fee; the Pyerite is apart.
    assert figure(html, "profit") == "775.60"
    assert figure(html, "unknown") == "40.00"
    tritanium = re.search(r'<tr data-type="34">(.*?)</tr>', html, re.S).group(1)
    assert ">Tritanium<" in tritanium and "775.60" in tritanium and "30.00" in tritanium
    assert "1<br><small>at 110.00<" in tritanium  # one unit left, at the cost of the newer lot
    pyerite = re.search(r'<tr data-type="35">(.*?)</tr>', html, re.S).group(1)
    assert "4 sold<br><small>for 40.00<" in pyerite
    assert 'id="cost-unknown"' in html


def test_average_cost_is_a_choice_per_user(client, user, hand_made, sde_loaded):
    client.force_login(user)

    saved = client.post(
        reverse("ledger:preferences"),
        {"cost_method": "average", "next": "/ledger/profit/?period=all"},
    )

    assert saved.status_code == 302 and saved["Location"] == "/ledger/profit/?period=all"
    assert LedgerPreference.objects.get(user=user).cost_method == "average"
    html = client.get(saved["Location"]).content.decode()
    assert figure(html, "profit") == "770.60"  # each sale at the pool's 105 average
    assert "1<br><small>at 105.00<" in html


def test_the_overview_shows_balances_profit_and_chart_data(client, user, pilot, replay):
    character_sync(character=pilot)
    client.force_login(user)

    page = client.get(reverse("ledger:home"))

    html = page.content.decode()
    balance = replay.history(pilot.character_id).balance_at(replay.as_of("wallet"))
    assert f"{balance:,.2f}" in html
    assert ledger_summary(user=user).error == ""
    chart = json.loads(
        re.search(r'id="ledger-chart-data"[^>]*>(.*?)</script>', html, re.S).group(1)
    )
    assert len(chart["profit"]["days"]) == len(chart["profit"]["values"]) > 10
    assert chart["balance"]["series"][0]["label"] == "Lenny Demo Pilot"
    assert chart["balance"]["series"][0]["values"][-1] == balance
    assert "Refresh now" in html
    assert "journal" in html and "up to date" not in html  # first sync: everything "updated"


def test_every_ledger_page_needs_a_login(client):
    for name in ("home", "transactions", "profit", "orders", "orders_table", "refresh_progress"):
        response = client.get(reverse(f"ledger:{name}"))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], name
    assert client.post(reverse("ledger:refresh")).status_code == 302


@pytest.mark.embedded
def test_another_users_character_is_a_404(client, user, other_user, hand_made):
    client.force_login(other_user)

    assert (
        client.get(
            reverse("ledger:transactions"), {"character": hand_made.character_id}
        ).status_code
        == 404
    )
    assert (
        client.post(reverse("ledger:refresh"), {"character": hand_made.character_id}).status_code
        == 404
    )
    # Not an id at all: refused by name (test_views_repairs), never looked up.
    assert client.post(reverse("ledger:refresh"), {"character": "1 OR 1=1"}).status_code == 400
    for name in ("home", "transactions", "profit", "orders"):
        html = client.get(reverse(f"ledger:{name}")).content.decode()
        assert "Lenny Demo Pilot" not in html and "1,000,000" not in html, name
    assert "No EVE character is linked" in client.get(reverse("ledger:home")).content.decode()


def test_transactions_filter_by_character_item_side_and_dates(client, user, hand_made, sde_loaded):
    client.force_login(user)
    url = reverse("ledger:transactions")

    sells = client.get(url, {"item": "trit", "side": "sell", "character": hand_made.character_id})
    assert sells.status_code == 200
    rows = re.findall(r"<tr>\s*<td><time", sells.content.decode())
    assert len(rows) == 3
    assert "Pyerite" not in sells.content.decode()
    by_id = client.get(url, {"item": str(PYERITE)})
    assert ">Pyerite<" in by_id.content.decode()
    first = WalletTransaction.objects.order_by("date").first().date.date()
    none = client.get(url, {"until": str(first.replace(year=first.year - 1))})
    assert "No transactions match." in none.content.decode()
    oldest_first = client.get(url, {"sort": "date"}).content.decode()
    assert oldest_first.index("100.00") < oldest_first.index("170.00")


def test_transactions_table_swaps_in_for_htmx(client, user, hand_made, sde_loaded):
    client.force_login(user)

    page = client.get(
        reverse("ledger:transactions"),
        {"side": "buy"},
        headers={"HX-Request": "true", "HX-Target": "ledger-transactions"},
    )

    html = page.content.decode()
    assert html.lstrip().startswith('<div id="ledger-transactions"')
    assert "<html" not in html and html.count("<tr>") == 3  # header + two buys


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "2026-02-01", "until": "2026-01-01"}, "until: must be on or after From"),
        ({"item": "zzzqqq"}, "item: no item is called anything like"),
        ({"since": "yesterday"}, "since: Enter a valid date."),
        ({"sort": "password"}, "sort: Select a valid choice."),
        ({"page": "-1"}, "page: must be from 1 to 1000000, got -1"),
    ],
)
def test_bad_filters_are_named(client, user, hand_made, sde_loaded, query, message):
    client.force_login(user)

    page = client.get(reverse("ledger:transactions"), query)

    assert page.status_code == 400
    assert message in page.content.decode().replace("&#x27;", "'").replace("“", "").replace("”", "")


def test_a_bad_period_or_method_is_refused_with_its_name(client, user, hand_made):
    client.force_login(user)

    assert client.get(reverse("ledger:profit"), {"period": "forever"}).status_code == 400
    refused = client.post(reverse("ledger:preferences"), {"cost_method": "lifo"}, follow=True)
    assert "cost_method: Select a valid choice" in refused.content.decode()
    assert not LedgerPreference.objects.filter(user=user).exists()
    offsite = client.post(
        reverse("ledger:preferences"), {"cost_method": "fifo", "next": "https://evil.example/"}
    )
    assert offsite.status_code == 400 and "next: must be a path on this site" in (
        offsite.content.decode()
    )


def test_trades_between_a_users_own_characters_are_not_profit(eve, user, hand_made, replay):
    alt = character_link_replay(eve, user, character_id=90000077, name="Hauler Alt")
    history = trading_history_hand_made(replay.anchor)
    for row in history.transactions:
        row["client_id"] = alt.character_id  # every trade was with the user's own alt
    replay.set_history(hand_made.character_id, history)
    WalletTransaction.objects.all().delete()
    cache.clear()  # ESI's cached answer would say "unchanged"
    character_sync(character=hand_made, endpoints=["transactions"])

    summary = ledger_summary(user=user)

    assert summary.internal_trades == 6
    lines = summary.by_item(since=None)
    assert all(line.bought_quantity == line.quantity_sold == 0 for line in lines.values())
    assert all(line.unknown_cost_quantity == 0 for line in lines.values())
    # The broker fee was paid all the same.
    assert lines[TRITANIUM].realized_profit == Decimal("-30.00")


def test_the_summary_adds_up_to_the_ledger_maths(user, pilot):
    character_sync(character=pilot)

    result, summary = ledger_compute(user=user, method="fifo")

    assert summary.error == ""
    lines = summary.by_item(since=None)
    assert set(lines) == set(result.by_type)
    for type_id, line in lines.items():
        assert line.realized_profit == result.by_type[type_id].realized_profit
        assert line.bought_cost == result.by_type[type_id].bought_cost
    for character_id, line in summary.by_character(since=None).items():
        assert line.realized_profit == result.by_character[character_id].realized_profit
    assert summary.total(since=None).realized_profit == result.totals.realized_profit
    unknown = sum(s.unknown_revenue for s in result.unknown_cost_sales)
    assert unknown > 0  # the mined Megacyte: never bought
    assert summary.totals.unknown_cost_revenue == unknown


def test_the_summary_is_cached_until_the_data_changes(
    user, hand_made, django_assert_max_num_queries
):
    first = ledger_summary(user=user)
    with django_assert_max_num_queries(6):  # the fingerprint, not the history
        assert ledger_summary(user=user).totals == first.totals

    WalletTransaction.objects.create(
        character=hand_made,
        transaction_id=99_999,
        date=timezone.now(),
        type_id=TRITANIUM,
        quantity=5,
        unit_price=Decimal("200.00"),
        is_buy=False,
        location_id=60003760,
    )

    changed = ledger_summary(user=user)
    assert changed.totals.unknown_cost_revenue == first.totals.unknown_cost_revenue + 800
    assert ledger_summary(user=user, method="average").method == "average"


def test_a_missing_scope_is_named_with_a_button_to_grant_it(client, user, eve):
    character_link_replay(eve, user, scopes=["esi-markets.read_character_orders.v1"])
    client.force_login(user)

    html = client.get(reverse("ledger:home")).content.decode()

    assert "Grant <code>esi-wallet.read_character_wallet.v1</code> to sync the wallet" in html
    assert re.search(
        r'action="/accounts/eveonline_v2/login/\?process=connect&amp;next=/ledger/"', html
    )
    assert "Log in with EVE again" in html


def test_a_character_needing_a_new_login_is_skipped_with_a_banner(client, user, hand_made):
    hand_made.needs_relogin = True
    hand_made.save(update_fields=["needs_relogin"])
    client.force_login(user)

    html = client.get(reverse("ledger:home")).content.decode()

    assert "needs a new EVE login" in html and 'class="banner relogin"' in html
    assert "skipped: needs a new EVE login" in html
    assert "775.60" in html  # what was synced before is still there


def test_the_admin_shows_the_synced_rows_read_only(admin_client, hand_made):
    for model in (
        "walletbalance",
        "walletjournalentry",
        "wallettransaction",
        "characterorder",
        "ledgersync",
        "ledgerpreference",
    ):
        listing = admin_client.get(f"/admin/ledger/{model}/")
        assert listing.status_code == 200, model
        assert admin_client.get(f"/admin/ledger/{model}/add/").status_code == 403, model
    order = hand_made.market_orders.first()
    page = admin_client.get(f"/admin/ledger/characterorder/{order.pk}/change/")
    assert page.status_code == 200 and str(order.order_id) in page.content.decode()
    assert hand_made.access_token not in page.content.decode()
