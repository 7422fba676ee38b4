"""The demo deck: a ready-made list the demo's 43-card catalog covers in full."""

import html
import re

import pytest

from stores.models import WantedCard

pytestmark = pytest.mark.django_db


def test_the_import_page_offers_the_demo_deck_and_it_imports_fully(client, user, catalog):
    client.force_login(user)
    page = client.get("/stores/wants/import").content.decode()
    assert "Try the demo deck" in page
    r = client.get("/stores/wants/import?demo=1")
    text = html.unescape(re.search(r"<textarea[^>]*>(.*?)</textarea>", r.content.decode(), re.S)[1])
    assert "4 Mystic Snake (A25) 208" in text
    r = client.post("/stores/wants/import", {"text": text, "mode": "add", "keep_printings": "on"})
    preview = html.unescape(r.content.decode())
    assert "cannot be imported" not in preview and "Import 19 cards" in preview
    payload = html.unescape(re.search(r'name="payload" value="([^"]+)"', r.content.decode())[1])
    client.post("/stores/wants/import/confirm", {"payload": payload})
    assert WantedCard.objects.filter(owner=user).count() == 19


def test_the_demo_deck_is_not_offered_when_the_catalog_lacks_its_cards(client, user, db):
    client.force_login(user)
    assert "Try the demo deck" not in client.get("/stores/wants/import").content.decode()
