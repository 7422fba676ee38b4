"""The EVE market's data: the static data export (SDE), region order snapshots, their per-station
aggregates, and daily market history.

Market rows (orders, aggregates, history, stats) refer to types, locations and regions by plain
integer ids, not foreign keys: ESI sells types newer than the imported SDE and orders sit in player
structures the SDE does not list, and the market data must not be lost because of it. Join to the
SDE with ``with_type_names()`` or a ``Subquery`` when a page needs names.
"""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import OuterRef, Q, Subquery
from django.dispatch import Signal
from django.utils import timezone

# Sent after a region's new order snapshot is committed: sender=MarketSnapshot, snapshot=...
snapshot_landed = Signal()
# Sent after new market history of a region is committed (and its TypeRegionStats recomputed):
# sender=HistoryDay, region_id=..., type_ids=[...]. What is derived from history (daily volumes in
# the desk's book tops, station trading, hauling) is computed again from it.
history_landed = Signal()

# --- Static data (SDE) -----------------------------------------------------------------------


class Region(models.Model):
    id = models.IntegerField(primary_key=True)
    name = models.CharField(max_length=100, db_index=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Constellation(models.Model):
    id = models.IntegerField(primary_key=True)
    name = models.CharField(max_length=100)
    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="constellations")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SolarSystem(models.Model):
    id = models.IntegerField(primary_key=True)
    name = models.CharField(max_length=100, db_index=True)
    constellation = models.ForeignKey(
        Constellation, on_delete=models.CASCADE, related_name="systems"
    )
    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="systems")
    # The true security status (-1.0 … 1.0); the game shows it rounded to one decimal.
    security = models.FloatField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def security_display(self) -> float:
        """Security as the game shows it: rounded to one decimal, but 0.0 < s < 0.05 shows 0.1."""
        if 0 < self.security < 0.05:
            return 0.1
        return round(self.security, 1)


class SystemJump(models.Model):
    """One stargate connection, stored in both directions like the SDE does."""

    from_system = models.ForeignKey(SolarSystem, on_delete=models.CASCADE, related_name="+")
    to_system = models.ForeignKey(SolarSystem, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["from_system", "to_system"], name="market_jump_unique")
        ]

    def __str__(self) -> str:
        return f"{self.from_system_id} → {self.to_system_id}"

    @classmethod
    def adjacency(cls) -> dict[int, list[int]]:
        """The whole stargate graph as {system_id: [neighbour ids]}, loaded in one query."""
        graph: dict[int, list[int]] = {}
        for from_id, to_id in cls.objects.values_list("from_system_id", "to_system_id"):
            graph.setdefault(from_id, []).append(to_id)
        return graph


class Station(models.Model):
    id = models.BigIntegerField(primary_key=True)
    name = models.CharField(max_length=200, db_index=True)
    system = models.ForeignKey(SolarSystem, on_delete=models.CASCADE, related_name="stations")
    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="stations")
    corporation_id = models.IntegerField(null=True, blank=True, help_text="owner corporation")
    station_type_id = models.IntegerField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Category(models.Model):
    id = models.IntegerField(primary_key=True)
    name = models.CharField(max_length=100)
    published = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Group(models.Model):
    id = models.IntegerField(primary_key=True)
    name = models.CharField(max_length=100)
    category = models.ForeignKey(
        Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="groups"
    )
    published = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MarketGroup(models.Model):
    """A node of the in-game market browser's tree."""

    id = models.IntegerField(primary_key=True)
    name = models.CharField(max_length=100)
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children"
    )
    description = models.TextField(blank=True)
    has_types = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# The SDE's category of ships: sold packaged on the market, so only their packaged volume is a cargo
# figure (a Golem assembled takes 486,000 m³, packaged 50,000 m³).
SHIP_CATEGORY_ID = 6


class TypeQuerySet(models.QuerySet):
    def from_esi(self) -> TypeQuerySet:
        return self.filter(source=Type.Source.ESI)


class Type(models.Model):
    """An item type. Most come from the SDE import; ESI sells types newer than the imported SDE,
    and those are resolved from ESI (``market.universe``) and marked ``source=esi`` until an
    SDE import that includes them takes them over. ``esi_checked_at`` is when ESI last answered
    for the type: for an ESI type its whole record, for an SDE ship only its packaged volume
    (an SDE without ``invVolumes`` has none). Null on an ESI type: not fully resolved yet."""

    class Source(models.TextChoices):
        SDE = "sde", "SDE"
        ESI = "esi", "ESI"

    id = models.IntegerField(primary_key=True)
    name = models.CharField(max_length=200)
    group = models.ForeignKey(
        Group, on_delete=models.SET_NULL, null=True, blank=True, related_name="types"
    )
    market_group = models.ForeignKey(
        MarketGroup, on_delete=models.SET_NULL, null=True, blank=True, related_name="types"
    )
    # m³ as the SDE gives them; ships are sold packaged, so hauling uses packaged_volume first.
    volume = models.FloatField(null=True, blank=True)
    packaged_volume = models.FloatField(null=True, blank=True)
    portion_size = models.IntegerField(null=True, blank=True)
    published = models.BooleanField(default=False)
    source = models.CharField(
        max_length=3, choices=Source.choices, default=Source.SDE, db_default=Source.SDE
    )
    esi_checked_at = models.DateTimeField(null=True, blank=True)

    objects = TypeQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        # A case-insensitive trigram index on PostgreSQL is added by migration 0002.
        indexes = [models.Index(fields=["name"], name="market_type_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def shipping_volume(self) -> float | None:
        """The volume one unit takes in a cargo hold when bought on the market: the packaged
        volume when known; else, for anything but a ship, the volume. None when unknown (a ship
        without its packaged volume, a type whose volume ESI has not told yet): the desk says
        so rather than guess. A stored 0 is a real 0. Same rule as ``BookTop.unit_volume``."""
        if self.packaged_volume is not None:
            return self.packaged_volume
        if self.group_id is not None and self.group.category_id == SHIP_CATEGORY_ID:
            return None
        return self.volume

    @staticmethod
    def name_unknown(type_id: int, *, unknown_to_esi: bool = False) -> str:
        """What the desk calls a type it has no name for: ESI has not been asked yet (or failed),
        or ESI answered that it does not know the id."""
        return f"Type {type_id} (unknown to ESI)" if unknown_to_esi else f"Type {type_id}"


class UnresolvedType(models.Model):
    """A type id on the market that ESI did not resolve: it answered 404 (``not_found``: the
    desk calls it "Type N (unknown to ESI)") or failed (5xx, timeout, a malformed answer). Asked
    again from ``retry_at`` on; deleted once resolved (``market.universe``)."""

    class Reason(models.TextChoices):
        NOT_FOUND = "not_found", "unknown to ESI"
        FAILED = "failed", "ESI failed"

    type_id = models.IntegerField(primary_key=True)
    reason = models.CharField(max_length=10, choices=Reason.choices)
    error = models.TextField(blank=True)
    failures = models.PositiveIntegerField(default=0)
    first_failed_at = models.DateTimeField(default=timezone.now)
    failed_at = models.DateTimeField(default=timezone.now)
    retry_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["type_id"]

    def __str__(self) -> str:
        return f"type {self.type_id}: {self.get_reason_display()}"


class SdeSource(models.Model):
    """One place the SDE is downloaded from (``LENNY_SDE_URL``): the HTTP validators of each file
    it served, for conditional re-checks, and the outcome of the last attempt, for the pages and
    the retry back-off (see ``market.sde_source``)."""

    url = models.CharField(max_length=500, unique=True)
    # {"invTypes.csv.bz2": {"etag": "…", "last_modified": "…"}} of the files imported last.
    validators = models.JSONField(default=dict, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)
    summary = models.TextField(blank=True)
    # The current run of failures: cleared by the next success.
    failures = models.PositiveIntegerField(default=0)
    failed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.url


# --- Order snapshots -------------------------------------------------------------------------


class MarketSnapshotQuerySet(models.QuerySet):
    def current(self) -> MarketSnapshotQuerySet:
        """Every current book: the regions' and the tracked structures'."""
        return self.filter(is_current=True)

    def regions(self) -> MarketSnapshotQuerySet:
        """Snapshots of region books only (not of player structures)."""
        return self.filter(structure_id=REGION_BOOK)

    def for_region(self, region_id: int) -> MarketSnapshotQuerySet:
        """The region's own book's snapshots (a structure's in that region are not)."""
        return self.filter(region_id=region_id, structure_id=REGION_BOOK)

    def for_structure(self, structure_id: int) -> MarketSnapshotQuerySet:
        return self.filter(structure_id=structure_id)

    def for_book(self, *, region_id: int, structure_id: int = 0) -> MarketSnapshotQuerySet:
        """A region's book (``structure_id`` 0) or a structure's."""
        if structure_id:
            return self.for_structure(structure_id)
        return self.for_region(region_id)

    def current_ids(self) -> dict[int, int]:
        """{region_id: current snapshot id} of the region books: one cheap query for pages that
        poll for new data."""
        return dict(self.current().regions().values_list("region_id", "id"))

    def structure_current_ids(self) -> dict[int, int]:
        """{structure_id: current snapshot id} of the tracked structures' books."""
        return dict(
            self.current().exclude(structure_id=REGION_BOOK).values_list("structure_id", "id")
        )


# ``MarketSnapshot.structure_id`` of a region's book (ESI's /markets/{region_id}/orders/).
REGION_BOOK = 0


class MarketSnapshot(models.Model):
    """One attempt to fetch a book, and the book itself when it succeeded: a region's
    (``structure_id`` 0) or a player structure's (``structure_id`` = its id, ``region_id`` = its
    region; ``market.structures``).

    Exactly one successful snapshot per book is current; its orders and aggregates are the ones
    readers see. Failed attempts keep their error for /healthz and the admin. A structure's
    orders and book tops carry ``location_id`` = the structure and its region's id, as ESI's.
    """

    class Status(models.TextChoices):
        OK = "ok", "ok"
        FAILED = "failed", "failed"
        SUPERSEDED = "superseded", "superseded by a newer snapshot"

    region_id = models.IntegerField()
    # 0: the region's book; else the player structure whose book this is.
    structure_id = models.BigIntegerField(default=REGION_BOOK, db_default=REGION_BOOK)
    status = models.CharField(max_length=12, choices=Status.choices)
    is_current = models.BooleanField(default=False)
    fetched_at = models.DateTimeField(default=timezone.now)
    last_modified = models.DateTimeField(null=True, blank=True)
    expires = models.DateTimeField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    orders = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0)
    error = models.TextField(blank=True)

    objects = MarketSnapshotQuerySet.as_manager()

    class Meta:
        ordering = ["-fetched_at"]
        get_latest_by = "fetched_at"
        constraints = [
            models.UniqueConstraint(
                fields=["region_id", "structure_id"],
                condition=Q(is_current=True),
                name="market_snapshot_one_current_per_book",
            )
        ]
        indexes = [
            models.Index(fields=["region_id", "-fetched_at"], name="market_snap_region"),
            models.Index(fields=["structure_id", "-fetched_at"], name="market_snap_structure"),
        ]

    def __str__(self) -> str:
        return f"{self.book_label} at {self.fetched_at:%Y-%m-%d %H:%M:%S} ({self.status})"

    @property
    def book_label(self) -> str:
        if self.structure_id:
            return f"structure {self.structure_id}"
        return f"region {self.region_id}"

    def is_fresh(self, now: datetime | None = None) -> bool:
        """True while ESI would still answer with this same snapshot."""
        return self.expires is not None and self.expires > (now or timezone.now())

    def age_seconds(self, now: datetime | None = None) -> float:
        return ((now or timezone.now()) - (self.last_modified or self.fetched_at)).total_seconds()


def _current_snapshot_id(*, region_id: int = 0, structure_id: int = 0) -> Subquery:
    books = MarketSnapshot.objects.for_book(region_id=region_id, structure_id=structure_id)
    return Subquery(books.filter(is_current=True).values("id")[:1])


class SnapshotRowQuerySet(models.QuerySet):
    def current(self, *, region_id: int) -> SnapshotRowQuerySet:
        """Rows of the region's current snapshot, chosen inside the same SQL statement, so one
        query never mixes two snapshots even while a new one is being swapped in."""
        return self.filter(snapshot_id=_current_snapshot_id(region_id=region_id))

    def current_of_structure(self, *, structure_id: int) -> SnapshotRowQuerySet:
        """Rows of a tracked structure's current snapshot, chosen in the same statement."""
        return self.filter(snapshot_id=_current_snapshot_id(structure_id=structure_id))

    def with_type_names(self) -> SnapshotRowQuerySet:
        return self.annotate(
            type_name=Subquery(Type.objects.filter(pk=OuterRef("type_id")).values("name")[:1])
        )


class Order(models.Model):
    """One order of a snapshot, with every field ESI returns.

    On PostgreSQL the table is partitioned by snapshot: each snapshot's orders are COPYed into a
    table of their own that is attached when it is complete and dropped when superseded.
    """

    pk = models.CompositePrimaryKey("snapshot_id", "order_id")
    snapshot = models.ForeignKey(
        MarketSnapshot, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    order_id = models.BigIntegerField()
    type_id = models.IntegerField()
    location_id = models.BigIntegerField()
    system_id = models.IntegerField()
    is_buy_order = models.BooleanField()
    price = models.DecimalField(max_digits=20, decimal_places=2)
    volume_remain = models.IntegerField()
    volume_total = models.IntegerField()
    min_volume = models.IntegerField()
    # "station", "solarsystem", "region" or a number of jumps as text ("1" … "40").
    range = models.CharField(max_length=12)
    duration = models.IntegerField()
    issued = models.DateTimeField()

    objects = SnapshotRowQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["snapshot", "type_id"], name="market_order_type")]

    def __str__(self) -> str:
        side = "buy" if self.is_buy_order else "sell"
        return f"{side} {self.volume_remain} of type {self.type_id} at {self.price}"


class BestPrice(models.Model):
    """The top of one station's book for one type in a snapshot, so pages never scan orders.

    Bid = highest buy order, ask = lowest sell order; volumes are units still on offer.

    On PostgreSQL the table is partitioned by snapshot, as ``Order`` is: each snapshot's book
    tops are COPYed into a table of their own, attached in the swap and dropped when superseded.
    """

    pk = models.CompositePrimaryKey("snapshot_id", "location_id", "type_id")
    # No index of its own: the primary key's leads with it.
    snapshot = models.ForeignKey(
        MarketSnapshot,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    region_id = models.IntegerField()
    location_id = models.BigIntegerField()
    type_id = models.IntegerField()
    best_bid = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    best_ask = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    bid_count = models.IntegerField(default=0)
    ask_count = models.IntegerField(default=0)
    best_bid_volume = models.BigIntegerField(default=0)
    best_ask_volume = models.BigIntegerField(default=0)
    bid_volume = models.BigIntegerField(default=0)
    ask_volume = models.BigIntegerField(default=0)
    # Depth-backed prices: the volume-weighted average price of the best 5 % of the side's units
    # (as Fuzzwork and Janice quote), which one bait or outlier order cannot move far.
    depth_bid = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    depth_ask = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    # The smallest min_volume among the buy orders at the best bid: a seller of fewer units
    # cannot fill any of them (the classic "min volume" bait).
    best_bid_min_volume = models.IntegerField(db_default=1)

    objects = SnapshotRowQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["snapshot", "type_id"], name="market_bestprice_type")]

    def __str__(self) -> str:
        return f"type {self.type_id} at {self.location_id}: {self.best_bid} / {self.best_ask}"

    @property
    def spread(self):
        """Ask minus bid, or None when one side of the book is empty."""
        if self.best_bid is None or self.best_ask is None:
            return None
        return self.best_ask - self.best_bid


# --- What trades at each station, inferred from consecutive snapshots ---------------------------


class StationTradeDay(models.Model):
    """What traded at one station in one type on one UTC day, inferred by comparing each order
    snapshot of the region with the one before (``market.ingest.liquidity`` has the rules).

    Certain trades are the units by which an order's ``volume_remain`` went down; "probable"
    ones are whole orders at the best price of their side that vanished before they expired.
    A day's figures mean something only next to how long the region was watched that day
    (``ObservedDay``): a gap in the snapshots is unobserved time, not a time without trades.
    """

    pk = models.CompositePrimaryKey("location_id", "type_id", "date")
    region_id = models.IntegerField()
    location_id = models.BigIntegerField()
    type_id = models.IntegerField()
    date = models.DateField()
    # Units sellers sold into buy orders, and buyers bought from sell orders.
    sold_to_buy_orders = models.BigIntegerField(default=0)
    bought_from_sell_orders = models.BigIntegerField(default=0)
    probable_sold = models.BigIntegerField(default=0)
    probable_bought = models.BigIntegerField(default=0)
    # ISK that changed hands in the certain trades, and in the probable ones.
    isk = models.DecimalField(max_digits=24, decimal_places=2, default=0)
    probable_isk = models.DecimalField(max_digits=24, decimal_places=2, default=0)
    # Competition: how often an order of each side changed its price.
    bid_reprices = models.IntegerField(default=0)
    ask_reprices = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["region_id", "date"], name="market_tradeday_region")]

    def __str__(self) -> str:
        return f"type {self.type_id} at {self.location_id} on {self.date}"

    @property
    def probable_units(self) -> int:
        return self.probable_sold + self.probable_bought


class ObservedDay(models.Model):
    """How long a region's order book was watched on one UTC day: the time spanned by pairs of
    consecutive snapshots close enough together to compare (``market.ingest.liquidity``)."""

    pk = models.CompositePrimaryKey("region_id", "date")
    region_id = models.IntegerField()
    date = models.DateField()
    observed_seconds = models.IntegerField(default=0)
    pairs = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"region {self.region_id} on {self.date}: {self.observed_hours:.1f} h"

    @property
    def observed_hours(self) -> float:
        return min(self.observed_seconds, 86400) / 3600


# --- History ---------------------------------------------------------------------------------


class HistoryDay(models.Model):
    """One day of a type's market in a region, as ESI's history endpoint reports it."""

    pk = models.CompositePrimaryKey("region_id", "type_id", "date")
    region_id = models.IntegerField()
    type_id = models.IntegerField()
    date = models.DateField()
    average = models.DecimalField(max_digits=20, decimal_places=2)
    highest = models.DecimalField(max_digits=20, decimal_places=2)
    lowest = models.DecimalField(max_digits=20, decimal_places=2)
    volume = models.BigIntegerField()
    order_count = models.BigIntegerField()

    def __str__(self) -> str:
        return f"type {self.type_id} in {self.region_id} on {self.date}"


class TypeRegionStatsQuerySet(models.QuerySet):
    def with_type_names(self) -> TypeRegionStatsQuerySet:
        return self.annotate(
            type_name=Subquery(Type.objects.filter(pk=OuterRef("type_id")).values("name")[:1])
        )


class TypeRegionStats(models.Model):
    """Per (region, type) figures derived from history, refreshed whenever it is fetched.

    Averages are over the 30 days ending on the region's latest history date; days without
    trades count as zero (ESI leaves them out of the history).
    """

    WINDOW_DAYS = 30

    region_id = models.IntegerField()
    type_id = models.IntegerField()
    avg_daily_volume = models.DecimalField(max_digits=20, decimal_places=2, default=0)
    avg_daily_isk = models.DecimalField(max_digits=24, decimal_places=2, default=0)
    avg_price = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    days_traded = models.PositiveSmallIntegerField(default=0)
    last_history_date = models.DateField(null=True, blank=True)
    history_fetched_at = models.DateTimeField(null=True, blank=True)
    has_history = models.BooleanField(default=False)

    objects = TypeRegionStatsQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "type region stats"
        constraints = [
            models.UniqueConstraint(fields=["region_id", "type_id"], name="market_typestats_unique")
        ]

    def __str__(self) -> str:
        return f"type {self.type_id} in {self.region_id}"


# Player structures (their own module, in this app): imported here so Django finds the model.
from market.structures.models import Structure, StructureObservedDay  # noqa: E402, F401
