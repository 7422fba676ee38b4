from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("market", "0004_ledger_schedules_repair")]

    operations = [
        migrations.CreateModel(
            name="SdeSource",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("url", models.CharField(max_length=500, unique=True)),
                ("validators", models.JSONField(blank=True, default=dict)),
                ("checked_at", models.DateTimeField(blank=True, null=True)),
                ("imported_at", models.DateTimeField(blank=True, null=True)),
                ("summary", models.TextField(blank=True)),
                ("failures", models.PositiveIntegerField(default=0)),
                ("failed_at", models.DateTimeField(blank=True, null=True)),
                ("error", models.TextField(blank=True)),
                ("retry_at", models.DateTimeField(blank=True, null=True)),
            ],
        ),
    ]
