"""The ledger as a file: one user's characters and everything ESI forgets, out and back in.

ESI serves a character's journal and transactions for 30 days and closed orders for 90; Lenny
keeps them for good, so its database is the only copy. ``ledger_export`` writes a user's whole
ledger as one JSON document; ``ledger_import`` reads it back into any Lenny (the same one after
a loss, or a new one) without duplicates.

The format (``"format": "lenny-ledger", "version": 1``):

- ``characters``: each with ``character_id``, ``name`` and ``owner_hash`` (CCP's hash of the
  character's EVE account: kept so that logging in with EVE later recognises the character
  instead of treating it as sold and dropping its history), and its rows:
  ``balances`` (``recorded_at``, ``balance``), ``journal`` (ESI's fields, keyed on ESI's ``id``),
  ``transactions`` (keyed on ``transaction_id``), ``orders`` (keyed on ``order_id``, each with
  its ``versions``);
- ``preferences``: the user's cost method and undercut e-mails.

ISK amounts are decimal strings ("121736.10": never binary floats), moments RFC 3339 with a
time zone. No token, no e-mail, no Lenny user name: the file is safe to keep anywhere a wallet
history may be kept. The live market comparison of open orders (undercut state) is left out:
the next check against the current snapshot recomputes it.

Import rules: rows are keyed on ESI's ids (balances on their moment, order versions on their
``issued``), and a row already here is kept as it is, so importing twice adds nothing and
importing after a sync adds only what ESI no longer serves. A character another user of this
Lenny holds is refused by name. A bad file names the row and field at fault and writes nothing:
the whole file is validated before the first write, and written in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from accounts.models import Character
from lenny.lib.money import CENT
from market.ledger.models import (
    CharacterOrder,
    CharacterOrderVersion,
    LedgerPreference,
    WalletBalance,
    WalletJournalEntry,
    WalletTransaction,
)
from market.ledger.profit import COST_METHODS

FORMAT = "lenny-ledger"
VERSION = 1

# The database's own limits, so a value that cannot be stored is a named error here, not a
# database exception half-way through the write.
Int32 = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
Moment = Annotated[datetime, msgspec.Meta(tz=True)]
ISK_LIMIT = Decimal(10) ** 18  # DecimalField(max_digits=20, decimal_places=2)
Text12 = Annotated[str, msgspec.Meta(max_length=12)]
Text40 = Annotated[str, msgspec.Meta(max_length=40)]
Text64 = Annotated[str, msgspec.Meta(max_length=64)]
OrderState = Literal["open", "closed", "expired", "cancelled"]

IMPORTED_NOTE = "imported from a ledger export: log in with EVE to sync it"


class _Row(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A row of the file: an unknown field is an error (a typo would otherwise lose data)."""


class BalanceRow(_Row, kw_only=True):
    recorded_at: Moment
    balance: Decimal


class JournalRow(_Row, kw_only=True):
    id: Int64
    date: Moment
    ref_type: Text64
    amount: Decimal | None = None
    balance: Decimal | None = None
    context_id: Int64 | None = None
    context_id_type: Text40 = ""
    description: str = ""
    reason: str = ""
    first_party_id: Int64 | None = None
    second_party_id: Int64 | None = None
    tax: Decimal | None = None
    tax_receiver_id: Int64 | None = None
    synced_at: Moment | None = None


class TransactionRow(_Row, kw_only=True):
    transaction_id: Int64
    date: Moment
    type_id: Int32
    quantity: Int32
    unit_price: Decimal
    is_buy: bool
    is_personal: bool = True
    location_id: Int64
    client_id: Int64 | None = None
    journal_ref_id: Int64 | None = None
    synced_at: Moment | None = None


class OrderVersionRow(_Row, kw_only=True):
    issued: Moment
    price: Decimal
    volume_total: Int32


class OrderRow(_Row, kw_only=True):
    order_id: Int64
    type_id: Int32
    region_id: Int32
    location_id: Int64
    is_buy_order: bool = False
    price: Decimal
    volume_total: Int32
    volume_remain: Int32
    min_volume: Int32 | None = None
    range: Text12
    duration: Int32
    escrow: Decimal | None = None
    is_corporation: bool = False
    issued: Moment
    state: OrderState
    first_seen: Moment | None = None
    last_seen: Moment | None = None
    versions: list[OrderVersionRow] = []


class CharacterRow(_Row, kw_only=True):
    character_id: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    owner_hash: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    balances: list[BalanceRow] = []
    journal: list[JournalRow] = []
    transactions: list[TransactionRow] = []
    orders: list[OrderRow] = []


class Preferences(_Row, kw_only=True):
    cost_method: str
    email_on_undercut: bool = False


class LedgerFile(_Row, kw_only=True):
    format: str
    version: int
    exported_at: Moment | None = None
    preferences: Preferences | None = None
    characters: list[CharacterRow] = []


class LedgerFileError(ValueError):
    """The file is not a ledger Lenny can import; the message names the row and field."""


# Field lists shared by both directions: the model's field names, ESI's where they differ.
JOURNAL_FIELDS = tuple(f for f in JournalRow.__struct_fields__ if f != "id")
TRANSACTION_FIELDS = TransactionRow.__struct_fields__
ORDER_FIELDS = tuple(f for f in OrderRow.__struct_fields__ if f != "versions")
VERSION_FIELDS = OrderVersionRow.__struct_fields__
BALANCE_FIELDS = BalanceRow.__struct_fields__
ISK_FIELDS: dict[type[_Row], tuple[str, ...]] = {
    BalanceRow: ("balance",),
    JournalRow: ("amount", "balance", "tax"),
    TransactionRow: ("unit_price",),
    OrderRow: ("price", "escrow"),
    OrderVersionRow: ("price",),
}


# --- pure (de)serialisation --------------------------------------------------------------------


def ledger_encode(ledger: LedgerFile) -> bytes:
    """The document as JSON bytes: decimals as strings, moments in RFC 3339."""
    return msgspec.json.format(msgspec.json.encode(ledger), indent=1)


def ledger_decode(raw: bytes | str) -> LedgerFile:
    """Parse and check a whole file; raise ``LedgerFileError`` naming what is wrong and where."""
    try:
        document = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise LedgerFileError(f"the file is not valid JSON ({exc})") from None
    except RecursionError:
        raise LedgerFileError("the file is not valid JSON (nested too deeply)") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise LedgerFileError(f'not a Lenny ledger export (expected "format": "{FORMAT}")')
    version = document.get("version")
    if version != VERSION:
        raise LedgerFileError(
            f"this file is version {version!r} of the ledger format; this Lenny reads "
            f"version {VERSION}"
        )
    try:
        ledger = msgspec.convert(document, LedgerFile)
    except msgspec.ValidationError as exc:
        raise LedgerFileError(_located(str(exc))) from None
    _check(ledger)
    return ledger


def _located(message: str) -> str:
    """msgspec's "Expected `int`, got `str` - at `$.characters[0].journal[3].id`" as
    "characters[0].journal[3].id: expected `int`, got `str`"."""
    text, sep, where = message.rpartition(" - at `")
    if not sep:
        return message
    path = where.rstrip("`").removeprefix("$").removeprefix(".") or "the file"
    return f"{path}: {text[:1].lower()}{text[1:]}"


def _check(ledger: LedgerFile) -> None:
    """What the types cannot say: ISK amounts storable to the cent, ids unique in their list,
    no NUL in text (PostgreSQL refuses it)."""
    if ledger.preferences is not None and ledger.preferences.cost_method not in COST_METHODS:
        raise LedgerFileError(
            f"preferences.cost_method: {ledger.preferences.cost_method!r} is not one of "
            f"{', '.join(COST_METHODS)}"
        )
    seen_characters: dict[int, int] = {}
    for i, character in enumerate(ledger.characters):
        where = f"characters[{i}]"
        _row_check(character, where=where)
        if character.character_id in seen_characters:
            raise LedgerFileError(
                f"{where}.character_id: character {character.character_id} is already "
                f"characters[{seen_characters[character.character_id]}]"
            )
        seen_characters[character.character_id] = i
        for name, key in (
            ("balances", "recorded_at"),
            ("journal", "id"),
            ("transactions", "transaction_id"),
            ("orders", "order_id"),
        ):
            rows = getattr(character, name)
            _unique(rows, key=key, where=f"{where}.{name}")
            for j, row in enumerate(rows):
                _row_check(row, where=f"{where}.{name}[{j}]")
                for k, version in enumerate(getattr(row, "versions", ())):
                    _row_check(version, where=f"{where}.{name}[{j}].versions[{k}]")
                if name == "orders":
                    _unique(row.versions, key="issued", where=f"{where}.orders[{j}].versions")


def _unique(rows: list[_Row], *, key: str, where: str) -> None:
    first: dict[Any, int] = {}
    for j, row in enumerate(rows):
        value = getattr(row, key)
        if value in first:
            raise LedgerFileError(
                f"{where}[{j}].{key}: {value} repeats {where}[{first[value]}]; each row once"
            )
        first[value] = j


def _row_check(row: _Row, *, where: str) -> None:
    for name in row.__struct_fields__:
        value = getattr(row, name)
        if isinstance(value, str) and "\x00" in value:
            # PostgreSQL text cannot hold NUL: refused here rather than failing the write.
            raise LedgerFileError(f"{where}.{name}: contains a NUL character")
    for name in ISK_FIELDS.get(type(row), ()):
        value = getattr(row, name)
        if value is None:
            continue
        if not value.is_finite() or abs(value) >= ISK_LIMIT:
            raise LedgerFileError(f"{where}.{name}: {value} is not an amount of ISK Lenny stores")
        if value != value.quantize(CENT):
            raise LedgerFileError(f"{where}.{name}: {value} has more than two decimals")


# --- the services ------------------------------------------------------------------------------


def ledger_export(*, user: AbstractBaseUser) -> LedgerFile:
    """Everything of ``user``'s ledger that a new Lenny could not fetch again from ESI."""
    characters = []
    for character in Character.objects.owned_by(user).order_by("character_id"):
        orders = list(
            CharacterOrder.objects.filter(character=character)
            .order_by("order_id")
            .prefetch_related("versions")
        )
        characters.append(
            CharacterRow(
                character_id=character.character_id,
                name=character.name,
                owner_hash=character.owner_hash,
                balances=[
                    BalanceRow(**row)
                    for row in WalletBalance.objects.filter(character=character)
                    .order_by("recorded_at")
                    .values(*BALANCE_FIELDS)
                ],
                journal=[
                    JournalRow(id=row.pop("entry_id"), **row)
                    for row in WalletJournalEntry.objects.filter(character=character)
                    .order_by("entry_id")
                    .values("entry_id", *JOURNAL_FIELDS)
                    .iterator(chunk_size=5000)
                ],
                transactions=[
                    TransactionRow(**row)
                    for row in WalletTransaction.objects.filter(character=character)
                    .order_by("transaction_id")
                    .values(*TRANSACTION_FIELDS)
                    .iterator(chunk_size=5000)
                ],
                orders=[
                    OrderRow(
                        **{name: getattr(order, name) for name in ORDER_FIELDS},
                        versions=[
                            OrderVersionRow(**{name: getattr(v, name) for name in VERSION_FIELDS})
                            for v in sorted(order.versions.all(), key=lambda v: v.issued)
                        ],
                    )
                    for order in orders
                ],
            )
        )
    preference = LedgerPreference.objects.filter(user=user).first()
    return LedgerFile(
        format=FORMAT,
        version=VERSION,
        exported_at=timezone.now(),
        preferences=(
            Preferences(
                cost_method=preference.cost_method,
                email_on_undercut=preference.email_on_undercut,
            )
            if preference
            else None
        ),
        characters=characters,
    )


KINDS = ("balances", "journal", "transactions", "orders", "order versions")


@dataclass
class LedgerImportResult:
    """What an import did: characters it created, and rows added or already here per kind."""

    characters_created: list[str] = field(default_factory=list)
    added: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    present: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    @property
    def rows_added(self) -> int:
        return sum(self.added.values())

    def summary(self) -> str:
        added = ", ".join(f"{count:,} {kind}" for kind, count in self.added.items() if count)
        text = f"Added {added}." if added else "Nothing new: every row was already here."
        if self.characters_created:
            text = (
                f"Created {', '.join(self.characters_created)} (log in with EVE to sync "
                f"{'it' if len(self.characters_created) == 1 else 'them'}). {text}"
            )
        present = sum(self.present.values())
        if present and added:
            text += f" {present:,} rows were already here and were kept as they are."
        return text


def ledger_import(*, user: AbstractBaseUser, data: bytes | str | LedgerFile) -> LedgerImportResult:
    """Add the file's rows that ``user``'s ledger lacks; raise ``LedgerFileError`` (nothing
    written) when the file is bad or names a character another user holds."""
    ledger = data if isinstance(data, LedgerFile) else ledger_decode(data)
    result = LedgerImportResult()
    with transaction.atomic():
        held = {
            character.character_id: character
            for character in Character.objects.select_for_update().filter(
                character_id__in=[row.character_id for row in ledger.characters]
            )
        }
        for i, row in enumerate(ledger.characters):
            character = held.get(row.character_id)
            if character is not None and character.owner_id != user.pk:
                # Attaching it would hand one user's wallet to another; only an EVE login
                # (proof of control) may move a character between users.
                raise LedgerFileError(
                    f"characters[{i}]: {row.name} ({row.character_id}) belongs to another user "
                    "of this Lenny; nothing was imported"
                )
        for row in ledger.characters:
            character = held.get(row.character_id)
            if character is None:
                # No tokens: it waits for an EVE login (which recognises it by owner_hash)
                # and no sync schedule is made for it until then.
                character = Character.objects.create(
                    character_id=row.character_id,
                    name=row.name,
                    owner=user,
                    owner_hash=row.owner_hash,
                    needs_relogin=True,
                    token_error=IMPORTED_NOTE,
                )
                result.characters_created.append(row.name)
            _character_rows_import(character, row, result)
        if ledger.preferences and not LedgerPreference.objects.filter(user=user).exists():
            LedgerPreference.objects.create(
                user=user,
                cost_method=ledger.preferences.cost_method,
                email_on_undercut=ledger.preferences.email_on_undercut,
            )
    return result


def _new_rows(rows: list, *, key: str, known: set, kind: str, result: LedgerImportResult) -> list:
    fresh = [row for row in rows if getattr(row, key) not in known]
    result.added[kind] += len(fresh)
    result.present[kind] += len(rows) - len(fresh)
    return fresh


def _insert_new(model: type[Model], objects: list[Model]) -> None:
    # ignore_conflicts: a sync that stored the same row meanwhile: keep either.
    model.objects.bulk_create(objects, batch_size=1000, ignore_conflicts=True)


def _character_rows_import(
    character: Character, row: CharacterRow, result: LedgerImportResult
) -> None:
    now = timezone.now()

    def known(model, key: str) -> set:
        return set(model.objects.filter(character=character).values_list(key, flat=True))

    balances = _new_rows(
        row.balances,
        key="recorded_at",
        known=known(WalletBalance, "recorded_at"),
        kind="balances",
        result=result,
    )
    _insert_new(
        WalletBalance,
        [WalletBalance(character=character, **msgspec.structs.asdict(b)) for b in balances],
    )
    journal = _new_rows(
        row.journal,
        key="id",
        known=known(WalletJournalEntry, "entry_id"),
        kind="journal",
        result=result,
    )
    _insert_new(
        WalletJournalEntry,
        [
            WalletJournalEntry(
                character=character,
                entry_id=entry.id,
                **{name: getattr(entry, name) for name in JOURNAL_FIELDS if name != "synced_at"},
                synced_at=entry.synced_at or now,
            )
            for entry in journal
        ],
    )
    transactions = _new_rows(
        row.transactions,
        key="transaction_id",
        known=known(WalletTransaction, "transaction_id"),
        kind="transactions",
        result=result,
    )
    _insert_new(
        WalletTransaction,
        [
            WalletTransaction(
                character=character,
                **{name: getattr(tx, name) for name in TRANSACTION_FIELDS if name != "synced_at"},
                synced_at=tx.synced_at or now,
            )
            for tx in transactions
        ],
    )
    existing_orders = {
        order.order_id: order for order in CharacterOrder.objects.filter(character=character)
    }
    orders = _new_rows(
        row.orders, key="order_id", known=set(existing_orders), kind="orders", result=result
    )
    created = CharacterOrder.objects.bulk_create(
        [
            CharacterOrder(
                character=character,
                **{
                    name: getattr(order, name)
                    for name in ORDER_FIELDS
                    if name not in ("first_seen", "last_seen")
                },
                first_seen=order.first_seen or order.issued,
                last_seen=order.last_seen or order.issued,
            )
            for order in orders
        ],
        batch_size=500,
    )
    by_order_id = existing_orders | {order.order_id: order for order in created}
    # An order already here (a sync saw it) may still lack versions ESI no longer lists.
    seen_versions: dict[int, set[datetime]] = {}
    for order_pk, issued in CharacterOrderVersion.objects.filter(
        order__character=character
    ).values_list("order_id", "issued"):
        seen_versions.setdefault(order_pk, set()).add(issued)
    versions = []
    for order_row in row.orders:
        order = by_order_id[order_row.order_id]
        fresh = _new_rows(
            order_row.versions,
            key="issued",
            known=seen_versions.get(order.pk, set()),
            kind="order versions",
            result=result,
        )
        versions += [CharacterOrderVersion(order=order, **msgspec.structs.asdict(v)) for v in fresh]
    CharacterOrderVersion.objects.bulk_create(versions, batch_size=1000, ignore_conflicts=True)
