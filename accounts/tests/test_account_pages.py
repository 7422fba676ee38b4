"""The account page: linked characters, their tokens, unlinking, and the trading profile."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth.models import AnonymousUser
from django.test import Client

from accounts.fees import DEFAULT_FEE_RATES, FeeRates
from accounts.models import Character, TradingProfile, fee_rates_for
from accounts.tests.factories import sso_login

pytestmark = pytest.mark.django_db


def test_it_lists_each_character_with_portrait_scopes_and_token_status(
    client, make_character, user, eve_sso
):
    make_character(user)
    make_character(
        user,
        character_id=90000001,
        name="Wallet Only",
        scopes=["esi-wallet.read_character_wallet.v1"],
    )
    client.force_login(user)

    page = client.get("/account/").content.decode()

    assert "Lenny Demo Pilot" in page and "Wallet Only" in page
    portrait = eve_sso.url("/images/characters/90000001/portrait?size=64")
    assert f'src="{portrait}"' in page
    assert "esi-markets.read_character_orders.v1" in page
    assert "Not granted:" in page  # Wallet Only lacks the market scopes
    assert ">valid<" in page
    image = requests.get(portrait, timeout=5)
    assert image.headers["Content-Type"] == "image/png" and image.content.startswith(b"\x89PNG")


def test_the_character_page_shows_its_token_state(client, make_character, user):
    character = make_character(user, expires_in=30)
    client.force_login(user)
    page = client.get(f"/account/characters/{character.character_id}/").content.decode()
    assert "Lenny Demo Pilot" in page and "expired, refreshes on next use" in page
    assert "portrait?size=128" in page


def test_another_users_character_is_a_404_everywhere(
    client, make_character, user, other_user, eve_sso
):
    character = make_character(user)
    client.force_login(other_user)
    base = f"/account/characters/{character.character_id}/"

    assert client.get(base).status_code == 404
    assert client.post(base + "refresh/").status_code == 404
    assert client.post(base + "unlink/").status_code == 404
    assert "Lenny Demo Pilot" not in client.get("/account/").content.decode()
    assert Character.objects.filter(pk=character.pk).exists()
    assert eve_sso.count("/sso/v2/oauth/token") == 0


def test_refresh_now_refreshes_the_token(client, make_character, user, eve_sso):
    character = make_character(user)
    client.force_login(user)
    response = client.post(f"/account/characters/{character.character_id}/refresh/", follow=True)
    assert "Lenny Demo Pilot: token refreshed." in response.content.decode()
    assert Character.objects.get(pk=character.pk).access_token != character.access_token
    assert eve_sso.count("/sso/v2/oauth/token") == 1


def test_a_refused_refresh_shows_the_relogin_banner_everywhere(
    client, make_character, user, other_user, sso
):
    character = make_character(user)
    sso["invalid_grant_characters"].add(character.character_id)
    client.force_login(user)

    page = client.post(
        f"/account/characters/{character.character_id}/refresh/", follow=True
    ).content.decode()

    assert "must log in with EVE again" in page and "needs re-login" in page
    home = client.get("/").content.decode()
    assert "needs a new EVE login" in home
    assert 'action="/accounts/eveonline_v2/login/?process=connect&amp;next=/"' in home
    client.force_login(other_user)
    assert "needs a new EVE login" not in client.get("/").content.decode()


def test_unlinking_forgets_the_character_and_revokes_its_token(
    client, eve_sso, sso, user, django_capture_on_commit_callbacks
):
    client.force_login(user)
    sso_login(client, eve_sso, process="connect")
    character = Character.objects.get()
    refresh_token = character.refresh_token

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/account/characters/{character.character_id}/unlink/", follow=True)

    assert "Lenny Demo Pilot is unlinked" in response.content.decode()
    assert not Character.objects.exists() and not SocialAccount.objects.exists()
    assert eve_sso.count("/sso/v2/oauth/revoke", method="POST") == 1
    assert refresh_token not in sso["refresh_tokens"]


def test_the_only_way_to_log_in_cannot_be_unlinked(client, eve_sso, django_user_model):
    sso_login(client, eve_sso)  # a user who only ever logged in with EVE
    character = Character.objects.get()

    response = client.post(f"/account/characters/{character.character_id}/unlink/", follow=True)

    assert "set a password first" in response.content.decode()
    assert Character.objects.filter(pk=character.pk).exists()
    user = django_user_model.objects.get()
    user.set_password("a long trading password 42")
    user.save()
    client.force_login(user)
    client.post(f"/account/characters/{character.character_id}/unlink/")
    assert not Character.objects.exists()


def test_unlink_and_refresh_only_accept_post(client, make_character, user):
    character = make_character(user)
    client.force_login(user)
    for action in ("refresh", "unlink"):
        url = f"/account/characters/{character.character_id}/{action}/"
        assert client.get(url).status_code == 405
    assert Character.objects.filter(pk=character.pk).exists()


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true"}], ids=["form", "htmx"])
def test_posts_without_a_csrf_token_are_refused(make_character, user, headers):
    character = make_character(user)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    for url, data in [
        (f"/account/characters/{character.character_id}/unlink/", {}),
        (f"/account/characters/{character.character_id}/refresh/", {}),
        ("/account/trading-profile/", {"accounting_level": "5", "broker_relations_level": "5"}),
        (
            "/accounts/password/set/",
            {"password1": "a new password 9", "password2": "a new password 9"},
        ),
        ("/accounts/email/", {"action_add": "", "email": "mallory@example.com"}),
        ("/accounts/logout/", {}),
    ]:
        assert client.post(url, data, headers=headers).status_code == 403, url
    assert Character.objects.filter(pk=character.pk).exists()
    assert not TradingProfile.objects.filter(user=user, accounting_level=5).exists()
    assert client.get("/account/").status_code == 200  # still logged in


@pytest.mark.embedded
def test_the_trading_profile_sets_the_fees_through_htmx(client, user):
    client.force_login(user)
    response = client.post(
        "/account/trading-profile/",
        {
            "accounting_level": "5",
            "broker_relations_level": "5",
            "faction_standing": "5",
            "corporation_standing": "5",
        },
        headers={"HX-Request": "true"},
    )

    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert 'id="trading-profile"' in html and "Saved." in html
    assert 'data-fee="sales-tax">3.6%' in html and 'data-fee="broker-fee">1.25%' in html
    assert fee_rates_for(user) == FeeRates(sales_tax=Decimal("0.036"), broker_fee=Decimal("0.0125"))


def test_the_trading_profile_works_without_javascript(client, user):
    client.force_login(user)
    response = client.post(
        "/account/trading-profile/",
        {"accounting_level": "4", "broker_relations_level": "3"},
        follow=True,
    )
    page = response.content.decode()
    assert "Trading profile saved." in page and 'data-fee="sales-tax">4.48%' in page
    profile = TradingProfile.objects.get(user=user)
    assert (profile.faction_standing, profile.corporation_standing) == (None, None)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"accounting_level": "6", "broker_relations_level": "0"}, "Select a valid choice"),
        (
            {"accounting_level": "0", "broker_relations_level": "0", "faction_standing": "10.5"},
            "less than or equal to 10",
        ),
        (
            {"accounting_level": "0", "broker_relations_level": "0", "corporation_standing": "x"},
            "Enter a number",
        ),
    ],
)
def test_impossible_skills_and_standings_are_refused_by_name(client, user, data, error):
    client.force_login(user)
    response = client.post("/account/trading-profile/", data, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert error in html and "Saved." not in html
    assert fee_rates_for(user) == DEFAULT_FEE_RATES
    response = client.post("/account/trading-profile/", data)
    assert response.status_code == 400 and error in response.content.decode()


@pytest.mark.embedded
def test_anonymous_visitors_get_the_default_fees(user):
    assert fee_rates_for(AnonymousUser()) == DEFAULT_FEE_RATES
    assert fee_rates_for(None) == DEFAULT_FEE_RATES
    assert fee_rates_for(user) == DEFAULT_FEE_RATES  # no profile yet
    assert not TradingProfile.objects.exists()  # reading never creates one


def test_healthz_counts_linked_and_broken_logins(admin_client, make_character, user):
    make_character(user)
    broken = make_character(user, character_id=1002, name="Broken")
    Character.objects.filter(pk=broken.pk).update(needs_relogin=True)
    report = admin_client.get("/healthz").json()  # counts are for staff
    assert report["accounts"]["characters"] == 2
    assert report["accounts"]["needs_relogin"] == 1
