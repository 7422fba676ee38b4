"""Card names folded for comparison: what two spellings of the same name have in common.

Pure functions over strings (no Django): the catalog's search keys, the deck-list resolver and
the store-listing matcher (`stores.matching`) all fold names here, the same way.
"""

from __future__ import annotations

import re
import unicodedata

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
