"""One user's ledger summed up for the pages: the synced rows fed to the pure
``market.ledger.profit.realized_profit`` and its result kept per UTC day, cached until the data
changes. Trades between two of the user's own characters move items and ISK between pockets:
they are left out, so they count as neither a sale nor a buy.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Max

from accounts.models import Character
from market.ledger.models import (
    CharacterOrder,
    CharacterOrderVersion,
    LedgerPreference,
    WalletBalance,
    WalletJournalEntry,
    WalletTransaction,
)
from market.ledger.profit import (
    BROKERS_FEE,
    MARKET_TRANSACTION,
    TRANSACTION_TAX,
    ZERO,
    Inventory,
    JournalEntry,
    LedgerInputError,
    LedgerResult,
    OrderVersion,
    ProfitLine,
    Sale,
    Transaction,
    realized_profit,
)
from market.ledger.records import utc_day

LEDGER_REF_TYPES = (BROKERS_FEE, TRANSACTION_TAX, MARKET_TRANSACTION)
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
        return [s for s in self.unknown_cost_sales if since is None or utc_day(s.date) >= since]


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
    orders: list[OrderVersion]
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
        OrderVersion(
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
    """The full ``realized_profit`` result (None when the data cannot be accounted for) and its
    summary. Uncached: pages use ``ledger_summary``."""
    inputs = ledger_inputs(user=user)
    summary = LedgerSummary(
        method=method,
        character_names={c.character_id: c.name for c in inputs.characters},
        internal_trades=inputs.internal_trades,
    )
    try:
        result = realized_profit(
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
    """Fill the summary's day lines the way ``realized_profit`` fills its own (buys, costed sales
    with their taxes, broker fees), so whole-history sums equal its ``by_type``/``by_character``."""
    items: dict[tuple[date, int | None], ProfitLine] = defaultdict(ProfitLine)
    characters: dict[tuple[date, int], ProfitLine] = defaultdict(ProfitLine)

    def lines(day: date, type_id: int | None, character_id: int) -> tuple[ProfitLine, ...]:
        return items[day, type_id], characters[day, character_id]

    for tx in transactions:
        if tx.is_buy:
            for line in lines(utc_day(tx.date), tx.type_id, tx.character_id):
                line.add_buy(tx.quantity, tx.quantity * tx.unit_price)
    for sale in result.sales:
        for line in lines(utc_day(sale.date), sale.type_id, sale.character_id):
            line.add_sale(sale)
    for charge in result.fee_charges:
        if charge.transaction_id is not None:
            continue  # a sale's tax is inside its sale
        for line in lines(utc_day(charge.date), charge.type_id, charge.character_id):
            line.add_fee(charge)
    summary.totals = result.totals
    summary.by_day = result.by_day
    summary.item_days = dict(items)
    summary.character_days = dict(characters)
    summary.inventory = {
        type_id: replace(position, lots=()) for type_id, position in result.inventory.items()
    }
    summary.unknown_cost_sales = result.unknown_cost_sales[-UNKNOWN_SALES_KEPT:]


# What the overview shows of the open orders (not ``last_seen``, which every orders sync moves).
_ORDER_FIELDS = (
    "id",
    "character_id",
    "is_buy_order",
    "price",
    "volume_remain",
    "escrow",
    "undercut_since",
)
# One round trip for everything the ledger's caches are keyed by. Rows of the wallet tables are
# only ever added (or pruned): a count and the largest id change with either. The open orders
# change in place (undercut checks, fills), so the columns the overview shows of them are hashed
# (``_ORDER_FIELDS``); there are few.
_STATE_SQL = """
WITH own AS (
    SELECT id, character_id, name, needs_relogin, scopes::text AS scopes
    FROM accounts_character WHERE owner_id = %(user)s
)
SELECT
    (SELECT string_agg(concat_ws(',', character_id, name), ';' ORDER BY character_id) FROM own),
    (SELECT concat_ws(',', count(*), max(id)) FROM market_wallettransaction
        WHERE character_id IN (SELECT id FROM own)),
    (SELECT concat_ws(',', count(*), max(id)) FROM market_walletjournalentry
        WHERE character_id IN (SELECT id FROM own) AND ref_type = ANY(%(ref_types)s)
        AND amount IS NOT NULL),
    (SELECT concat_ws(',', count(*), max(v.id)) FROM market_characterorderversion v
        JOIN market_characterorder o ON o.id = v.order_id
        WHERE o.character_id IN (SELECT id FROM own)),
    (SELECT md5(string_agg(concat_ws(',', id, needs_relogin, scopes), ';' ORDER BY id))
        FROM own),
    (SELECT concat_ws(',', count(*), max(id)) FROM market_walletjournalentry
        WHERE character_id IN (SELECT id FROM own)),
    (SELECT concat_ws(',', count(*), max(id)) FROM market_walletbalance
        WHERE character_id IN (SELECT id FROM own)),
    (SELECT md5(string_agg(concat_ws(',', o.id, o.character_id, o.is_buy_order, o.price,
        o.volume_remain, o.escrow, o.undercut_since), '|' ORDER BY o.id))
        FROM market_characterorder o
        WHERE o.state = 'open' AND o.character_id IN (SELECT id FROM own))
"""


@dataclass(frozen=True)
class LedgerState:
    """Fingerprints of one user's ledger data, read in one query.

    ``summary`` changes whenever anything the profit summary is computed from does; ``pages``
    also whenever the overview's other figures could (balances, the whole journal, open orders,
    which characters are linked and what they granted).
    """

    summary: str
    pages: str


def ledger_state(*, user: Any) -> LedgerState:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_STATE_SQL, {"user": user.pk, "ref_types": list(LEDGER_REF_TYPES)})
            row = cursor.fetchone()
    else:
        row = _state_orm(user=user)
    summary = (SUMMARY_VERSION, *row[:4])
    pages = (*summary, *row[4:])
    return LedgerState(
        summary=hashlib.blake2b(repr(summary).encode(), digest_size=12).hexdigest(),
        pages=hashlib.blake2b(repr(pages).encode(), digest_size=12).hexdigest(),
    )


def _state_orm(*, user: Any) -> tuple:
    """``_STATE_SQL``'s figures in several queries, for the embedded SQLite."""

    def count_last(rows) -> tuple:
        figures = rows.aggregate(n=Count("pk"), last=Max("pk"))
        return figures["n"], figures["last"]

    characters = Character.objects.owned_by(user)
    journal = WalletJournalEntry.objects.filter(character__owner=user)
    return (
        sorted(characters.values_list("character_id", "name")),
        count_last(WalletTransaction.objects.filter(character__owner=user)),
        count_last(journal.filter(ref_type__in=LEDGER_REF_TYPES, amount__isnull=False)),
        count_last(CharacterOrderVersion.objects.filter(order__character__owner=user)),
        sorted(characters.values_list("pk", "needs_relogin", "scopes")),
        count_last(journal),
        count_last(WalletBalance.objects.filter(character__owner=user)),
        sorted(CharacterOrder.objects.owned_by(user).open().values_list(*_ORDER_FIELDS)),
    )


def _fingerprint(*, user: Any, method: str, state: LedgerState | None = None) -> str:
    """Changes whenever anything the summary is computed from does (rows are only ever added)."""
    state = state or ledger_state(user=user)
    return f"{method}:{state.summary}"


def ledger_summary(
    *, user: Any, method: str | None = None, state: LedgerState | None = None
) -> LedgerSummary:
    """The user's ledger summary, from the cache unless their data changed since it was made.

    Computing it reads the whole history (seconds for a hundred thousand trades), so the sync
    jobs warm it after adding rows and a page view rarely pays for it.
    """
    method = method or LedgerPreference.for_user(user).cost_method
    key = f"ledger:summary:{user.pk}:{_fingerprint(user=user, method=method, state=state)}"
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
