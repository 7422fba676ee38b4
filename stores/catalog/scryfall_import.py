"""The Scryfall import: bulk files read into the catalog's sets, cards, names and printings.

Scryfall's bulk files (~115k card objects in ``default_cards``) are streamed — a JSON array with
ijson, JSON Lines line by line, gzipped or not (detected by magic bytes) — and written in batches
of upserts inside one transaction: a truncated or malformed file writes nothing. The import never
deletes: a card missing from one file stays.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO

import ijson
from django.conf import settings
from django.db import connection, transaction
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from stores.catalog.names import name_normalise
from stores.catalog.scryfall import CatalogProgressCallback, ScryfallClient, catalog_download
from stores.models import Card, CardName, CatalogImport, Printing, Set

log = logging.getLogger(__name__)


# --- Reading Scryfall card objects ---------------------------------------------------------------
class CatalogImportError(Exception):
    """A file that cannot be imported; the message names the position and the problem."""


TOKEN_LAYOUTS = {"token", "double_faced_token", "emblem"}
ART_LAYOUTS = {"art_series"}
PRICE_FIELDS = {
    "usd": "price_usd",
    "usd_foil": "price_usd_foil",
    "usd_etched": "price_usd_etched",
    "eur": "price_eur",
    "eur_foil": "price_eur_foil",
    "tix": "price_tix",
}


@dataclass(frozen=True, slots=True)
class ScryfallPrinting:
    """What the catalog keeps of one Scryfall card object."""

    scryfall_id: uuid.UUID
    oracle_id: uuid.UUID
    name: str
    face_names: tuple[str, ...]
    layout: str
    kind: str
    set_code: str
    set_name: str
    set_type: str
    released_at: date | None
    collector_number: str
    lang: str
    finishes: frozenset[str]
    digital: bool
    tcgplayer_id: int | None
    prices: dict[str, Decimal | None]


def scryfall_card_read(obj: Any, *, where: str) -> ScryfallPrinting | None:
    """Pick a card object apart. None for objects with no oracle identity (nothing to track);
    CatalogImportError naming ``where`` for objects that are not card objects at all."""
    if not isinstance(obj, dict):
        raise CatalogImportError(f"{where}: expected a card object, found {type(obj).__name__}")
    if obj.get("object", "card") != "card":
        raise CatalogImportError(f"{where}: expected a card object, found {obj.get('object')!r}")
    for name in ("id", "name", "set", "collector_number", "lang"):
        if not isinstance(obj.get(name), str) or not obj[name]:
            ident = obj.get("id") or obj.get("name") or "?"
            raise CatalogImportError(f"{where}: card {ident} has no '{name}'")
    faces = obj.get("card_faces") if isinstance(obj.get("card_faces"), list) else []
    oracle = obj.get("oracle_id") or next(
        (f.get("oracle_id") for f in faces if isinstance(f, dict) and f.get("oracle_id")), None
    )
    if not oracle:
        return None
    try:
        scryfall_id, oracle_id = uuid.UUID(obj["id"]), uuid.UUID(str(oracle))
    except ValueError as exc:
        raise CatalogImportError(f"{where}: card {obj['name']} has a malformed id: {exc}") from None
    face_names = tuple(
        dict.fromkeys(f["name"] for f in faces if isinstance(f, dict) and f.get("name"))
    )
    name = obj["name"]
    if len(face_names) == 1:
        # Reversible and art-series cards repeat one face: "X // X" is the card X.
        name = face_names[0]
    layout = str(obj.get("layout") or "normal")
    finishes = obj.get("finishes")
    if not isinstance(finishes, list):  # objects from before "finishes" existed
        finishes = [f for f in ("nonfoil", "foil") if obj.get(f)]
    prices = obj.get("prices") if isinstance(obj.get("prices"), dict) else {}
    tcgplayer_id = obj.get("tcgplayer_id")
    return ScryfallPrinting(
        scryfall_id=scryfall_id,
        oracle_id=oracle_id,
        name=name[:300],
        face_names=face_names if len(face_names) > 1 else (),
        layout=layout[:30],
        kind=_kind(layout),
        set_code=obj["set"].lower()[:10],
        set_name=str(obj.get("set_name") or obj["set"])[:200],
        set_type=str(obj.get("set_type") or "")[:40],
        released_at=_date(obj.get("released_at")),
        collector_number=obj["collector_number"][:20],
        lang=obj["lang"][:5],
        finishes=frozenset(str(f) for f in finishes),
        digital=bool(obj.get("digital")),
        tcgplayer_id=tcgplayer_id if isinstance(tcgplayer_id, int) and tcgplayer_id > 0 else None,
        prices={column: _price(prices.get(key)) for key, column in PRICE_FIELDS.items()},
    )


def _kind(layout: str) -> str:
    if layout in TOKEN_LAYOUTS:
        return Card.Kind.TOKEN
    if layout in ART_LAYOUTS:
        return Card.Kind.ART
    return Card.Kind.CARD


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _price(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        return None
    return price if price.is_finite() and 0 <= price < Decimal("1e8") else None


class _Counted(io.RawIOBase):
    """Counts the bytes read from the file (compressed ones, for a gzip), for the progress bar
    and the positions in error messages."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        self.position += n or 0
        return n


def scryfall_objects(path: Path) -> Iterator[tuple[str, Any, int]]:
    """Stream the objects of a Scryfall bulk file: a JSON array or JSON Lines, gzipped or not.

    Yields (position, object, bytes of the file read so far); position is "line N" or
    "object #N". Raises CatalogImportError naming where a file is truncated or malformed.
    """
    with open(path, "rb") as raw_file:
        counted = _Counted(raw_file)
        raw = io.BufferedReader(counted, buffer_size=1 << 20)
        gzipped = raw.peek(2)[:2] == b"\x1f\x8b"
        stream: Any = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        stream = io.BufferedReader(stream, buffer_size=1 << 20) if gzipped else stream
        described = f"{path.name}{' (gzip)' if gzipped else ''}"
        count = 0
        try:
            head = stream.peek(64)[:64]
            if head.startswith(b"\xef\xbb\xbf"):
                stream.read(3)
                head = head[3:]
            first = head.lstrip()[:1]
            if first == b"[":
                for count, obj in enumerate(ijson.items(stream, "item", use_float=True), 1):
                    yield f"object #{count}", obj, counted.position
            elif first == b"{":
                for count, line in enumerate(stream, 1):
                    if line.strip():
                        try:
                            obj = json.loads(line)
                        except ValueError as exc:
                            problem = "is not valid JSON"
                            if not line.endswith(b"\n"):
                                problem = "is cut short: the file is truncated"
                            raise CatalogImportError(
                                f"{described}: line {count} {problem} ({exc})"
                            ) from None
                        yield f"line {count}", obj, counted.position
            elif not first:
                raise CatalogImportError(f"{described}: the file is empty")
            else:
                raise CatalogImportError(
                    f"{described}: not a JSON array or JSON Lines file (starts with {head[:20]!r})"
                )
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise CatalogImportError(
                f"{described}: the gzip data is truncated or corrupt at byte {counted.position} "
                f"of the file, after {count} objects ({exc})"
            ) from None
        except ijson.JSONError as exc:
            raise CatalogImportError(
                f"{described}: malformed JSON after object #{count} "
                f"(byte {counted.position} of the file): {exc}"
            ) from None


# --- Writing the catalog -----------------------------------------------------------------------
PRINTING_UPDATE_FIELDS = [
    "card",
    "set",
    "collector_number",
    "lang",
    "released_at",
    "has_nonfoil",
    "has_foil",
    "has_etched",
    "digital",
    "tcgplayer_id",
    *PRICE_FIELDS.values(),
]


@dataclass
class ImportSummary:
    source: str
    objects_read: int = 0
    skipped: int = 0
    sets: int = 0
    cards: int = 0
    printings: int = 0
    sets_created: int = 0
    cards_created: int = 0
    printings_created: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        skipped = f", {self.skipped} skipped (no oracle identity)" if self.skipped else ""
        return (
            f"Imported {self.objects_read:,} card objects from {self.source}{skipped}: "
            f"{self.cards:,} cards (+{self.cards_created:,}), "
            f"{self.printings:,} printings (+{self.printings_created:,}), "
            f"{self.sets:,} sets (+{self.sets_created:,}) in {self.seconds:.1f} s"
        )


class _CatalogWriter:
    """Upserts printings in batches; remembers which sets and cards exist already."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.set_ids: dict[str, int] = dict(Set.objects.values_list("code", "id"))
        self.card_ids: dict[uuid.UUID, int] = {}
        self.pending: dict[uuid.UUID, ScryfallPrinting] = {}

    def add(self, printing: ScryfallPrinting) -> None:
        # A file listing one printing twice keeps the last one (upserts cannot touch a row twice).
        self.pending[printing.scryfall_id] = printing
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        rows = list(self.pending.values())
        self.pending = {}
        if not rows:
            return
        self._sets_ensure(rows)
        self._cards_ensure(rows)
        Printing.objects.bulk_create(
            [
                Printing(
                    scryfall_id=r.scryfall_id,
                    card_id=self.card_ids[r.oracle_id],
                    set_id=self.set_ids[r.set_code],
                    collector_number=r.collector_number,
                    lang=r.lang,
                    released_at=r.released_at,
                    has_nonfoil="nonfoil" in r.finishes,
                    has_foil="foil" in r.finishes,
                    has_etched="etched" in r.finishes,
                    digital=r.digital,
                    tcgplayer_id=r.tcgplayer_id,
                    **r.prices,
                )
                for r in rows
            ],
            update_conflicts=True,
            unique_fields=["scryfall_id"],
            update_fields=PRINTING_UPDATE_FIELDS,
        )

    def _sets_ensure(self, rows: list[ScryfallPrinting]) -> None:
        # Sets only known from their cards (a file imported without /sets): created, never
        # overwritten, as /sets is the better source.
        missing = {r.set_code: r for r in rows if r.set_code not in self.set_ids}
        if not missing:
            return
        Set.objects.bulk_create(
            [
                Set(
                    code=code,
                    name=r.set_name,
                    set_type=r.set_type,
                    released_at=r.released_at,
                    digital=r.digital,
                )
                for code, r in missing.items()
            ],
            ignore_conflicts=True,
        )
        self.set_ids.update(Set.objects.filter(code__in=missing).values_list("code", "id"))

    def _cards_ensure(self, rows: list[ScryfallPrinting]) -> None:
        new: dict[uuid.UUID, ScryfallPrinting] = {}
        for r in rows:
            if r.oracle_id not in self.card_ids:
                new.setdefault(r.oracle_id, r)
        if not new:
            return
        cards = Card.objects.bulk_create(
            [
                Card(oracle_id=oracle, name=r.name, layout=r.layout, kind=r.kind)
                for oracle, r in new.items()
            ],
            update_conflicts=True,
            unique_fields=["oracle_id"],
            update_fields=["name", "layout", "kind"],
        )
        if any(card.pk is None for card in cards):  # databases that return no ids on upsert
            self.card_ids.update(
                Card.objects.filter(oracle_id__in=new).values_list("oracle_id", "id")
            )
        else:
            self.card_ids.update((card.oracle_id, card.pk) for card in cards)
        # Only playable cards are searchable: tokens and art cards stay out of the name index.
        names: dict[tuple[int, str], CardName] = {}
        for oracle, r in new.items():
            if r.kind != Card.Kind.CARD:
                continue
            card_id = self.card_ids[oracle]
            for name, is_face in [(r.name, False), *((face, True) for face in r.face_names)]:
                key = name_normalise(name)
                if key and (card_id, key) not in names:
                    names[card_id, key] = CardName(
                        card_id=card_id, name=name[:300], search_key=key[:300], is_face=is_face
                    )
        CardName.objects.bulk_create(list(names.values()), ignore_conflicts=True)


def sets_upsert(sets: list[dict[str, Any]]) -> None:
    """Create or update sets from Scryfall's /sets objects, then link each to its parent."""
    rows: dict[str, Set] = {}
    parents: dict[str, str] = {}
    for n, obj in enumerate(sets, 1):
        if not isinstance(obj, dict) or not obj.get("code") or not obj.get("name"):
            raise CatalogImportError(f"set #{n} from /sets has no code or name")
        code = str(obj["code"]).lower()[:10]
        rows[code] = Set(
            code=code,
            name=str(obj["name"])[:200],
            set_type=str(obj.get("set_type") or "")[:40],
            released_at=_date(obj.get("released_at")),
            digital=bool(obj.get("digital")),
        )
        if obj.get("parent_set_code"):
            parents[code] = str(obj["parent_set_code"]).lower()
    Set.objects.bulk_create(
        list(rows.values()),
        update_conflicts=True,
        unique_fields=["code"],
        update_fields=["name", "set_type", "released_at", "digital"],
    )
    by_code = {s.code: s for s in Set.objects.filter(code__in=set(rows) | set(parents.values()))}
    changed = []
    for code in rows:
        parent = by_code.get(parents.get(code, ""))
        child = by_code[code]
        if child.parent_id != (parent.pk if parent else None):
            child.parent = parent
            changed.append(child)
    Set.objects.bulk_update(changed, ["parent"])


def catalog_import(
    *,
    path: Path,
    sets: list[dict[str, Any]] | None = None,
    source: str = "",
    bulk_type: str = "",
    bulk_updated_at: datetime | None = None,
    progress: bool | None = None,
    batch_size: int = 2000,
    on_progress: CatalogProgressCallback | None = None,
) -> ImportSummary:
    """Import a Scryfall bulk file (and, when given, the /sets list) in one transaction.

    ``progress`` None shows a progress bar only on a terminal; ``on_progress("importing",
    bytes read, file size)`` follows the import for the pages.
    """
    started = time.monotonic()
    summary = ImportSummary(source=source or path.name)
    before = (Set.objects.count(), Card.objects.count(), Printing.objects.count())
    size = path.stat().st_size
    with (
        transaction.atomic(),
        tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc="Scryfall import",
            disable=None if progress is None else not progress,
            leave=False,
        ) as bar,
    ):
        if sets:
            sets_upsert(sets)
        writer = _CatalogWriter(batch_size)
        shown = 0
        for where, obj, position in scryfall_objects(path):
            summary.objects_read += 1
            printing = scryfall_card_read(obj, where=f"{path.name}: {where}")
            if printing is None:
                summary.skipped += 1
                continue
            writer.add(printing)
            if position - shown >= 1 << 20:
                bar.update(position - shown)
                shown = position
                if on_progress:
                    on_progress("importing", position, size)
        writer.flush()
        bar.update(size - shown)
        summary.sets, summary.cards, summary.printings = (
            Set.objects.count(),
            Card.objects.count(),
            Printing.objects.count(),
        )
        summary.sets_created = summary.sets - before[0]
        summary.cards_created = summary.cards - before[1]
        summary.printings_created = summary.printings - before[2]
        if connection.vendor == "postgresql":
            # Fresh statistics, or the planner keeps treating the catalog as empty and the
            # trigram index goes unused until autovacuum gets round to it.
            with connection.cursor() as cursor:
                for model in (Set, Card, CardName, Printing):
                    cursor.execute(f"ANALYZE {model._meta.db_table}")
        summary.seconds = time.monotonic() - started
        CatalogImport.objects.create(
            source=summary.source[:500],
            bulk_type=bulk_type,
            bulk_updated_at=bulk_updated_at,
            seconds=summary.seconds,
            objects_read=summary.objects_read,
            skipped=summary.skipped,
            sets_created=summary.sets_created,
            cards_created=summary.cards_created,
            printings_created=summary.printings_created,
        )
    return summary


def catalog_refresh(
    *,
    bulk_type: str | None = None,
    url: str | None = None,
    force: bool = False,
    progress: bool | None = False,
    on_progress: CatalogProgressCallback | None = None,
) -> ImportSummary | None:
    """Download Scryfall's sets and a bulk file (``bulk_type`` from /bulk-data, or ``url``)
    and import them. Returns None when the bulk file is the one imported last time.
    ``on_progress(phase, done, total)`` follows the download and the import."""
    client = ScryfallClient()
    bulk_type = bulk_type or settings.SCRYFALL_BULK_TYPE
    updated_at = None
    if url is None:
        meta = client.bulk_data(bulk_type)
        url = meta["download_uri"]
        updated_at = parse_datetime(meta.get("updated_at") or "")
        already = CatalogImport.objects.filter(bulk_type=bulk_type, bulk_updated_at=updated_at)
        if updated_at and not force and already.exists():
            log.info("Scryfall %s of %s is imported already", bulk_type, updated_at)
            return None
    else:
        bulk_type = ""
    sets = client.sets()
    path = catalog_download(url=url, client=client, on_progress=on_progress)
    summary = catalog_import(
        path=path,
        sets=sets,
        source=url,
        bulk_type=bulk_type,
        bulk_updated_at=updated_at,
        progress=progress,
        on_progress=on_progress,
    )
    path.unlink(missing_ok=True)
    return summary


def catalog_last_import() -> CatalogImport | None:
    return CatalogImport.objects.order_by("-finished_at").first()
