"""Read side of the pilot's ledger: one user's synced rows assembled for pages and charts.

The profit figures come from ``market.ledger.fifo_profit`` (pure, tested on its own) fed with the
user's transactions, the fee rows of their journals and every version of their orders. Trades
between two of the user's own characters move items and ISK between pockets: they are left out,
so they count as neither a sale nor a buy.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Max, OuterRef, Subquery
from django.db.models.functions import TruncHour
from django.utils import timezone

from accounts.models import Character
from market.ledger import (
    BROKERS_FEE,
    MARKET_TRANSACTION,
    TRANSACTION_TAX,
    ZERO,
    Inventory,
    JournalEntry,
    LedgerInputError,
    LedgerResult,
    ProfitLine,
    Sale,
    Transaction,
    fifo_profit,
)
from market.ledger import (
    CharacterOrder as LedgerOrder,
)
from market.models import (
    CharacterOrder,
    CharacterOrderVersion,
    LedgerPreference,
    LedgerSync,
    Station,
    Type,
    WalletBalance,
    WalletJournalEntry,
    WalletTransaction,
)

LEDGER_REF_TYPES = (BROKERS_FEE, TRANSACTION_TAX, MARKET_TRANSACTION)
PERIODS: dict[str, int | None] = {"7": 7, "30": 30, "90": 90, "365": 365, "all": None}
CHART_DAYS = 90
# Sales with no known buy kept in a summary for the pages (the newest ones).
UNKNOWN_SALES_KEPT = 200
# A summary is recomputed whenever its data changes; this only bounds an unused one's life.
SUMMARY_CACHE_SECONDS = 7 * 86_400
SUMMARY_VERSION = 2  # bump when LedgerSummary changes shape


@dataclass
class LedgerSummary:
    """What the pages show of one user's ledger, small enough to cache.

    Profit lines are kept per (UTC day, item) and per (UTC day, character), so any period's
    figures are a sum of whole days; the item None collects the fees no item was found for.
    """

    method: str
    character_names: dict[int, str]
    totals: ProfitLine = field(default_factory=ProfitLine)
    by_day: dict[date, ProfitLine] = field(default_factory=dict)
    item_days: dict[tuple[date, int | None], ProfitLine] = field(default_factory=dict)
    character_days: dict[tuple[date, int], ProfitLine] = field(default_factory=dict)
    inventory: dict[int, Inventory] = field(default_factory=dict)
    unknown_cost_sales: list[Sale] = field(default_factory=list)  # newest last
    error: str = ""
    internal_trades: int = 0
    # Set on the copy a page gets when the cache could not keep it (Redis down): the figures are
    # right, computed for this request, but every view pays for them until the cache is back.
    uncached: bool = False

    @property
    def inventory_cost(self) -> Decimal:
        return sum((position.cost for position in self.inventory.values()), ZERO)

    def by_item(self, *, since: date | None) -> dict[int, ProfitLine]:
        """Per item from ``since`` on; fees matched to no item are only in the totals."""
        lines = _lines_since(self.item_days, since)
        lines.pop(None, None)
        return lines

    def by_character(self, *, since: date | None) -> dict[int, ProfitLine]:
        return _lines_since(self.character_days, since)

    def total(self, *, since: date | None) -> ProfitLine:
        total = ProfitLine()
        for line in self.by_character(since=since).values():
            total.add(line)
        return total

    def unknown_sales(self, *, since: date | None) -> list[Sale]:
        return [s for s in self.unknown_cost_sales if since is None or _day(s.date) >= since]


def _lines_since(lines: dict[tuple[date, Any], ProfitLine], since: date | None) -> dict:
    grouped: dict[Any, ProfitLine] = defaultdict(ProfitLine)
    for (day, key), line in lines.items():
        if since is None or day >= since:
            grouped[key].add(line)
    return dict(grouped)


@dataclass
class LedgerInputs:
    """One user's synced rows as the pure ledger takes them."""

    characters: list[Character]
    transactions: list[Transaction]
    fees: list[JournalEntry]
    orders: list[LedgerOrder]
    internal_trades: int = 0


def ledger_inputs(*, user: Any) -> LedgerInputs:
    characters = list(Character.objects.owned_by(user))
    own_ids = {c.character_id for c in characters}
    eve_id = {c.pk: c.character_id for c in characters}
    transactions, internal = [], 0
    rows = WalletTransaction.objects.filter(character__owner=user).values_list(
        "character_id",
        "transaction_id",
        "date",
        "type_id",
        "quantity",
        "unit_price",
        "is_buy",
        "location_id",
        "client_id",
        "journal_ref_id",
    )
    for pk, tx_id, when, type_id, qty, price, is_buy, location, client, ref in rows.iterator(
        chunk_size=5000
    ):
        if client in own_ids:
            internal += 1
            continue
        transactions.append(
            Transaction(
                transaction_id=tx_id,
                date=when,
                type_id=type_id,
                quantity=qty,
                unit_price=price,
                is_buy=is_buy,
                location_id=location,
                client_id=client,
                journal_ref_id=ref,
                character_id=eve_id[pk],
            )
        )
    fees = [
        JournalEntry(
            id=entry_id,
            date=when,
            ref_type=ref_type,
            amount=amount,
            character_id=eve_id[pk],
            context_id=context_id,
            context_id_type=context_type or None,
            first_party_id=first,
        )
        for pk, entry_id, when, ref_type, amount, context_id, context_type, first, second in (
            WalletJournalEntry.objects.filter(
                character__owner=user, ref_type__in=LEDGER_REF_TYPES, amount__isnull=False
            )
            .values_list(
                "character_id",
                "entry_id",
                "date",
                "ref_type",
                "amount",
                "context_id",
                "context_id_type",
                "first_party_id",
                "second_party_id",
            )
            .iterator(chunk_size=5000)
        )
        # The same trade between two own characters is in both journals under one id.
        if not (ref_type == MARKET_TRANSACTION and first in own_ids and second in own_ids)
    ]
    orders = [
        LedgerOrder(
            order_id=order_id,
            type_id=type_id,
            character_id=eve_id[pk],
            issued=issued,
            price=price,
            volume_total=volume_total,
            is_buy_order=is_buy,
            location_id=location,
        )
        for order_id, type_id, pk, issued, price, volume_total, is_buy, location in (
            CharacterOrderVersion.objects.filter(order__character__owner=user).values_list(
                "order__order_id",
                "order__type_id",
                "order__character_id",
                "issued",
                "price",
                "volume_total",
                "order__is_buy_order",
                "order__location_id",
            )
        )
    ]
    return LedgerInputs(characters, transactions, fees, orders, internal)


def ledger_compute(*, user: Any, method: str) -> tuple[LedgerResult | None, LedgerSummary]:
    """The full ``fifo_profit`` result (None when the data cannot be accounted for) and its
    summary. Uncached: pages use ``ledger_summary``."""
    inputs = ledger_inputs(user=user)
    summary = LedgerSummary(
        method=method,
        character_names={c.character_id: c.name for c in inputs.characters},
        internal_trades=inputs.internal_trades,
    )
    try:
        result = fifo_profit(
            transactions=inputs.transactions, fees=inputs.fees, orders=inputs.orders, method=method
        )
    except LedgerInputError as exc:
        summary.error = str(exc)
        return None, summary
    _summarise(summary, result, inputs.transactions)
    return result, summary


def _summarise(
    summary: LedgerSummary, result: LedgerResult, transactions: list[Transaction]
) -> None:
    """Fill the summary's day lines the way ``fifo_profit`` fills its own (buys, costed sales
    with their taxes, broker fees), so whole-history sums equal its ``by_type``/``by_character``."""
    items: dict[tuple[date, int | None], ProfitLine] = defaultdict(ProfitLine)
    characters: dict[tuple[date, int], ProfitLine] = defaultdict(ProfitLine)

    def lines(day: date, type_id: int | None, character_id: int) -> tuple[ProfitLine, ...]:
        return items[day, type_id], characters[day, character_id]

    for tx in transactions:
        if tx.is_buy:
            for line in lines(_day(tx.date), tx.type_id, tx.character_id):
                line.bought_quantity += tx.quantity
                line.bought_cost += tx.quantity * tx.unit_price
    for sale in result.sales:
        for line in lines(_day(sale.date), sale.type_id, sale.character_id):
            line.quantity_sold += sale.known_quantity
            line.revenue += sale.revenue
            line.cost_of_sales += sale.cost
            line.sales_tax += sale.tax
            line.unknown_cost_quantity += sale.unknown_quantity
            line.unknown_cost_revenue += sale.unknown_revenue
            line.unknown_cost_tax += sale.unknown_tax
    for charge in result.fee_charges:
        if charge.transaction_id is not None:
            continue  # a sale's tax is inside its sale
        for line in lines(_day(charge.date), charge.type_id, charge.character_id):
            if charge.type_id is None:
                line.unattributed_fees += charge.amount
            else:
                line.broker_fees += charge.amount
    summary.totals = result.totals
    summary.by_day = result.by_day
    summary.item_days = dict(items)
    summary.character_days = dict(characters)
    summary.inventory = {
        type_id: replace(position, lots=()) for type_id, position in result.inventory.items()
    }
    summary.unknown_cost_sales = result.unknown_cost_sales[-UNKNOWN_SALES_KEPT:]


def _fingerprint(*, user: Any, method: str) -> str:
    """Changes whenever anything the summary is computed from does (rows are only ever added)."""
    counts = [
        WalletTransaction.objects.filter(character__owner=user).aggregate(
            n=Count("pk"), last=Max("pk")
        ),
        WalletJournalEntry.objects.filter(
            character__owner=user, ref_type__in=LEDGER_REF_TYPES
        ).aggregate(n=Count("pk"), last=Max("pk")),
        CharacterOrderVersion.objects.filter(order__character__owner=user).aggregate(
            n=Count("pk"), last=Max("pk")
        ),
    ]
    characters = sorted(Character.objects.owned_by(user).values_list("character_id", "name"))
    state = (SUMMARY_VERSION, method, characters, [(c["n"], c["last"]) for c in counts])
    return hashlib.blake2b(repr(state).encode(), digest_size=12).hexdigest()


def ledger_summary(*, user: Any, method: str | None = None) -> LedgerSummary:
    """The user's ledger summary, from the cache unless their data changed since it was made.

    Computing it reads the whole history (seconds for a hundred thousand trades), so the sync
    jobs warm it after adding rows and a page view rarely pays for it.
    """
    method = method or LedgerPreference.for_user(user).cost_method
    key = f"ledger:summary:{user.pk}:{_fingerprint(user=user, method=method)}"
    summary = cache.get(key)
    if summary is None:
        _, summary = ledger_compute(user=user, method=method)
        cache.set(key, summary, SUMMARY_CACHE_SECONDS)
        # In a web request an unreachable cache reads as a miss and forgets what it is given
        # (lenny.cache): a key it does not have right after being given it means it is away.
        summary.uncached = not cache.has_key(key)
    return summary


def profit_before_period(summary: LedgerSummary, *, since: date) -> Decimal:
    """Realized profit of every day before ``since``: all time less the period.

    Negative when the earlier days lost money, which makes "all time" smaller than the period.
    That is no error: broker fees count on the day they are paid while the goods they bought
    may sell later (or not yet), and sales with no known buy add nothing.
    """
    return summary.totals.realized_profit - summary.total(since=since).realized_profit


def profit_first_sync_pending(*, user: Any) -> list[str]:
    """Names of the user's usable characters whose journal or transactions have not synced once.

    Until both have, profit would count the journal's broker fees without the trades they paid
    for: a pilot linked a minute ago saw -525,272,364.49 ISK "realized". The pages say the first
    sync is under way instead. An endpoint whose scope was not granted never syncs: not waited on.
    """
    needed = {LedgerSync.Endpoint.JOURNAL, LedgerSync.Endpoint.TRANSACTIONS}
    pending = []
    characters = Character.objects.filter(owner=user, needs_relogin=False).prefetch_related(
        "ledger_syncs"
    )
    for character in characters.order_by("name"):
        done = {
            sync.endpoint
            for sync in character.ledger_syncs.all()
            if sync.last_success is not None or sync.status == LedgerSync.Status.MISSING_SCOPE
        }
        if not needed <= done:
            pending.append(character.name)
    return pending


def period_start(period: str) -> date | None:
    days = PERIODS[period]
    return None if days is None else timezone.now().date() - timedelta(days=days - 1)


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def type_names(type_ids: Iterable[int]) -> dict[int, str]:
    ids = set(type_ids)
    names = dict(Type.objects.filter(pk__in=ids).values_list("id", "name"))
    return {type_id: names.get(type_id, f"Type {type_id}") for type_id in ids}


def location_names(location_ids: Iterable[int]) -> dict[int, str]:
    ids = set(location_ids)
    names = dict(Station.objects.filter(pk__in=ids).values_list("id", "name"))
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
    from django.db.models import Count, Min

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


def chart_data(summary: LedgerSummary, *, user: Any, days: int = CHART_DAYS) -> dict[str, Any]:
    """Realized profit per day and wallet balance over time, as uPlot wants them (epochs)."""
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
    now = int(timezone.now().timestamp())
    if series_ids and (not times or times[-1] < now):
        times.append(now)  # carry the latest balance to today
    current = {character_id: before.get(character_id) for character_id in series_ids}
    by_time: dict[int, list[tuple[int, Decimal]]] = defaultdict(list)
    for character_id, when, balance in readings:
        by_time[int(when.timestamp())].append((character_id, balance))
    columns: dict[int, list[float | None]] = {character_id: [] for character_id in series_ids}
    totals: list[float | None] = []
    for moment in times:
        for character_id, balance in by_time.get(moment, []):
            current[character_id] = balance
        known = [value for value in current.values() if value is not None]
        for character_id in series_ids:
            value = current[character_id]
            columns[character_id].append(None if value is None else float(value))
        totals.append(float(sum(known)) if known else None)
    return {
        "range": [profit_days[0], now],
        "profit": {"days": profit_days, "values": profits},
        "balance": {
            "times": times,
            "series": [
                {
                    "label": names.get(character_id, str(character_id)),
                    "values": columns[character_id],
                }
                for character_id in series_ids
            ]
            + ([{"label": "All characters", "values": totals}] if len(series_ids) > 1 else []),
        },
    }


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


def characters_overview(
    *, user: Any, summary: LedgerSummary, since: date
) -> list[CharacterOverview]:
    from market.models import LedgerSync
    from market.wallet import ENDPOINTS

    balances = latest_balances(user=user)
    orders = open_orders_totals(user=user)
    realized = summary.by_character(since=since)
    kept = journal_kept(user=user)
    syncs: dict[int, dict[str, LedgerSync]] = defaultdict(dict)
    for row in LedgerSync.objects.filter(character__owner=user):
        syncs[row.character_id][row.endpoint] = row
    needed = {spec.scope for spec in ENDPOINTS.values()}
    return [
        CharacterOverview(
            character=character,
            balance=balances.get(character.pk),
            syncs=[
                syncs[character.pk].get(key) or LedgerSync(character=character, endpoint=key)
                for key in ENDPOINTS
            ],
            missing_scopes=[s for s in character.missing_scopes if s in needed],
            orders=orders[character.pk],
            realized=realized.get(character.character_id, ProfitLine()),
            journal_rows=kept.get(character.pk, (0, None))[0],
            journal_since=kept.get(character.pk, (0, None))[1],
        )
        for character in Character.objects.owned_by(user)
    ]
