"""The admin's login is rate limited like the site's: guessing a staff password gets nowhere."""

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

PASSWORD = "the real admin passphrase 42"


@pytest.fixture
def superuser():
    return get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)


def _login(client, password: str, username: str = "root"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
    )


@pytest.mark.embedded  # the limits live in the cache: the embedded file cache must hold them too
def test_the_right_password_is_refused_after_too_many_wrong_ones(client, superuser):
    # allauth's default: 5 failed attempts per username in 5 minutes, as on /accounts/login/.
    for attempt in range(5):
        r = _login(client, f"guess {attempt}")
        assert r.status_code == 200
        assert b"Please enter the correct username and password" in r.content

    r = _login(client, PASSWORD)
    assert r.status_code == 200, "the right password must not get in while throttled"
    assert b"Too many failed login attempts" in r.content
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302  # still sent to the login page


def test_a_success_clears_the_failures_so_an_admin_who_mistyped_is_not_locked_out(
    client, superuser
):
    for attempt in range(4):
        _login(client, f"typo {attempt}")
    r = _login(client, PASSWORD)
    assert r.status_code == 302 and r["Location"] == "/admin/"
    client.post("/admin/logout/")

    # The four typos are forgotten: four more do not lock the account.
    for attempt in range(4):
        assert b"Too many" not in _login(client, f"again {attempt}").content
    assert _login(client, PASSWORD).status_code == 302


def test_the_throttle_is_per_username_and_a_non_staff_user_still_cannot_get_in(
    client, superuser, user
):
    for attempt in range(5):
        _login(client, f"guess {attempt}")
    # Another account is judged on its own: a regular user is refused as not staff, not throttled.
    r = _login(client, "correct horse 9", username="alice")
    assert r.status_code == 200
    assert b"Too many" not in r.content
    assert b"for a staff account" in r.content
