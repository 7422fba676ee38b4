"""The ledger's plain data: what ``realized_profit`` takes in (mirroring ESI's wallet
transactions, wallet journal and order versions) and what it gives back, with the rules for
reading ISK, ids and dates out of them. See ``market.ledger.profit`` for the accounting rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from lenny.lib.money import isk_store

ZERO = Decimal("0.00")

# Seconds-resolution timestamps from two ESI routes for one game event; a little slack covers a
# clock tick between the rows without reaching the next unrelated trade.
FEE_MATCH_WINDOW = timedelta(seconds=2)

# More ISK than exists in New Eden: anything beyond is corrupt input, and keeping amounts below
# it keeps every sum well inside Decimal's 28 digits.
MAX_ISK = Decimal(10) ** 15

CostMethod = Literal["fifo", "average"]
COST_METHODS: dict[str, str] = {"fifo": "First in, first out", "average": "Average cost"}

TRANSACTION_TAX = "transaction_tax"
BROKERS_FEE = "brokers_fee"
MARKET_TRANSACTION = "market_transaction"
MARKET_TRANSACTION_ID = "market_transaction_id"
MARKET_ORDER_ID = "market_order_id"

# How a fee found its item; shown on pages that explain a figure.
MATCHED_BY_REFERENCE = "reference"
MATCHED_BY_JOURNAL = "journal"
MATCHED_BY_ORDER_ISSUED = "order_issued"
MATCHED_BY_TIME = "time"
UNATTRIBUTED = "unattributed"


class LedgerInputError(ValueError):
    """Input the ledger cannot account for; the message names the row and the field."""


# --- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Transaction:
    """One row of ``/characters/{character_id}/wallet/transactions/``, plus whose wallet it is."""

    transaction_id: int
    date: datetime
    type_id: int
    quantity: int
    unit_price: Decimal
    is_buy: bool
    location_id: int | None = None
    journal_ref_id: int | None = None
    client_id: int | None = None
    character_id: int

    @classmethod
    def from_esi(cls, row: Mapping[str, Any], *, character_id: int) -> Transaction:
        where = f"transaction {row.get('transaction_id')!r}"
        return cls(
            transaction_id=_esi_int(row, "transaction_id", where),
            date=_esi_datetime(row, "date", where),
            type_id=_esi_int(row, "type_id", where),
            quantity=_esi_int(row, "quantity", where),
            unit_price=_money(row.get("unit_price"), f"{where}, field unit_price"),
            is_buy=bool(row.get("is_buy", False)),
            location_id=_esi_int(row, "location_id", where, required=False),
            journal_ref_id=_esi_int(row, "journal_ref_id", where, required=False),
            client_id=_esi_int(row, "client_id", where, required=False),
            character_id=character_id,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalEntry:
    """One row of ``/characters/{character_id}/wallet/journal/``, plus whose wallet it is."""

    id: int
    date: datetime
    ref_type: str
    amount: Decimal
    character_id: int
    context_id: int | None = None
    context_id_type: str | None = None
    description: str = ""
    first_party_id: int | None = None

    @classmethod
    def from_esi(cls, row: Mapping[str, Any], *, character_id: int) -> JournalEntry:
        where = f"journal entry {row.get('id')!r}"
        return cls(
            id=_esi_int(row, "id", where),
            date=_esi_datetime(row, "date", where),
            ref_type=str(row.get("ref_type") or ""),
            amount=_money(row.get("amount", 0), f"{where}, field amount"),
            character_id=character_id,
            context_id=_esi_int(row, "context_id", where, required=False),
            context_id_type=row.get("context_id_type"),
            description=str(row.get("description") or ""),
            first_party_id=_esi_int(row, "first_party_id", where, required=False),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderVersion:
    """One version of an order from ``/characters/{id}/orders/`` or ``/orders/history/``.

    ``issued`` changes when the order is modified, and each modification costs a broker fee, so
    the ledger matches fees best when given every version of an order that sync has seen.
    """

    order_id: int
    type_id: int
    character_id: int
    issued: datetime
    price: Decimal
    volume_total: int
    is_buy_order: bool = False
    location_id: int | None = None

    @classmethod
    def from_esi(cls, row: Mapping[str, Any], *, character_id: int) -> OrderVersion:
        where = f"order {row.get('order_id')!r}"
        return cls(
            order_id=_esi_int(row, "order_id", where),
            type_id=_esi_int(row, "type_id", where),
            character_id=character_id,
            issued=_esi_datetime(row, "issued", where),
            price=_money(row.get("price"), f"{where}, field price"),
            volume_total=_esi_int(row, "volume_total", where),
            # ESI leaves is_buy_order out of sell orders.
            is_buy_order=bool(row.get("is_buy_order", False)),
            location_id=_esi_int(row, "location_id", where, required=False),
        )


# --- outputs -----------------------------------------------------------------------------------


@dataclass(slots=True)
class ProfitLine:
    """Totals for one item type, one day, one character, or everything."""

    bought_quantity: int = 0
    bought_cost: Decimal = ZERO
    quantity_sold: int = 0  # units whose cost is known
    revenue: Decimal = ZERO  # gross proceeds of those units
    cost_of_sales: Decimal = ZERO
    sales_tax: Decimal = ZERO  # transaction tax on those units
    broker_fees: Decimal = ZERO
    unattributed_fees: Decimal = ZERO  # never set on an item's line
    unknown_cost_quantity: int = 0
    unknown_cost_revenue: Decimal = ZERO
    unknown_cost_tax: Decimal = ZERO

    @property
    def fees(self) -> Decimal:
        return self.sales_tax + self.broker_fees + self.unattributed_fees

    @property
    def all_broker_fees(self) -> Decimal:
        """Broker fees charged to an item and those matched to none, to the cent."""
        return self.broker_fees + self.unattributed_fees

    @property
    def realized_profit(self) -> Decimal:
        return self.revenue - self.cost_of_sales - self.fees

    def add(self, other: ProfitLine) -> None:
        self.bought_quantity += other.bought_quantity
        self.bought_cost += other.bought_cost
        self.quantity_sold += other.quantity_sold
        self.revenue += other.revenue
        self.cost_of_sales += other.cost_of_sales
        self.sales_tax += other.sales_tax
        self.broker_fees += other.broker_fees
        self.unattributed_fees += other.unattributed_fees
        self.unknown_cost_quantity += other.unknown_cost_quantity
        self.unknown_cost_revenue += other.unknown_cost_revenue
        self.unknown_cost_tax += other.unknown_cost_tax

    def add_buy(self, quantity: int, cost: Decimal) -> None:
        self.bought_quantity += quantity
        self.bought_cost += cost

    def add_sale(self, sale: Sale) -> None:
        """A sale with its tax: the costed part and the part of unknown cost apart."""
        self.quantity_sold += sale.known_quantity
        self.revenue += sale.revenue
        self.cost_of_sales += sale.cost
        self.sales_tax += sale.tax
        self.unknown_cost_quantity += sale.unknown_quantity
        self.unknown_cost_revenue += sale.unknown_revenue
        self.unknown_cost_tax += sale.unknown_tax

    def add_fee(self, charge: FeeCharge) -> None:
        """A broker fee: an item's own, or (on a charge matched to no item) unattributed."""
        if charge.type_id is None:
            self.unattributed_fees += charge.amount
        else:
            self.broker_fees += charge.amount


@dataclass(frozen=True, slots=True)
class Lot:
    """What is left of one buy (FIFO only)."""

    transaction_id: int
    date: datetime
    quantity: int
    unit_cost: Decimal

    @property
    def cost(self) -> Decimal:
        return self.quantity * self.unit_cost


@dataclass(frozen=True, slots=True)
class Inventory:
    """Units of one type bought and not yet sold, at cost."""

    type_id: int
    quantity: int
    cost: Decimal
    lots: tuple[Lot, ...] = ()  # oldest first; empty under average cost

    @property
    def unit_cost(self) -> Decimal:
        return isk_store(self.cost / self.quantity)


@dataclass(frozen=True, slots=True)
class Sale:
    """One sell transaction, costed. ``unknown_quantity`` units had no known buy."""

    transaction_id: int
    date: datetime
    character_id: int
    type_id: int
    quantity: int
    unit_price: Decimal
    known_quantity: int
    cost: Decimal  # of the known units
    tax: Decimal  # on the known units
    unknown_quantity: int
    unknown_tax: Decimal

    @property
    def revenue(self) -> Decimal:
        return self.known_quantity * self.unit_price

    @property
    def unknown_revenue(self) -> Decimal:
        return self.unknown_quantity * self.unit_price

    @property
    def profit(self) -> Decimal:
        """Profit on the known units; broker fees are charged to the item, not to a sale."""
        return self.revenue - self.cost - self.tax

    @property
    def cost_unknown(self) -> bool:
        return self.unknown_quantity > 0


@dataclass(frozen=True, slots=True)
class FeeCharge:
    """A fee (or its share) and where it was charged. ``type_id`` is None when unattributed."""

    journal_id: int
    ref_type: str
    date: datetime
    character_id: int
    amount: Decimal  # cost in ISK: positive for a fee, negative for a refund
    type_id: int | None
    transaction_id: int | None  # the sale a tax was charged to
    order_id: int | None
    matched_by: str


@dataclass(slots=True)
class LedgerResult:
    method: str
    totals: ProfitLine
    by_type: dict[int, ProfitLine]  # sorted by type id
    by_day: dict[date, ProfitLine]  # sorted by UTC day
    by_character: dict[int, ProfitLine]  # sorted by character id
    inventory: dict[int, Inventory]  # types with units left, sorted by type id
    sales: list[Sale]  # in processing order
    fee_charges: list[FeeCharge] = field(default_factory=list)

    @property
    def unattributed_fees(self) -> list[FeeCharge]:
        return [charge for charge in self.fee_charges if charge.type_id is None]

    @property
    def unknown_cost_sales(self) -> list[Sale]:
        return [sale for sale in self.sales if sale.cost_unknown]

    @property
    def inventory_cost(self) -> Decimal:
        return sum((position.cost for position in self.inventory.values()), ZERO)


# --- reading values ----------------------------------------------------------------------------


def _require_int(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LedgerInputError(f"{where}: must be a whole number, got {value!r}")


def _require_aware(value: Any, where: str) -> None:
    if not isinstance(value, datetime):
        raise LedgerInputError(f"{where}: must be a datetime, got {value!r}")
    if value.utcoffset() is None:
        raise LedgerInputError(f"{where}: must carry a time zone (ESI dates are UTC)")


def _money(value: Any, where: str) -> Decimal:
    """ISK to the cent. Floats (ESI's JSON numbers) go through their shortest repr."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise LedgerInputError(f"{where}: must be an amount of ISK, got {value!r}")
    try:
        amount = (
            value
            if isinstance(value, Decimal)
            else Decimal(repr(value) if isinstance(value, float) else value)
        )
    except InvalidOperation:
        raise LedgerInputError(f"{where}: not an amount of ISK: {value!r}") from None
    if not amount.is_finite() or abs(amount) > MAX_ISK:
        raise LedgerInputError(
            f"{where}: must be a finite amount of at most {MAX_ISK:,} ISK either way, got {value!r}"
        )
    return isk_store(amount)


def _esi_int(row: Mapping[str, Any], name: str, where: str, *, required: bool = True) -> Any:
    value = row.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise LedgerInputError(f"{where}, field {name}: must be a whole number, got {value!r}")
    return value


def _esi_datetime(row: Mapping[str, Any], name: str, where: str) -> datetime:
    value = row.get(name)
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise LedgerInputError(
            f"{where}, field {name}: not an ISO 8601 date, got {value!r}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def utc_day(when: datetime) -> date:
    return when.astimezone(UTC).date()
