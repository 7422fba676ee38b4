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


@pytest.mark.embedded
def test_a_visit_to_a_post_only_address_is_a_page_leading_back(client, user):
    """After a failed add without JS the address bar shows /stores/wants/add: Enter there
    showed Django's empty 405, a blank page."""
    client.force_login(user)

    response = client.get(
        reverse("stores:want_add"), headers={"Referer": "http://testserver/stores/"}
    )

    assert response.status_code == 405 and response["Allow"] == "POST"
    page = response.content.decode()
    assert "takes a form&#x27;s submission" in page or "takes a form's submission" in page
    assert '<a href="http://testserver/stores/">Back to that page</a>' in page
    # Another site's address is not offered as the way back.
    elsewhere = client.get(reverse("stores:want_add"), headers={"Referer": "https://evil.example/"})
    assert "evil.example" not in elsewhere.content.decode()
    # htmx keeps the bare answer.
    assert client.get(reverse("stores:want_add"), headers=HTMX).content == b""
