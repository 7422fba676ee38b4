"""Username/password accounts through allauth: sign up, log in and out, passwords."""

from __future__ import annotations

import re

import pytest
from django.core import mail

pytestmark = pytest.mark.django_db

PASSWORD = "a long trading password 42"


def sign_up(client, username: str, email: str = "", password: str = PASSWORD):
    return client.post(
        "/accounts/signup/",
        {"username": username, "email": email, "password1": password, "password2": password},
    )


@pytest.mark.embedded
def test_a_visitor_signs_up_with_a_username_and_no_email(client, django_user_model):
    response = sign_up(client, "trader")
    assert response.status_code == 302
    assert django_user_model.objects.get().username == "trader"
    assert "Account (trader)" in client.get("/").content.decode()


@pytest.mark.embedded
def test_a_taken_username_gets_a_clear_form_error(client, user, django_user_model):
    response = sign_up(client, "Alice")
    assert response.status_code == 200
    page = response.content.decode()
    assert "A user with that username already exists." in page
    assert 'aria-invalid="true"' in page
    assert django_user_model.objects.count() == 1


def test_mismatched_and_weak_passwords_are_refused(client, django_user_model):
    response = client.post(
        "/accounts/signup/",
        {"username": "x1", "password1": "12345678", "password2": "12345678"},
    )
    assert "This password is too common." in response.content.decode()
    response = client.post(
        "/accounts/signup/",
        {"username": "x1", "password1": PASSWORD, "password2": PASSWORD + "!"},
    )
    assert "You must type the same password each time." in response.content.decode()
    assert not django_user_model.objects.exists()


def test_a_user_logs_in_and_out(client, user):
    page = client.get("/accounts/login/").content.decode()
    assert 'name="login"' in page and 'name="password"' in page

    response = client.post("/accounts/login/", {"login": "alice", "password": "correct horse 9"})
    assert response.status_code == 302
    assert client.get("/account/").status_code == 200

    client.post("/accounts/logout/")
    assert client.get("/account/").status_code == 302


def test_a_wrong_password_is_refused_clearly(client, user):
    response = client.post("/accounts/login/", {"login": "alice", "password": "nope"})
    assert response.status_code == 200
    assert (
        "The username and/or password you specified are not correct." in response.content.decode()
    )


def test_the_login_page_offers_eve_online(client, eve_sso):
    page = client.get("/accounts/login/").content.decode()
    assert "Log in with EVE Online" in page
    assert 'action="/accounts/eveonline_v2/login/?process=login"' in page
    assert 'method="post"' in page


def test_without_an_eve_application_the_login_page_has_no_eve_button(client, settings):
    settings.SOCIALACCOUNT_PROVIDERS = {"eveonline_v2": {"SCOPE": []}}
    page = client.get("/accounts/login/").content.decode()
    assert "Log in with EVE Online" not in page and '<p class="or">' not in page


def test_a_user_changes_their_password(client, user):
    client.force_login(user)
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": "correct horse 9", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_a_password_reset_mail_lets_the_user_choose_a_new_password(client, user):
    sign_up(client, "bob", email="bob@example.com")
    client.logout()

    client.post("/accounts/password/reset/", {"email": "bob@example.com"})

    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["bob@example.com"]
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", mail.outbox[0].body)
    form_url = client.get(link.group(1))["Location"]
    new_password = "another long password 77"
    response = client.post(form_url, {"password1": new_password, "password2": new_password})
    assert response.status_code == 302
    assert client.login(username="bob", password=new_password)


@pytest.mark.embedded
@pytest.mark.parametrize(
    "url",
    ["/account/", "/account/characters/2112625428/", "/accounts/password/change/"],
)
def test_personal_pages_need_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    "url",
    [
        "/accounts/login/",
        "/accounts/signup/",
        "/accounts/password/reset/",
        "/accounts/logout/",
        "/accounts/password/change/",
        "/accounts/email/",
        "/accounts/3rdparty/",
    ],
)
def test_allauth_pages_render_inside_lennys_layout(client, user, eve_sso, url):
    if url not in ("/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"):
        client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'aria-label="Main"' in page and "accounts/accounts.css" in page
