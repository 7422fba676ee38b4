"""The pilot's ledger moved to its own app (``ledger``): its seven models leave the market's
migration state only. Their tables stay where they are, under their old names (each model's
``Meta.db_table``), so no data moves; the ledger app's ``0001_initial`` takes them over in its
state, after this migration.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("market", "0005_sde_source")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.RemoveField(
                    model_name="characterorderversion",
                    name="order",
                ),
                migrations.RemoveField(
                    model_name="ledgerpreference",
                    name="user",
                ),
                migrations.RemoveField(
                    model_name="ledgersync",
                    name="character",
                ),
                migrations.RemoveField(
                    model_name="walletbalance",
                    name="character",
                ),
                migrations.RemoveField(
                    model_name="walletjournalentry",
                    name="character",
                ),
                migrations.RemoveField(
                    model_name="wallettransaction",
                    name="character",
                ),
                migrations.DeleteModel(
                    name="CharacterOrder",
                ),
                migrations.DeleteModel(
                    name="CharacterOrderVersion",
                ),
                migrations.DeleteModel(
                    name="LedgerPreference",
                ),
                migrations.DeleteModel(
                    name="LedgerSync",
                ),
                migrations.DeleteModel(
                    name="WalletBalance",
                ),
                migrations.DeleteModel(
                    name="WalletJournalEntry",
                ),
                migrations.DeleteModel(
                    name="WalletTransaction",
                ),
            ],
        ),
    ]
