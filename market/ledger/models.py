"""The pilot's ledger: a linked character's wallet, journal, transactions and orders, synced from
ESI by ``market.ledger.sync`` and kept for good: ESI serves only the last 30 days of a journal, so
Lenny is where a pilot's history survives. Everything hangs off ``accounts.Character`` and goes
with it.

The tables kept the names they had while these models lived in the ``market`` app (each
``Meta.db_table`` says so): moving the models between apps moved no data.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from market.ledger.profit import COST_METHODS


class LedgerPreference(models.Model):
    """How one user wants their ledger: the cost method, and whether undercuts are e-mailed."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ledger_preference"
    )
    cost_method = models.CharField(
        max_length=10, choices=list(COST_METHODS.items()), default="fifo"
    )
    email_on_undercut = models.BooleanField(
        "e-mail me when an order is undercut",
        default=False,
        help_text="One e-mail each time one of your orders stops being the best price.",
    )

    class Meta:
        db_table = "market_ledgerpreference"

    def __str__(self) -> str:
        return f"Ledger preferences of {self.user}"

    @classmethod
    def for_user(cls, user) -> LedgerPreference:
        """The user's preferences, or the defaults (unsaved) when they never chose."""
        return cls.objects.filter(user=user).first() or cls(user=user)


class WalletBalance(models.Model):
    """One reading of a character's wallet balance; together they are its balance over time."""

    character = models.ForeignKey(
        "accounts.Character", on_delete=models.CASCADE, related_name="wallet_balances"
    )
    # When ESI computed the balance (its Last-Modified), not when Lenny asked.
    recorded_at = models.DateTimeField()
    balance = models.DecimalField(max_digits=20, decimal_places=2)

    class Meta:
        db_table = "market_walletbalance"
        ordering = ["character", "recorded_at"]
        get_latest_by = "recorded_at"
        constraints = [
            models.UniqueConstraint(
                fields=["character", "recorded_at"], name="market_walletbalance_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.balance} ISK at {self.recorded_at:%Y-%m-%d %H:%M}"


class WalletJournalEntry(models.Model):
    """One row of a character's wallet journal, exactly as ESI gave it. Never deleted by sync.

    ``entry_id`` is ESI's reference id: the same event (a donation between two of a user's
    characters) appears in both wallets under one id, hence unique per character.
    """

    character = models.ForeignKey(
        "accounts.Character", on_delete=models.CASCADE, related_name="journal_entries"
    )
    entry_id = models.BigIntegerField()
    date = models.DateTimeField()
    ref_type = models.CharField(max_length=64)
    amount = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    balance = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    context_id = models.BigIntegerField(null=True, blank=True)
    context_id_type = models.CharField(max_length=40, blank=True)
    description = models.TextField(blank=True)
    reason = models.TextField(blank=True)
    first_party_id = models.BigIntegerField(null=True, blank=True)
    second_party_id = models.BigIntegerField(null=True, blank=True)
    tax = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    tax_receiver_id = models.BigIntegerField(null=True, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "market_walletjournalentry"
        ordering = ["character", "-date", "-entry_id"]
        verbose_name_plural = "wallet journal entries"
        constraints = [
            models.UniqueConstraint(
                fields=["character", "entry_id"], name="market_journalentry_unique"
            )
        ]
        indexes = [
            models.Index(fields=["character", "ref_type", "date"], name="market_journal_reftype"),
        ]

    def __str__(self) -> str:
        return f"{self.ref_type} {self.amount} at {self.date:%Y-%m-%d %H:%M}"


class WalletTransaction(models.Model):
    """One market transaction of a character. ``transaction_id`` is unique in its wallet."""

    character = models.ForeignKey(
        "accounts.Character", on_delete=models.CASCADE, related_name="wallet_transactions"
    )
    transaction_id = models.BigIntegerField()
    date = models.DateTimeField()
    type_id = models.IntegerField()
    quantity = models.IntegerField()
    unit_price = models.DecimalField(max_digits=20, decimal_places=2)
    is_buy = models.BooleanField()
    is_personal = models.BooleanField(default=True)
    location_id = models.BigIntegerField()
    client_id = models.BigIntegerField(null=True, blank=True)
    journal_ref_id = models.BigIntegerField(null=True, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "market_wallettransaction"
        ordering = ["-date", "-transaction_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["character", "transaction_id"], name="market_wallettransaction_unique"
            )
        ]
        indexes = [
            models.Index(fields=["character", "-date"], name="market_wallettx_date"),
            models.Index(fields=["character", "type_id"], name="market_wallettx_type"),
        ]

    def __str__(self) -> str:
        side = "bought" if self.is_buy else "sold"
        return f"{side} {self.quantity} of type {self.type_id} at {self.unit_price}"

    @property
    def total(self):
        return self.quantity * self.unit_price


class CharacterOrderQuerySet(models.QuerySet):
    def open(self) -> CharacterOrderQuerySet:
        return self.filter(state=CharacterOrder.State.OPEN)

    def owned_by(self, user) -> CharacterOrderQuerySet:
        return self.filter(character__owner=user)


class CharacterOrder(models.Model):
    """A character's market order as last seen, open or closed, with its undercut state.

    Every price change re-issues the order (and costs a broker fee), so each version seen is kept
    in ``CharacterOrderVersion`` for the profit maths.
    """

    class State(models.TextChoices):
        OPEN = "open", "open"
        CLOSED = "closed", "closed (details not synced yet)"
        EXPIRED = "expired", "expired or filled"
        CANCELLED = "cancelled", "cancelled"

    character = models.ForeignKey(
        "accounts.Character", on_delete=models.CASCADE, related_name="market_orders"
    )
    order_id = models.BigIntegerField()
    type_id = models.IntegerField()
    region_id = models.IntegerField()
    location_id = models.BigIntegerField()
    is_buy_order = models.BooleanField(default=False)
    price = models.DecimalField(max_digits=20, decimal_places=2)
    volume_total = models.IntegerField()
    volume_remain = models.IntegerField()
    min_volume = models.IntegerField(null=True, blank=True)
    range = models.CharField(max_length=12)
    duration = models.IntegerField()
    escrow = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    is_corporation = models.BooleanField(default=False)
    issued = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    # Against the current snapshot's best price at the order's station: ask for a sell order,
    # bid for a buy order. ``undercut_by`` is set while a competitor beats this order.
    market_price = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    market_checked_at = models.DateTimeField(null=True, blank=True)
    undercut_by = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    undercut_since = models.DateTimeField(null=True, blank=True)
    # Set when this undercut episode was e-mailed; cleared when the order is the best again.
    undercut_notified_at = models.DateTimeField(null=True, blank=True)

    objects = CharacterOrderQuerySet.as_manager()

    class Meta:
        db_table = "market_characterorder"
        ordering = ["-issued"]
        constraints = [
            models.UniqueConstraint(
                fields=["character", "order_id"], name="market_characterorder_unique"
            )
        ]
        indexes = [
            models.Index(fields=["state", "region_id"], name="market_charorder_open"),
        ]

    def __str__(self) -> str:
        side = "buy" if self.is_buy_order else "sell"
        return f"{side} order {self.order_id}: {self.volume_remain}/{self.volume_total} at {self.price}"

    @property
    def side(self) -> str:
        return "buy" if self.is_buy_order else "sell"

    @property
    def is_undercut(self) -> bool:
        return self.undercut_since is not None

    @property
    def remaining_value(self):
        return self.volume_remain * self.price


class CharacterOrderVersion(models.Model):
    """One version of an order: placing or modifying it sets ``issued`` (and costs a fee)."""

    order = models.ForeignKey(CharacterOrder, on_delete=models.CASCADE, related_name="versions")
    issued = models.DateTimeField()
    price = models.DecimalField(max_digits=20, decimal_places=2)
    volume_total = models.IntegerField()

    class Meta:
        db_table = "market_characterorderversion"
        ordering = ["order", "issued"]
        constraints = [
            models.UniqueConstraint(fields=["order", "issued"], name="market_orderversion_unique")
        ]

    def __str__(self) -> str:
        return f"order {self.order_id} at {self.price} from {self.issued:%Y-%m-%d %H:%M}"


class LedgerSync(models.Model):
    """How one character's ESI endpoint last synced, and whether a "Refresh now" awaits it."""

    class Endpoint(models.TextChoices):
        BALANCE = "balance", "wallet balance"
        JOURNAL = "journal", "wallet journal"
        TRANSACTIONS = "transactions", "wallet transactions"
        ORDERS = "orders", "open orders"
        ORDER_HISTORY = "order_history", "order history"

    class Status(models.TextChoices):
        NEVER = "never", "not synced yet"
        UPDATED = "updated", "updated"
        UNCHANGED = "unchanged", "up to date"
        MISSING_SCOPE = "missing_scope", "scope not granted"
        NEEDS_RELOGIN = "needs_relogin", "needs a new EVE login"
        FAILED = "failed", "failed"

    character = models.ForeignKey(
        "accounts.Character", on_delete=models.CASCADE, related_name="ledger_syncs"
    )
    endpoint = models.CharField(max_length=20, choices=Endpoint.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEVER)
    message = models.CharField(max_length=500, blank=True)
    last_started = models.DateTimeField(null=True, blank=True)
    last_finished = models.DateTimeField(null=True, blank=True)
    last_success = models.DateTimeField(null=True, blank=True)
    # ESI's Expires for the last answer: asking again before then returns the same data.
    expires = models.DateTimeField(null=True, blank=True)
    refresh_requested_at = models.DateTimeField(null=True, blank=True)
    # After a failed write the cached ETag would make ESI say "unchanged": fetch in full.
    needs_full_fetch = models.BooleanField(default=False)

    class Meta:
        db_table = "market_ledgersync"
        ordering = ["character", "endpoint"]
        constraints = [
            models.UniqueConstraint(
                fields=["character", "endpoint"], name="market_ledgersync_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.character_id} {self.endpoint}: {self.status}"

    def refresh_pending(self, *, stale_before) -> bool:
        """True while a "Refresh now" issued after ``stale_before`` has not finished here."""
        requested = self.refresh_requested_at
        if requested is None or requested < stale_before:
            return False
        return self.last_finished is None or self.last_finished < requested
