"""Deck-list parsing: MTG Arena, MTGO (.txt and .dek XML) and Moxfield exports, as plain data.

``decklist_parse`` never raises on bad input: every line it cannot read becomes a line-numbered
``DeckLineError`` and the rest is still parsed. Resolving names against the catalog is
``stores.wants.decklist_resolve``'s job.

    Deck                                      Arena: sections by header, "(SET) number"
    4 Lightning Bolt (M10) 146
    Sideboard
    2 Dead/Gone                               MTGO .txt: sideboard after a blank line
    SB: 2 Python                              .dec (Apprentice, MWS): a sideboard line
    Mystic Snake x4                           the amount after the name
    1 Artistic Refusal (MOM) 46 *F*           Moxfield: *F* foil, *E* etched, #tags
    4 Tarmogoyf #lenny:condition=LP,max=45.00 Lenny's own specs (see `LineSpec`)

Lenny's want-list export writes each acceptable kind of copy as a ``#lenny:`` tag, so the list
comes back whole through this parser; other tools read the tags as Moxfield-style tags or
comments and ignore them, and this parser ignores every other tag.
"""

from __future__ import annotations

import re
import unicodedata
import xml.parsers.expat
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

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
# "Mystic Snake x4": the amount after the name (never a bare number: names end in digits).
_AMOUNT_AFTER = re.compile(r"^(.*\S)\s+[xX](\d+)$")
# "SB: 2 Python": a sideboard line of the .dec format (Apprentice, MWS, old MTGO exports).
_SIDEBOARD_LINE = re.compile(r"^SB:\s*", re.IGNORECASE)
# "-1 Black Lotus": an amount below one, not a card named "-1 Black Lotus".
_NEGATIVE = re.compile(r"^[-\u2212\u2013]\s*\d")
_LENNY_SPEC = re.compile(r"(?:^|\s+)#lenny:(\S*)")
_TAGS = re.compile(r"\s+#\S.*$")
_MARKERS = re.compile(r"(?:(?:^|\s+)\*([A-Za-z]+)\*)+\s*$")
_MARKER = re.compile(r"\*([A-Za-z]+)\*")
_PRINTING = re.compile(r"(?:^|\s+)\(([A-Za-z0-9]{2,6})\)(?:\s+([^\s()*#]{1,20}))?\s*$")


# What a ``#lenny:`` tag may say, and the values each key takes.
SPEC_FINISHES = ("any", "nonfoil", "foil", "etched")
SPEC_CONDITIONS = ("NM", "LP", "MP", "HP", "DMG")
SPEC_KEYS = ("set", "number", "finish", "condition", "language", "max")
MAX_SPEC_PRICE = Decimal("99999999.99")
_SPEC_SET = re.compile(r"[a-z0-9]{2,6}")
_SPEC_NUMBER = re.compile(r"[^\s,=#*()]{1,20}")
_SPEC_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[a-z]{2,4})?")


@dataclass(frozen=True)
class LineSpec:
    """One acceptable kind of copy, as a ``#lenny:`` tag writes it:

        #lenny:set=7ed,number=229★,finish=foil,condition=LP,language=ja,max=45.00

    Every key is optional; what is left out accepts anything (condition: any, finish: any).
    ``max`` is the highest price per copy, in the stores' currency, in major units (45.00 is
    £45, never 45p).
    """

    set_code: str = ""
    collector_number: str = ""
    finish: str = "any"
    worst_condition: str = "DMG"
    language: str = ""
    max_price: Decimal | None = None

    def tag(self) -> str:
        """The ``#lenny:`` tag that reads back as this spec."""
        parts = []
        if self.set_code:
            parts.append(f"set={self.set_code.lower()}")
        if self.collector_number:
            parts.append(f"number={self.collector_number}")
        if self.finish != "any":
            parts.append(f"finish={self.finish}")
        if self.worst_condition != "DMG":
            parts.append(f"condition={self.worst_condition}")
        if self.language:
            parts.append(f"language={self.language}")
        if self.max_price is not None:
            parts.append(f"max={self.max_price:.2f}")
        return "#lenny:" + ",".join(parts)


def spec_tag_parse(body: str) -> LineSpec | str:
    """The spec a ``#lenny:`` tag's ``body`` names, or what is wrong with it."""
    if not body:
        return LineSpec()  # a spec that accepts any copy
    values: dict[str, str] = {}
    for part in body.split(","):
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in SPEC_KEYS:
            return f"#lenny:{body} is not a spec: write key=value pairs of {', '.join(SPEC_KEYS)}"
        if key in values:
            return f"#lenny:{body} names {key} twice"
        values[key] = value.strip()
    set_code = values.get("set", "").lower()
    if set_code and not _SPEC_SET.fullmatch(set_code):
        return f"set {values['set']!r} is not a set code"
    number = values.get("number", "")
    if number and not _SPEC_NUMBER.fullmatch(number):
        return f"number {number!r} is not a collector number"
    finish = values.get("finish", "any").lower() or "any"
    if finish not in SPEC_FINISHES:
        return f"finish {values['finish']!r} is not one of {', '.join(SPEC_FINISHES)}"
    condition = values.get("condition", "DMG").upper() or "DMG"
    if condition not in SPEC_CONDITIONS:
        return f"condition {values['condition']!r} is not one of {', '.join(SPEC_CONDITIONS)}"
    language = values.get("language", "").lower()
    if language and not _SPEC_LANGUAGE.fullmatch(language):
        return f"language {values['language']!r} is not a language code"
    max_price = None
    if values.get("max"):
        text = values["max"]
        try:
            max_price = Decimal(text) if text.isascii() else None
        except InvalidOperation:
            max_price = None
        if max_price is None or not max_price.is_finite():
            return f"max {text!r} is not a price"
        if not Decimal("0.01") <= max_price <= MAX_SPEC_PRICE:
            return f"max {text} must be between 0.01 and {MAX_SPEC_PRICE:,}"
        if max_price != max_price.quantize(Decimal("0.01")):
            return f"max {text} has more than two decimal places"
        max_price = max_price.quantize(Decimal("0.01"))
    return LineSpec(set_code, number, finish, condition, language, max_price)


@dataclass(frozen=True)
class DeckLine:
    line_no: int
    amount: int
    name: str
    section: str = "main"
    set_code: str | None = None
    collector_number: str | None = None
    finish: str | None = None  # "foil" or "etched" when the list says so
    # The ``#lenny:`` specs: the copies this line accepts, whatever ``keep_printings`` says.
    specs: tuple[LineSpec, ...] = ()


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
        line_section = section
        if _SIDEBOARD_LINE.match(row):
            row, line_section = _SIDEBOARD_LINE.sub("", row), "sideboard"
        parsed = _line_parse(line_no, row, line_section)
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
    elif _NEGATIVE.match(row):
        return DeckLineError(line_no, row, "the amount must be at least 1")
    elif row[0].isdigit():
        return DeckLineError(line_no, row, "expected an amount, then a card name")
    elif after := _AMOUNT_AFTER.match(row):
        rest, digits = after.groups()
        amount = int(digits) if len(digits) <= 6 else MAX_AMOUNT + 1
    else:
        amount, rest = 1, row
    if amount < 1:
        return DeckLineError(line_no, row, "the amount must be at least 1")
    if amount > MAX_AMOUNT:
        return DeckLineError(line_no, row, f"the amount must be at most {MAX_AMOUNT}")
    specs = []
    for body in _LENNY_SPEC.findall(rest):
        spec = spec_tag_parse(body)
        if isinstance(spec, str):
            return DeckLineError(line_no, row, spec)
        if spec not in specs:
            specs.append(spec)
    rest = _TAGS.sub("", _LENNY_SPEC.sub("", rest))
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
    return DeckLine(line_no, amount, name, section, set_code, number, finish, tuple(specs))


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
        # ASCII digits only: "²".isdigit() is true, and int() refuses it.
        if not (quantity.isascii() and quantity.isdigit()) or len(quantity) > 6:
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
