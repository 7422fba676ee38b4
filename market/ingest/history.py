"""Market history: each hub region's daily history from ESI, stored once a day after ESI's
refresh, and the per-type statistics (``TypeRegionStats``) the desk prices by."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal

import msgspec
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, DecimalField, F, Max, Sum
from django.utils import timezone

from lenny.lib.money import CENT, isk_store
from market.esi import EsiClient, EsiError, EsiNotFound
from market.hubs import HUBS
from market.ingest.payloads import EsiHistoryDay
from market.ingest.sqlite import SQLITE_CHUNK_ROWS, _sqlite_write
from market.models import BestPrice, HistoryDay, MarketSnapshot, TypeRegionStats, history_landed

log = logging.getLogger("market.ingest")

HISTORY_PATH = "/markets/{region_id}/history/"
TYPES_PATH = "/markets/{region_id}/types/"
HUB_STATION_BY_REGION = {hub.region_id: hub.station_id for hub in HUBS}

HISTORY_REFRESH_AT = dt_time(11, 5, tzinfo=UTC)
HISTORY_WRITE_BATCH = 50
HISTORY_FETCH_THREADS = 4
# Consecutive failures (other than "no history") after which ESI is taken to be down.
HISTORY_MAX_CONSECUTIVE_ERRORS = 10
# A long history run announces what it stored this often (seconds), not only at its end, so the
# desk's daily volumes follow the history as it arrives.
HISTORY_LANDED_EVERY = 30.0


def history_refresh_cutoff(now: datetime) -> datetime:
    """The moment of ESI's latest daily history refresh at or before ``now``."""
    now = now.astimezone(UTC)
    today = datetime.combine(now.date(), HISTORY_REFRESH_AT)
    return today if now >= today else today - timedelta(days=1)


def history_window_end(now: datetime) -> date:
    """The last day ESI's history can hold at ``now``: the day before its latest refresh."""
    return history_refresh_cutoff(now).date() - timedelta(days=1)


@dataclass
class HistoryOutcome:
    region_id: int
    types: int = 0
    days: int = 0
    without_history: int = 0
    unchanged: int = 0
    failed: dict[int, str] = field(default_factory=dict)
    remaining: int = 0
    seconds: float = 0.0
    aborted: str = ""

    def summary(self) -> str:
        text = (
            f"region {self.region_id}: {self.types:,} types, {self.days:,} days stored, "
            f"{self.without_history:,} without history, {self.unchanged:,} unchanged"
        )
        if self.failed:
            examples = "; ".join(f"type {t}: {e}" for t, e in list(self.failed.items())[:3])
            text += f", {len(self.failed):,} failed ({examples})"
        if self.remaining:
            text += f", {self.remaining:,} left for the next run"
        if self.aborted:
            text += f"; stopped: {self.aborted}"
        return text + f", {self.seconds:.1f} s"


def history_types_due(
    *, region_id: int, now: datetime | None = None, client: EsiClient | None = None
) -> list[int]:
    """Types traded in the region whose history was not fetched since ESI's latest refresh.

    "Traded" means on the market at the region's hub station in the current snapshot (anywhere
    in the region for other regions); without a snapshot, ESI's list of the region's types.
    """
    now = now or timezone.now()
    current = BestPrice.objects.current(region_id=region_id)
    hub_station = HUB_STATION_BY_REGION.get(region_id)
    if hub_station is not None:
        current = current.filter(location_id=hub_station)
    traded = set(current.values_list("type_id", flat=True))
    if (
        not traded
        and not MarketSnapshot.objects.for_region(region_id).filter(is_current=True).exists()
    ):
        result = (client or EsiClient()).get_paged(
            TYPES_PATH.format(region_id=region_id), conditional=False
        )
        traded = {int(t) for t in result.data or []}
    fresh = set(
        TypeRegionStats.objects.filter(
            region_id=region_id, history_fetched_at__gte=history_refresh_cutoff(now)
        ).values_list("type_id", flat=True)
    )
    return sorted(traded - fresh)


@dataclass
class _Fetched:
    type_id: int
    days: list[EsiHistoryDay] | None = None  # None: ESI says "not modified"
    missing: bool = False  # ESI has no history for this type
    error: str = ""
    skipped: bool = False  # not asked: past the deadline, or ESI looked down


def history_fetch(
    *,
    region_id: int,
    type_ids: Iterable[int] | None = None,
    deadline: float | None = None,
    client: EsiClient | None = None,
    progress: Callable[[int], None] | None = None,
) -> HistoryOutcome:
    """Fetch and upsert the daily history of ``type_ids`` (default: the types due) in a region.

    Stops starting new requests at ``deadline`` (a ``time.monotonic()`` value); what is left is
    counted in ``remaining`` and picked up by the next run.
    """
    started = time.monotonic()
    client = client or EsiClient()
    now = timezone.now()
    types = (
        list(type_ids)
        if type_ids is not None
        else history_types_due(region_id=region_id, now=now, client=client)
    )
    outcome = HistoryOutcome(region_id)
    # "Unchanged" (from the client's cache or a 304) is only trusted for a type whose stored
    # history already reaches the newest day ESI can have: then it cannot hide a missed write.
    up_to_date = set(
        TypeRegionStats.objects.filter(
            region_id=region_id, last_history_date__gte=history_window_end(now)
        ).values_list("type_id", flat=True)
    )
    give_up = threading.Event()
    errors_in_a_row = [0]
    errors_lock = threading.Lock()

    def fetch(type_id: int) -> _Fetched:
        if give_up.is_set() or (deadline is not None and time.monotonic() > deadline):
            return _Fetched(type_id, skipped=True)
        try:
            result = client.get(
                HISTORY_PATH.format(region_id=region_id),
                params={"type_id": type_id},
                conditional=type_id in up_to_date,
            )
        except EsiNotFound:
            return _Fetched(type_id, missing=True)
        except EsiError as exc:
            with errors_lock:
                errors_in_a_row[0] += 1
                if errors_in_a_row[0] >= HISTORY_MAX_CONSECUTIVE_ERRORS:
                    give_up.set()
            return _Fetched(type_id, error=str(exc) or type(exc).__name__)
        with errors_lock:
            errors_in_a_row[0] = 0
        if result.not_modified:
            return _Fetched(type_id)
        try:
            return _Fetched(type_id, msgspec.convert(result.data, list[EsiHistoryDay]))
        except msgspec.ValidationError as exc:
            return _Fetched(type_id, error=f"unexpected history data: {exc}")

    batch: list[_Fetched] = []
    landed: list[int] = []  # types stored since history_landed was last sent
    last_landed = time.monotonic()

    def store() -> None:
        nonlocal batch, landed, last_landed
        _history_store(region_id, batch, outcome, now=now)
        landed += [item.type_id for item in batch if item.days]
        batch = []
        if landed and time.monotonic() - last_landed >= HISTORY_LANDED_EVERY:
            _history_landed_send(region_id, landed)
            landed, last_landed = [], time.monotonic()

    with ThreadPoolExecutor(HISTORY_FETCH_THREADS, thread_name_prefix="esi-history") as pool:
        for fetched in pool.map(fetch, types):
            if progress:
                progress(1)
            if fetched.skipped:
                outcome.remaining += 1
            elif fetched.error:
                outcome.failed[fetched.type_id] = fetched.error
            else:
                batch.append(fetched)
                if len(batch) >= HISTORY_WRITE_BATCH:
                    store()
    if batch:
        store()
    if landed:
        _history_landed_send(region_id, landed)
    if give_up.is_set():
        outcome.aborted = f"{HISTORY_MAX_CONSECUTIVE_ERRORS} failures in a row, ESI looks down"
    outcome.seconds = time.monotonic() - started
    return outcome


def _history_landed_send(region_id: int, type_ids: list[int]) -> None:
    """Tell what is derived from the region's history (``market.warmup``) once it committed."""
    type_ids = list(type_ids)
    transaction.on_commit(
        lambda: history_landed.send(sender=HistoryDay, region_id=region_id, type_ids=type_ids)
    )


_HISTORY_COLUMNS = ("region_id", "type_id", "date", "average", "highest", "lowest", "volume")
_HISTORY_UPSERT = (
    f"INSERT INTO {HistoryDay._meta.db_table} ({', '.join(_HISTORY_COLUMNS)}, order_count) "
    f"VALUES ({', '.join(['%s'] * (len(_HISTORY_COLUMNS) + 1))}) "
    "ON CONFLICT (region_id, type_id, date) DO UPDATE SET average = excluded.average, "
    "highest = excluded.highest, lowest = excluded.lowest, volume = excluded.volume, "
    "order_count = excluded.order_count"
)


def history_keep_from(today: date) -> date | None:
    """The first day of history kept (``MARKET_HISTORY_KEEP_DAYS``), or None: kept for ever."""
    keep = settings.MARKET_HISTORY_KEEP_DAYS
    return today - timedelta(days=keep) if keep > 0 else None


def history_prune(*, region_id: int, today: date) -> int:
    """Delete the region's history days before what is kept; returns how many went. On SQLite
    in short transactions, as the other prunes."""
    keep_from = history_keep_from(today)
    if keep_from is None:
        return 0
    table = HistoryDay._meta.db_table
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE region_id = %s AND date < %s", [region_id, keep_from]
            )
            deleted = cursor.rowcount
    else:
        sql = (
            f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} "
            f"WHERE region_id = %s AND date < %s LIMIT {SQLITE_CHUNK_ROWS})"
        )
        params = [region_id, keep_from.isoformat()]
        deleted = 0
        while touched := _sqlite_write(lambda cursor: cursor.execute(sql, params)):
            deleted += touched
    if deleted:
        log.info(
            "market history pruned region=%s days_before=%s rows=%s", region_id, keep_from, deleted
        )
    return deleted


def _history_store(
    region_id: int, batch: list[_Fetched], outcome: HistoryOutcome, *, now: datetime
) -> None:
    # Plain rows and one upsert statement rather than model instances through bulk_create: the
    # ORM spent nine tenths of a history run building and compiling 90 rows per type.
    adapt_date = connection.ops.adapt_datefield_value
    # Days ESI still serves but Lenny no longer keeps are not written again (to be pruned again).
    keep_from = history_keep_from(now.date()) or date.min
    rows = [
        (
            region_id,
            item.type_id,
            adapt_date(day.date),
            isk_store(day.average),
            isk_store(day.highest),
            isk_store(day.lowest),
            day.volume,
            day.order_count,
        )
        for item in batch
        if item.days
        for day in item.days
        if day.date >= keep_from
    ]
    with transaction.atomic():
        if rows:
            with connection.cursor() as cursor:
                cursor.executemany(_HISTORY_UPSERT, rows)
        stats_refresh(region_id=region_id, type_ids=[item.type_id for item in batch], now=now)
    for item in batch:
        if item.missing:
            outcome.without_history += 1
        elif item.days is None:
            outcome.unchanged += 1
        outcome.types += 1
    outcome.days += len(rows)


def stats_refresh(*, region_id: int, type_ids: list[int], now: datetime | None = None) -> None:
    """Recompute TypeRegionStats of ``type_ids`` from the stored history, and mark them fetched."""
    now = now or timezone.now()
    end = history_window_end(now)
    start = end - timedelta(days=TypeRegionStats.WINDOW_DAYS - 1)
    history = HistoryDay.objects.filter(region_id=region_id, type_id__in=type_ids)
    window = {
        row["type_id"]: row
        for row in history.filter(date__gte=start, date__lte=end)
        .values("type_id")
        .annotate(
            total_volume=Sum("volume"),
            total_isk=Sum(
                F("volume") * F("average"),
                output_field=DecimalField(max_digits=30, decimal_places=2),
            ),
            days=Count("date"),
        )
    }
    last_dates = dict(
        history.values("type_id").annotate(last=Max("date")).values_list("type_id", "last")
    )
    days_in_window = Decimal(TypeRegionStats.WINDOW_DAYS)
    stats = []
    for type_id in type_ids:
        row = window.get(type_id)
        volume = Decimal(row["total_volume"]) if row else Decimal(0)
        isk = Decimal(str(row["total_isk"])) if row else Decimal(0)
        stats.append(
            TypeRegionStats(
                region_id=region_id,
                type_id=type_id,
                avg_daily_volume=(volume / days_in_window).quantize(CENT),
                avg_daily_isk=isk_store(isk / days_in_window),
                avg_price=isk_store(isk / volume) if volume else None,
                days_traded=row["days"] if row else 0,
                last_history_date=last_dates.get(type_id),
                history_fetched_at=now,
                has_history=type_id in last_dates,
            )
        )
    TypeRegionStats.objects.bulk_create(
        stats,
        update_conflicts=True,
        unique_fields=["region_id", "type_id"],
        update_fields=[
            "avg_daily_volume",
            "avg_daily_isk",
            "avg_price",
            "days_traded",
            "last_history_date",
            "history_fetched_at",
            "has_history",
        ],
    )


def history_refresh(
    *, deadline: float | None = None, region_ids: Iterable[int] | None = None
) -> list[HistoryOutcome]:
    """The daily job: each hub region's due types, The Forge first, until ``deadline``."""
    client = EsiClient()
    outcomes = []
    today = timezone.now().date()
    for region_id in region_ids or [hub.region_id for hub in HUBS]:
        if deadline is not None and time.monotonic() > deadline:
            break
        outcomes.append(history_fetch(region_id=region_id, deadline=deadline, client=client))
        # Once a day per region: the delete reads the whole region's index.
        if history_keep_from(today) is not None and cache.add(
            f"market:history-pruned:{region_id}:{today}", 1, timeout=2 * 86400
        ):
            history_prune(region_id=region_id, today=today)
    return outcomes
