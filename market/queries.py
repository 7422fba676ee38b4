"""Read-side services of the market desk: what the pages and the JSON API show, assembled from the
market models and priced by ``market.trading``.

Pages and API call the same functions, so they always show the same numbers. Every answer reads
the regions' current snapshots (one snapshot per region per statement), and says how old its
data is.

Speed, in two levels. A hub's whole book top (every type's best bid and ask, joined with its
name, market group, volume and 30-day history figures) is read in one query when its snapshot
lands (``market.warmup``) and put in the shared cache (Redis in production) as one MessagePack
blob, keyed by the snapshot; each web worker then keeps the decoded book in its own memory, keyed
the same way. A new snapshot is a new key, so nothing stale is ever served, and no worker reads
the orders' aggregates itself unless the shared copy is missing (then it shares what it read).
History that lands while a snapshot lives changes the daily volumes: each region has a history
version (``history_version_bump``, when ``history_landed``), and the book keys carry it too, so
every worker reads the book again and re-prices its rows; the poll marker changes with it, so
open pages fetch the new table. Station-trading rows are priced once per (book, fees, volume cap)
and filtered, sorted and paginated from memory. Hauling plans are kept per trip and parameters (a
new snapshot or new history re-plans only the trips to and from its hub) and as whole sorted
answers; the order books a walk needs are read once per station for all the trips of a request.
"""

from __future__ import annotations

import difflib
import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property, partial
from operator import attrgetter
from typing import Any, NamedTuple, TypeVar

import msgspec
from django.contrib.postgres.lookups import TrigramSimilar
from django.contrib.postgres.search import TrigramSimilarity
from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Length, Upper
from django.utils import timezone

from accounts.fees import FeeRates
from market.hubs import HUBS, HUBS_BY_KEY, HUBS_BY_STATION, Hub, hub_short_name
from market.ingest import history_window_end
from market.models import (
    BestPrice,
    HistoryDay,
    MarketGroup,
    MarketSnapshot,
    Order,
    Region,
    SolarSystem,
    Station,
    SystemJump,
    Type,
    TypeRegionStats,
)
from market.routes import JumpGraph
from market.trading import (
    HAULING_COLUMNS,
    STATION_TRADING_COLUMNS,
    HaulCandidate,
    HaulRow,
    StationTradingRow,
    hauling_may_pay,
    hauling_rows,
    rows_sort,
    station_trading_rows,
)

log = logging.getLogger("market.desk")

ZERO = Decimal(0)

# A book top is re-read after this long even within one snapshot: history (and so the daily
# volumes) is refreshed during the day while a snapshot lives.
BOOK_TTL_SECONDS = 300
# The stargate graph and the market-group tree change with an SDE import, a few times a year.
SDE_TTL_SECONDS = 600


# --- in-process memo -----------------------------------------------------------------------------

Value_ = TypeVar("Value_")


class _Memo:
    """A small thread-safe LRU with a time to live, for values that are costly to build but
    cheap to hold; keys carry what makes a value current (snapshot ids), so entries go stale
    only by age."""

    def __init__(self, size: int, ttl: float) -> None:
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._size = size
        self._ttl = ttl
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], Value_]) -> Value_:
        found = self.peek(key)
        if found is not None:
            return found
        value = build()
        self.put(key, value)
        return value

    def peek(self, key: Hashable) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and time.monotonic() - entry[0] < self._ttl:
                self._entries.move_to_end(key)
                return entry[1]
        return None

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_books = _Memo(size=12, ttl=BOOK_TTL_SECONDS)
_trading = _Memo(size=8, ttl=BOOK_TTL_SECONDS)
# One trip's plan per entry, and whole sorted answers: "any hub to any hub" alone is 21 entries.
_hauls = _Memo(size=96, ttl=BOOK_TTL_SECONDS)
_sde = _Memo(size=4, ttl=SDE_TTL_SECONDS)


def caches_clear(*, keep_sde: bool = False) -> None:
    """Forget what this process keeps (tests; after an SDE import in a shell). ``keep_sde``
    forgets only what depends on the snapshots, as a new snapshot does (benchmarks)."""
    for memo in (_books, _trading, _hauls) if keep_sde else (_books, _trading, _hauls, _sde):
        memo.clear()


# --- stations and data age -----------------------------------------------------------------------


@dataclass(frozen=True)
class StationRef:
    station_id: int
    name: str
    system_id: int
    region_id: int
    region_name: str

    @classmethod
    def from_hub(cls, hub: Hub) -> StationRef:
        return cls(hub.station_id, hub.name, hub.system_id, hub.region_id, hub.region_name)

    @property
    def hub(self) -> Hub | None:
        return HUBS_BY_STATION.get(self.station_id)

    @property
    def short_name(self) -> str:
        """ "Jita" for a hub, the station's name otherwise."""
        return hub_short_name(self.hub) if self.hub else self.name


HUB_STATIONS: tuple[StationRef, ...] = tuple(StationRef.from_hub(hub) for hub in HUBS)
DEFAULT_STATION = StationRef.from_hub(HUBS_BY_KEY["jita"])


def station_get(station_id: int) -> StationRef | None:
    """A hub (known without the SDE) or any NPC station of the imported SDE."""
    hub = HUBS_BY_STATION.get(station_id)
    if hub is not None:
        return StationRef.from_hub(hub)
    row = (
        Station.objects.filter(pk=station_id)
        .values_list("name", "system_id", "region_id", "region__name")
        .first()
    )
    if row is None:
        return None
    return StationRef(station_id, *row)


def region_name(region_id: int) -> str:
    for hub in HUBS:
        if hub.region_id == region_id:
            return hub.region_name
    name = Region.objects.filter(pk=region_id).values_list("name", flat=True).first()
    return name or f"region {region_id}"


def region_known(region_id: int) -> bool:
    return (
        any(hub.region_id == region_id for hub in HUBS)
        or Region.objects.filter(pk=region_id).exists()
        or MarketSnapshot.objects.filter(region_id=region_id).exists()
    )


def duration_text(seconds: float) -> str:
    """A short human duration: "under a minute", "3 min", "2 h 5 min", "3 days"."""
    minutes = int(max(seconds, 0) // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


@dataclass(frozen=True)
class RegionAge:
    """How fresh a region's order data is: the page's "orders 3 min old, next refresh in 2 min"."""

    region_id: int
    region_name: str
    snapshot_id: int | None = None
    orders: int = 0
    last_modified: datetime | None = None
    expires: datetime | None = None
    last_error: str = ""

    @property
    def has_data(self) -> bool:
        return self.snapshot_id is not None

    def age_seconds(self, now: datetime | None = None) -> float | None:
        if self.last_modified is None:
            return None
        return ((now or timezone.now()) - self.last_modified).total_seconds()

    def refresh_in_seconds(self, now: datetime | None = None) -> float | None:
        """Until ESI publishes the next book (the job fetches it on its next run after that)."""
        if self.expires is None:
            return None
        return (self.expires - (now or timezone.now())).total_seconds()

    @property
    def age_text(self) -> str:
        """ "3 min" (old)."""
        return duration_text(self.age_seconds() or 0)

    @property
    def refresh_text(self) -> str:
        """ "next refresh in 2 min", or "refresh due" once ESI has a newer book."""
        refresh = self.refresh_in_seconds()
        if refresh is None or refresh <= 0:
            return "refresh due"
        return f"next refresh in {duration_text(refresh)}"


def region_ages(region_ids: Iterable[int]) -> dict[int, RegionAge]:
    """Each region's current snapshot, and its latest failure when newer, in one query."""
    region_ids = list(dict.fromkeys(region_ids))
    current: dict[int, MarketSnapshot] = {}
    failures: dict[int, MarketSnapshot] = {}
    for snapshot in MarketSnapshot.objects.filter(
        Q(is_current=True) | Q(status=MarketSnapshot.Status.FAILED), region_id__in=region_ids
    ).order_by("region_id", "-fetched_at"):
        if snapshot.is_current:
            current[snapshot.region_id] = snapshot
        else:
            failures.setdefault(snapshot.region_id, snapshot)
    ages = {}
    for region_id in region_ids:
        snapshot = current.get(region_id)
        failure = failures.get(region_id)
        error = ""
        if failure is not None and (snapshot is None or failure.fetched_at > snapshot.fetched_at):
            error = failure.error
        if snapshot is None:
            ages[region_id] = RegionAge(region_id, region_name(region_id), last_error=error)
            continue
        ages[region_id] = RegionAge(
            region_id=region_id,
            region_name=region_name(region_id),
            snapshot_id=snapshot.id,
            orders=snapshot.orders,
            last_modified=snapshot.last_modified or snapshot.fetched_at,
            expires=snapshot.expires,
            last_error=error,
        )
    return ages


def snapshot_marker(region_ids: Iterable[int]) -> str:
    """Which snapshots (and history versions) are current in these regions, as a short string;
    it changes exactly when a new snapshot or new history lands, so a polling page asks for a new
    table only then."""
    region_ids = sorted(set(region_ids))
    ids = MarketSnapshot.objects.current_ids()
    versions = history_versions(region_ids)
    return ",".join(
        f"{region_id}:{ids.get(region_id, 0)}:{versions[region_id]}" for region_id in region_ids
    )


# --- history versions ------------------------------------------------------------------------------


def _history_version_key(region_id: int) -> str:
    return f"market:history-version:{region_id}"


def history_versions(region_ids: Iterable[int]) -> dict[int, str]:
    """Each region's history version: it changes whenever new history of the region lands
    (``market.warmup``), and names what is derived from the history in the caches. "0" until
    the first history lands, or when the shared cache is unavailable (then the derived values
    still age out after BOOK_TTL_SECONDS)."""
    keys = {_history_version_key(region_id): region_id for region_id in region_ids}
    try:
        found = cache.get_many(list(keys))
    except Exception:
        log.warning("could not read the history versions", exc_info=True)
        found = {}
    return {region_id: str(found.get(key, "0")) for key, region_id in keys.items()}


def history_version_bump(*, region_id: int) -> str:
    """A new history version for the region (new history landed); returns it."""
    version = f"{time.time_ns():x}"
    cache.set(_history_version_key(region_id), version, None)
    return version


# --- the SDE: type search, market groups, jumps --------------------------------------------------


@dataclass(frozen=True)
class TypeHit:
    type_id: int
    name: str
    group_name: str
    # Found as the closest name to a misspelt query, not by the text itself.
    alike: bool = False


def type_search(query: str, *, limit: int = 10) -> list[TypeHit]:
    """Published types whose name starts with ``query``, then those containing it; shorter names
    first, so "trit" offers Tritanium before Tritan's Forked Key. (Not only types with a market
    group: an older SDE's types may point at groups a newer one dropped.) When neither finds
    anything the text is taken for a typo: the closest names ("tritanum" finds Tritanium)."""
    text = " ".join(query.split())[:100]
    if not text:
        return []
    types = Type.objects.filter(published=True)
    hits: list[TypeHit] = []
    seen: set[int] = set()
    for matching in (types.filter(name__istartswith=text), types.filter(name__icontains=text)):
        rows = (
            matching.exclude(pk__in=seen)
            .order_by(Length("name"), "name")
            .values_list("id", "name", "group__name")
        )
        for type_id, name, group_name in rows[: limit - len(hits)]:
            hits.append(TypeHit(type_id, name, group_name or ""))
            seen.add(type_id)
        if len(hits) >= limit:
            break
    if not hits:
        hits = _types_alike(text, types=types, limit=limit)
    return hits


# Below this, difflib's likeness of two names is chance, not a typo (pg_trgm has its own 0.3).
TYPO_LIKENESS = 0.6
TYPO_CANDIDATES = 5000
# The trigram lookup (``%``, served by market/migrations/0002's GIN index on UPPER(name))
# without installing django.contrib.postgres as an app: only this column needs it.
Type._meta.get_field("name").register_lookup(TrigramSimilar)


def _trigram_index_ready() -> bool:
    # The migration skips the index where pg_trgm is not available; the operator needs it.
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        return cursor.fetchone() is not None


def _types_alike(text: str, *, types: QuerySet, limit: int) -> list[TypeHit]:
    """The names closest to a misspelt ``text``, best first: pg_trgm similarity on PostgreSQL
    (the GIN index answers it), elsewhere a difflib ranking of the names sharing a
    three-letter piece with it."""
    key = text.upper()
    if len(key) < 3:
        return []
    if _trigram_index_ready():
        rows = (
            types.alias(upper_name=Upper("name"))
            .filter(upper_name__trigram_similar=key)
            .annotate(similarity=TrigramSimilarity(Upper("name"), key))
            .order_by("-similarity", Length("name"), "name")
            .values_list("id", "name", "group__name")[:limit]
        )
        return [TypeHit(type_id, name, group or "", alike=True) for type_id, name, group in rows]
    pieces = {
        word[i : i + 3]
        for word in key.split()
        if len(word) >= 3
        for i in (0, len(word) // 2, len(word) - 3)
    }
    match = Q()
    for piece in pieces:
        match |= Q(name__icontains=piece)
    candidates = types.filter(match).values_list("id", "name", "group__name")
    scored = [
        (
            difflib.SequenceMatcher(None, key, name.upper()).ratio(),
            TypeHit(type_id, name, group or "", alike=True),
        )
        for type_id, name, group in candidates[:TYPO_CANDIDATES]
    ]
    scored.sort(key=lambda item: (-item[0], len(item[1].name), item[1].name))
    return [hit for likeness, hit in scored[:limit] if likeness >= TYPO_LIKENESS]


@dataclass(frozen=True)
class MarketGroupTree:
    names: dict[int, str]
    parents: dict[int, int | None]
    children: dict[int | None, tuple[int, ...]]

    def subtree(self, group_id: int) -> frozenset[int]:
        found, stack = {group_id}, [group_id]
        while stack:
            for child in self.children.get(stack.pop(), ()):
                if child not in found:
                    found.add(child)
                    stack.append(child)
        return frozenset(found)

    def path(self, group_id: int | None) -> list[tuple[int, str]]:
        """The chain from the top of the tree down to ``group_id``."""
        chain: list[tuple[int, str]] = []
        seen: set[int] = set()
        while group_id is not None and group_id in self.names and group_id not in seen:
            seen.add(group_id)
            chain.append((group_id, self.names[group_id]))
            group_id = self.parents.get(group_id)
        return chain[::-1]

    def choices(self) -> list[tuple[str, list[tuple[int, str]]]]:
        """Top-level groups with their children, for a select's optgroups."""

        def by_name(ids: Iterable[int]) -> list[int]:
            return sorted(ids, key=lambda group_id: self.names[group_id])

        return [
            (
                self.names[top],
                [(top, f"All {self.names[top]}")]
                + [(child, self.names[child]) for child in by_name(self.children.get(top, ()))],
            )
            for top in by_name(self.children.get(None, ()))
        ]


def market_group_tree() -> MarketGroupTree:
    def build() -> MarketGroupTree:
        names: dict[int, str] = {}
        parents: dict[int, int | None] = {}
        children: dict[int | None, list[int]] = {}
        for group_id, name, parent_id in MarketGroup.objects.values_list("id", "name", "parent_id"):
            names[group_id] = name
            parents[group_id] = parent_id
            children.setdefault(parent_id, []).append(group_id)
        return MarketGroupTree(names, parents, {k: tuple(v) for k, v in children.items()})

    return _sde.get(("market-groups", MarketGroup.objects.count()), build)


@dataclass(frozen=True)
class MarketGroupNode:
    group_id: int
    name: str
    has_children: bool


def market_group_children(parent_id: int | None) -> tuple[list[MarketGroupNode], list[TypeHit]]:
    """One level of the market browser: the subgroups of ``parent_id`` and its own types."""
    tree = market_group_tree()
    groups = sorted(
        (
            MarketGroupNode(child, tree.names[child], bool(tree.children.get(child)))
            for child in tree.children.get(parent_id, ())
        ),
        key=lambda node: node.name,
    )
    types: list[TypeHit] = []
    if parent_id is not None:
        types = [
            TypeHit(type_id, name, "")
            for type_id, name in Type.objects.filter(market_group_id=parent_id, published=True)
            .order_by("name")
            .values_list("id", "name")
        ]
    return groups, types


def jump_graph() -> JumpGraph:
    """The stargate graph of the imported SDE (empty without one)."""

    def build() -> JumpGraph:
        return JumpGraph(
            pairs=SystemJump.objects.values_list("from_system_id", "to_system_id").iterator(),
            security=dict(SolarSystem.objects.values_list("id", "security")),
        )

    return _sde.get(("jumps", SystemJump.objects.count()), build)


def jumps_between(
    origin: StationRef, destination: StationRef, route: str, *, graph: JumpGraph | None = None
) -> int | None:
    """Gate jumps between two stations' systems; None when there is no such route (or no SDE)."""
    graph = jump_graph() if graph is None else graph
    if origin.system_id not in graph or destination.system_id not in graph:
        return None
    return graph.jumps(origin.system_id, destination.system_id, route)


# --- a station's book tops -----------------------------------------------------------------------


class BookTop(msgspec.Struct, array_like=True, gc=False):
    """One type at one station in the current snapshot, with what the desk needs to price it.

    A msgspec struct, so a whole hub's tops travel through the shared cache as one compact
    MessagePack blob that decodes in a few milliseconds (pickled dataclasses take ten times as
    long as reading them from the database again)."""

    type_id: int
    type_name: str
    market_group_id: int | None
    unit_volume: Decimal | None  # m3 one unit takes in a hold: packaged for ships
    best_bid: Decimal | None
    best_ask: Decimal | None
    daily_volume: Decimal  # 30-day average in the station's region; 0 without history
    has_history: bool = False


class _SharedBook(msgspec.Struct, array_like=True):
    """What the shared cache holds for one station and snapshot."""

    snapshot_id: int
    history_to: date | None
    tops: list[BookTop]


_book_encoder = msgspec.msgpack.Encoder(decimal_format="string")
_book_decoder = msgspec.msgpack.Decoder(_SharedBook)
_generations = itertools.count(1)


@dataclass
class StationBook:
    station: StationRef
    snapshot_id: int | None
    tops: dict[int, BookTop] = field(default_factory=dict)
    # The newest day of history behind the daily volumes.
    history_to: date | None = None
    # When the snapshot was fetched: with its id, what names it in the caches.
    fetched_at: datetime | None = None
    # Tells two reads of one snapshot apart (the second has newer daily volumes).
    generation: int = field(default_factory=lambda: next(_generations))

    @property
    def daily_volumes(self) -> dict[int, Decimal]:
        return {type_id: top.daily_volume for type_id, top in self.tops.items()}

    @cached_property
    def market_groups(self) -> dict[int, int | None]:
        return {type_id: top.market_group_id for type_id, top in self.tops.items()}

    @cached_property
    def types_with_history(self) -> frozenset[int]:
        return frozenset(type_id for type_id, top in self.tops.items() if top.has_history)


def _shared_book_key(
    station_id: int, snapshot_id: int, fetched_at: datetime, history_version: str
) -> str:
    # The fetch time as well as the id: a test database (or a restored one) reuses ids.
    return (
        f"market:book-top:v3:{station_id}:{snapshot_id}:{fetched_at.timestamp():.6f}:"
        f"{history_version}"
    )


def _book_tops_read(station: StationRef) -> StationBook:
    """Every type's top of the book at the station, in one statement: the snapshot is chosen
    inside it, so the rows always belong together even while a new snapshot is swapped in.
    Without a current snapshot the book has no ``snapshot_id``."""
    sql = f"""
        SELECT s.id, s.fetched_at, bp.type_id, t.name, t.market_group_id,
               COALESCE(t.packaged_volume, t.volume),
               bp.best_bid, bp.best_ask, st.avg_daily_volume, st.last_history_date,
               st.has_history
        FROM {MarketSnapshot._meta.db_table} s
        LEFT JOIN {BestPrice._meta.db_table} bp
               ON bp.snapshot_id = s.id AND bp.location_id = %s
        LEFT JOIN {Type._meta.db_table} t ON t.id = bp.type_id
        LEFT JOIN {TypeRegionStats._meta.db_table} st
               ON st.region_id = bp.region_id AND st.type_id = bp.type_id
        WHERE s.region_id = %s AND s.is_current
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [station.station_id, station.region_id])
        rows = cursor.fetchall()
    if not rows:
        return StationBook(station, None)
    snapshot_id, fetched_at = rows[0][0], rows[0][1]
    if isinstance(fetched_at, str):  # SQLite
        fetched_at = datetime.fromisoformat(fetched_at)
    if timezone.is_naive(fetched_at):
        fetched_at = timezone.make_aware(fetched_at, UTC)
    tops: dict[int, BookTop] = {}
    history_to = None
    # SQLite hands NUMERIC back as float or int; PostgreSQL as Decimal. Money stays Decimal.
    decimal = _decimal_reader()
    for (
        _snapshot_id,
        _fetched_at,
        type_id,
        name,
        market_group_id,
        unit_volume,
        best_bid,
        best_ask,
        daily_volume,
        last_history_date,
        has_history,
    ) in rows:
        if type_id is None:  # a snapshot without a single order at this station
            continue
        if last_history_date is not None:
            if isinstance(last_history_date, str):  # SQLite
                last_history_date = date.fromisoformat(last_history_date)
            if history_to is None or last_history_date > history_to:
                history_to = last_history_date
        tops[type_id] = BookTop(
            type_id=type_id,
            type_name=name or f"Type {type_id}",
            market_group_id=market_group_id,
            unit_volume=None if unit_volume is None else Decimal(repr(float(unit_volume))),
            best_bid=decimal(best_bid),
            best_ask=decimal(best_ask),
            daily_volume=decimal(daily_volume) or ZERO,
            has_history=bool(has_history),
        )
    return StationBook(station, snapshot_id, tops, history_to, fetched_at)


def _decimal_reader() -> Callable[[Any], Decimal | None]:
    if connection.vendor == "postgresql":
        return lambda value: value
    cent = Decimal("0.01")

    def read(value: Any) -> Decimal | None:
        if value is None:
            return None
        return Decimal(repr(value) if isinstance(value, float) else str(value)).quantize(cent)

    return read


def book_tops_publish(station: StationRef, *, history_version: str | None = None) -> StationBook:
    """Read the station's book tops from the database and put them in the shared cache, where
    every web worker finds them (``market.warmup`` does this as soon as a snapshot or history
    lands). ``history_version`` is the region's, read before the book (default: read now)."""
    if history_version is None:
        # Read before the book: history landing in between then re-keys it (the other order
        # could file an older book under the newer version).
        history_version = history_versions([station.region_id])[station.region_id]
    book = _book_tops_read(station)
    if book.snapshot_id is None:
        return book
    blob = _book_encoder.encode(
        _SharedBook(book.snapshot_id, book.history_to, list(book.tops.values()))
    )
    key = _shared_book_key(station.station_id, book.snapshot_id, book.fetched_at, history_version)
    try:
        cache.set(key, blob, BOOK_TTL_SECONDS)
    except Exception:
        # The cache is a speed-up: without it every worker reads the database itself.
        log.warning("could not share the book tops of %s", station.short_name, exc_info=True)
    return book


def _book_tops_shared(
    station: StationRef, snapshot_id: int, fetched_at: datetime, history_version: str
) -> StationBook | None:
    try:
        blob = cache.get(
            _shared_book_key(station.station_id, snapshot_id, fetched_at, history_version)
        )
    except Exception:
        log.warning("could not read the shared book tops of %s", station.short_name, exc_info=True)
        return None
    if blob is None:
        return None
    try:
        shared = _book_decoder.decode(blob)
    except msgspec.MsgspecError:
        log.warning("unreadable shared book tops of %s: read again", station.short_name)
        return None
    tops = {top.type_id: top for top in shared.tops}
    return StationBook(station, shared.snapshot_id, tops, shared.history_to, fetched_at)


def station_book(station: StationRef) -> StationBook:
    """The station's book tops in the region's current snapshot and history version: from this
    process's memo, else from the shared cache (filled when the snapshot or history landed),
    else from the database (and then shared with the other workers)."""
    history_version = history_versions([station.region_id])[station.region_id]
    current = (
        MarketSnapshot.objects.filter(region_id=station.region_id, is_current=True)
        .values_list("id", "fetched_at")
        .first()
    )
    if current is None:
        return StationBook(station, None)

    def load() -> StationBook:
        return _book_tops_shared(station, *current, history_version) or book_tops_publish(
            station, history_version=history_version
        )

    # Should a newer snapshot land between the two reads, the book read is the newer one: right
    # for this request, and the next request keys the newer snapshot properly.
    return _books.get((station.station_id, *current, history_version), load)


# --- station trading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TradingFilters:
    """The station-trading table's filters; each None means "any". Inclusive, like trading.py."""

    min_margin: Decimal | None = None
    min_daily_volume: Decimal | None = None
    min_profit: Decimal | None = None
    max_price: Decimal | None = None
    market_group_id: int | None = None

    def accepts(
        self,
        row: StationTradingRow,
        group_of: dict[int, int | None],
        groups: Collection[int] | None,
    ) -> bool:
        if self.min_margin is not None and row.margin < self.min_margin:
            return False
        if self.min_daily_volume is not None and row.daily_volume < self.min_daily_volume:
            return False
        if self.min_profit is not None and row.profit < self.min_profit:
            return False
        if self.max_price is not None and (
            row.best_bid > self.max_price or row.best_ask > self.max_price
        ):
            return False
        return groups is None or group_of.get(row.type_id) in groups


@dataclass
class TradingResult:
    station: StationRef
    age: RegionAge
    rows: list[StationTradingRow]
    rates: FeeRates
    volume_cap: Decimal | None
    history_to: date | None = None
    total: int = 0  # types with both a bid and an ask, before the filters
    types_with_history: Collection[int] = frozenset()


class _PricedBook:
    """A station's rows priced for one set of fees, with each sort order made once. Ties go to
    the better margin, then the lower type id, so equal daily profits (every type without
    history has none) still list the most promising first. (Every column of a priced row has a
    value: nothing sorts as missing.)"""

    def __init__(self, rows: list[StationTradingRow]) -> None:
        self.rows = rows
        self._sorted: dict[str, list[StationTradingRow]] = {}
        self._lock = threading.Lock()

    def sorted_by(self, order_by: str) -> list[StationTradingRow]:
        with self._lock:
            known = self._sorted.get(order_by)
        if known is None:
            value = attrgetter(order_by.removeprefix("-"))
            if order_by.startswith("-"):
                known = sorted(
                    self.rows, key=lambda row: (value(row), row.margin, -row.type_id), reverse=True
                )
            else:
                known = sorted(self.rows, key=lambda row: (value(row), -row.margin, row.type_id))
            with self._lock:
                self._sorted[order_by] = known
        return known


def station_trading(
    *,
    station: StationRef,
    rates: FeeRates,
    volume_cap: Decimal | None = None,
    filters: TradingFilters = TradingFilters(),
    order_by: str = "-daily_profit",
) -> TradingResult:
    """Every type with both a bid and an ask at the station, priced by
    ``trading.station_trading_rows`` with the trader's fees, filtered and sorted."""
    rows_sort([], order_by=order_by, columns=STATION_TRADING_COLUMNS)  # a bad column: 400
    age = region_ages([station.region_id])[station.region_id]
    book = station_book(station)
    if book.snapshot_id is None:
        return TradingResult(station, age, [], rates, volume_cap)

    def price() -> _PricedBook:
        return _PricedBook(
            station_trading_rows(
                quotes=book.tops.values(),
                daily_volumes=book.daily_volumes,
                sales_tax=rates.sales_tax,
                broker_fee=rates.broker_fee,
                volume_cap=volume_cap,
            )
        )

    key = (book.station.station_id, book.generation, rates, volume_cap)
    priced = _trading.get(key, price)
    groups = (
        None
        if filters.market_group_id is None
        else market_group_tree().subtree(filters.market_group_id)
    )
    group_of = book.market_groups
    rows = [row for row in priced.sorted_by(order_by) if filters.accepts(row, group_of, groups)]
    return TradingResult(
        station,
        age,
        rows,
        rates,
        volume_cap,
        book.history_to,
        len(priced.rows),
        book.types_with_history,
    )


# --- hauling -------------------------------------------------------------------------------------


@dataclass(slots=True)
class HubHaulRow(HaulRow):
    """A hauling row with the trip it belongs to (several trips show together for "any hub")."""

    origin: StationRef | None = None
    destination: StationRef | None = None

    @property
    def origin_name(self) -> str | None:
        return self.origin.short_name if self.origin else None

    @property
    def destination_name(self) -> str | None:
        return self.destination.short_name if self.destination else None


HUB_HAULING_COLUMNS = (*HAULING_COLUMNS, "origin_name", "destination_name")


@dataclass
class HaulingResult:
    origins: tuple[StationRef, ...]
    destinations: tuple[StationRef, ...]
    ages: dict[int, RegionAge]
    rows: list[HubHaulRow]
    rates: FeeRates
    trips: list[tuple[StationRef, StationRef, int | None]]


@dataclass
class _Trip:
    """One trip of a hauling request, and what its walk needs."""

    origin: StationRef
    destination: StationRef
    book_a: StationBook
    book_b: StationBook
    jumps: int | None
    key: tuple
    # Types whose best prices leave room for profit: (top at A, top at B).
    worth: dict[int, tuple[BookTop, BookTop]] = field(default_factory=dict)
    ask_ceilings: dict[int, Decimal] = field(default_factory=dict)
    sells: dict[int, list[_BookRow]] = field(default_factory=dict)
    bid_floors: dict[int, Decimal] = field(default_factory=dict)
    buys: dict[int, list[_BookRow]] = field(default_factory=dict)


def _trip_bounds(trip: _Trip, *, mode: str, rates: FeeRates) -> None:
    """The types worth a look, and the dearest ask at A the walk can use for each.

    Only orders the walk can reach are read: asks at A cheaper than the most a unit can fetch at
    B, and (``_bid_floors``) bids at B that pay more, after tax, than A's best ask. The bounds are
    inclusive, so they can only let in a level the walk then stops at, never keep one out."""
    keep = _kept_share(mode, rates)
    for type_id, top_a in trip.book_a.tops.items():
        top_b = trip.book_b.tops.get(type_id)
        if top_b is None or top_a.unit_volume is None or top_a.best_ask is None:
            continue
        if mode == "relist" and top_b.daily_volume < 1:
            continue  # nobody buys it at B: a relist there would never sell
        if hauling_may_pay(
            mode=mode,
            best_ask_at_a=top_a.best_ask,
            best_bid_at_b=top_b.best_bid,
            best_ask_at_b=top_b.best_ask,
            sales_tax=rates.sales_tax,
            broker_fee=rates.broker_fee,
        ):
            trip.worth[type_id] = (top_a, top_b)
            best_at_b = top_b.best_bid if mode == "instant" else top_b.best_ask
            trip.ask_ceilings[type_id] = best_at_b * keep


def _kept_share(mode: str, rates: FeeRates) -> Decimal:
    """What a sale at B keeps of its price: tax paid, and the broker fee for a relist."""
    if mode == "instant":
        return 1 - rates.sales_tax
    return 1 - rates.sales_tax - rates.broker_fee


def _bid_floors(trip: _Trip, *, rates: FeeRates) -> None:
    keep = _kept_share("instant", rates)
    trip.bid_floors = {
        t: top_a.best_ask / keep for t, (top_a, _) in trip.worth.items() if t in trip.sells
    }


# Where each side of a walk is read: (the trip's end, buy orders?, the trip's bounds for it).
_SIDES = {
    "sells": ("origin", False, "ask_ceilings"),
    "buys": ("destination", True, "bid_floors"),
}


def _orders_for_trips(trips: Sequence[_Trip], *, side: str) -> None:
    """Fill in one side of the trips' books (``sells`` at A or ``buys`` at B) with one query per
    station for all of them (at the loosest bound per type), each trip then keeping what lies
    within its own bounds: "any hub to any hub" reads each hub's book twice, not eight times."""
    end, is_buy_order, bounds_name = _SIDES[side]
    by_station: dict[int, list[_Trip]] = {}
    for trip in trips:
        by_station.setdefault(getattr(trip, end).station_id, []).append(trip)
    for group in by_station.values():
        loosest: dict[int, Decimal] = {}
        for trip in group:
            for type_id, price in getattr(trip, bounds_name).items():
                known = loosest.get(type_id)
                if known is None or (price < known if is_buy_order else price > known):
                    loosest[type_id] = price
        station = getattr(group[0], end)
        by_type: dict[int, list[_BookRow]] = {}
        for row in _orders_within(station=station, is_buy_order=is_buy_order, bounds=loosest):
            by_type.setdefault(row.type_id, []).append(row)
        for trip in group:
            if len(group) == 1:
                setattr(trip, side, by_type)
                continue
            kept: dict[int, list[_BookRow]] = {}
            for type_id, limit in getattr(trip, bounds_name).items():
                if is_buy_order:
                    mine = [row for row in by_type.get(type_id, ()) if row.price >= limit]
                else:
                    mine = [row for row in by_type.get(type_id, ()) if row.price <= limit]
                if mine:
                    kept[type_id] = mine
            setattr(trip, side, kept)


def _trips_read(trips: Sequence[_Trip], *, mode: str, rates: FeeRates) -> None:
    """Fill in every trip's order books, reading each station's book once for all of them."""
    for trip in trips:
        _trip_bounds(trip, mode=mode, rates=rates)
    _orders_for_trips([trip for trip in trips if trip.worth], side="sells")
    if mode == "instant":  # a relist sells at B's best ask: B's buy orders do not matter
        for trip in trips:
            _bid_floors(trip, rates=rates)
        _orders_for_trips([trip for trip in trips if trip.bid_floors], side="buys")


def _candidates(trip: _Trip, *, mode: str) -> list[HaulCandidate]:
    """The types of a read trip that can be bought at A, with the order books the walk needs."""
    candidates = []
    for type_id, (top_a, top_b) in trip.worth.items():
        sells = trip.sells.get(type_id)
        if not sells:
            continue
        candidates.append(
            HaulCandidate(
                type_id=type_id,
                type_name=top_a.type_name,
                unit_volume=top_a.unit_volume,
                sell_orders_at_a=sells,
                buy_orders_at_b=trip.buys.get(type_id, ()),
                best_ask_at_b=top_b.best_ask,
                # A relist sells no faster than B's market buys: one day of its volume at most.
                max_quantity=int(top_b.daily_volume) if mode == "relist" else None,
            )
        )
    return candidates


class _BookRow(NamedTuple):
    """One order of a hauling walk, as the database row it is: ``trading`` reads it by name like
    a ``BookOrder``. A Jita book is tens of thousands of them, and ``_book_row`` makes one from
    the row in a fraction of the time a dataclass takes to construct."""

    type_id: int
    price: Decimal
    volume_remain: int
    min_volume: int


_book_row = partial(tuple.__new__, _BookRow)


def _orders_within(
    *, station: StationRef, is_buy_order: bool, bounds: dict[int, Decimal]
) -> list[_BookRow]:
    """The station's sell orders priced at most ``bounds[type_id]`` (buy orders: at least), in
    the region's current snapshot."""
    if not bounds:
        return []
    params: list[Any]
    if connection.vendor == "postgresql":
        # Two array parameters rather than thousands of scalars: the statement stays one short
        # string that psycopg sends as is.
        bounds_sql = "SELECT * FROM unnest(%s::integer[], %s::numeric[])"
        params = [list(bounds), list(bounds.values())]
    else:
        # CAST: SQLite takes a Decimal parameter as text, which never compares as a number.
        bounds_sql = "VALUES " + ", ".join(["(%s, CAST(%s AS NUMERIC))"] * len(bounds))
        params = [value for item in bounds.items() for value in item]
    compare = ">=" if is_buy_order else "<="
    sql = f"""
        WITH bounds (type_id, price) AS ({bounds_sql})
        SELECT o.type_id, o.price, o.volume_remain, o.min_volume
        FROM {Order._meta.db_table} o
        JOIN bounds ON o.type_id = bounds.type_id AND o.price {compare} bounds.price
        WHERE o.snapshot_id = (
                SELECT id FROM {MarketSnapshot._meta.db_table}
                WHERE region_id = %s AND is_current LIMIT 1
            )
            AND o.location_id = %s AND o.is_buy_order = %s
    """
    params += [station.region_id, station.station_id, is_buy_order]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if connection.vendor == "postgresql":
        return list(map(_book_row, rows))
    decimal = _decimal_reader()
    return [_BookRow(t, decimal(price), volume, least) for t, price, volume, least in rows]


def hauling(
    *,
    origin: StationRef | None,
    destination: StationRef | None,
    mode: str,
    budget: Decimal | None,
    cargo_m3: Decimal | None,
    rates: FeeRates,
    route: str = "shortest",
    order_by: str = "-net_profit",
) -> HaulingResult:
    """What to haul from ``origin`` to ``destination`` (None: any hub), one trip per pair of
    stations, each planned by ``trading.hauling_rows`` with the whole budget and hold."""
    rows_sort([], order_by=order_by, columns=HUB_HAULING_COLUMNS)  # a bad column: 400
    origins = (origin,) if origin else HUB_STATIONS
    destinations = (destination,) if destination else HUB_STATIONS
    ages = region_ages(s.region_id for s in (*origins, *destinations))
    trips = [(a, b) for a in origins for b in destinations if a.station_id != b.station_id]
    books = {station.station_id: station_book(station) for station in (*origins, *destinations)}
    graph = jump_graph()
    planned_trips = []
    read: list[_Trip] = []
    for a, b in trips:
        jumps = jumps_between(a, b, route, graph=graph)
        planned_trips.append((a, b, jumps))
        book_a, book_b = books[a.station_id], books[b.station_id]
        if book_a.snapshot_id is None or book_b.snapshot_id is None:
            continue
        key = (
            a.station_id,
            b.station_id,
            book_a.generation,
            book_b.generation,
            mode,
            budget,
            cargo_m3,
            rates,
            jumps,
        )
        read.append(_Trip(a, b, book_a, book_b, jumps, key))
    # The whole answer, sorted, is kept too: "any hub to any hub" is thousands of rows.
    answer_key = ("sorted", tuple(trip.key for trip in read), order_by)
    rows = _hauls.peek(answer_key)
    if rows is None:
        rows = _trips_plan(read, mode=mode, budget=budget, cargo_m3=cargo_m3, rates=rates)
        rows = rows_sort(rows, order_by=order_by, columns=HUB_HAULING_COLUMNS)
        _hauls.put(answer_key, rows)
    return HaulingResult(origins, destinations, ages, rows, rates, planned_trips)


def _trips_plan(
    trips: Sequence[_Trip],
    *,
    mode: str,
    budget: Decimal | None,
    cargo_m3: Decimal | None,
    rates: FeeRates,
) -> list[HubHaulRow]:
    """Every trip's rows, by ``trading.hauling_rows``; each trip's plan is kept on its own, so a
    new snapshot in one region re-plans only the trips to and from its hub."""
    rows: list[HubHaulRow] = []
    to_plan = []
    for trip in trips:
        planned = _hauls.peek(trip.key)
        if planned is None:
            to_plan.append(trip)
        else:
            rows.extend(planned)
    _trips_read(to_plan, mode=mode, rates=rates)
    for trip in to_plan:
        planned = [
            _with_trip(row, trip.origin, trip.destination)
            for row in hauling_rows(
                candidates=_candidates(trip, mode=mode),
                mode=mode,
                budget=budget,
                cargo_m3=cargo_m3,
                sales_tax=rates.sales_tax,
                broker_fee=rates.broker_fee,
                jumps=trip.jumps,
            )
        ]
        _hauls.put(trip.key, planned)
        rows.extend(planned)
    return rows


_HAUL_ROW_FIELDS = tuple(f.name for f in fields(HaulRow))


def _with_trip(row: HaulRow, origin: StationRef, destination: StationRef) -> HubHaulRow:
    values = {name: getattr(row, name) for name in _HAUL_ROW_FIELDS}
    return HubHaulRow(**values, origin=origin, destination=destination)


# --- one type: order books, quotes at every hub, history -----------------------------------------

BOOK_SORTS = ("price", "volume_remain", "location", "range", "issued")


def _range_rank() -> Case:
    """Order ranges from narrowest to widest: station, system, 1 … 40 jumps, region."""
    return Case(
        When(range="station", then=Value(-2)),
        When(range="solarsystem", then=Value(-1)),
        When(range="region", then=Value(1000)),
        default=Cast("range", IntegerField()),
        output_field=IntegerField(),
    )


def type_orders(
    *,
    region_id: int,
    type_id: int,
    is_buy_order: bool,
    location_id: int | None = None,
    order_by: str | None = None,
) -> QuerySet[Order]:
    """One side of a type's book in the region's current snapshot, best price first by default,
    each order with its location's name."""
    orders = (
        Order.objects.current(region_id=region_id)
        .filter(type_id=type_id, is_buy_order=is_buy_order)
        .annotate(
            location_name=Coalesce(
                Subquery(Station.objects.filter(pk=OuterRef("location_id")).values("name")[:1]),
                Value(""),
                output_field=CharField(),
            )
        )
    )
    if location_id is not None:
        orders = orders.filter(location_id=location_id)
    best_first = "-price" if is_buy_order else "price"
    order_by = order_by or best_first
    column = order_by.removeprefix("-")
    descending = order_by.startswith("-")
    if column == "location":
        key = "location_name"
    elif column == "range":
        orders = orders.annotate(range_rank=_range_rank())
        key = "range_rank"
    else:
        key = column
    return orders.order_by(f"-{key}" if descending else key, best_first, "order_id")


@dataclass(frozen=True)
class HubQuote:
    station: StationRef
    age: RegionAge
    best_bid: Decimal | None
    best_ask: Decimal | None
    bid_volume: int
    ask_volume: int
    daily_volume: Decimal | None
    daily_isk: Decimal | None

    @property
    def spread(self) -> Decimal | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return self.best_ask - self.best_bid

    @property
    def spread_percent(self) -> Decimal | None:
        """The spread in percent of the bid."""
        if self.spread is None or not self.best_bid:
            return None
        return self.spread / self.best_bid * 100


def hub_quotes(type_id: int) -> list[HubQuote]:
    """The type's best bid and ask at each of the five hubs, side by side (two queries)."""
    ages = region_ages(hub.region_id for hub in HUBS)
    snapshot_ids = [age.snapshot_id for age in ages.values() if age.snapshot_id is not None]
    tops = {
        top.location_id: top
        for top in BestPrice.objects.filter(
            snapshot_id__in=snapshot_ids,
            location_id__in=[hub.station_id for hub in HUBS],
            type_id=type_id,
        )
    }
    stats = {
        s.region_id: s
        for s in TypeRegionStats.objects.filter(
            type_id=type_id, region_id__in=[hub.region_id for hub in HUBS]
        )
    }
    quotes = []
    for station in HUB_STATIONS:
        top = tops.get(station.station_id)
        stat = stats.get(station.region_id)
        quotes.append(
            HubQuote(
                station=station,
                age=ages[station.region_id],
                best_bid=top.best_bid if top else None,
                best_ask=top.best_ask if top else None,
                bid_volume=top.bid_volume if top else 0,
                ask_volume=top.ask_volume if top else 0,
                daily_volume=stat.avg_daily_volume if stat and stat.has_history else None,
                daily_isk=stat.avg_daily_isk if stat and stat.has_history else None,
            )
        )
    return quotes


def history_days(
    *, region_id: int, type_id: int, days: int, now: datetime | None = None
) -> QuerySet[HistoryDay]:
    """The type's daily history in the region over the last ``days`` days ESI can have."""
    end = history_window_end(now or timezone.now())
    start = end - timedelta(days=days - 1)
    return HistoryDay.objects.filter(
        region_id=region_id, type_id=type_id, date__gte=start, date__lte=end
    ).order_by("date")


def type_get(type_id: int) -> Type | None:
    return Type.objects.select_related("group", "market_group").filter(pk=type_id).first()


def type_on_market(type_id: int) -> bool:
    """True when some hub region's current snapshot or history knows the type (ESI sells types
    newer than the imported SDE)."""
    current = MarketSnapshot.objects.filter(is_current=True).values("id")
    return (
        BestPrice.objects.filter(snapshot_id__in=current, type_id=type_id).exists()
        or HistoryDay.objects.filter(type_id=type_id).exists()
    )
