from django.contrib import admin

from stores.models import Card, CardName, CatalogImport, Printing, Set, WantedCard, WantSpec


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
        return "; ".join(spec.summary() for spec in wanted.specs.all()) or "any copy"
