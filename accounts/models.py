from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.fees import DEFAULT_FEE_RATES, FeeRates, fee_rates
from accounts.fields import EncryptedTextField
from accounts.scopes import EVE_SSO_SCOPES, STRUCTURE_SCOPES

# An access token this close to its expiry is refreshed before use.
ACCESS_TOKEN_MARGIN = timedelta(seconds=60)
# What the desk leaves out for everyone until they choose otherwise: blueprints (category 9),
# which the market sells as originals nobody relists at a spread, and SKINs (91), bought to be
# applied, not traded (ids from the SDE's invCategories).
DEFAULT_EXCLUDED_CATEGORY_IDS: tuple[int, ...] = (9, 91)


def default_excluded_category_ids() -> list[int]:
    return list(DEFAULT_EXCLUDED_CATEGORY_IDS)


class CharacterQuerySet(models.QuerySet):
    def owned_by(self, user: AbstractBaseUser) -> CharacterQuerySet:
        return self.filter(owner=user)

    def usable(self) -> CharacterQuerySet:
        """Characters whose tokens still work: the ones periodic jobs should sync."""
        return self.filter(needs_relogin=False)


class Character(models.Model):
    """An EVE character linked to a Lenny user through EVE SSO; holds its (encrypted) tokens."""

    character_id = models.BigIntegerField("EVE character id", unique=True)
    name = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="characters"
    )
    # CCP's hash of (character, EVE account): it changes when the character is sold.
    owner_hash = models.CharField(max_length=100)
    # The allauth login this character came from: removing either removes both.
    social_account = models.OneToOneField(
        SocialAccount,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="character",
    )
    scopes = models.JSONField(default=list, blank=True, help_text="ESI scopes granted")
    access_token = EncryptedTextField(blank=True, default="")
    refresh_token = EncryptedTextField(blank=True, default="")
    access_token_expires_at = models.DateTimeField(null=True, blank=True)
    token_refreshed_at = models.DateTimeField(null=True, blank=True)
    needs_relogin = models.BooleanField(
        default=False, help_text="EVE SSO refused the refresh token: the pilot must log in again"
    )
    token_error = models.CharField(max_length=300, blank=True)
    linked_at = models.DateTimeField(default=timezone.now)

    objects = CharacterQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        # Never the tokens: reprs end up in logs and error reports.
        return f"<Character {self.character_id} {self.name!r}>"

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])

    @property
    def missing_scopes(self) -> list[str]:
        """The scopes Lenny asks for that this character's login did not grant."""
        return [scope for scope in EVE_SSO_SCOPES if not self.has_scope(scope)]

    @property
    def missing_structure_scopes(self) -> list[str]:
        """The opt-in scopes a player structure's market needs that this login did not grant
        (the "grant access" button asks EVE SSO for them)."""
        return [scope for scope in STRUCTURE_SCOPES if not self.has_scope(scope)]

    def portrait_url(self, size: int = 64) -> str:
        return f"{settings.EVE_IMAGE_BASE_URL}/characters/{self.character_id}/portrait?size={size}"

    def access_token_fresh(self, *, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return bool(
            self.access_token
            and self.access_token_expires_at
            and self.access_token_expires_at > now + ACCESS_TOKEN_MARGIN
        )

    @property
    def token_status(self) -> str:
        if self.needs_relogin:
            return "needs re-login"
        if not self.refresh_token:
            return "no token"
        if self.access_token_fresh():
            return "valid"
        return "expired, refreshes on next use"


class TradingProfile(models.Model):
    """A trader's skills and standings, which set their sales tax and broker fee."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="trading_profile"
    )
    accounting_level = models.PositiveSmallIntegerField(
        "Accounting", default=0, validators=[MaxValueValidator(5)]
    )
    broker_relations_level = models.PositiveSmallIntegerField(
        "Broker Relations", default=0, validators=[MaxValueValidator(5)]
    )
    faction_standing = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(-10)), MaxValueValidator(Decimal(10))],
        help_text="Your standing to the station owner's faction (-10 to 10).",
    )
    corporation_standing = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(-10)), MaxValueValidator(Decimal(10))],
        help_text="Your standing to the station owner's corporation (-10 to 10).",
    )
    # How much of what trades at a station the trader expects to take (0.10 is 10 %): it turns
    # a station's daily volume into the units they can trade a day (station trading) or sell at
    # the destination (hauling's relist).
    market_share = models.DecimalField(
        "Market share",
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.10"),
        validators=[MinValueValidator(Decimal("0.0001")), MaxValueValidator(Decimal(1))],
        help_text="The share of a station's daily volume you expect to trade (0.10 is 10 %).",
    )
    # Category ids the desk leaves out of station trading and hauling for this trader: the
    # defaults until they choose (an empty list is a choice: leave nothing out).
    excluded_category_ids = models.JSONField(default=default_excluded_category_ids, blank=True)
    # The hauling desk's last plan, so the next visit starts where this one ended. Null amounts
    # are "unlimited", null ends "any hub"; nothing is remembered until hauling_saved_at is set.
    hauling_budget = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    hauling_cargo_m3 = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    hauling_route = models.CharField(max_length=20, blank=True)
    hauling_from_station_id = models.BigIntegerField(null=True, blank=True)
    hauling_to_station_id = models.BigIntegerField(null=True, blank=True)
    hauling_saved_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(accounting_level__lte=5) & Q(broker_relations_level__lte=5),
                name="trading_profile_skill_levels_0_to_5",
            ),
            models.CheckConstraint(
                condition=(
                    (Q(faction_standing__isnull=True) | Q(faction_standing__range=(-10, 10)))
                    & (
                        Q(corporation_standing__isnull=True)
                        | Q(corporation_standing__range=(-10, 10))
                    )
                ),
                name="trading_profile_standings_within_10",
            ),
        ]

    def __str__(self) -> str:
        return f"Trading profile of {self.user}"

    @classmethod
    def for_user(cls, user: AbstractBaseUser) -> TradingProfile:
        profile, _ = cls.objects.get_or_create(user=user)
        return profile

    HAULING_FIELDS = (
        "hauling_budget",
        "hauling_cargo_m3",
        "hauling_route",
        "hauling_from_station_id",
        "hauling_to_station_id",
    )

    @property
    def hauling_remembered(self) -> bool:
        return self.hauling_saved_at is not None

    def hauling_remember(
        self,
        *,
        budget: Decimal | None,
        cargo_m3: Decimal | None,
        route: str,
        from_station_id: int | None,
        to_station_id: int | None,
    ) -> bool:
        """Keep this plan as the next visit's start; writes only when something changed (the
        desk asks on every table swap). True when it wrote."""
        wanted = dict(
            zip(
                self.HAULING_FIELDS,
                (budget, cargo_m3, route, from_station_id, to_station_id),
                strict=True,
            )
        )
        if self.hauling_remembered and all(
            getattr(self, name) == value for name, value in wanted.items()
        ):
            return False
        for name, value in wanted.items():
            setattr(self, name, value)
        self.hauling_saved_at = timezone.now()
        self.save(update_fields=[*wanted, "hauling_saved_at", "updated_at"])
        return True

    def excluded_categories_remember(self, category_ids: Iterable[int]) -> bool:
        """Keep the trader's choice of categories to leave out; writes only when it changed
        (the desk asks on every table swap). True when it wrote."""
        chosen = sorted(set(category_ids))
        if chosen == self.excluded_category_ids:
            return False
        self.excluded_category_ids = chosen
        self.save(update_fields=["excluded_category_ids", "updated_at"])
        return True

    def fee_rates(self) -> FeeRates:
        return fee_rates(
            accounting=self.accounting_level,
            broker_relations=self.broker_relations_level,
            faction_standing=self.faction_standing or 0,
            corporation_standing=self.corporation_standing or 0,
        )


def trading_profile_of(user: AbstractBaseUser | AnonymousUser | None) -> TradingProfile | None:
    """The user's trading profile; None for anonymous users and for users without one yet."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return TradingProfile.objects.filter(user=user).first()


def fee_rates_for(user: AbstractBaseUser | AnonymousUser | None) -> FeeRates:
    """The user's fees from their trading profile; the defaults (skills 0) for anonymous users."""
    profile = trading_profile_of(user)
    return profile.fee_rates() if profile else DEFAULT_FEE_RATES
