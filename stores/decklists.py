"""Deck-list parsing: MTG Arena, MTGO (.txt and .dek XML) and Moxfield exports, as plain data.

``decklist_parse`` never raises on bad input: every line it cannot read becomes a line-numbered
``DeckLineError`` and the rest is still parsed. Resolving names against the catalog is
``stores.catalog.decklist_resolve``'s job.

    Deck                                      Arena: sections by header, "(SET) number"
    4 Lightning Bolt (M10) 146
    Sideboard
    2 Dead/Gone                               MTGO .txt: sideboard after a blank line
    1 Artistic Refusal (MOM) 46 *F*           Moxfield: *F* foil, *E* etched, #tags
"""

from __future__ import annotations

import re
import unicodedata
import xml.parsers.expat
from dataclasses import dataclass, field

MAX_AMOUNT = 9999
MAX_NAME = 200

SECTIONS = {
    "deck": "main",
    "main": "main",
    "maindeck": "main",
    "main deck": "main",
    "mainboard": "main",
    "sideboard": "sideboard",
    "side": "sideboard",
    "commander": "commander",
    "commanders": "commander",
    "companion": "companion",
    "maybeboard": "maybeboard",
    "maybe": "maybeboard",
    "considering": "maybeboard",
    "about": "about",
}

_HEADER = re.compile(r"^(?://+|#+)?\s*([A-Za-z ]+?)\s*(?:\(\d+\))?\s*:?\s*$")
_AMOUNT = re.compile(r"^(\d+)\s*[xX]?\s+(.*)$")
_TAGS = re.compile(r"\s+#\S.*$")
_MARKERS = re.compile(r"(?:(?:^|\s+)\*([A-Za-z]+)\*)+\s*$")
_MARKER = re.compile(r"\*([A-Za-z]+)\*")
_PRINTING = re.compile(r"(?:^|\s+)\(([A-Za-z0-9]{2,6})\)(?:\s+([^\s()*#]{1,20}))?\s*$")


@dataclass(frozen=True)
class DeckLine:
    line_no: int
    amount: int
    name: str
    section: str = "main"
    set_code: str | None = None
    collector_number: str | None = None
    finish: str | None = None  # "foil" or "etched" when the list says so


@dataclass(frozen=True)
class DeckLineError:
    line_no: int
    text: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line_no}: {self.message}"


@dataclass
class ParsedDeck:
    format: str
    lines: list[DeckLine] = field(default_factory=list)
    errors: list[DeckLineError] = field(default_factory=list)

    def amounts(self) -> dict[str, int]:
        """Copies per name over every section (a card in main and sideboard counts twice)."""
        totals: dict[str, int] = {}
        for line in self.lines:
            totals[line.name] = totals.get(line.name, 0) + line.amount
        return totals


def decklist_parse(source: str | bytes) -> ParsedDeck:
    """Parse a deck list in any supported format; see the module docstring."""
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line_no = source[: exc.start].count(b"\n") + 1
            return ParsedDeck(
                "unknown", errors=[DeckLineError(line_no, "", "the file is not UTF-8 text")]
            )
    text = source.lstrip("\ufeff")
    if text.lstrip().startswith("<"):
        return _dek_parse(text)
    return _text_parse(text)


def _text_parse(text: str) -> ParsedDeck:
    rows = text.splitlines()
    has_headers = any(_section(row) for row in rows)
    deck = ParsedDeck("text")
    section = "main"
    seen_cards = False
    markers = printings = False
    for line_no, raw in enumerate(rows, 1):
        row = raw.strip()
        if not row:
            # MTGO lists have no headers: the sideboard follows the first blank line.
            if seen_cards and not has_headers:
                section = "sideboard"
            continue
        header = _section(row)
        if header:
            section = header
            continue
        if section == "about" or row.startswith(("//", "#")):
            continue
        parsed = _line_parse(line_no, row, section)
        if isinstance(parsed, DeckLineError):
            deck.errors.append(parsed)
            continue
        seen_cards = True
        markers = markers or parsed.finish is not None or bool(_TAGS.search(row))
        printings = printings or parsed.set_code is not None
        deck.lines.append(parsed)
    deck.format = (
        "moxfield"
        if markers
        else "arena"
        if printings or has_headers
        else "mtgo"
        if deck.lines
        else "text"
    )
    return deck


def _section(row: str) -> str | None:
    match = _HEADER.match(row)
    if not match:
        return None
    return SECTIONS.get(" ".join(match.group(1).lower().split()))


def _line_parse(line_no: int, row: str, section: str) -> DeckLine | DeckLineError:
    match = _AMOUNT.match(row)
    if match:
        digits, rest = match.groups()
        amount = int(digits) if len(digits) <= 6 else MAX_AMOUNT + 1
    elif row[0].isdigit():
        return DeckLineError(line_no, row, "expected an amount, then a card name")
    else:
        amount, rest = 1, row
    if amount < 1:
        return DeckLineError(line_no, row, "the amount must be at least 1")
    if amount > MAX_AMOUNT:
        return DeckLineError(line_no, row, f"the amount must be at most {MAX_AMOUNT}")
    rest = _TAGS.sub("", rest)
    finish = None
    markers = _MARKERS.search(rest)
    if markers:
        for marker in _MARKER.findall(markers.group(0)):
            finish = {"F": "foil", "E": "etched"}.get(marker.upper(), finish)
        rest = rest[: markers.start()]
    set_code = number = None
    printing = _PRINTING.search(rest)
    if printing:
        set_code, number = printing.group(1).lower(), printing.group(2)
        rest = rest[: printing.start()]
    name = " ".join(rest.split())
    if not name:
        return DeckLineError(line_no, row, "no card name")
    if len(name) > MAX_NAME:
        return DeckLineError(line_no, row, f"the card name is longer than {MAX_NAME} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") for ch in name):
        return DeckLineError(line_no, row, "the card name contains control or unknown characters")
    return DeckLine(line_no, amount, name, section, set_code, number, finish)


class _Refused(Exception):
    pass


def _dek_parse(text: str) -> ParsedDeck:
    """MTGO's .dek XML: ``<Cards Quantity="4" Sideboard="false" Name="Lightning Bolt" />``."""
    deck = ParsedDeck("dek")
    parser = xml.parsers.expat.ParserCreate()
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(*args: object) -> None:
        raise _Refused("a .dek file has no document type or entity declarations")

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag != "Cards":
            return
        line_no = parser.CurrentLineNumber
        quantity = (attrs.get("Quantity") or "").strip()
        name = " ".join((attrs.get("Name") or "").split())
        section = "sideboard" if attrs.get("Sideboard", "").lower() == "true" else "main"
        shown = f'<Cards Quantity="{quantity}" Name="{name}">'
        if not quantity.isdigit() or len(quantity) > 6:
            deck.errors.append(
                DeckLineError(line_no, shown, f"Quantity {quantity!r} is not a whole number")
            )
        elif not name:
            deck.errors.append(DeckLineError(line_no, shown, "no card name"))
        else:
            parsed = _line_parse(line_no, f"{int(quantity)} {name}", section)
            if isinstance(parsed, DeckLineError):
                deck.errors.append(DeckLineError(line_no, shown, parsed.message))
            else:
                # .dek names are plain names: never "(SET) number" or markers.
                deck.lines.append(DeckLine(line_no, parsed.amount, name, section))

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = start
    try:
        parser.Parse(text, True)
    except _Refused as exc:
        deck.errors.append(DeckLineError(parser.CurrentLineNumber, "", str(exc)))
    except xml.parsers.expat.ExpatError as exc:
        message = xml.parsers.expat.errors.messages.get(exc.code, str(exc))
        deck.errors.append(DeckLineError(exc.lineno or 1, "", f"not valid .dek XML ({message})"))
    return deck
