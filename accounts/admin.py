from __future__ import annotations

from django.contrib import admin

from accounts.models import Character, TradingProfile


@admin.register(Character)
class CharacterAdmin(admin.ModelAdmin):
    # Tokens are left out entirely: the admin shows their status, never their value.
    list_display = ["name", "character_id", "owner", "token_status", "needs_relogin", "linked_at"]
    list_filter = ["needs_relogin"]
    search_fields = ["name", "character_id", "owner__username"]
    list_select_related = ["owner"]
    fields = [
        "character_id",
        "name",
        "owner",
        "owner_hash",
        "scopes",
        "token_status",
        "access_token_expires_at",
        "token_refreshed_at",
        "needs_relogin",
        "token_error",
        "linked_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False  # characters come from EVE SSO logins only

    @admin.display(description="token")
    def token_status(self, character: Character) -> str:
        return character.token_status


@admin.register(TradingProfile)
class TradingProfileAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "accounting_level",
        "broker_relations_level",
        "faction_standing",
        "corporation_standing",
        "updated_at",
    ]
    search_fields = ["user__username"]
    raw_id_fields = ["user"]
