"""An EVE login lands on the pilot's ledger, or back where it started when that is a page here.

End to end against the replay SSO: the test client talks to Lenny, ``requests`` to the replay.
"""

from __future__ import annotations

import pytest

from accounts.models import Character
from accounts.tests.factories import sso_login

pytestmark = pytest.mark.django_db


def test_a_new_pilot_lands_on_the_ledger(client, eve):
    response = sso_login(client, eve)

    assert response.status_code == 302 and response["Location"] == "/ledger/"
    assert Character.objects.get().name == "Lenny Demo Pilot"
    assert "Pilot's ledger" in client.get(response["Location"]).content.decode()


def test_a_returning_pilot_lands_on_the_ledger(client, eve):
    sso_login(client, eve)
    client.logout()

    response = sso_login(client, eve)

    assert response.status_code == 302 and response["Location"] == "/ledger/"


def test_a_login_started_elsewhere_returns_there(client, eve):
    response = sso_login(client, eve, next_url="/market/")

    assert response["Location"] == "/market/"


def test_an_offsite_next_is_dropped_for_the_ledger(client, eve):
    response = sso_login(client, eve, next_url="https://evil.example/")

    assert response["Location"] == "/ledger/"


def test_linking_a_character_without_a_next_lands_on_the_ledger(client, eve, user):
    client.force_login(user)

    response = sso_login(client, eve, process="connect")

    assert response.status_code == 302 and response["Location"] == "/ledger/"
    assert user.characters.count() == 1


def test_linking_from_the_profile_returns_to_the_profile(client, eve, user):
    client.force_login(user)

    response = sso_login(client, eve, process="connect", next_url="/account/")

    assert response["Location"] == "/account/"
