"""The pilot's ledger as its own app: the seven models the market app created (``market``
0003) join this app's migration state, on their existing tables (``Meta.db_table`` keeps the
``market_`` names), so no data moves. Their content types follow them (app label ``market`` →
``ledger``), which keeps the admin permissions granted on them and the admin log's links.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


LEDGER_MODELS = (
    "characterorder",
    "characterorderversion",
    "ledgerpreference",
    "ledgersync",
    "walletbalance",
    "walletjournalentry",
    "wallettransaction",
)


def _content_types_move(apps, from_label: str, to_label: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    taken = set(
        ContentType.objects.filter(app_label=to_label, model__in=LEDGER_MODELS).values_list(
            "model", flat=True
        )
    )
    # A fresh database has none yet (post_migrate creates them under the new label).
    ContentType.objects.filter(app_label=from_label, model__in=LEDGER_MODELS).exclude(
        model__in=taken
    ).update(app_label=to_label)


def content_types_to_ledger(apps, schema_editor) -> None:
    _content_types_move(apps, "market", "ledger")


def content_types_to_market(apps, schema_editor) -> None:
    _content_types_move(apps, "ledger", "market")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("market", "0006_ledger_moved_out"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("accounts", "0002_hauling_preferences"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="CharacterOrder",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("order_id", models.BigIntegerField()),
                        ("type_id", models.IntegerField()),
                        ("region_id", models.IntegerField()),
                        ("location_id", models.BigIntegerField()),
                        ("is_buy_order", models.BooleanField(default=False)),
                        ("price", models.DecimalField(decimal_places=2, max_digits=20)),
                        ("volume_total", models.IntegerField()),
                        ("volume_remain", models.IntegerField()),
                        ("min_volume", models.IntegerField(blank=True, null=True)),
                        ("range", models.CharField(max_length=12)),
                        ("duration", models.IntegerField()),
                        (
                            "escrow",
                            models.DecimalField(
                                blank=True, decimal_places=2, max_digits=20, null=True
                            ),
                        ),
                        ("is_corporation", models.BooleanField(default=False)),
                        ("issued", models.DateTimeField()),
                        (
                            "state",
                            models.CharField(
                                choices=[
                                    ("open", "open"),
                                    ("closed", "closed (details not synced yet)"),
                                    ("expired", "expired or filled"),
                                    ("cancelled", "cancelled"),
                                ],
                                default="open",
                                max_length=10,
                            ),
                        ),
                        ("first_seen", models.DateTimeField(default=django.utils.timezone.now)),
                        ("last_seen", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "market_price",
                            models.DecimalField(
                                blank=True, decimal_places=2, max_digits=20, null=True
                            ),
                        ),
                        ("market_checked_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "undercut_by",
                            models.DecimalField(
                                blank=True, decimal_places=2, max_digits=20, null=True
                            ),
                        ),
                        ("undercut_since", models.DateTimeField(blank=True, null=True)),
                        ("undercut_notified_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "character",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="market_orders",
                                to="accounts.character",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "market_characterorder",
                        "ordering": ["-issued"],
                    },
                ),
                migrations.CreateModel(
                    name="CharacterOrderVersion",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("issued", models.DateTimeField()),
                        ("price", models.DecimalField(decimal_places=2, max_digits=20)),
                        ("volume_total", models.IntegerField()),
                        (
                            "order",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="versions",
                                to="ledger.characterorder",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "market_characterorderversion",
                        "ordering": ["order", "issued"],
                    },
                ),
                migrations.CreateModel(
                    name="LedgerPreference",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "cost_method",
                            models.CharField(
                                choices=[
                                    ("fifo", "First in, first out"),
                                    ("average", "Average cost"),
                                ],
                                default="fifo",
                                max_length=10,
                            ),
                        ),
                        (
                            "email_on_undercut",
                            models.BooleanField(
                                default=False,
                                help_text="One e-mail each time one of your orders stops being the best price.",
                                verbose_name="e-mail me when an order is undercut",
                            ),
                        ),
                        (
                            "user",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="ledger_preference",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "market_ledgerpreference",
                    },
                ),
                migrations.CreateModel(
                    name="LedgerSync",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "endpoint",
                            models.CharField(
                                choices=[
                                    ("balance", "wallet balance"),
                                    ("journal", "wallet journal"),
                                    ("transactions", "wallet transactions"),
                                    ("orders", "open orders"),
                                    ("order_history", "order history"),
                                ],
                                max_length=20,
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("never", "not synced yet"),
                                    ("updated", "updated"),
                                    ("unchanged", "up to date"),
                                    ("missing_scope", "scope not granted"),
                                    ("needs_relogin", "needs a new EVE login"),
                                    ("failed", "failed"),
                                ],
                                default="never",
                                max_length=20,
                            ),
                        ),
                        ("message", models.CharField(blank=True, max_length=500)),
                        ("last_started", models.DateTimeField(blank=True, null=True)),
                        ("last_finished", models.DateTimeField(blank=True, null=True)),
                        ("last_success", models.DateTimeField(blank=True, null=True)),
                        ("expires", models.DateTimeField(blank=True, null=True)),
                        ("refresh_requested_at", models.DateTimeField(blank=True, null=True)),
                        ("needs_full_fetch", models.BooleanField(default=False)),
                        (
                            "character",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="ledger_syncs",
                                to="accounts.character",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "market_ledgersync",
                        "ordering": ["character", "endpoint"],
                    },
                ),
                migrations.CreateModel(
                    name="WalletBalance",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("recorded_at", models.DateTimeField()),
                        ("balance", models.DecimalField(decimal_places=2, max_digits=20)),
                        (
                            "character",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="wallet_balances",
                                to="accounts.character",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "market_walletbalance",
                        "ordering": ["character", "recorded_at"],
                        "get_latest_by": "recorded_at",
                    },
                ),
                migrations.CreateModel(
                    name="WalletJournalEntry",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("entry_id", models.BigIntegerField()),
                        ("date", models.DateTimeField()),
                        ("ref_type", models.CharField(max_length=64)),
                        (
                            "amount",
                            models.DecimalField(
                                blank=True, decimal_places=2, max_digits=20, null=True
                            ),
                        ),
                        (
                            "balance",
                            models.DecimalField(
                                blank=True, decimal_places=2, max_digits=20, null=True
                            ),
                        ),
                        ("context_id", models.BigIntegerField(blank=True, null=True)),
                        ("context_id_type", models.CharField(blank=True, max_length=40)),
                        ("description", models.TextField(blank=True)),
                        ("reason", models.TextField(blank=True)),
                        ("first_party_id", models.BigIntegerField(blank=True, null=True)),
                        ("second_party_id", models.BigIntegerField(blank=True, null=True)),
                        (
                            "tax",
                            models.DecimalField(
                                blank=True, decimal_places=2, max_digits=20, null=True
                            ),
                        ),
                        ("tax_receiver_id", models.BigIntegerField(blank=True, null=True)),
                        ("synced_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "character",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="journal_entries",
                                to="accounts.character",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name_plural": "wallet journal entries",
                        "db_table": "market_walletjournalentry",
                        "ordering": ["character", "-date", "-entry_id"],
                    },
                ),
                migrations.CreateModel(
                    name="WalletTransaction",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("transaction_id", models.BigIntegerField()),
                        ("date", models.DateTimeField()),
                        ("type_id", models.IntegerField()),
                        ("quantity", models.IntegerField()),
                        ("unit_price", models.DecimalField(decimal_places=2, max_digits=20)),
                        ("is_buy", models.BooleanField()),
                        ("is_personal", models.BooleanField(default=True)),
                        ("location_id", models.BigIntegerField()),
                        ("client_id", models.BigIntegerField(blank=True, null=True)),
                        ("journal_ref_id", models.BigIntegerField(blank=True, null=True)),
                        ("synced_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "character",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="wallet_transactions",
                                to="accounts.character",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "market_wallettransaction",
                        "ordering": ["-date", "-transaction_id"],
                    },
                ),
                migrations.AddIndex(
                    model_name="characterorder",
                    index=models.Index(fields=["state", "region_id"], name="market_charorder_open"),
                ),
                migrations.AddConstraint(
                    model_name="characterorder",
                    constraint=models.UniqueConstraint(
                        fields=("character", "order_id"), name="market_characterorder_unique"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="characterorderversion",
                    constraint=models.UniqueConstraint(
                        fields=("order", "issued"), name="market_orderversion_unique"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="ledgersync",
                    constraint=models.UniqueConstraint(
                        fields=("character", "endpoint"), name="market_ledgersync_unique"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="walletbalance",
                    constraint=models.UniqueConstraint(
                        fields=("character", "recorded_at"), name="market_walletbalance_unique"
                    ),
                ),
                migrations.AddIndex(
                    model_name="walletjournalentry",
                    index=models.Index(
                        fields=["character", "ref_type", "date"], name="market_journal_reftype"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="walletjournalentry",
                    constraint=models.UniqueConstraint(
                        fields=("character", "entry_id"), name="market_journalentry_unique"
                    ),
                ),
                migrations.AddIndex(
                    model_name="wallettransaction",
                    index=models.Index(fields=["character", "-date"], name="market_wallettx_date"),
                ),
                migrations.AddIndex(
                    model_name="wallettransaction",
                    index=models.Index(
                        fields=["character", "type_id"], name="market_wallettx_type"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="wallettransaction",
                    constraint=models.UniqueConstraint(
                        fields=("character", "transaction_id"),
                        name="market_wallettransaction_unique",
                    ),
                ),
            ],
        ),
        migrations.RunPython(content_types_to_ledger, content_types_to_market),
    ]
