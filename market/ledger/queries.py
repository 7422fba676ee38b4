"""Read side of the pilot's ledger: one user's synced rows assembled for pages and charts.

The profit figures come from ``market.ledger.summary`` (the pure ``realized_profit`` fed with the
user's transactions, the fee rows of their journals and every version of their orders, cached);
this module re-exports what the pages use of it. The overview's other figures (balances, open
orders, journal kept, the chart) are cached beside it under ``ledger_state``'s fingerprint of the
user's data, so a page view between two syncs reads one cache entry, not the history. The
transactions filter and the open orders desk's rows are read here too, so the views only parse
requests and render.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Max, Min, OuterRef, QuerySet, Subquery
from django.db.models.functions import TruncHour
from django.utils import timezone

from accounts.models import Character
from market.ledger.models import (
    CharacterOrder,
    LedgerSync,
    WalletBalance,
    WalletJournalEntry,
    WalletTransaction,
)
from market.ledger.profit import ProfitLine
from market.ledger.summary import (
    LedgerState,
    LedgerSummary,
    ledger_compute,
    ledger_state,
    ledger_summary,
    profit_before_period,
)
from market.ledger.sync import ENDPOINTS
from market.models import MarketSnapshot, Region, Station, Type
from market.structures.queries import structure_names

__all__ = [
    "CHART_DAYS",
    "PERIODS",
    "CharacterFigures",
    "CharacterOverview",
    "LedgerSummary",
    "OpenOrdersTotals",
    "OverviewFigures",
    "characters_overview",
    "characters_with_syncs",
    "chart_data",
    "chart_finish",
    "journal_kept",
    "latest_balances",
    "ledger_compute",
    "ledger_state",
    "ledger_summary",
    "location_names",
    "open_orders_totals",
    "orders_desk",
    "overview_figures",
    "period_start",
    "profit_before_period",
    "profit_first_sync_pending",
    "transactions_filtered",
    "type_names",
]

PERIODS: dict[str, int | None] = {"7": 7, "30": 30, "90": 90, "365": 365, "all": None}
CHART_DAYS = 90


def profit_first_sync_pending(*, user: Any, characters: list[Character] | None = None) -> list[str]:
    """Names of the user's usable characters whose journal or transactions have not synced once.

    Until both have, profit would count the journal's broker fees without the trades they paid
    for: a pilot linked a minute ago saw -525,272,364.49 ISK "realized". The pages say the first
    sync is under way instead. ``characters``: the user's, with their ``ledger_syncs``
    prefetched (read here otherwise).
    """
    if characters is None:
        characters = list(Character.objects.filter(owner=user).prefetch_related("ledger_syncs"))
    return [
        character.name
        for character in sorted(characters, key=lambda character: character.name)
        if character_profit_pending(character)
    ]


def character_profit_pending(character: Character) -> bool:
    """Whether the character's profit waits on its first sync: usable, and its journal or its
    transactions never synced (an endpoint whose scope was not granted never syncs: not waited
    on). Its ``ledger_syncs`` prefetched, or read here."""
    if character.needs_relogin:
        return False
    done = {
        sync.endpoint
        for sync in character.ledger_syncs.all()
        if sync.last_success is not None or sync.status == LedgerSync.Status.MISSING_SCOPE
    }
    return not {LedgerSync.Endpoint.JOURNAL, LedgerSync.Endpoint.TRANSACTIONS} <= done


def period_start(period: str) -> date | None:
    days = PERIODS[period]
    return None if days is None else timezone.now().date() - timedelta(days=days - 1)


def type_names(type_ids: Iterable[int]) -> dict[int, str]:
    ids = set(type_ids)
    names = dict(Type.objects.filter(pk__in=ids).values_list("id", "name"))
    return {type_id: names.get(type_id, f"Type {type_id}") for type_id in ids}


def location_names(location_ids: Iterable[int]) -> dict[int, str]:
    """{location id: name}: an NPC station's, a known player structure's (whoever may see it:
    these are the pilot's own orders), else "Structure N"."""
    ids = set(location_ids)
    names = dict(Station.objects.filter(pk__in=ids).values_list("id", "name"))
    names.update(structure_names([i for i in ids if i not in names]))
    return {location_id: names.get(location_id, f"Structure {location_id}") for location_id in ids}


# --- the overview ------------------------------------------------------------------------------


@dataclass
class OpenOrdersTotals:
    sell_count: int = 0
    sell_value: Decimal = Decimal(0)
    buy_count: int = 0
    escrow: Decimal = Decimal(0)
    undercut: int = 0


def open_orders_totals(*, user: Any) -> dict[int | None, OpenOrdersTotals]:
    """Per character (by database id), and for all of them under None."""
    totals: dict[int | None, OpenOrdersTotals] = defaultdict(OpenOrdersTotals)
    for order in (
        CharacterOrder.objects.owned_by(user)
        .open()
        .only("character_id", "is_buy_order", "price", "volume_remain", "escrow", "undercut_since")
    ):
        for key in (order.character_id, None):
            line = totals[key]
            if order.is_buy_order:
                line.buy_count += 1
                line.escrow += order.escrow or 0
            else:
                line.sell_count += 1
                line.sell_value += order.remaining_value
            line.undercut += order.is_undercut
    return totals


def latest_balances(*, user: Any) -> dict[int, WalletBalance]:
    """Each character's latest balance reading, by character database id."""
    latest = WalletBalance.objects.filter(character=OuterRef("character")).order_by("-recorded_at")
    return {
        reading.character_id: reading
        for reading in WalletBalance.objects.filter(
            character__owner=user, pk=Subquery(latest.values("pk")[:1])
        )
    }


def journal_kept(*, user: Any) -> dict[int, tuple[int, datetime | None]]:
    """Per character (database id): journal rows kept and the oldest one's date."""
    return {
        row["character_id"]: (row["rows"], row["oldest"])
        for row in WalletJournalEntry.objects.filter(character__owner=user)
        .values("character_id")
        .annotate(rows=Count("pk"), oldest=Min("date"))
    }


# --- charts ------------------------------------------------------------------------------------


def _balance_readings(
    *, user: Any, since: datetime | None = None, before: datetime | None = None, character=None
) -> list[tuple[int, datetime, Decimal]]:
    """(character id, when, balance) from the wallet's time series; ``before``: the last one."""
    readings = WalletBalance.objects.filter(character__owner=user)
    if character is not None:
        readings = readings.filter(character=character)
    if since is not None:
        readings = readings.filter(recorded_at__gte=since)
    if before is not None:
        readings = readings.filter(recorded_at__lt=before).order_by("-recorded_at")[:1]
    return list(readings.values_list("character__character_id", "recorded_at", "balance"))


def _journal_balances(
    *, user: Any, since: datetime | None = None, before: datetime | None = None, character=None
) -> list[tuple[int, datetime, Decimal]]:
    """The balance after each character's last journal entry of every hour: the journal records
    the balance with every entry, so the chart has the history from before the first sync."""
    entries = WalletJournalEntry.objects.filter(character__owner=user, balance__isnull=False)
    if character is not None:
        entries = entries.filter(character=character)
    if since is not None:
        entries = entries.filter(date__gte=since)
    if before is not None:
        entries = entries.filter(date__lt=before)
        last = entries.order_by("-date", "-entry_id").values_list("pk", flat=True)[:1]
    else:
        # Journal ids grow with time: the largest of an hour is its last entry.
        last = (
            entries.annotate(hour=TruncHour("date"))
            .values("character_id", "hour")
            .annotate(last=Max("pk"))
            .values_list("last", flat=True)
        )
    return list(
        WalletJournalEntry.objects.filter(pk__in=list(last)).values_list(
            "character__character_id", "date", "balance"
        )
    )


def _chart_base(summary: LedgerSummary, *, user: Any, days: int = CHART_DAYS) -> dict[str, Any]:
    """Realized profit per day and wallet balance over time, up to the latest reading: the same
    until the data or the day changes (``chart_finish`` carries it to the moment shown)."""
    today = timezone.now().date()
    since = today - timedelta(days=days - 1)
    by_day = summary.by_day
    # Every day of the window, so a quiet day shows as nothing rather than being skipped.
    calendar = [since + timedelta(days=n) for n in range(days)]
    profit_days = [int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()) for d in calendar]
    profits = [float(by_day[d].realized_profit) if d in by_day else 0.0 for d in calendar]
    names = summary.character_names
    window_start = datetime(since.year, since.month, since.day, tzinfo=UTC)
    readings = sorted(
        [
            *_balance_readings(user=user, since=window_start),
            *_journal_balances(user=user, since=window_start),
        ],
        key=lambda reading: reading[1],
    )
    # The balance each character had when the window opens, so its line starts at the left edge.
    before = {}
    for character in Character.objects.owned_by(user):
        earlier = [
            *_balance_readings(user=user, before=window_start, character=character),
            *_journal_balances(user=user, before=window_start, character=character),
        ]
        if earlier:
            before[character.character_id] = max(earlier, key=lambda reading: reading[1])[2]
    series_ids = sorted({character_id for character_id, _, _ in readings} | set(before))
    times = sorted({int(when.timestamp()) for _, when, _ in readings})
    current = {character_id: before.get(character_id) for character_id in series_ids}
    by_time: dict[int, list[tuple[int, Decimal]]] = defaultdict(list)
    for character_id, when, balance in readings:
        by_time[int(when.timestamp())].append((character_id, balance))
    columns: dict[int, list[float | None]] = {character_id: [] for character_id in series_ids}
    totals: list[float | None] = []

    def column_add() -> None:
        known = [value for value in current.values() if value is not None]
        for character_id in series_ids:
            value = current[character_id]
            columns[character_id].append(None if value is None else float(value))
        totals.append(float(sum(known)) if known else None)

    for moment in times:
        for character_id, balance in by_time.get(moment, []):
            current[character_id] = balance
        column_add()
    series = [
        {"label": names.get(character_id, str(character_id)), "values": columns[character_id]}
        for character_id in series_ids
    ] + ([{"label": "All characters", "values": totals}] if len(series_ids) > 1 else [])
    # What each series reads after its last reading: carried to "now" when the chart is shown.
    column_add()
    carried = [columns[character_id].pop() for character_id in series_ids]
    carried += [totals.pop()] if len(series_ids) > 1 else []
    return {
        "range": [profit_days[0], None],
        "profit": {"days": profit_days, "values": profits},
        "balance": {"times": times, "series": series},
        "carried": carried,
    }


def chart_finish(base: dict[str, Any], *, now: int | None = None) -> dict[str, Any]:
    """``_chart_base``'s chart (cached as it was) up to ``now``: the latest balances carried to
    today, as uPlot wants them."""
    now = int(timezone.now().timestamp()) if now is None else now
    balance = base["balance"]
    times, series = balance["times"], balance["series"]
    if series and (not times or times[-1] < now):
        times = [*times, now]
        series = [
            {**line, "values": [*line["values"], last]}
            for line, last in zip(series, base["carried"], strict=True)
        ]
    return {
        "range": [base["range"][0], now],
        "profit": base["profit"],
        "balance": {"times": times, "series": series},
    }


def chart_data(summary: LedgerSummary, *, user: Any, days: int = CHART_DAYS) -> dict[str, Any]:
    """Realized profit per day and wallet balance over time, as uPlot wants them (epochs)."""
    return chart_finish(_chart_base(summary, user=user, days=days))


@dataclass
class CharacterFigures:
    """One character's figures on the overview that only change with its synced data."""

    balance: WalletBalance | None
    orders: OpenOrdersTotals
    realized: ProfitLine
    journal_rows: int
    journal_since: datetime | None


@dataclass
class OverviewFigures:
    """The overview's figures: the same until the user's data, cost method or the UTC day
    changes, so cached under ``LedgerState.pages`` (a page view reads them in one cache get
    instead of the whole history). Shaped like the summary where the template reads that."""

    error: str
    totals: ProfitLine
    inventory_cost: Decimal
    realized_30: ProfitLine
    loss_before_30: Decimal | None
    orders: OpenOrdersTotals
    wallet_total: Decimal
    characters: dict[int, CharacterFigures]  # by character database id
    chart: dict[str, Any]  # ``_chart_base``'s: carried to now when shown
    uncached: bool = False


OVERVIEW_VERSION = 1  # bump when OverviewFigures changes shape
OVERVIEW_CACHE_SECONDS = 86_400


def overview_figures(
    *, user: Any, method: str, state: LedgerState | None = None
) -> OverviewFigures:
    """The user's overview figures, from the cache unless their data changed since."""
    state = state or ledger_state(user=user)
    today = timezone.now().date()
    key = f"ledger:overview:{user.pk}:{OVERVIEW_VERSION}:{method}:{today}:{state.pages}"
    figures = cache.get(key)
    if figures is None:
        figures = _overview_compute(user=user, method=method, state=state, today=today)
        if not figures.uncached:
            cache.set(key, figures, OVERVIEW_CACHE_SECONDS)
    return figures


def _overview_compute(
    *, user: Any, method: str, state: LedgerState, today: date
) -> OverviewFigures:
    summary = ledger_summary(user=user, method=method, state=state)
    since = today - timedelta(days=PERIODS["30"] - 1)
    balances = latest_balances(user=user)
    orders = open_orders_totals(user=user)
    realized = summary.by_character(since=since)
    kept = journal_kept(user=user)
    before = profit_before_period(summary, since=since)
    characters = {
        character.pk: CharacterFigures(
            balance=balances.get(character.pk),
            orders=orders[character.pk],
            realized=realized.get(character.character_id, ProfitLine()),
            journal_rows=kept.get(character.pk, (0, None))[0],
            journal_since=kept.get(character.pk, (0, None))[1],
        )
        for character in Character.objects.owned_by(user).only("pk", "character_id")
    }
    return OverviewFigures(
        error=summary.error,
        totals=summary.totals,
        inventory_cost=summary.inventory_cost,
        realized_30=summary.total(since=since),
        # Shown only when it makes "all time" smaller than "30 days", to say why.
        loss_before_30=-before if before < 0 else None,
        orders=orders[None],
        wallet_total=sum(
            (row.balance.balance for row in characters.values() if row.balance), start=Decimal(0)
        ),
        characters=characters,
        chart=_chart_base(summary, user=user),
        uncached=summary.uncached,
    )


@dataclass
class CharacterOverview:
    character: Character
    balance: WalletBalance | None
    syncs: list[Any]  # LedgerSync rows in endpoint order (a placeholder when never synced)
    missing_scopes: list[str]
    orders: OpenOrdersTotals
    realized: ProfitLine
    journal_rows: int
    journal_since: datetime | None
    profit_pending: bool  # its first sync is under way: its profit would count fees alone


def characters_with_syncs(*, user: Any) -> list[Character]:
    """The user's characters with their LedgerSync rows (two queries), read fresh every view:
    the sync states and ages change without new data."""
    return list(Character.objects.owned_by(user).prefetch_related("ledger_syncs"))


def characters_overview(
    *, characters: list[Character], figures: OverviewFigures
) -> list[CharacterOverview]:
    """One row per character of ``characters_with_syncs``, with its cached figures."""
    needed = {spec.scope for spec in ENDPOINTS.values()}
    empty = CharacterFigures(None, OpenOrdersTotals(), ProfitLine(), 0, None)
    rows = []
    for character in characters:
        syncs = {row.endpoint: row for row in character.ledger_syncs.all()}
        numbers = figures.characters.get(character.pk, empty)
        rows.append(
            CharacterOverview(
                character=character,
                balance=numbers.balance,
                syncs=[
                    syncs.get(key) or LedgerSync(character=character, endpoint=key)
                    for key in ENDPOINTS
                ],
                missing_scopes=[s for s in character.missing_scopes if s in needed],
                orders=numbers.orders,
                realized=numbers.realized,
                journal_rows=numbers.journal_rows,
                journal_since=numbers.journal_since,
                profit_pending=character_profit_pending(character),
            )
        )
    return rows


# --- the transactions page and the open orders desk ------------------------------------------


def transactions_filtered(
    *, user: Any, character: Character | None, data: dict[str, Any]
) -> QuerySet[WalletTransaction]:
    """The user's transactions narrowed by the transactions page's cleaned filter ``data``."""
    rows = WalletTransaction.objects.filter(character__owner=user).select_related("character")
    if character is not None:
        rows = rows.filter(character=character)
    if data.get("item"):
        rows = rows.filter(type_id__in=data["item"])
    if data.get("side"):
        rows = rows.filter(is_buy=data["side"] == "buy")
    if data.get("since"):
        rows = rows.filter(date__gte=datetime.combine(data["since"], time.min, UTC))
    if data.get("until"):
        rows = rows.filter(date__lt=datetime.combine(data["until"], time.min, UTC) + timedelta(1))
    return rows


def orders_desk(*, user: Any) -> dict[str, Any]:
    """The open orders desk: the user's open orders, undercut first, and the snapshots they were
    compared with; ``version`` changes whenever the table would."""
    orders = list(CharacterOrder.objects.owned_by(user).open().select_related("character"))
    names = type_names(order.type_id for order in orders)
    places = location_names(order.location_id for order in orders)
    for order in orders:
        order.type_name = names[order.type_id]
        order.location_name = places[order.location_id]
        order.waiting = order.market_checked_at is None or order.market_checked_at < order.issued
    # Undercut first, the longest-standing at the top; then the rest by item.
    orders.sort(
        key=lambda o: (
            not o.is_undercut,
            o.undercut_since or timezone.now(),
            o.type_name,
            o.is_buy_order,
        )
    )
    current = (
        MarketSnapshot.objects.regions()
        .filter(is_current=True, region_id__in={order.region_id for order in orders})
        .order_by("region_id")
    )
    regions = dict(
        Region.objects.filter(pk__in=[s.region_id for s in current]).values_list("id", "name")
    )
    return {
        "orders": orders,
        "undercut": sum(order.is_undercut for order in orders),
        "snapshots": [(regions.get(s.region_id, f"Region {s.region_id}"), s) for s in current],
        "version": _orders_version(orders),
    }


def _orders_version(orders: list[CharacterOrder]) -> str:
    """Changes when a new snapshot lands or the user's orders change: what the page polls for."""
    snapshot_ids = sorted(MarketSnapshot.objects.current_ids().items())
    state = [
        (o.order_id, o.volume_remain, str(o.price), str(o.market_checked_at), str(o.undercut_by))
        for o in sorted(orders, key=lambda o: o.order_id)
    ]
    return hashlib.blake2b(repr((snapshot_ids, state)).encode(), digest_size=8).hexdigest()
