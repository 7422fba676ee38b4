"""Admin pages for the static data (searchable, read-only: `import_sde` owns it) and snapshots."""

from django.contrib import admin

from market.models import (
    Category,
    Constellation,
    Group,
    MarketGroup,
    MarketSnapshot,
    Region,
    SolarSystem,
    Station,
    Type,
    TypeRegionStats,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows come from an import; an edit here would be overwritten by the next one."""

    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Region)
class RegionAdmin(ReadOnlyAdmin):
    list_display = ["name", "id"]
    search_fields = ["name", "=id"]


@admin.register(Constellation)
class ConstellationAdmin(ReadOnlyAdmin):
    list_display = ["name", "id", "region"]
    list_select_related = ["region"]
    search_fields = ["name", "=id"]


@admin.register(SolarSystem)
class SolarSystemAdmin(ReadOnlyAdmin):
    list_display = ["name", "id", "security_display", "constellation", "region"]
    list_select_related = ["constellation", "region"]
    list_filter = ["region"]
    search_fields = ["name", "=id"]

    @admin.display(description="security", ordering="security")
    def security_display(self, obj: SolarSystem) -> str:
        return f"{obj.security_display:.1f}"


@admin.register(Station)
class StationAdmin(ReadOnlyAdmin):
    list_display = ["name", "id", "system", "region", "corporation_id"]
    list_select_related = ["system", "region"]
    list_filter = ["region"]
    search_fields = ["name", "=id", "system__name"]


@admin.register(Category)
class CategoryAdmin(ReadOnlyAdmin):
    list_display = ["name", "id", "published"]
    search_fields = ["name", "=id"]


@admin.register(Group)
class GroupAdmin(ReadOnlyAdmin):
    list_display = ["name", "id", "category", "published"]
    list_select_related = ["category"]
    search_fields = ["name", "=id"]


@admin.register(MarketGroup)
class MarketGroupAdmin(ReadOnlyAdmin):
    list_display = ["name", "id", "parent", "has_types"]
    list_select_related = ["parent"]
    search_fields = ["name", "=id"]


@admin.register(Type)
class TypeAdmin(ReadOnlyAdmin):
    list_display = ["name", "id", "group", "market_group", "volume", "packaged_volume", "published"]
    list_select_related = ["group", "market_group"]
    list_filter = ["published"]
    search_fields = ["name", "=id"]


@admin.register(MarketSnapshot)
class MarketSnapshotAdmin(ReadOnlyAdmin):
    list_display = [
        "region_id",
        "fetched_at",
        "status",
        "is_current",
        "last_modified",
        "expires",
        "pages",
        "orders",
        "seconds",
    ]
    list_filter = ["status", "is_current", "region_id"]
    search_fields = ["=region_id", "error"]
    date_hierarchy = "fetched_at"


@admin.register(TypeRegionStats)
class TypeRegionStatsAdmin(ReadOnlyAdmin):
    list_display = [
        "type_id",
        "region_id",
        "avg_daily_volume",
        "avg_daily_isk",
        "days_traded",
        "last_history_date",
        "history_fetched_at",
    ]
    list_filter = ["region_id", "has_history"]
    search_fields = ["=type_id"]


# --- Pilot's ledger ----------------------------------------------------------------------------
# Synced from ESI (read-only: the next sync would undo an edit). Tokens never show here.

from market.models import (  # noqa: E402
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
