"""Player-owned structures whose markets Lenny tracks (Perimeter's Tranquility Trading Tower,
null-sec staging keepstars): ESI serves their books only to a character with docking access, so
each one is fetched with the token of the character that added it (``market.structures.fetch``).

Visibility: a tracked structure is a market location of every user of the instance, unless the
user who added it marked it private; then its pages and API answer 404 to everyone else
(``Structure.objects.visible_to``). Imported by ``market.models``, so the model lives in the
``market`` app.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

# Player structures' ids start here (NPC stations are 60,000,000 … 64,000,000; ESI's structure
# ids are 64-bit numbers above 10^12, e.g. 1028858195912 for Perimeter's trading tower).
FIRST_STRUCTURE_ID = 100_000_000
# How often a tracked structure is fetched unless the admin retimes it: ESI caches a
# structure's market for 5 minutes ("This route is cached for up to 300 seconds", ESI swagger).
DEFAULT_FETCH_MINUTES = 5
# A 403 (no docking or market access) stops fetching with that character this long.
FORBIDDEN_BACKOFF = timedelta(hours=12)


class StructureQuerySet(models.QuerySet):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser | None) -> StructureQuerySet:
        """Public structures, and the private ones the user added."""
        if user is None or not user.is_authenticated:
            return self.filter(is_private=False)
        return self.filter(Q(is_private=False) | Q(added_by=user))

    def tracked(self) -> StructureQuerySet:
        return self.filter(is_tracking=True)

    def fetchable(self, now: datetime | None = None) -> StructureQuerySet:
        """Tracked, with a character, and not backed off: the ones a fetch may ask ESI for."""
        now = now or timezone.now()
        return (
            self.tracked()
            .filter(character__isnull=False)
            .filter(Q(backoff_until__isnull=True) | Q(backoff_until__lte=now))
        )


class Structure(models.Model):
    """One player structure's market, tracked with one character's token."""

    class Status(models.TextChoices):
        NEW = "new", "waiting for its first fetch"
        OK = "ok", "ok"
        # ESI answered 403: the character may not dock or use the market there.
        FORBIDDEN = "forbidden", "no access (403)"
        # The character's token is gone or lacks the scope: its pilot must log in again.
        TOKEN = "token", "the character needs to log in again"
        FAILED = "failed", "the last fetch failed"
        STOPPED = "stopped", "not tracked"

    structure_id = models.BigIntegerField("structure id", primary_key=True)
    name = models.CharField(max_length=200, blank=True)
    solar_system_id = models.IntegerField(null=True, blank=True)
    # Derived from the solar system (SDE) when saved; what its snapshots are filed under.
    region_id = models.IntegerField(null=True, blank=True)
    owner_corporation_id = models.IntegerField(null=True, blank=True)
    type_id = models.IntegerField(null=True, blank=True, help_text="Astrahus, Fortizar, …")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="structures_added",
    )
    # Whose token fetches the book: a character of ``added_by`` (or of whoever took it over).
    character = models.ForeignKey(
        "accounts.Character",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="structures",
    )
    is_private = models.BooleanField(
        default=False, help_text="only the user who added it sees it (404 for everyone else)"
    )
    is_tracking = models.BooleanField(default=True)
    fetch_interval_minutes = models.PositiveSmallIntegerField(
        default=DEFAULT_FETCH_MINUTES,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    # Why the last fetch failed (the 403's text, the error): shown on the structure's page.
    last_error = models.TextField(blank=True)
    # No request to ESI for this structure with its character before this time (after a 403).
    backoff_until = models.DateTimeField(null=True, blank=True)
    last_fetched_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    added_at = models.DateTimeField(default=timezone.now)

    objects = StructureQuerySet.as_manager()

    class Meta:
        ordering = ["name", "structure_id"]
        indexes = [models.Index(fields=["is_tracking", "is_private"], name="market_struct_track")]

    def __str__(self) -> str:
        return self.name or f"Structure {self.structure_id}"

    def save(self, *args, **kwargs) -> None:
        if self.solar_system_id is not None and self.region_id is None:
            self.region_derive()
        super().save(*args, **kwargs)

    @property
    def display_name(self) -> str:
        return str(self)

    def is_visible_to(self, user: AbstractBaseUser | AnonymousUser | None) -> bool:
        if not self.is_private:
            return True
        return bool(user is not None and user.is_authenticated and self.added_by_id == user.pk)

    def is_backed_off(self, now: datetime | None = None) -> bool:
        return self.backoff_until is not None and self.backoff_until > (now or timezone.now())

    @property
    def can_be_taken_over(self) -> bool:
        """Another user may fetch it with their own character: fetching is backed off, its
        character lost its token or is gone, or it is not tracked any more."""
        return (
            self.character_id is None
            or not self.is_tracking
            or self.status in (self.Status.FORBIDDEN, self.Status.TOKEN)
            or self.is_backed_off()
            or (self.character is not None and self.character.needs_relogin)
        )

    def region_derive(self) -> None:
        """Set ``region_id`` from the solar system in the SDE (left as is when unknown)."""
        from market.models import SolarSystem

        if self.solar_system_id is None:
            return
        region_id = (
            SolarSystem.objects.filter(pk=self.solar_system_id)
            .values_list("region_id", flat=True)
            .first()
        )
        if region_id is not None:
            self.region_id = region_id


class StructureObservedDay(models.Model):
    """How long a tracked structure's own book was watched on one UTC day: ``ObservedDay`` for a
    structure, whose snapshots come on their own cadence (and stop during a 403's back-off), so
    the region's watched time says nothing of it. What traded there is in ``StationTradeDay``
    under the structure's id, like at any station (``market.ingest.liquidity``)."""

    pk = models.CompositePrimaryKey("structure_id", "date")
    structure_id = models.BigIntegerField()
    region_id = models.IntegerField()
    date = models.DateField()
    observed_seconds = models.IntegerField(default=0)
    pairs = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"structure {self.structure_id} on {self.date}: {self.observed_seconds} s"
