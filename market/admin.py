"""Admin pages for the static data (searchable, read-only: `import_sde` owns it; the types newer
than the SDE come from ESI and can be refreshed from it), snapshots, and the tracked player
structures (curated like stores: stop, resume, retime, privacy; added from /market/structures/
or ``manage.py track_structure``, since adding needs a character's token)."""

from django.contrib import admin, messages

from market.models import (
    Category,
    Constellation,
    Group,
    MarketGroup,
    MarketSnapshot,
    Region,
    SolarSystem,
    Station,
    Structure,
    Type,
    TypeRegionStats,
    UnresolvedType,
)
from market.universe import types_resolve


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


# An admin action resolves at most this many types at once (ESI answers a few hundred a second).
ESI_ACTION_MAX = 2000


def _types_refresh(modeladmin: admin.ModelAdmin, request, type_ids: list[int]) -> None:
    if len(type_ids) > ESI_ACTION_MAX:
        modeladmin.message_user(
            request,
            f"{len(type_ids):,} types selected: refresh at most {ESI_ACTION_MAX:,} at once.",
            messages.WARNING,
        )
        return
    outcome = types_resolve(type_ids=type_ids, force=True)
    level = messages.WARNING if outcome.failed or outcome.not_found else messages.SUCCESS
    modeladmin.message_user(request, f"ESI: {outcome.summary()}", level)


@admin.register(Type)
class TypeAdmin(ReadOnlyAdmin):
    """Types from the SDE and those resolved from ESI (``source``), which an SDE import that
    includes them takes over; ``esi_checked_at`` is when ESI last answered for the type."""

    list_display = [
        "name",
        "id",
        "group",
        "market_group",
        "volume",
        "packaged_volume",
        "published",
        "source",
        "esi_checked_at",
    ]
    list_select_related = ["group", "market_group"]
    list_filter = ["source", "published", ("esi_checked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "=id"]
    actions = ["refresh_from_esi"]

    @admin.action(description="Refresh from ESI (name, group, volumes)")
    def refresh_from_esi(self, request, queryset) -> None:
        _types_refresh(self, request, list(queryset.values_list("pk", flat=True)))


@admin.register(UnresolvedType)
class UnresolvedTypeAdmin(ReadOnlyAdmin):
    """Type ids on the market that ESI did not resolve: unknown to it (404) or failed."""

    list_display = ["type_id", "reason", "failures", "failed_at", "retry_at", "error"]
    list_filter = ["reason"]
    search_fields = ["=type_id", "error"]
    actions = ["resolve_from_esi"]

    @admin.action(description="Ask ESI again now")
    def resolve_from_esi(self, request, queryset) -> None:
        _types_refresh(self, request, list(queryset.values_list("type_id", flat=True)))


@admin.register(MarketSnapshot)
class MarketSnapshotAdmin(ReadOnlyAdmin):
    list_display = [
        "region_id",
        "structure_id",
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
    search_fields = ["=region_id", "=structure_id", "error"]
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


@admin.register(Structure)
class StructureAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "structure_id",
        "region_id",
        "solar_system_id",
        "is_tracking",
        "is_private",
        "status",
        "fetch_interval_minutes",
        "backoff_until",
        "last_fetched_at",
        "character",
        "added_by",
    ]
    list_editable = ["fetch_interval_minutes"]
    list_filter = ["is_tracking", "is_private", "status", "region_id"]
    list_select_related = ["character", "added_by"]
    search_fields = ["name", "=structure_id"]
    fields = [
        "structure_id",
        "name",
        "solar_system_id",
        "region_id",
        "owner_corporation_id",
        "type_id",
        "added_by",
        "character",
        "is_private",
        "is_tracking",
        "fetch_interval_minutes",
        "status",
        "last_error",
        "backoff_until",
        "last_fetched_at",
        "last_attempt_at",
        "added_at",
    ]
    readonly_fields = [
        "structure_id",
        "solar_system_id",
        "region_id",
        "owner_corporation_id",
        "type_id",
        "added_by",
        "character",
        "status",
        "last_error",
        "last_fetched_at",
        "last_attempt_at",
        "added_at",
    ]
    actions = ["stop_tracking", "resume_tracking", "clear_backoff"]

    def has_add_permission(self, request):
        return False  # needs a character's token: /market/structures/ or track_structure

    def save_model(self, request, obj, form, change) -> None:
        from market.structures.schedules import structure_schedule_drop, structure_schedule_ensure

        super().save_model(request, obj, form, change)
        # The schedule follows the row: retimed, stopped or resumed here.
        if obj.is_tracking:
            structure_schedule_ensure(structure=obj, retime=True)
        else:
            structure_schedule_drop(structure=obj)

    @admin.action(description="Stop tracking")
    def stop_tracking(self, request, queryset) -> None:
        from market.structures.services import structure_stop

        for structure in queryset:
            structure_stop(structure=structure)
        self.message_user(request, f"{queryset.count()} structure(s) no longer fetched.")

    @admin.action(description="Track again")
    def resume_tracking(self, request, queryset) -> None:
        from market.structures.services import structure_resume

        for structure in queryset:
            structure_resume(structure=structure)
        self.message_user(request, f"{queryset.count()} structure(s) fetched again.")

    @admin.action(description="Clear the back-off (fetch at the next run)")
    def clear_backoff(self, request, queryset) -> None:
        updated = queryset.update(backoff_until=None)
        self.message_user(request, f"back-off cleared on {updated} structure(s).", messages.INFO)
