"""An htmx request after the session ended: the login page as a whole page, never swapped into
the element the request meant to update (a want's row, the add form)."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/stores/?sort=name"}


@pytest.mark.embedded
def test_an_htmx_request_without_a_session_is_sent_to_the_login_page_whole(client):
    response = client.post(reverse("stores:want_add"), {"card": "Black Lotus"}, headers=HTMX)

    assert response.status_code == 200 and response.content == b""
    # Back to the page the user was on after logging in (not to the POST-only endpoint).
    assert response["HX-Redirect"] == "/accounts/login/?next=%2Fstores%2F%3Fsort%3Dname"


def test_without_htmx_the_login_redirect_is_django_s(client):
    response = client.post(reverse("stores:want_add"), {"card": "Black Lotus"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/stores/wants/add"
    assert "HX-Redirect" not in response


def test_an_htmx_request_s_other_redirects_are_left_alone(client, user):
    client.force_login(user)
    response = client.get("/market/trading", headers=HTMX)  # CommonMiddleware's slash

    assert response.status_code == 301 and "HX-Redirect" not in response
