from django.db import migrations


def trigram_index_create(apps, schema_editor):
    # name__icontains compiles to UPPER(name) LIKE UPPER(%s): a trigram index on that expression
    # answers it without a scan. Skipped where pg_trgm is not installed (it is in PostgreSQL's
    # contrib, which every packaged PostgreSQL ships).
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        if cursor.fetchone() is None:
            return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS market_type_name_trgm "
        "ON market_type USING gin ((UPPER(name::text)) gin_trgm_ops)"
    )


def trigram_index_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS market_type_name_trgm")


class Migration(migrations.Migration):
    dependencies = [("market", "0001_initial")]

    operations = [migrations.RunPython(trigram_index_create, trigram_index_drop, elidable=False)]
