import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def test_home_links_both_halves_of_the_product(client):
    r = client.get("/")
    html = r.content.decode()
    assert r.status_code == 200
    assert 'href="/market/"' in html and 'href="/stores/"' in html
    assert "htmx" in html  # django-htmx's script tag
    assert "X-CSRFToken" in html  # every htmx request carries the CSRF token


def test_navigation_shows_login_state(client, user):
    assert "Log in" in client.get("/").content.decode()
    client.force_login(user)
    html = client.get("/").content.decode()
    assert "Account (alice)" in html and "Log out" in html


def test_personal_pages_require_login(client):
    for url in ["/account/", "/stores/"]:
        r = client.get(url)
        assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")
