"""The card catalog (Scryfall's sets, cards and printings) and each user's want list.

A ``Card`` is one oracle identity — the rules card, whatever its printings — and a ``Printing`` one
Scryfall card object: a card in a set, with a collector number and a language. A want list is a
user's ``WantedCard`` rows, each with 0..n ``WantSpec`` rows that narrow which printings, finishes,
conditions, languages and prices are acceptable (several specs mean "any of these"; none means
"any copy of the card"). Workflows across these rows (merging a list into a want list, checking
a spec against a card's printings, the deck-list import) are `stores.wants`'s.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from stores.adapters import PLATFORM_CHOICES, base_url_clean
from stores.decklists import LineSpec
from stores.listings import SCRYFALL_LANGUAGES, collector_key, money_format

MAX_AMOUNT = 9999
# What a want without specs accepts.
ANY_COPY = "any copy"


class Finish(models.TextChoices):
    NONFOIL = "nonfoil", "non-foil"
    FOIL = "foil", "foil"
    ETCHED = "etched", "etched foil"


class Condition(models.TextChoices):
    """Card conditions, best first: a want accepts its worst condition and everything above."""

    NM = "NM", "Near Mint"
    LP = "LP", "Lightly Played"
    MP = "MP", "Moderately Played"
    HP = "HP", "Heavily Played"
    DMG = "DMG", "Damaged"


# A want's language is one a printing can be in (a store's "foreign" is not a language to ask for).
LANGUAGES = SCRYFALL_LANGUAGES


# --- Catalog ----------------------------------------------------------------------------------
class Set(models.Model):
    code = models.CharField(max_length=10, unique=True, help_text="Scryfall's set code, lower case")
    name = models.CharField(max_length=200)
    set_type = models.CharField(max_length=40, blank=True)
    released_at = models.DateField(null=True, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    digital = models.BooleanField(default=False, help_text="only released on MTGO or Arena")

    class Meta:
        ordering = ["-released_at", "code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code.upper()})"


class Card(models.Model):
    class Kind(models.TextChoices):
        CARD = "card", "playable card"
        TOKEN = "token", "token or emblem"
        ART = "art", "art card"

    oracle_id = models.UUIDField(unique=True)
    name = models.CharField(max_length=300, help_text='all faces, e.g. "Driven // Despair"')
    layout = models.CharField(max_length=30)
    # Tokens and art cards share names with playable cards ("Snake", art series of every card):
    # they are kept in the catalog but apart (they get no CardName), so search and deck lists
    # only find real cards.
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CARD)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["kind", "name"])]

    def __str__(self) -> str:
        return self.name

    @property
    def front_face_name(self) -> str:
        return self.name.split(" // ")[0]

    def paper_printings(self) -> models.QuerySet[Printing]:
        return self.printings.filter(digital=False).select_related("set")


class CardName(models.Model):
    """Every name a playable card answers to: its full name and, for multi-face layouts, each
    face's name. Tokens and art cards have none, so search and deck lists never find them.

    ``search_key`` is ``stores.catalog.name_normalise(name)``; on PostgreSQL it carries a trigram
    index (substring and fuzzy search) and a pattern index (prefix search), see migration 0002.
    """

    card = models.ForeignKey(Card, on_delete=models.CASCADE, related_name="names")
    name = models.CharField(max_length=300)
    search_key = models.CharField(max_length=300)
    is_face = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["card", "search_key"], name="cardname_once_per_card")
        ]
        indexes = [models.Index(fields=["search_key"], name="cardname_search_key")]

    def __str__(self) -> str:
        return self.name


class Printing(models.Model):
    scryfall_id = models.UUIDField(unique=True)
    card = models.ForeignKey(Card, on_delete=models.CASCADE, related_name="printings")
    set = models.ForeignKey(Set, on_delete=models.PROTECT, related_name="printings")
    # Not always a number: "232a", "229★", "158†", "DDU-50".
    collector_number = models.CharField(max_length=20)
    lang = models.CharField(max_length=5)
    released_at = models.DateField(null=True, blank=True)
    has_nonfoil = models.BooleanField(default=False)
    has_foil = models.BooleanField(default=False)
    has_etched = models.BooleanField(default=False)
    digital = models.BooleanField(default=False)
    tcgplayer_id = models.PositiveIntegerField(null=True, blank=True)
    # Scryfall's daily reference prices: a hint when choosing a max price, not a store price.
    price_usd = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    price_usd_foil = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    price_usd_etched = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    price_eur = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    price_eur_foil = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    price_tix = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["set__code", "collector_number", "lang"]
        indexes = [models.Index(fields=["card", "set"], name="printing_card_set")]

    def __str__(self) -> str:
        return f"{self.card.name} ({self.set.code.upper()} {self.collector_number}, {self.lang})"

    @property
    def finishes(self) -> list[str]:
        flags = {Finish.NONFOIL: self.has_nonfoil, Finish.FOIL: self.has_foil}
        flags[Finish.ETCHED] = self.has_etched
        return [str(finish) for finish, present in flags.items() if present]


class CatalogImport(models.Model):
    """One successful catalog import: where it came from and what it changed."""

    source = models.CharField(max_length=500)
    bulk_type = models.CharField(max_length=40, blank=True)
    bulk_updated_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(auto_now_add=True)
    seconds = models.FloatField()
    objects_read = models.PositiveIntegerField()
    skipped = models.PositiveIntegerField(default=0)
    sets_created = models.PositiveIntegerField()
    cards_created = models.PositiveIntegerField()
    printings_created = models.PositiveIntegerField()

    class Meta:
        ordering = ["-finished_at"]
        get_latest_by = "finished_at"

    def __str__(self) -> str:
        return f"{self.source} at {self.finished_at:%Y-%m-%d %H:%M}"


# --- Want lists -------------------------------------------------------------------------------
class WantedCardQuerySet(models.QuerySet):
    def for_owner(self, owner: Any) -> WantedCardQuerySet:
        return self.filter(owner=owner).select_related("card").prefetch_related("specs__set")


class WantedCard(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wanted_cards"
    )
    card = models.ForeignKey(Card, on_delete=models.PROTECT, related_name="wanted_by")
    amount = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(MAX_AMOUNT)]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WantedCardQuerySet.as_manager()

    class Meta:
        ordering = ["card__name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "card"], name="wanted_card_once_per_owner"),
            models.CheckConstraint(
                condition=Q(amount__gte=1) & Q(amount__lte=MAX_AMOUNT), name="wanted_amount_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.card.name}"

    def criteria(
        self, *, set_numbers: Mapping[tuple[int, int], set[str]] | None = None
    ) -> dict[str, Any]:
        """This want as plain data for matching store listings against it.

        ``specs`` is a list of alternatives (any of them will do); an empty list means any copy.
        ``set_numbers``: :func:`printing_numbers` of many wants at once (read here otherwise).
        """
        specs = list(self.specs.all())
        if set_numbers is None:
            set_numbers = printing_numbers([self])
        return {
            "name": self.card.name,
            "front_face": self.card.front_face_name,
            "amount": self.amount,
            "specs": [
                spec.criteria(set_numbers=set_numbers.get((self.card_id, spec.set_id), set()))
                for spec in specs
            ],
        }

    def spec_add(self, **spec: Any) -> bool:
        """Accept one more kind of copy, unless an identical spec is there; True when added."""
        candidate = WantSpec(wanted=self, **spec)
        if candidate.identity() in {s.identity() for s in self.specs.all()}:
            return False
        candidate.save()
        return True

    def copies_summary(self, currency: str = "") -> str:
        """The copies this want accepts, in words: "NM only; A25 · foil", or "any copy"."""
        return "; ".join(spec.summary(currency) for spec in self.specs.all()) or ANY_COPY

    def export_line(self, *, specs: bool = True) -> str:
        """The want as a deck-list line the importer reads back whole (Arena/Moxfield style).

        A single printing is also written the Arena way ("(7ED) 229★ *F*") for other tools;
        every acceptable kind of copy is a ``#lenny:`` tag (`stores.decklists.LineSpec`), which
        the importer keeps as the want's specs and other tools skip as a tag. Without
        ``specs`` the tags are left out (plain Arena, which loses conditions and prices).
        """
        line = f"{self.amount} {self.card.name}"
        own = list(self.specs.all())
        if len(own) == 1 and own[0].set_id:
            spec = own[0]
            line += f" ({spec.set.code.upper()})"
            if spec.collector_number:
                line += f" {spec.collector_number}"
            if spec.finish == Finish.FOIL:
                line += " *F*"
            elif spec.finish == Finish.ETCHED:
                line += " *E*"
        if not specs:
            return line
        return " ".join([line, *(spec.line_spec().tag() for spec in own)])


class WantSpec(models.Model):
    """One acceptable kind of copy for a wanted card; blank fields accept anything."""

    ANY_FINISH = "any"
    FINISH_CHOICES = [(ANY_FINISH, "any finish"), *Finish.choices]

    wanted = models.ForeignKey(WantedCard, on_delete=models.CASCADE, related_name="specs")
    set = models.ForeignKey(Set, null=True, blank=True, on_delete=models.PROTECT)
    collector_number = models.CharField(max_length=20, blank=True)
    finish = models.CharField(max_length=10, choices=FINISH_CHOICES, default=ANY_FINISH)
    worst_condition = models.CharField(
        "worst acceptable condition",
        max_length=3,
        choices=Condition.choices,
        default=Condition.DMG,
    )
    language = models.CharField(max_length=5, blank=True, choices=list(LANGUAGES.items()))
    max_price = models.DecimalField(
        "max price per copy",
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="in your stores' currency",
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_price__isnull=True) | Q(max_price__gt=0),
                name="want_spec_max_price_positive",
            )
        ]

    def __str__(self) -> str:
        return self.summary()

    def identity(self) -> tuple:
        price = None if self.max_price is None else Decimal(self.max_price).normalize()
        return (
            self.set_id,
            self.collector_number,
            self.finish,
            self.worst_condition,
            self.language,
            price,
        )

    def summary(self, currency: str = "") -> str:
        """The spec in words, as its chip shows it: "A25 · foil · NM only · ≤ £45.00".

        ``max_price`` is in major units of the stores' ``currency`` (45.00 is £45, not 45p);
        without a currency the cap is shown as a plain amount.
        """
        parts = []
        if self.set_id:
            number = f" {self.collector_number}" if self.collector_number else ""
            parts.append(self.set.code.upper() + number)
        elif self.collector_number:
            parts.append(f"#{self.collector_number}")
        if self.finish != self.ANY_FINISH:
            parts.append(Finish(self.finish).label)
        if self.worst_condition != Condition.DMG:
            parts.append(
                "NM only" if self.worst_condition == Condition.NM else f"{self.worst_condition}+"
            )
        if self.language:
            parts.append(LANGUAGES.get(self.language, self.language))
        if self.max_price is not None:
            parts.append(f"≤ {money_format(Decimal(self.max_price), currency)}")
        return " · ".join(parts) or ANY_COPY

    def line_spec(self) -> LineSpec:
        """This spec as a deck-list line's ``#lenny:`` tag carries it."""
        return LineSpec(
            set_code=self.set.code if self.set_id else "",
            collector_number=self.collector_number,
            finish=self.finish,
            worst_condition=self.worst_condition,
            language=self.language,
            max_price=None if self.max_price is None else Decimal(self.max_price),
        )

    def criteria(self, *, set_numbers: Collection[str] = ()) -> dict[str, Any]:
        """``set_numbers``: the card's collector numbers in this spec's set, in the catalog."""
        return {
            "set_code": self.set.code if self.set_id else "",
            "set_name": self.set.name if self.set_id else "",
            "collector_number": self.collector_number,
            # Crystal Commerce lists no numbers: the set says which printing when the card has
            # only this one there (Driven // Despair is HOU 157 and nothing else in HOU).
            "number_implied_by_set": bool(self.collector_number)
            and {collector_key(n) for n in set_numbers} == {collector_key(self.collector_number)},
            "finish": self.finish,
            "worst_condition": self.worst_condition,
            "language": self.language,
            "max_price": self.max_price,
        }


def printing_numbers(wants: Iterable[WantedCard]) -> dict[tuple[int, int], set[str]]:
    """The collector numbers of each (card, set) the wants' numbered specs name, among the
    catalog's paper printings: one query for all of them (none when no spec has a number)."""
    pairs = {
        (want.card_id, spec.set_id)
        for want in wants
        for spec in want.specs.all()
        if spec.set_id and spec.collector_number
    }
    numbers: dict[tuple[int, int], set[str]] = {}
    if not pairs:
        return numbers
    rows = Printing.objects.filter(
        card_id__in={card for card, _ in pairs},
        set_id__in={set_id for _, set_id in pairs},
        digital=False,
    ).values_list("card_id", "set_id", "collector_number")
    for card_id, set_id, number in rows.distinct():
        if (card_id, set_id) in pairs:
            numbers.setdefault((card_id, set_id), set()).add(number)
    return numbers


# --- Stores and stock checks ------------------------------------------------------------------


class Store(models.Model):
    """A shop Lenny checks, curated by an admin; users pick the ones they buy from."""

    name = models.CharField(max_length=100, unique=True)
    platform = models.CharField(max_length=20, choices=PLATFORM_CHOICES)
    base_url = models.URLField(
        "base URL", max_length=300, help_text="e.g. https://www.example-games.com"
    )
    currency = models.CharField(max_length=3, default="GBP", help_text="ISO 4217, e.g. GBP")
    city = models.CharField(max_length=100, blank=True)
    active = models.BooleanField(default=True, help_text="inactive stores are never checked")
    # Politeness: small shops run on small servers, and block robots that hurry.
    max_requests_per_minute = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(600)]
    )
    max_in_flight = models.PositiveSmallIntegerField(
        "max requests in flight",
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_requests_per_minute__gte=1) & Q(max_in_flight__gte=1),
                name="store_politeness_positive",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            self.base_url = base_url_clean(self.base_url or "")
        except ValueError as exc:
            raise ValidationError({"base_url": str(exc)}) from None
        self.currency = (self.currency or "").strip().upper()

    @property
    def health_or_blank(self) -> StoreHealth:
        """The store's health, or an empty one before its first check."""
        try:
            return self.health
        except StoreHealth.DoesNotExist:
            return StoreHealth(store=self)


class StoreHealth(models.Model):
    """How checks of one store went lately: what a curator looks at when a store goes quiet."""

    store = models.OneToOneField(
        Store, on_delete=models.CASCADE, primary_key=True, related_name="health"
    )
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_failure_kind = models.CharField(max_length=20, blank=True)
    last_failure = models.TextField("last failure reason", blank=True)
    last_failure_snippet = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    checks_ok = models.PositiveIntegerField(default=0)
    checks_failed = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "store health"

    def __str__(self) -> str:
        return f"health of {self.store_id}"

    @property
    def failing(self) -> bool:
        """Whether the latest check of this store failed."""
        return bool(self.consecutive_failures)


class PreferredStore(models.Model):
    """A store a user buys from: the dashboard shows it, and checks run there for their cards."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferred_stores"
    )
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="preferred_by")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["store__name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "store"], name="preferred_store_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} buys at {self.store}"


class CheckResultQuerySet(models.QuerySet):
    def pending(self, *, now: Any) -> CheckResultQuerySet:
        """Checks queued or running, and not given up for lost."""
        lost = now - timedelta(seconds=settings.STORE_CHECK_LOST_AFTER)
        return self.filter(queued_at__gt=lost)


class CheckResult(models.Model):
    """The latest check of one card at one store.

    ``listings`` keep the card's listings from the last check that succeeded, so a failed check
    never passes for "out of stock"; ``status`` and ``error*`` tell how the latest one went.
    ``queued_at`` is set while a check is queued or running: the one in flight is never queued
    twice.
    """

    class Status(models.TextChoices):
        NEVER = "never", "not checked yet"
        OK = "ok", "checked"
        FAILED = "failed", "check failed"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="results")
    card = models.ForeignKey(Card, on_delete=models.CASCADE, related_name="store_results")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEVER)
    listings = models.JSONField(default=list, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True, help_text="last success")
    attempted_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    requests = models.PositiveSmallIntegerField(
        default=0, help_text="requests the latest check sent (0: answered from the cache)"
    )
    error_kind = models.CharField(max_length=20, blank=True)
    error = models.TextField(blank=True)
    error_snippet = models.TextField(blank=True)

    objects = CheckResultQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "card"], name="check_result_once")]
        indexes = [models.Index(fields=["checked_at"], name="check_result_checked_at")]

    def __str__(self) -> str:
        return f"{self.card_id} at {self.store_id}: {self.status}"


class StockAlert(models.Model):
    """A card a user wants came into stock (or under their max price) at one of their stores.

    Raised once per change, never once per check: the next alert for the same want and store
    needs the card to go away first.
    """

    class Kind(models.TextChoices):
        RESTOCK = "restock", "back in stock"
        PRICE = "price", "price dropped"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stock_alerts"
    )
    wanted = models.ForeignKey(WantedCard, on_delete=models.CASCADE, related_name="alerts")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    message = models.CharField(max_length=500)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, blank=True)
    condition = models.CharField(max_length=3, blank=True, choices=Condition.choices)
    finish = models.CharField(max_length=10, blank=True)
    set_name = models.CharField(max_length=200, blank=True)
    quantity = models.PositiveIntegerField(null=True, blank=True, help_text="empty: unknown")
    url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="stock_alert_unread")]

    def __str__(self) -> str:
        return self.message
