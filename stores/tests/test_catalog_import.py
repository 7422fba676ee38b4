import gzip
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from stores.catalog import CatalogImportError, catalog_import
from stores.models import Card, CardName, CatalogImport, Printing, Set
from stores.tests.factories import SCRYFALL, bulk_bytes, sample_cards

pytestmark = pytest.mark.django_db

FIRST_LINE = (SCRYFALL / "cards-sample.jsonl").read_bytes().splitlines()[0]


def catalog_snapshot() -> dict:
    return {
        "sets": sorted(
            Set.objects.values_list("code", "name", "set_type", "released_at", "parent__code")
        ),
        "cards": sorted(Card.objects.values_list("oracle_id", "name", "layout", "kind")),
        "names": sorted(
            CardName.objects.values_list("card__name", "name", "search_key", "is_face")
        ),
        "printings": sorted(
            (str(p["scryfall_id"]), tuple(sorted(p.items()))) for p in Printing.objects.values()
        ),
    }


@pytest.mark.embedded
@pytest.mark.parametrize("form", ["jsonl", "json", "jsonl.gz", "json.gz"])
def test_it_imports_the_real_samples_in_every_form_scryfall_serves(bulk_file, form):
    summary = catalog_import(path=bulk_file(form=form), progress=False)
    assert summary.objects_read == 45 and summary.skipped == 0
    assert (summary.cards, summary.printings, summary.sets) == (43, 45, 18)
    assert Printing.objects.count() == 45 and Card.objects.count() == 43


def test_it_keeps_every_layout_with_its_face_names(catalog):
    layouts = set(Card.objects.values_list("layout", flat=True))
    assert {
        "normal",
        "split",
        "flip",
        "transform",
        "modal_dfc",
        "reversible_card",
        "token",
    } <= layouts
    driven = Card.objects.get(name="Driven // Despair")
    assert sorted(driven.names.values_list("name", "is_face")) == [
        ("Despair", True),
        ("Driven", True),
        ("Driven // Despair", False),
    ]
    orochi = Card.objects.get(layout="flip")
    assert set(orochi.names.values_list("search_key", flat=True)) == {
        "orochi eggwatcher // shidako broodmistress",
        "orochi eggwatcher",
        "shidako broodmistress",
    }
    # A reversible card repeating one card on both sides is that card, with one name.
    zndrsplt = Card.objects.get(layout="reversible_card")
    assert zndrsplt.name == "Zndrsplt, Eye of Wisdom"
    assert list(zndrsplt.names.values_list("name", flat=True)) == ["Zndrsplt, Eye of Wisdom"]


def test_it_keeps_tokens_apart_from_playable_cards(catalog):
    snake = Card.objects.get(name="Snake")
    assert snake.kind == Card.Kind.TOKEN and snake.printings.get().set.set_type == "token"
    assert not snake.names.exists()  # never found by search or deck lists
    assert Card.objects.filter(kind=Card.Kind.CARD).count() == 42


def test_it_stores_printings_with_odd_collector_numbers_finishes_and_prices(catalog):
    anaconda = Printing.objects.get(set__code="7ed", card__name="Anaconda")
    assert anaconda.collector_number == "229★" and anaconda.finishes == ["foil"]
    assert anaconda.price_usd is None and anaconda.price_usd_foil == Decimal("6.78")
    assert anaconda.tcgplayer_id == 2816
    assert Printing.objects.get(set__code="por", card__name="Anaconda").collector_number == "158†"
    assert Printing.objects.get(set__code="unf", card__name="Trash Bin").collector_number == "232a"
    python = Printing.objects.get(card__name="Python")
    assert python.lang == "es" and python.tcgplayer_id is None
    recall = Card.objects.get(name="Ancestral Recall")
    assert sorted(recall.printings.values_list("set__code", "digital")) == [
        ("lea", False),
        ("vma", True),
    ]
    lotus = Printing.objects.get(card__name="Black Lotus")
    assert lotus.price_eur == Decimal("5000.00") and lotus.set.name == "Limited Edition Alpha"


def test_reimporting_changes_nothing(catalog):
    before = catalog_snapshot()
    summary = catalog_import(path=SCRYFALL / "cards-sample.jsonl", progress=False)
    assert (summary.cards_created, summary.printings_created, summary.sets_created) == (0, 0, 0)
    assert catalog_snapshot() == before


def test_it_never_deletes_a_card_missing_from_a_later_file(catalog, bulk_file):
    lotus = [c for c in sample_cards() if c["name"] == "Black Lotus"]
    catalog_import(path=bulk_file(lotus), progress=False)
    assert Card.objects.count() == 43 and Printing.objects.count() == 45


def test_it_updates_prices_and_names_in_place(catalog, bulk_file):
    lotus = next(c for c in sample_cards() if c["name"] == "Black Lotus")
    lotus = {
        **lotus,
        "prices": {**lotus["prices"], "eur": "5100.50"},
        "finishes": ["nonfoil", "foil"],
    }
    catalog_import(path=bulk_file([lotus]), progress=False)
    printing = Printing.objects.get(scryfall_id=lotus["id"])
    assert printing.price_eur == Decimal("5100.50") and printing.finishes == ["nonfoil", "foil"]
    assert Printing.objects.count() == 45


@pytest.mark.embedded
def test_a_truncated_gzip_is_reported_and_nothing_is_written(bulk_file, tmp_path):
    whole = bulk_bytes(sample_cards(), "jsonl.gz")
    path = tmp_path / "default-cards.jsonl.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    with pytest.raises(CatalogImportError) as error:
        catalog_import(path=path, progress=False, batch_size=5)
    message = str(error.value)
    assert "default-cards.jsonl.gz (gzip)" in message
    assert "truncated" in message and ("line " in message or "at byte " in message)
    assert Card.objects.count() == Set.objects.count() == Printing.objects.count() == 0
    assert not CatalogImport.objects.exists()


def test_a_failed_import_leaves_an_existing_catalog_exactly_as_it_was(catalog, tmp_path):
    before = catalog_snapshot()
    changed = [{**c, "prices": {"usd": "999.99"}} for c in sample_cards()]
    whole = bulk_bytes(changed, "json.gz")
    path = tmp_path / "default-cards.json.gz"
    path.write_bytes(whole[:-40])
    with pytest.raises(CatalogImportError, match=r"truncated or corrupt at byte \d+"):
        catalog_import(path=path, progress=False, batch_size=5)
    assert catalog_snapshot() == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (FIRST_LINE + b'\n{"id": nope}\n', r"cards\.jsonl: line 2 is not valid JSON"),
        (FIRST_LINE + b'\n{"id": ', r"cards\.jsonl: line 2 is cut short: the file is truncated"),
        (
            b"[" + FIRST_LINE + b' {"id"}]',
            r"malformed JSON after object #1 \(byte \d+ of the file\)",
        ),
        (b"", r"the file is empty"),
        (b"id,name\n1,Black Lotus\n", r"not a JSON array or JSON Lines file"),
        (b'[{"object": "set", "code": "lea"}]', r"object #1: expected a card object, found 'set'"),
        (b"[1, 2]", r"object #1: expected a card object, found int"),
    ],
)
def test_malformed_files_are_reported_by_position(tmp_path, body, message):
    path = tmp_path / "cards.jsonl"
    path.write_bytes(body)
    with pytest.raises(CatalogImportError, match=message):
        catalog_import(path=path, progress=False)
    assert not Card.objects.exists()


def test_a_card_object_without_a_required_field_names_the_line_and_the_field(bulk_file):
    cards = sample_cards()
    del cards[6]["collector_number"]
    with pytest.raises(
        CatalogImportError, match=r"line 7: card 7713ba59-\S+ has no 'collector_number'"
    ):
        catalog_import(path=bulk_file(cards), progress=False)
    assert not Printing.objects.exists()


def test_objects_without_an_oracle_identity_are_counted_as_skipped(bulk_file):
    cards = sample_cards()[:3]
    cards[1] = {k: v for k, v in cards[1].items() if k != "oracle_id"}
    summary = catalog_import(path=bulk_file(cards), progress=False)
    assert summary.skipped == 1 and Printing.objects.count() == 2
    assert "1 skipped (no oracle identity)" in str(summary)


def test_sets_from_scryfall_bring_types_and_parents(bulk_file):
    sets = [
        {"code": "unf", "name": "Unfinity", "set_type": "funny", "released_at": "2022-10-07"},
        {
            "code": "sunf",
            "name": "Unfinity Sticker Sheets",
            "set_type": "funny",
            "released_at": "2022-10-07",
            "parent_set_code": "unf",
        },
        {
            "code": "tc15",
            "name": "Commander 2015 Tokens",
            "set_type": "token",
            "parent_set_code": "c15",
        },
    ]
    catalog_import(path=bulk_file(), sets=sets, progress=False)
    assert Set.objects.get(code="sunf").parent.code == "unf"
    assert Set.objects.get(code="tc15").parent is None  # its parent is not in the catalog
    with pytest.raises(CatalogImportError, match="set #1 from /sets has no code or name"):
        catalog_import(path=bulk_file(), sets=[{"name": "Nameless"}], progress=False)


def test_the_command_imports_a_file_and_prints_a_summary(tmp_path):
    path = tmp_path / "default-cards.json.gz"
    path.write_bytes(gzip.compress(json.dumps(sample_cards()).encode()))
    out = StringIO()
    call_command("import_scryfall", str(path), "--no-progress", stdout=out)
    assert out.getvalue().strip() == (
        "Imported 45 card objects from default-cards.json.gz: 43 cards (+43), "
        "45 printings (+45), 18 sets (+18) in " + out.getvalue().split(" in ")[-1].strip()
    )
    assert CatalogImport.objects.get().printings_created == 45


def test_the_command_says_what_went_wrong_and_that_nothing_was_imported(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"object": "card", "id": "x", "name": "Black Lotus"\n')
    with pytest.raises(CommandError, match=r"line 1 is not valid JSON .*Nothing was imported"):
        call_command("import_scryfall", str(path), "--no-progress")
    with pytest.raises(CommandError, match=r"nowhere\.json: no such file"):
        call_command("import_scryfall", str(tmp_path / "nowhere.json"))
