import pytest

from stores.models import Card, Printing, Set

pytestmark = pytest.mark.django_db


def test_the_catalog_is_searchable_and_read_only_in_the_admin(admin_client, catalog):
    lotus = Card.objects.get(name="Black Lotus")
    pages = {
        "/admin/stores/card/?q=driven": "Driven // Despair",
        "/admin/stores/card/?q=shidako": "Orochi Eggwatcher",
        f"/admin/stores/card/{lotus.pk}/change/": "Limited Edition Alpha",
        "/admin/stores/set/?q=unfinity": "Unfinity Sticker Sheets",
        "/admin/stores/printing/?q=7ed": "229★",
        "/admin/stores/catalogimport/": "cards-sample.jsonl",
    }
    for url, expected in pages.items():
        r = admin_client.get(url)
        assert r.status_code == 200 and expected in r.content.decode(), url
    assert admin_client.get("/admin/stores/card/add/").status_code == 403
    printing = Printing.objects.first()
    r = admin_client.post(f"/admin/stores/printing/{printing.pk}/delete/", {"post": "yes"})
    assert r.status_code == 403 and Printing.objects.filter(pk=printing.pk).exists()
    s = Set.objects.get(code="lea")
    admin_client.post(f"/admin/stores/set/{s.pk}/change/", {"code": "lea", "name": "Renamed"})
    assert Set.objects.get(code="lea").name == "Limited Edition Alpha"


def test_want_lists_are_listed_by_owner_in_the_admin(admin_client, user, want):
    want(user, "Mystic Snake", 3, finish="foil")
    r = admin_client.get("/admin/stores/wantedcard/?q=alice")
    html = r.content.decode()
    assert r.status_code == 200 and "Mystic Snake" in html and "foil" in html
    assert admin_client.get("/admin/stores/wantedcard/add/").status_code == 200
