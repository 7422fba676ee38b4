"""The want list's cached rows (stores/dashboard.py): a row shows its stock as it is now, with
this answer's CSRF token and "checked … ago", and never another user's row."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone

from stores import stock
from stores.dashboard import CSRF_MARK, rows_read
from stores.models import CheckResult, PreferredStore, WantedCard, WantSpec
from stores.tests.test_dashboard import answered, cells, listing, text
from tests.fixtures import HTMX

pytestmark = pytest.mark.django_db


@pytest.fixture
def shopper(client, user, shops, prefer):
    prefer(user, shops["dice-saloon"], shops["harlequins"])
    client.force_login(user)
    return client


def test_a_cached_row_shows_a_new_price_and_stock_once_a_check_lands(
    shopper, user, shops, want, card
):
    wanted = want(user, "Mystic Snake")
    snake = card("Mystic Snake")
    result = answered(shops["dice-saloon"], snake, listing("0.80", quantity=1))
    assert cells(text(shopper.get("/stores/")), wanted.pk)[0] == "£0.80 NM · 1"
    assert cells(text(shopper.get("/stores/")), wanted.pk)[0] == "£0.80 NM · 1"  # cached

    CheckResult.objects.filter(pk=result.pk).update(
        listings=[listing("0.65", quantity=3).as_dict()],
        checked_at=timezone.now() + timedelta(seconds=1),
    )
    html = text(shopper.get("/stores/"))
    assert cells(html, wanted.pk)[0] == "£0.65 NM · 3"
    assert "£0.80" not in html
    # The row's own refresh and "where to buy" say the same.
    assert cells(text(shopper.get(f"/stores/wants/{wanted.pk}/", **HTMX)), wanted.pk)[0] == (
        "£0.65 NM · 3"
    )
    assert "£0.65" in text(shopper.get("/stores/stock/summary", **HTMX))

    # Sold out, then a failing check, then a check running: each shows at once.
    CheckResult.objects.filter(pk=result.pk).update(
        listings=[listing("0.65", quantity=0).as_dict()],
        checked_at=timezone.now() + timedelta(seconds=2),
    )
    assert cells(text(shopper.get("/stores/")), wanted.pk)[0] == "not in stock"
    CheckResult.objects.filter(pk=result.pk).update(status="failed", error="the store is down")
    assert cells(text(shopper.get("/stores/")), wanted.pk)[0] == "check failed the store is down"
    CheckResult.objects.filter(pk=result.pk).update(queued_at=timezone.now())
    html = text(shopper.get("/stores/"))
    assert cells(html, wanted.pk)[0] == "checking…"
    assert f'hx-get="/stores/wants/{wanted.pk}/"' in html


def test_a_cached_row_follows_its_amount_and_specs(shopper, user, shops, want, card):
    wanted = want(user, "Mystic Snake")
    answered(shops["dice-saloon"], card("Mystic Snake"), listing("0.80", quantity=1))
    shopper.get("/stores/")

    shopper.post(f"/stores/wants/{wanted.pk}/amount", {"amount": 3}, **HTMX)
    html = text(shopper.get("/stores/"))
    assert 'name="amount" value="3"' in html
    assert "no store has 3" in html  # where to buy follows too

    WantSpec.objects.create(wanted=wanted, worst_condition="NM", finish="foil")
    html = text(shopper.get("/stores/"))
    assert "foil · NM only" in html
    assert cells(html, wanted.pk)[0] == "not in stock"  # the copy is not a foil


def test_checked_ago_reads_as_of_each_answer(shopper, user, shops, want, card, monkeypatch):
    wanted = want(user, "Mystic Snake")
    result = answered(shops["dice-saloon"], card("Mystic Snake"), listing("0.80"))
    CheckResult.objects.filter(pk=result.pk).update(
        checked_at=timezone.now() - timedelta(minutes=5, seconds=10)
    )
    html = shopper.get("/stores/").content.decode()
    assert "checked 5\xa0minutes ago" in html

    later = timezone.now() + timedelta(minutes=10)
    monkeypatch.setattr(stock.timezone, "now", lambda: later)
    html = shopper.get("/stores/").content.decode()
    assert "checked 15\xa0minutes ago" in html
    assert "\u27e6ago" not in html and CSRF_MARK not in html
    assert re.search(rf'<tr id="want-{wanted.pk}"', html)


def test_the_rows_carry_this_answers_csrf_token(user, shops, want, card):
    wanted = want(user, "Mystic Snake")
    PreferredStore.objects.create(user=user, store=shops["dice-saloon"])
    answered(shops["dice-saloon"], card("Mystic Snake"), listing("0.80"))
    first = Client(enforce_csrf_checks=True)
    first.force_login(user)
    first.get("/stores/")  # the row is cached with the first session's page

    second = Client(enforce_csrf_checks=True)
    second.force_login(user)
    html = second.get("/stores/").content.decode()
    row = re.search(rf'<tr id="want-{wanted.pk}".*?</tr>', html, re.S).group(0)
    tokens = set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', row))
    assert len(tokens) == 1 and CSRF_MARK not in tokens
    response = second.post(
        f"/stores/wants/{wanted.pk}/amount", {"amount": 2, "csrfmiddlewaretoken": tokens.pop()}
    )
    assert response.status_code == 302
    wanted.refresh_from_db()
    assert wanted.amount == 2


def test_another_users_row_never_comes_from_my_cache(
    shopper, user, other_user, shops, want, card, prefer
):
    # The same card, amount and stores: only whose want it is tells the rows apart.
    mine = want(user, "Mystic Snake", 2)
    theirs = want(other_user, "Mystic Snake", 2)
    prefer(other_user, shops["dice-saloon"], shops["harlequins"])
    answered(shops["dice-saloon"], card("Mystic Snake"), listing("0.80", quantity=2))
    html = text(shopper.get("/stores/"))
    assert f'id="want-{mine.pk}"' in html and f'id="want-{theirs.pk}"' not in html

    other = Client()
    other.force_login(other_user)
    html = text(other.get("/stores/"))
    assert f'id="want-{theirs.pk}"' in html and f'id="want-{mine.pk}"' not in html
    assert other.get(f"/stores/wants/{mine.pk}/", **HTMX).status_code == 404
    # Every row's key names its owner and want: the same card, amount and stores never share one.
    (my_key,) = rows_read(owner=user).keys
    (their_key,) = rows_read(owner=other_user).keys
    assert my_key.startswith(f"stores:want-row:{user.pk}:{mine.pk}:")
    assert their_key.startswith(f"stores:want-row:{other_user.pk}:{theirs.pk}:")


def test_a_row_from_the_cache_is_the_row_the_template_renders(shopper, user, shops, want, card):
    wanted = want(user, "Mystic Snake", 2, worst_condition="LP")
    snake = card("Mystic Snake")
    result = answered(
        shops["dice-saloon"], snake, listing("0.80", quantity=1), listing("1.10", quantity=2)
    )
    # Mid-minute: "checked 10 minutes ago" reads the same in every answer of the test.
    CheckResult.objects.filter(pk=result.pk).update(
        checked_at=timezone.now() - timedelta(minutes=10, seconds=30)
    )
    CheckResult.objects.create(store=shops["harlequins"], card=snake, queued_at=timezone.now())

    def tokens_out(html: str) -> str:
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "CSRF", html)

    cold = tokens_out(shopper.get("/stores/").content.decode())
    warm = tokens_out(shopper.get("/stores/").content.decode())
    cold, warm = (re.sub(r'(X-CSRFToken": "|nonce=")[^"]+', "", x) for x in (cold, warm))
    assert cold == warm

    fresh = WantedCard.objects.for_owner(user).get(pk=wanted.pk)
    stock.stock_attach(owner=user, wants=[fresh])
    direct = render_to_string(
        "stores/dashboard.html#want_row", {"wanted": fresh, "csrf_token": "x"}
    )
    cached = shopper.get(f"/stores/wants/{wanted.pk}/", **HTMX).content.decode()
    assert tokens_out(cached) == tokens_out(direct)
    assert tokens_out(direct) in warm


def rows_tokenless(html: str) -> str:
    rows = re.search(r'<tbody id="want-rows">.*?</tbody>', html).group(0)
    return re.sub(r'value="[A-Za-z0-9]{64}"', 'value="TOKEN"', rows)


def test_the_kept_list_follows_wants_added_and_removed(shopper, user, shops, want, card):
    # The page keeps the whole list in one entry: a want added or removed, or another tab's
    # list, must never bring back a list that is no more.
    snake = want(user, "Mystic Snake")
    answered(shops["dice-saloon"], card("Mystic Snake"), listing("0.80", quantity=1))
    html = text(shopper.get("/stores/"))
    assert f'id="want-{snake.pk}"' in html
    assert rows_tokenless(text(shopper.get("/stores/"))) == rows_tokenless(html)  # kept

    lotus = want(user, "Black Lotus")
    html = text(shopper.get("/stores/"))
    assert f'id="want-{snake.pk}"' in html and f'id="want-{lotus.pk}"' in html
    # One row's refresh does not replace the kept list.
    shopper.get(f"/stores/wants/{lotus.pk}/", **HTMX)
    assert f'id="want-{snake.pk}"' in text(shopper.get("/stores/"))

    snake.delete()
    html = text(shopper.get("/stores/"))
    assert f'id="want-{snake.pk}"' not in html and f'id="want-{lotus.pk}"' in html
    lotus.delete()
    assert f'id="want-{lotus.pk}"' not in text(shopper.get("/stores/"))


def test_a_stores_braces_and_lookalike_marks_read_as_its_own_words(
    shopper, user, shops, want, card
):
    # The kept list fills its marks with str.format: a store's text with braces in it must
    # read as the store wrote it, page after page.
    wanted = want(user, "Mystic Snake")
    odd = "Masters {0} {csrf} {{x}} }"
    answered(shops["dice-saloon"], card("Mystic Snake"), listing("0.80", set_name=odd))
    for _ in range(2):  # rendered, then kept
        html = shopper.get("/stores/").content.decode()
        assert "Masters {0} {csrf} {{x}} }" in html
        assert f'<tr id="want-{wanted.pk}"' in html
