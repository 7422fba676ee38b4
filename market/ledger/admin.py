"""Admin pages of the pilot's ledger: synced from ESI (read-only: the next sync would undo an
edit). Tokens never show here."""

from django.contrib import admin

from market.admin import ReadOnlyAdmin
from market.ledger.models import (
    CharacterOrder,
    CharacterOrderVersion,
    LedgerPreference,
    LedgerSync,
    WalletBalance,
    WalletJournalEntry,
    WalletTransaction,
)


@admin.register(WalletBalance)
class WalletBalanceAdmin(ReadOnlyAdmin):
    list_display = ["character", "recorded_at", "balance"]
    list_select_related = ["character"]
    search_fields = ["character__name", "=character__character_id"]
    date_hierarchy = "recorded_at"


@admin.register(WalletJournalEntry)
class WalletJournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["entry_id", "character", "date", "ref_type", "amount", "balance", "context_id"]
    list_select_related = ["character"]
    list_filter = ["ref_type"]
    search_fields = ["=entry_id", "=context_id", "character__name", "description"]
    date_hierarchy = "date"


@admin.register(WalletTransaction)
class WalletTransactionAdmin(ReadOnlyAdmin):
    list_display = [
        "transaction_id",
        "character",
        "date",
        "is_buy",
        "type_id",
        "quantity",
        "unit_price",
        "location_id",
    ]
    list_select_related = ["character"]
    list_filter = ["is_buy"]
    search_fields = ["=transaction_id", "=type_id", "character__name"]
    date_hierarchy = "date"


class CharacterOrderVersionInline(admin.TabularInline):
    model = CharacterOrderVersion
    extra = 0
    can_delete = False
    fields = ["issued", "price", "volume_total"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CharacterOrder)
class CharacterOrderAdmin(ReadOnlyAdmin):
    list_display = [
        "order_id",
        "character",
        "type_id",
        "is_buy_order",
        "price",
        "volume_remain",
        "volume_total",
        "state",
        "undercut_by",
        "undercut_since",
    ]
    list_select_related = ["character"]
    list_filter = ["state", "is_buy_order", "region_id"]
    search_fields = ["=order_id", "=type_id", "character__name"]
    inlines = [CharacterOrderVersionInline]


@admin.register(LedgerSync)
class LedgerSyncAdmin(ReadOnlyAdmin):
    list_display = [
        "character",
        "endpoint",
        "status",
        "last_success",
        "last_finished",
        "expires",
        "refresh_requested_at",
        "message",
    ]
    list_select_related = ["character"]
    list_filter = ["endpoint", "status"]
    search_fields = ["character__name", "=character__character_id", "message"]


@admin.register(LedgerPreference)
class LedgerPreferenceAdmin(ReadOnlyAdmin):
    list_display = ["user", "cost_method", "email_on_undercut"]
    list_select_related = ["user"]
    search_fields = ["user__username"]
