from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html

from stores.checks import checks_queue, store_gate
from stores.models import (
    Card,
    CardName,
    CatalogImport,
    CheckResult,
    PreferredStore,
    Printing,
    Set,
    StockAlert,
    Store,
    StoreHealth,
    WantedCard,
    WantSpec,
)


class ReadOnlyMixin:
    """The catalog is Scryfall's: it changes only through `import_scryfall`."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Set)
class SetAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["code", "name", "set_type", "released_at", "parent", "digital"]
    list_filter = ["set_type", "digital"]
    search_fields = ["code", "name"]
    list_select_related = ["parent"]


class CardNameInline(ReadOnlyMixin, admin.TabularInline):
    model = CardName
    fields = ["name", "search_key", "is_face"]
    extra = 0


class PrintingInline(ReadOnlyMixin, admin.TabularInline):
    model = Printing
    fields = ["set", "collector_number", "lang", "finishes", "price_usd", "price_eur", "digital"]
    readonly_fields = ["finishes"]
    extra = 0
    show_change_link = True


@admin.register(Card)
class CardAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["name", "kind", "layout"]
    list_filter = ["kind", "layout"]
    search_fields = ["name", "names__name", "=oracle_id"]
    inlines = [CardNameInline, PrintingInline]
    show_full_result_count = False


@admin.register(Printing)
class PrintingAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "card",
        "set",
        "collector_number",
        "lang",
        "finishes",
        "price_usd",
        "price_eur",
        "digital",
    ]
    list_filter = ["lang", "digital", "has_foil", "has_etched", "set__set_type"]
    search_fields = ["card__name", "=set__code", "=collector_number", "=scryfall_id"]
    list_select_related = ["card", "set"]
    show_full_result_count = False


@admin.register(CatalogImport)
class CatalogImportAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "finished_at",
        "source",
        "objects_read",
        "cards_created",
        "printings_created",
        "sets_created",
        "skipped",
        "seconds",
    ]


class WantSpecInline(admin.TabularInline):
    model = WantSpec
    fields = [
        "set",
        "collector_number",
        "finish",
        "worst_condition",
        "language",
        "max_price",
    ]
    autocomplete_fields = ["set"]
    extra = 0


@admin.register(WantedCard)
class WantedCardAdmin(admin.ModelAdmin):
    list_display = ["card", "owner", "amount", "copies", "updated_at"]
    list_filter = [("owner", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["card__name", "owner__username"]
    list_select_related = ["card", "owner"]
    autocomplete_fields = ["card", "owner"]
    inlines = [WantSpecInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("specs__set")

    @admin.display(description="acceptable copies")
    def copies(self, wanted: WantedCard) -> str:
        return wanted.copies_summary()


# --- Stores and stock checks ------------------------------------------------------------------
class StoreHealthInline(admin.StackedInline):
    model = StoreHealth
    can_delete = False
    fields = [
        "last_success_at",
        "last_failure_at",
        "last_failure_kind",
        "last_failure",
        "last_failure_snippet",
        "consecutive_failures",
        "checks_ok",
        "checks_failed",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "platform",
        "city",
        "currency",
        "active",
        "politeness",
        "last_success",
        "last_failure",
    ]
    list_filter = ["active", "platform"]
    search_fields = ["name", "city", "base_url"]
    list_select_related = ["health"]
    fieldsets = [
        (None, {"fields": ["name", "platform", "base_url", "currency", "city", "active"]}),
        (
            "Politeness (shared by every worker)",
            {"fields": ["max_requests_per_minute", "max_in_flight", "gate_now"]},
        ),
    ]
    readonly_fields = ["gate_now"]
    inlines = [StoreHealthInline]
    actions = ["check_tracked_cards_now"]

    @admin.display(description="politeness")
    def politeness(self, store: Store) -> str:
        return f"{store.max_in_flight} at once, {store.max_requests_per_minute}/min"

    @admin.display(description="last success", ordering="health__last_success_at")
    def last_success(self, store: Store) -> str:
        when = store.health_or_blank.last_success_at
        return timezone.localtime(when).strftime("%Y-%m-%d %H:%M") if when else "—"

    @admin.display(description="last failure", ordering="health__last_failure_at")
    def last_failure(self, store: Store) -> str:
        health = store.health_or_blank
        if not health.last_failure_at:
            return "—"
        return format_html(
            '<span title="{}" style="color:{}">{} {}: {}</span>',
            health.last_failure_snippet[:300],
            "#c62828" if health.failing else "inherit",
            timezone.localtime(health.last_failure_at).strftime("%Y-%m-%d %H:%M"),
            health.last_failure_kind,
            health.last_failure[:120],
        )

    @admin.display(description="right now")
    def gate_now(self, store: Store) -> str:
        if not store.pk:
            return "—"
        status = store_gate(store).status()
        text = f"{status['in_flight']} request(s) in flight"
        if status["paused_for"]:
            text += f"; paused {status['paused_for']:.0f} s more ({status['paused_why']})"
        return text

    @admin.action(description="Check the cards users track at these stores now (stale ones)")
    def check_tracked_cards_now(self, request, queryset) -> None:
        pairs = (
            PreferredStore.objects.filter(store__in=queryset, user__wanted_cards__isnull=False)
            .values_list("store_id", "user__wanted_cards__card_id")
            .distinct()
        )
        queued = checks_queue(pairs=list(pairs), stale_only=True)
        self.message_user(request, f"Queued {queued} checks.", messages.INFO)


@admin.register(CheckResult)
class CheckResultAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["card", "store", "status", "checked_at", "attempted_at", "queued_at", "error"]
    list_filter = ["status", "store", "error_kind"]
    search_fields = ["card__name", "store__name"]
    list_select_related = ["card", "store"]
    show_full_result_count = False


@admin.register(StockAlert)
class StockAlertAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "user", "kind", "message", "emailed_at", "read_at"]
    list_filter = ["kind", "store"]
    search_fields = ["message", "user__username"]
    list_select_related = ["user"]
