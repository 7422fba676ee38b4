"""BestPrice partitioned by snapshot on PostgreSQL, as market_order is: each ingest COPYs its
~82k book tops into a table of their own and indexes it once, instead of adding them to three
indexes of a shared table row by row and deleting the previous snapshot's rows (dead rows for
autovacuum every five minutes). The superseded book tops are dropped with their table.

Only the current snapshots' rows are moved over: the others are never read (they would have
been deleted at the next swap). The snapshot column's own index goes (on SQLite too): the
primary key leads with it."""

import django.db.models.deletion
from django.db import migrations, models


def _current_ids(schema_editor, table: str) -> list[int]:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT snapshot_id FROM {table} WHERE snapshot_id IN "
            "(SELECT id FROM market_marketsnapshot WHERE is_current) ORDER BY 1"
        )
        return [row[0] for row in cursor.fetchall()]


def partition(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    run("ALTER TABLE market_bestprice RENAME TO market_bestprice_unpartitioned")
    run("ALTER INDEX market_bestprice_pkey RENAME TO market_bestprice_unpartitioned_pkey")
    run("ALTER INDEX market_bestprice_type RENAME TO market_bestprice_unpartitioned_type")
    run(
        "CREATE TABLE market_bestprice (LIKE market_bestprice_unpartitioned INCLUDING DEFAULTS) "
        "PARTITION BY LIST (snapshot_id)"
    )
    run(
        "ALTER TABLE market_bestprice ADD CONSTRAINT market_bestprice_pkey "
        "PRIMARY KEY (snapshot_id, location_id, type_id)"
    )
    run("CREATE INDEX market_bestprice_type ON market_bestprice (snapshot_id, type_id)")
    for snapshot_id in _current_ids(schema_editor, "market_bestprice_unpartitioned"):
        run(
            f"CREATE TABLE market_bestprice_s{snapshot_id} PARTITION OF market_bestprice "
            f"FOR VALUES IN ({snapshot_id})"
        )
        run(
            f"INSERT INTO market_bestprice_s{snapshot_id} "
            f"SELECT * FROM market_bestprice_unpartitioned WHERE snapshot_id = {snapshot_id}"
        )
    run("DROP TABLE market_bestprice_unpartitioned")


def unpartition(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    run("ALTER TABLE market_bestprice RENAME TO market_bestprice_partitioned")
    run("ALTER INDEX market_bestprice_pkey RENAME TO market_bestprice_partitioned_pkey")
    run("ALTER INDEX market_bestprice_type RENAME TO market_bestprice_partitioned_type")
    run("CREATE TABLE market_bestprice (LIKE market_bestprice_partitioned INCLUDING DEFAULTS)")
    run(
        "ALTER TABLE market_bestprice ADD CONSTRAINT market_bestprice_pkey "
        "PRIMARY KEY (snapshot_id, location_id, type_id)"
    )
    run("CREATE INDEX market_bestprice_type ON market_bestprice (snapshot_id, type_id)")
    run("INSERT INTO market_bestprice SELECT * FROM market_bestprice_partitioned")
    run("DROP TABLE market_bestprice_partitioned")  # and its partitions


class Migration(migrations.Migration):
    dependencies = [("market", "0010_structures")]

    operations = [
        migrations.AlterField(
            model_name="bestprice",
            name="snapshot",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="market.marketsnapshot",
            ),
        ),
        migrations.RunPython(partition, unpartition),
    ]
