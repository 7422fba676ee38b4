"""The card catalog: name normalisation, search, and the Scryfall import.

Scryfall's bulk files (~115k card objects in ``default_cards``) are streamed — a JSON array with
ijson, JSON Lines line by line, gzipped or not (detected by magic bytes) — and written in batches
of upserts inside one transaction: a truncated or malformed file writes nothing. The import never
deletes: a card missing from one file stays.
"""

from __future__ import annotations

import difflib
import gzip
import io
import json
import logging
import re
import threading
import time
import unicodedata
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urljoin, urlsplit

import ijson
import requests
import urllib3
from django.conf import settings
from django.contrib.postgres.lookups import TrigramSimilar
from django.contrib.postgres.search import TrigramSimilarity
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.functions import Length
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from stores.decklists import DeckLine, ParsedDeck
from stores.models import (
    ANY_COPY,
    MAX_AMOUNT,
    Card,
    CardName,
    CatalogImport,
    Printing,
    Set,
    WantedCard,
    WantSpec,
    amount_merged,
)

log = logging.getLogger(__name__)

# (phase: "downloading" or "importing", bytes done, bytes in all or None when unknown)
CatalogProgressCallback = Callable[[str, int, int | None], None]

# The trigram lookup (``%`` operator, served by the GIN index) without installing
# django.contrib.postgres as an app: only this column needs it.
CardName._meta.get_field("search_key").register_lookup(TrigramSimilar)


# --- Names ------------------------------------------------------------------------------------
# Letters NFKD does not decompose.
_LIGATURES = str.maketrans(
    {
        "Æ": "AE",
        "æ": "ae",
        "Œ": "OE",
        "œ": "oe",
        "Ø": "O",
        "ø": "o",
        "Đ": "D",
        "đ": "d",
        "\N{LATIN SMALL LETTER DOTLESS I}": "i",
    }
)
_APOSTROPHES = (
    "\N{LEFT SINGLE QUOTATION MARK}\N{RIGHT SINGLE QUOTATION MARK}"
    "\N{SINGLE LOW-9 QUOTATION MARK}\N{SINGLE HIGH-REVERSED-9 QUOTATION MARK}"
    "\N{GRAVE ACCENT}\N{ACUTE ACCENT}\N{PRIME}"
)
_QUOTES = str.maketrans(dict.fromkeys(_APOSTROPHES, "'"))
# Dropped without a gap, so "Urza's" finds "Urzas" and "100,000" stays one word.
_DELETED = re.compile(r"['\".,\u201c\u201d\u201e\u00ab\u00bb!?]")
# Every other non-word character separates words; "/" is kept for the face separator.
_SEPARATORS = re.compile(r"[^\w\s/]+")
_FACE_SEPARATOR = re.compile(r"\s*/+\s*")
_SPACES = re.compile(r"\s+")


def name_normalise(name: str) -> str:
    """The search key of a card name: what two spellings of the same name have in common.

    Accents are stripped (NFKD), ligatures spelled out (Æ → ae), case folded, quotes and
    punctuation dropped or turned into spaces, and every face separator ("/", " / ", "//",
    "///") becomes " // ", so "Æther Vial", "aether vial" and "AETHER  VIAL" share one key, and so
    do "Dead/Gone", "Dead // Gone" and "Dead /// Gone".
    """
    # Quotes first: NFKD splits an acute-accent apostrophe into a space and an accent. Case is
    # folded between two NFKDs: compatibility letters decompose to capitals (black-letter H to
    # "H"), and folding can give letters that decompose again (dotted capital I).
    text = unicodedata.normalize("NFKD", name.translate(_QUOTES).translate(_LIGATURES))
    text = unicodedata.normalize("NFKD", text.casefold().translate(_LIGATURES))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _DELETED.sub("", text)
    text = _SEPARATORS.sub(" ", text)
    text = _FACE_SEPARATOR.sub(" // ", text)
    return _SPACES.sub(" ", text).strip()


def front_face(name: str) -> str:
    """The name on the front of a card: "Driven" for "Driven // Despair"."""
    return re.split(r"\s*/+\s*", name.strip(), maxsplit=1)[0].strip() or name.strip()


# --- Search -----------------------------------------------------------------------------------
def card_search(query: str, *, limit: int = 10) -> list[Card]:
    """Playable cards whose name (or a face's name) matches ``query``, best first: prefix
    matches (shortest names first), then substring matches, then names holding every word of
    the query in any order, then fuzzy matches (pg_trgm similarity on PostgreSQL, a difflib
    ranking of candidates elsewhere). Tokens and art cards are never suggested.
    """
    key = name_normalise(query)
    if not key.replace("//", "").strip():
        return []
    found: dict[int, None] = {}
    for stage in (_prefixed, _containing, _all_words, _fuzzy):
        for card_id in stage(key, exclude=list(found), limit=limit * 2):
            found.setdefault(card_id, None)
        if len(found) >= limit:
            break
    return _cards_in_order(list(found)[:limit])


def card_suggestions(query: str, *, limit: int = 3) -> list[Card]:
    """The closest cards to a name that matched nothing exactly ("did you mean")."""
    key = name_normalise(query)
    if not key:
        return []
    found = dict.fromkeys(_fuzzy(key, exclude=[], limit=limit * 2))
    if len(found) < limit:
        found.update(dict.fromkeys(card.pk for card in card_search(query, limit=limit)))
    return _cards_in_order(list(found)[:limit])


def _cards_in_order(ids: list[int]) -> list[Card]:
    cards = Card.objects.in_bulk(ids)
    return [cards[i] for i in ids if i in cards]


def _first_ids(names, exclude: list[int], limit: int) -> list[int]:
    if exclude:
        names = names.exclude(card_id__in=exclude)
    return list(names.values_list("card_id", flat=True)[:limit])


def _prefixed(key: str, *, exclude: list[int], limit: int) -> list[int]:
    names = CardName.objects.filter(search_key__startswith=key)
    return _first_ids(names.order_by(Length("search_key"), "search_key"), exclude, limit)


def _containing(key: str, *, exclude: list[int], limit: int) -> list[int]:
    names = CardName.objects.filter(search_key__contains=key)
    return _first_ids(names.order_by(Length("search_key"), "search_key"), exclude, limit)


def _all_words(key: str, *, exclude: list[int], limit: int) -> list[int]:
    words = [w for w in key.split() if w != "//"]
    if len(words) < 2 or all(len(w) < 3 for w in words):
        return []
    names = CardName.objects.all()
    for word in words:
        names = names.filter(search_key__contains=word)
    return _first_ids(names.order_by(Length("search_key"), "search_key"), exclude, limit)


def _fuzzy(key: str, *, exclude: list[int], limit: int) -> list[int]:
    if len(key) < 3:
        return []
    if connection.vendor == "postgresql":
        names = CardName.objects.filter(search_key__trigram_similar=key)
        ranked = names.annotate(similarity=TrigramSimilarity("search_key", key))
        return _first_ids(ranked.order_by("-similarity", Length("search_key")), exclude, limit)
    # Without pg_trgm: names sharing a three-letter piece of a word, ranked by difflib.
    pieces = {
        w[i : i + 3] for w in key.split() if len(w) >= 3 for i in (0, len(w) // 2, len(w) - 3)
    }
    match = Q()
    for piece in pieces:
        match |= Q(search_key__contains=piece)
    candidates = CardName.objects.filter(match).exclude(card_id__in=exclude)
    scored = [
        (difflib.SequenceMatcher(None, key, search_key).ratio(), len(search_key), card_id)
        for card_id, search_key in candidates.values_list("card_id", "search_key")[:5000]
    ]
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [card_id for ratio, _, card_id in scored[:limit] if ratio >= 0.6]


def cards_resolve(names: Iterable[str]) -> dict[str, Card]:
    """Exact resolution of names to playable cards by search key: a full name or any face's
    name ("Driven" finds "Driven // Despair"); full-name matches win over face matches.
    Returns the cards found, by search key."""
    keys = {name_normalise(n) for n in names} - {""}
    rows = (
        CardName.objects.filter(search_key__in=keys)
        .select_related("card")
        .order_by("is_face", "card__name")
    )
    resolved: dict[str, Card] = {}
    for row in rows:
        resolved.setdefault(row.search_key, row.card)
    return resolved


def card_resolve(name: str) -> Card | None:
    return cards_resolve([name]).get(name_normalise(name))


# --- Deck lists against the catalog -------------------------------------------------------------
# Names of one deck list that get "did you mean" suggestions; the others are only named.
MAX_SUGGESTED_NAMES = 30


@dataclass
class ResolvedLine:
    line: DeckLine
    card: Card | None = None
    # The copies the line accepts, as WantSpec fields; empty: any copy.
    specs: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""
    suggestions: list[str] = field(default_factory=list)


def decklist_resolve(*, parsed: ParsedDeck, keep_printings: bool) -> list[ResolvedLine]:
    """Resolve each parsed deck-list line to a playable card (full name or front face, then
    fuzzy suggestions) and, with ``keep_printings``, its set/number/finish to a valid spec."""
    found = cards_resolve(
        name for line in parsed.lines for name in (line.name, front_face(line.name))
    )
    resolved: list[ResolvedLine] = []
    suggested: dict[str, list[str]] = {}
    for line in parsed.lines:
        card = found.get(name_normalise(line.name)) or found.get(
            name_normalise(front_face(line.name))
        )
        if card is None:
            key = name_normalise(line.name)
            # Each "did you mean" is a fuzzy search: a list of nonsense must not cost thousands.
            if key not in suggested and len(suggested) < MAX_SUGGESTED_NAMES:
                suggested[key] = [c.name for c in card_suggestions(line.name)]
            suggestions = suggested.get(key, [])
            hint = f" — did you mean {_either(suggestions)}?" if suggestions else ""
            resolved.append(
                ResolvedLine(
                    line,
                    problem=f"line {line.line_no}: no card named '{line.name}'{hint}",
                    suggestions=suggestions,
                )
            )
            continue
        item = ResolvedLine(line, card=card)
        if line.specs:
            # Lenny's own tags say exactly which copies will do: kept whatever keep_printings says.
            for spec in line.specs:
                problems, chosen_set = card.spec_problems(
                    set_code=spec.set_code,
                    collector_number=spec.collector_number,
                    finish=spec.finish,
                    language=spec.language,
                )
                if problems:
                    item.problem = f"line {line.line_no}: {next(iter(problems.values()))}"
                    break
                item.specs.append(
                    {
                        "set": chosen_set,
                        "collector_number": spec.collector_number,
                        "finish": spec.finish,
                        "worst_condition": spec.worst_condition,
                        "language": spec.language,
                        "max_price": spec.max_price,
                    }
                )
        elif keep_printings and (line.set_code or line.collector_number or line.finish):
            problems, chosen_set = card.spec_problems(
                set_code=line.set_code or "",
                collector_number=line.collector_number or "",
                finish=line.finish or WantSpec.ANY_FINISH,
            )
            if problems:
                item.problem = f"line {line.line_no}: {next(iter(problems.values()))}"
            else:
                item.specs = [
                    {
                        "set": chosen_set,
                        "collector_number": line.collector_number or "",
                        "finish": line.finish or WantSpec.ANY_FINISH,
                    }
                ]
        resolved.append(item)
    return resolved


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


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


# --- Scryfall over HTTP ----------------------------------------------------------------------
class ScryfallError(Exception):
    pass


ACCEPT = "application/json;q=0.9,*/*;q=0.8"
_pace_lock = threading.Lock()
_last_request = 0.0


def _pace() -> None:
    """At most one request per SCRYFALL_REQUEST_INTERVAL from this process (Scryfall asks for
    no more than 10 per second)."""
    global _last_request
    with _pace_lock:
        wait = _last_request + settings.SCRYFALL_REQUEST_INTERVAL - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        _last_request = time.monotonic()


class ScryfallClient:
    def __init__(self, base_url: str | None = None) -> None:
        self.base_url = (base_url or settings.SCRYFALL_BASE_URL).rstrip("/") + "/"
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": settings.LENNY_USER_AGENT, "Accept": ACCEPT})

    def url(self, path_or_url: str) -> str:
        return urljoin(self.base_url, path_or_url.lstrip("/"))

    def request(self, url: str, *, attempts: int = 4, **kwargs: Any) -> requests.Response:
        """GET with pacing; waits SCRYFALL_BACKOFF_SECONDS on 429 (and on 5xx) and tries again."""
        kwargs.setdefault("timeout", settings.UPSTREAM_TIMEOUT)
        for attempt in range(1, attempts + 1):
            _pace()
            response = self.session.get(url, **kwargs)
            if response.status_code != 429 and response.status_code < 500:
                return response
            response.close()
            if attempt < attempts:
                log.warning("Scryfall answered %s for %s; backing off", response.status_code, url)
                time.sleep(settings.SCRYFALL_BACKOFF_SECONDS)
        raise ScryfallError(
            f"Scryfall answered {response.status_code} for {url} {attempts} times in a row"
        )

    def get_json(self, path_or_url: str, **params: Any) -> Any:
        url = self.url(path_or_url)
        response = self.request(url, params=params or None)
        try:
            data = response.json()
        except ValueError:
            raise ScryfallError(f"{url} answered {response.status_code} without JSON") from None
        if response.status_code != 200 or (
            isinstance(data, dict) and data.get("object") == "error"
        ):
            details = data.get("details") if isinstance(data, dict) else None
            raise ScryfallError(f"{url} answered {response.status_code}: {details or data}")
        return data

    def bulk_data(self, bulk_type: str) -> dict[str, Any]:
        listing = self.get_json("bulk-data")
        for item in listing.get("data", []):
            if item.get("type") == bulk_type:
                return item
        known = ", ".join(sorted(i.get("type", "?") for i in listing.get("data", [])))
        raise ScryfallError(f"Scryfall has no bulk file of type {bulk_type!r} (it has: {known})")

    def sets(self) -> list[dict[str, Any]]:
        page = self.get_json("sets")
        sets = list(page.get("data", []))
        while page.get("has_more") and page.get("next_page"):
            page = self.get_json(page["next_page"])
            sets.extend(page.get("data", []))
        return sets

    def download(
        self,
        url: str,
        *,
        dest: Path,
        attempts: int = 5,
        on_progress: CatalogProgressCallback | None = None,
    ) -> Path:
        """Download ``url`` to ``dest`` through ``dest.part``, resuming an interrupted download
        with an HTTP Range request (also across runs). The bytes are kept as served: a gzipped
        file stays gzipped for the importer to detect. ``on_progress("downloading", bytes,
        total)`` follows it."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        problem = "no attempt made"
        for _ in range(attempts):
            have = part.stat().st_size if part.exists() else 0
            headers = {"Range": f"bytes={have}-", "Accept": "*/*"} if have else {"Accept": "*/*"}
            try:
                with self.request(url, stream=True, headers=headers) as response:
                    total = _download_total(response, have)
                    if response.status_code == 416 and total == have:
                        break  # the part file already holds the whole file
                    if response.status_code not in (200, 206) or total is None:
                        if response.status_code == 416:
                            part.unlink(missing_ok=True)
                            problem = "the partial download no longer fits the file"
                            continue
                        raise ScryfallError(f"{url} answered {response.status_code}")
                    mode = "ab" if response.status_code == 206 else "wb"
                    with open(part, mode) as fh:
                        for chunk in response.raw.stream(1 << 20, decode_content=False):
                            fh.write(chunk)
                            if on_progress:
                                on_progress("downloading", fh.tell(), total)
                if part.stat().st_size == total:
                    break
                problem = f"got {part.stat().st_size} of {total} bytes"
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            log.warning("download of %s interrupted (%s); resuming", url, problem)
        else:
            raise ScryfallError(f"download of {url} failed after {attempts} attempts: {problem}")
        part.replace(dest)
        return dest


def _download_total(response: requests.Response, have: int) -> int | None:
    """The full size of the file being downloaded, or None when the answer cannot be used."""
    content_range = response.headers.get("Content-Range", "")
    if response.status_code == 206:
        match = re.fullmatch(r"bytes (\d+)-\d+/(\d+)", content_range.strip())
        if not match or int(match.group(1)) != have:
            return None
        return int(match.group(2))
    if response.status_code == 416:
        match = re.fullmatch(r"bytes \*/(\d+)", content_range.strip())
        return int(match.group(1)) if match else None
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _file_name(url: str, fallback: str) -> str:
    name = Path(urlsplit(url).path).name
    return name if re.fullmatch(r"[\w.-]{1,120}", name) else fallback


def catalog_download(
    *,
    url: str,
    client: ScryfallClient | None = None,
    dest_dir: Path | None = None,
    on_progress: CatalogProgressCallback | None = None,
) -> Path:
    client = client or ScryfallClient()
    dest_dir = dest_dir or Path(settings.SCRYFALL_DOWNLOAD_DIR)
    return client.download(
        url, dest=dest_dir / _file_name(url, "scryfall-download.json"), on_progress=on_progress
    )


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


# --- Deck-list import preview -------------------------------------------------------------------
@dataclass
class PreviewRow:
    """One card a deck list would add: the lines naming it, summed, and the result."""

    card: Card
    amount: int
    tracked: int
    result: int
    line_numbers: list[int]
    # The printings the lines name; empty when any line names none (those copies may be any).
    specs: list[dict[str, Any]]
    # What the tracked want accepts, which the import keeps ("" when the card is not tracked).
    tracked_copies: str = ""
    mode: str = "add"
    # The amount after a "replace" import: what the one-click "replace instead" would leave.
    replaced: int = 0

    def change(self) -> str:
        """What the import does to this card's amount, in words: "adds 4: 4 → 8"."""
        if not self.tracked:
            return f"new: {self.result}"
        arrow = f"{self.tracked} → {self.result}"
        if self.mode == "add":
            return f"adds {self.amount}: {arrow}"
        if self.mode == "max":
            return f"keeps the larger: {arrow}"
        return f"replaces: {arrow}"

    def spec_summary(self) -> str:
        if self.mode == "replace" and self.specs:
            return "; ".join(WantSpec(**spec).summary() for spec in self.specs)
        if not self.specs or self.tracked_copies == ANY_COPY:
            return self.tracked_copies or "any printing"
        named = "; ".join(WantSpec(**spec).summary() for spec in self.specs)
        return f"{named}; {self.tracked_copies}" if self.tracked_copies else named


@dataclass
class ImportPreview:
    format: str
    mode: str
    rows: list[PreviewRow]
    problems: list[str]

    def payload(self, *, owner_id: int, nonce: str) -> dict[str, Any]:
        """What the confirm step needs, as plain data to sign into the preview page."""
        rows = [
            {
                "card": row.card.pk,
                "amount": row.amount,
                "specs": [_spec_plain(spec) for spec in row.specs],
            }
            for row in self.rows
        ]
        return {"owner": owner_id, "mode": self.mode, "nonce": nonce, "rows": rows}

    @property
    def changes_tracked(self) -> bool:
        """Some card is tracked already, so "add" and "replace" differ."""
        return any(row.tracked for row in self.rows)


def _spec_plain(spec: dict[str, Any]) -> dict[str, Any]:
    """A preview's spec as JSON-ready data: the set by id, the price as a string."""
    plain = {**spec, "set": spec["set"].pk if spec.get("set") else None}
    if plain.get("max_price") is not None:
        plain["max_price"] = str(plain["max_price"])
    return plain


def decklist_preview(
    *, owner: Any, parsed: ParsedDeck, keep_printings: bool, mode: str
) -> ImportPreview:
    """What importing ``parsed`` would do to ``owner``'s want list, with every problem by line."""
    resolved = decklist_resolve(parsed=parsed, keep_printings=keep_printings)
    problems = [(e.line_no, str(e)) for e in parsed.errors]
    problems += [(item.line.line_no, item.problem) for item in resolved if item.problem]
    rows: dict[int, PreviewRow] = {}
    any_printing: set[int] = set()
    for item in resolved:
        if item.card is None or item.problem:
            continue
        row = rows.setdefault(item.card.pk, PreviewRow(item.card, 0, 0, 0, [], [], mode=mode))
        row.amount += item.line.amount
        row.line_numbers.append(item.line.line_no)
        if not item.specs:
            any_printing.add(item.card.pk)
        for spec in item.specs:
            if spec not in row.specs:
                row.specs.append(spec)
    tracked = {w.card_id: w for w in WantedCard.objects.for_owner(owner).filter(card__in=rows)}
    for row in rows.values():
        if row.card.pk in any_printing:
            row.specs = []
        wanted = tracked.get(row.card.pk)
        row.tracked = wanted.amount if wanted else 0
        row.result = min(amount_merged(row.tracked, row.amount, mode), MAX_AMOUNT)
        row.replaced = min(row.amount, MAX_AMOUNT)
        if wanted is not None:
            row.tracked_copies = wanted.copies_summary()
    return ImportPreview(
        format=parsed.format,
        mode=mode,
        rows=sorted(rows.values(), key=lambda r: r.line_numbers[0]),
        problems=[message for _, message in sorted(problems, key=lambda p: p[0])],
    )
