from django.db import migrations, models

import accounts.models


def defaults_set(apps, schema_editor):
    # Until now nothing could choose the excluded categories (the field came without a page), so
    # every empty list is "not chosen yet": it takes the defaults, as a new profile does.
    TradingProfile = apps.get_model("accounts", "TradingProfile")
    TradingProfile.objects.filter(excluded_category_ids=[]).update(
        excluded_category_ids=list(accounts.models.DEFAULT_EXCLUDED_CATEGORY_IDS)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_trading_share"),
    ]

    operations = [
        migrations.AlterField(
            model_name="tradingprofile",
            name="excluded_category_ids",
            field=models.JSONField(
                blank=True, default=accounts.models.default_excluded_category_ids
            ),
        ),
        migrations.RunPython(defaults_set, migrations.RunPython.noop),
    ]
