from __future__ import annotations

from allauth.account.adapter import get_adapter
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm

from accounts.models import Character, TradingProfile


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's login, rate limited exactly as the site's login is.

    Django's admin login has no limit of its own. This form authenticates through allauth's
    adapter, so the admin shares ACCOUNT_LOGIN_ATTEMPTS_LIMIT / _TIMEOUT and the per-address
    limit with /accounts/login/: once they are used up even the right password is refused with
    "Too many failed login attempts" until the window passes. A successful staff login clears
    that username's failures (only someone who knows the password can do that).
    """

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            adapter = get_adapter(self.request)
            # Raises the "too many login attempts" ValidationError before checking the password.
            self.user_cache = adapter.authenticate(
                self.request, username=username, password=password
            )
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
            # What allauth does after a password reset: forget this login's failed attempts.
            adapter._delete_login_attempts_cached_email(self.request, username=username)
        return self.cleaned_data


admin.site.login_form = ThrottledAdminAuthenticationForm


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
