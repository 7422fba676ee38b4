"""The ESI payloads of the wallet and order routes, validated whole before anything is written.

A bad row raises ``WalletSyncError`` naming the row and the field; nothing of that answer is
stored. ISK arrives as JSON floats and is stored to the cent (``lenny.lib.money.isk_store``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from lenny.lib.money import isk_store


class WalletSyncError(Exception):
    """ESI's answer could not be stored as it is; the message names the row and the field."""


Id = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Int32 = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
# NUMERIC(20, 2) holds less than 10^18; more ISK than that is corruption, not trading.
Isk = Annotated[float, msgspec.Meta(gt=-1e17, lt=1e17)]
Price = Annotated[float, msgspec.Meta(ge=0, lt=1e17)]


class EsiJournalRow(msgspec.Struct):
    id: Id
    date: datetime
    ref_type: str
    description: str = ""
    amount: Isk | None = None
    balance: Isk | None = None
    context_id: Id | None = None
    context_id_type: str | None = None
    first_party_id: Id | None = None
    second_party_id: Id | None = None
    reason: str | None = None
    tax: Isk | None = None
    tax_receiver_id: Id | None = None


class EsiTransactionRow(msgspec.Struct):
    transaction_id: Id
    date: datetime
    type_id: Int32
    quantity: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
    unit_price: Price
    is_buy: bool
    location_id: Id
    client_id: Id | None = None
    journal_ref_id: Id | None = None
    is_personal: bool = True


class EsiCharacterOrderRow(msgspec.Struct):
    order_id: Id
    type_id: Int32
    region_id: Int32
    location_id: Id
    price: Price
    volume_total: Int32
    volume_remain: Int32
    issued: datetime
    duration: Int32
    range: str
    is_buy_order: bool = False
    min_volume: Int32 | None = None
    escrow: Isk | None = None
    is_corporation: bool = False
    # Only in /orders/history/: what became of the order.
    state: Literal["cancelled", "expired"] | None = None


T = TypeVar("T")


def esi_decode(data: Any, kind: type[T], what: str) -> T:
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise WalletSyncError(f"ESI's {what} is malformed: {exc}") from None


def isk_or_none(value: float | None) -> Decimal | None:
    """ISK to the cent; JSON floats go through their shortest repr, as the game shows them."""
    if value is None:
        return None
    return isk_store(float(value))
