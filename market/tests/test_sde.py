"""manage.py import_sde: the shared real CSVs, the small slice, and broken files."""

from __future__ import annotations

import functools
import io
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import CommandError, call_command

from market.models import (
    Category,
    Constellation,
    Group,
    MarketGroup,
    Region,
    SolarSystem,
    Station,
    SystemJump,
    Type,
)
from market.sde import TABLES_BY_NAME, SdeFileError, csv_decode, sde_table_parse
from market.tests.factories import JITA_STATION, SDE_SAMPLE

EN_DASH = "\u2013"


def import_sde(source, *args) -> str:
    out = io.StringIO()
    call_command("import_sde", str(source), *args, stdout=out)
    return out.getvalue()


def table_counts() -> dict[str, int]:
    models = [
        Category,
        Group,
        MarketGroup,
        Type,
        Region,
        Constellation,
        SolarSystem,
        SystemJump,
        Station,
    ]
    return {model.__name__: model.objects.count() for model in models}


# --- the real shared SDE ------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_imports_the_whole_shared_sde_and_a_second_run_changes_nothing(shared_sde):
    first = import_sde(shared_sde)

    assert table_counts() == {
        "Category": 48,
        "Group": 1578,
        "MarketGroup": 2092,
        "Type": 33735,
        "Region": 113,
        "Constellation": 1175,
        "SolarSystem": 8437,
        "SystemJump": 13776,
        "Station": 5154,
    }
    jita = Station.objects.select_related("system", "region").get(pk=JITA_STATION)
    assert jita.name == "Jita IV - Moon 4 - Caldari Navy Assembly Plant"
    assert (jita.system.name, jita.region.name) == ("Jita", "The Forge")
    assert jita.system.security_display == 0.9
    # The 2019 invTypes.csv is Windows-1252: its en dash and curly quotes come through intact.
    assert Type.objects.get(pk=30952).name == f"Dossier {EN_DASH} Author Unknown"
    assert Type.objects.get(pk=32371).name == f"Capital Ship Design {EN_DASH} \u201cDictator\u201d"
    tritanium = Type.objects.get(pk=34)
    assert (tritanium.name, tritanium.volume, tritanium.published) == ("Tritanium", 0.01, True)
    assert tritanium.market_group.name == "Minerals" and tritanium.group.name == "Mineral"
    assert "invTypes.csv (Windows-1252): 33,735 rows" in first
    # The one type whose market group the 2026 tables lack is kept, without it, and reported.
    assert "1 kept without market group, not in invMarketGroups (e.g. 33067)" in first
    assert Type.objects.get(pk=33067).market_group is None
    assert "SDE imported: 66,108 rows new, 0 changed" in first

    second = import_sde(shared_sde)

    assert "SDE already up to date: 66,108 rows read, nothing changed" in second
    assert table_counts()["Type"] == 33735


@pytest.mark.django_db
def test_it_finds_the_jita_neighbourhood_in_the_jump_graph(shared_sde):
    import_sde(shared_sde, "--table", "mapRegions", "--table", "mapConstellations")
    import_sde(shared_sde, "--table", "mapSolarSystems", "--table", "mapSolarSystemJumps")

    graph = SystemJump.adjacency()
    perimeter = SolarSystem.objects.get(name="Perimeter").pk
    assert perimeter in graph[30000142]
    assert 30000142 in graph[perimeter]


# --- the small slice ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.embedded
def test_it_imports_the_slice_with_its_market_tree_whole(sde_loaded):
    assert Station.objects.get(pk=JITA_STATION).name.startswith("Jita IV - Moon 4")
    assert Region.objects.filter(name__in=["The Forge", "Domain", "Heimatar"]).count() == 3
    assert Type.objects.filter(name__icontains="trit").get().pk == 34
    raven = Type.objects.get(name="Raven")
    assert raven.market_group.parent is not None  # the market tree is whole, parents first
    # No packaged volume in these files: a ship's assembled volume is no cargo figure, so its
    # volume is unknown until ESI gives the packaged one (market.universe).
    assert raven.volume == 486000.0 and raven.shipping_volume is None
    assert Type.objects.get(pk=34).shipping_volume == 0.01  # not a ship: its volume


@pytest.mark.django_db
def test_it_updates_only_the_rows_that_changed(sde_sample):
    import_sde(sde_sample)
    path = sde_sample / "mapRegions.csv"
    path.write_text(path.read_text().replace("The Forge", "The Forge (renamed)"))

    out = import_sde(sde_sample, "--table", "mapRegions")

    assert "mapRegions.csv (UTF-8): 5 rows: 0 new, 1 changed, 4 unchanged" in out
    assert Region.objects.get(pk=10000002).name == "The Forge (renamed)"


@pytest.mark.django_db
def test_it_reads_headers_in_any_case_with_a_bom_extra_columns_and_none_as_null(tmp_path):
    (tmp_path / "invCategories.csv").write_bytes(
        "\ufeffCATEGORYID,Extra,categoryname,PUBLISHED\r\n"
        "4,x,Material,1\r\n"
        "6,y,Ship,None\r\n".encode()
    )
    (tmp_path / "invGroups.csv").write_text(
        "groupID,categoryID,groupName,published\n18,4,Mineral,1\n25,None,Frigate,\n"
    )

    import_sde(tmp_path)

    assert list(Category.objects.order_by("pk").values_list("pk", "name", "published")) == [
        (4, "Material", True),
        (6, "Ship", False),
    ]
    assert Group.objects.get(pk=25).category is None


@pytest.mark.django_db
def test_it_keeps_rows_without_their_missing_parent_or_skips_them_and_says_which(tmp_path):
    (tmp_path / "mapRegions.csv").write_text("regionID,regionName\n10000002,The Forge\n")
    (tmp_path / "mapConstellations.csv").write_text(
        "regionID,constellationID,constellationName\n"
        "10000002,20000020,Kimotoro\n"
        "10000099,20000999,Nowhere\n"
    )
    (tmp_path / "invTypes.csv").write_text(
        "typeID,groupID,typeName,volume,published,marketGroupID\n34,18,Tritanium,0.01,1,1857\n"
    )

    out = import_sde(tmp_path)

    assert Constellation.objects.get().name == "Kimotoro"
    assert "1 skipped, region not in mapRegions (e.g. 20000999)" in out
    tritanium = Type.objects.get()
    assert (tritanium.group_id, tritanium.market_group_id) == (None, None)
    assert "1 kept without group, not in invGroups (e.g. 34)" in out
    assert "1 kept without market group, not in invMarketGroups (e.g. 34)" in out


@pytest.mark.django_db
def test_it_downloads_the_tables_from_a_base_url(tmp_path):
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(SDE_SAMPLE))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        out = import_sde(f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()

    assert Station.objects.filter(pk=JITA_STATION).exists()
    assert Type.objects.get(pk=30952).name == f"Dossier {EN_DASH} Author Unknown"
    assert "not found" not in out


@pytest.mark.django_db
def test_it_reads_bz2_compressed_tables(tmp_path):
    import bz2

    (tmp_path / "mapRegions.csv.bz2").write_bytes(
        bz2.compress((SDE_SAMPLE / "mapRegions.csv").read_bytes())
    )

    import_sde(tmp_path)

    assert Region.objects.count() == 5


# --- broken input ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_malformed_row_names_its_file_and_line_and_nothing_is_imported(sde_sample):
    path = sde_sample / "staStations.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[6] = lines[6].replace("60", "6O", 1)  # a letter O where a digit belongs, line 7
    path.write_text("".join(lines))

    with pytest.raises(CommandError) as caught:
        import_sde(sde_sample)

    message = str(caught.value)
    assert "staStations.csv line 7: stationID '6O" in message
    assert "is not a whole number" in message
    # Every file is read before anything is written: not even the good tables went in.
    assert sum(table_counts().values()) == 0


@pytest.mark.django_db
def test_a_row_with_the_wrong_number_of_fields_is_reported_by_line(sde_sample):
    path = sde_sample / "mapRegions.csv"
    path.write_text(path.read_text() + "10000099,Nowhere\n")

    with pytest.raises(
        CommandError, match=r"mapRegions.csv line 7: 2 fields where the header has 14"
    ):
        import_sde(sde_sample)


def test_it_reports_every_problem_of_a_file_up_to_a_limit():
    raw = b"regionID,regionName\nabc,A\n10000001,B\n10000001,C\n,D\n"

    with pytest.raises(SdeFileError) as caught:
        sde_table_parse(TABLES_BY_NAME["mapRegions"], raw, filename="mapRegions.csv")

    assert caught.value.problems == [
        (2, "regionID 'abc' is not a whole number"),
        (4, "region 10000001 again (first on line 3)"),
        (5, "regionID is empty"),
    ]


def test_a_missing_column_is_named():
    with pytest.raises(
        SdeFileError, match=r"mapRegions\.csv line 1: no column regionName in the header"
    ):
        sde_table_parse(
            TABLES_BY_NAME["mapRegions"], b"regionID,name\n1,x\n", filename="mapRegions.csv"
        )


def test_it_decodes_utf8_and_windows_1252_but_never_replaces_a_byte():
    assert csv_decode(f"Amarr {EN_DASH} \u03a9".encode(), filename="a.csv") == (
        f"Amarr {EN_DASH} \u03a9",
        "UTF-8",
    )
    assert csv_decode(b"\xef\xbb\xbfid\n", filename="a.csv") == ("id\n", "UTF-8")
    assert csv_decode(b"Dossier \x96 Author", filename="a.csv") == (
        f"Dossier {EN_DASH} Author",
        "Windows-1252",
    )
    # 0x81 is undefined in Windows-1252 and not UTF-8 either.
    with pytest.raises(SdeFileError, match=r"a.csv line 2: byte 0x81 is neither UTF-8"):
        csv_decode(b"id,name\n1,bad \x81 byte\n", filename="a.csv")


def test_it_rejects_numbers_that_are_not_finite_or_not_whole():
    raw = b"solarSystemID,solarSystemName,constellationID,regionID,security\n1,A,2,3,nan\n4,B,5.5,3,0.5\n"

    with pytest.raises(SdeFileError) as caught:
        sde_table_parse(TABLES_BY_NAME["mapSolarSystems"], raw, filename="s.csv")

    assert caught.value.problems == [
        (2, "security 'nan' is not a number"),
        (3, "constellationID '5.5' is not a whole number"),
    ]


@pytest.mark.django_db
def test_a_folder_without_sde_tables_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CommandError, match="none of the SDE tables found"):
        import_sde(tmp_path)
    with pytest.raises(CommandError, match="not a folder"):
        import_sde(tmp_path / "missing")


@pytest.mark.django_db
def test_the_admin_searches_types_and_stations(admin_client, sde_loaded):
    response = admin_client.get("/admin/market/type/", {"q": "trit"})
    assert response.status_code == 200
    assert b"Tritanium" in response.content and b"Pyerite" not in response.content

    response = admin_client.get("/admin/market/station/", {"q": "Jita"})
    assert b"Caldari Navy Assembly Plant" in response.content

    for page in ("region", "solarsystem", "marketsnapshot"):
        assert admin_client.get(f"/admin/market/{page}/").status_code == 200


@pytest.mark.django_db
def test_packaged_volumes_from_inv_volumes_are_what_hauling_uses(sde_sample):
    (sde_sample / "invVolumes.csv").write_text("typeID,volume\n638,50000\n123456789,10\n")

    out = import_sde(sde_sample)

    raven = Type.objects.get(pk=638)
    assert (raven.volume, raven.packaged_volume, raven.shipping_volume) == (
        486000.0,
        50000.0,
        50000.0,
    )
    assert "invVolumes.csv (UTF-8): 2 rows: 0 new, 1 changed" in out
    assert "1 skipped, type not in invTypes (e.g. 123456789)" in out
    # invTypes has no packaged volume column: importing it again keeps the one from invVolumes.
    assert "SDE already up to date" in import_sde(sde_sample)
    assert Type.objects.get(pk=638).packaged_volume == 50000.0


@pytest.mark.django_db
def test_rows_gone_from_the_file_are_kept_and_counted(sde_sample):
    import_sde(sde_sample)
    path = sde_sample / "mapRegions.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))

    out = import_sde(sde_sample, "--table", "mapRegions")

    assert "1 in the database but not in the file (kept)" in out
    assert Region.objects.count() == 5
