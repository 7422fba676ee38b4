"""What stores write about a copy of a card, normalised: condition, finish, language, price, SKU.

Stores describe the same thing in many ways ("NM-Mint, English", "Near Mint Foil", "Light Play",
"Lightly Played Foil Foreign", "GRN-257-EN-NF-1"). These pure functions turn that text into the
few values Lenny compares: a condition grade, a finish, a language code and a Decimal price.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# Best first: a want's "worst acceptable condition" accepts its own grade and every one before it.
CONDITIONS: tuple[str, ...] = ("NM", "LP", "MP", "HP", "DMG")
CONDITION_LABELS: dict[str, str] = {
    "NM": "Near Mint",
    "LP": "Lightly Played",
    "MP": "Moderately Played",
    "HP": "Heavily Played",
    "DMG": "Damaged",
}
FINISHES: tuple[str, ...] = ("nonfoil", "foil", "etched")

# Scryfall's language codes, in its own order: the languages a printing (and a want) can be in.
SCRYFALL_LANGUAGES: dict[str, str] = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
    "ja": "Japanese",
    "ko": "Korean",
    "ru": "Russian",
    "zhs": "Simplified Chinese",
    "zht": "Traditional Chinese",
    "he": "Hebrew",
    "la": "Latin",
    "grc": "Ancient Greek",
    "ar": "Arabic",
    "sa": "Sanskrit",
    "ph": "Phyrexian",
    "qya": "Quenya",
}
# What a store's listing can say: one of those, or "not English, but the store does not say which".
LANGUAGE_FOREIGN = "foreign"
LANGUAGES: dict[str, str] = {**SCRYFALL_LANGUAGES, LANGUAGE_FOREIGN: "Foreign (unspecified)"}

# Phrases as stores write them, in their normalised form (see `text_key`). US grading words;
# the European ones (Excellent, Good, Played, Poor) are mapped to their usual US equivalent.
_CONDITION_PHRASES: dict[str, str] = {
    "near mint": "NM",
    "near-mint": "NM",
    "nm-mint": "NM",
    "nm mint": "NM",
    "nm/mint": "NM",
    "nm/m": "NM",
    "nm-m": "NM",
    "nm": "NM",
    "mint": "NM",
    "mt": "NM",
    "lightly played": "LP",
    "light played": "LP",
    "light play": "LP",
    "lightly play": "LP",
    "slightly played": "LP",
    "excellent": "LP",
    "ex": "LP",
    "lp": "LP",
    "sp": "LP",
    "moderately played": "MP",
    "moderate played": "MP",
    "moderate play": "MP",
    "moderately play": "MP",
    "very good": "MP",
    "vg": "MP",
    "good": "MP",
    "gd": "MP",
    "played": "MP",
    "pl": "MP",
    "mp": "MP",
    "heavily played": "HP",
    "heavy played": "HP",
    "heavy play": "HP",
    "heavily play": "HP",
    "hp": "HP",
    "damaged": "DMG",
    "damage": "DMG",
    "dmg": "DMG",
    "poor": "DMG",
    "po": "DMG",
}

_FINISH_PHRASES: dict[str, str] = {
    "non-foil": "nonfoil",
    "non foil": "nonfoil",
    "nonfoil": "nonfoil",
    "foil etched": "etched",
    "etched foil": "etched",
    "etched": "etched",
    "foil": "foil",
}

# Whole words only: two-letter codes such as "it" or "es" are too ambiguous in free text and
# are only read from SKUs (see `_SKU_LANGUAGES`).
_LANGUAGE_PHRASES: dict[str, str] = {
    "english": "en",
    "spanish": "es",
    "espanol": "es",
    "french": "fr",
    "francais": "fr",
    "german": "de",
    "deutsch": "de",
    "italian": "it",
    "italiano": "it",
    "portuguese": "pt",
    "brazilian portuguese": "pt",
    "japanese": "ja",
    "korean": "ko",
    "russian": "ru",
    "simplified chinese": "zhs",
    "chinese simplified": "zhs",
    "s-chinese": "zhs",
    "traditional chinese": "zht",
    "chinese traditional": "zht",
    "t-chinese": "zht",
    # Stores that write only "Chinese" sell the Simplified print run, by far the common one.
    "chinese": "zhs",
    "hebrew": "he",
    "latin": "la",
    "ancient greek": "grc",
    "arabic": "ar",
    "sanskrit": "sa",
    "phyrexian": "ph",
    "foreign": LANGUAGE_FOREIGN,
    "non-english": LANGUAGE_FOREIGN,
}

_SKU_LANGUAGES: dict[str, str] = {
    "EN": "en",
    "ES": "es",
    "SP": "es",
    "FR": "fr",
    "DE": "de",
    "IT": "it",
    "PT": "pt",
    "JA": "ja",
    "JP": "ja",
    "KO": "ko",
    "KR": "ko",
    "RU": "ru",
    "ZHS": "zhs",
    "CS": "zhs",
    "SC": "zhs",
    "ZHT": "zht",
    "CT": "zht",
    "TC": "zht",
    "PH": "ph",
}
_SKU_FINISHES: dict[str, str] = {"NF": "nonfoil", "FO": "foil", "ET": "etched", "FE": "etched"}


def text_key(text: str) -> str:
    """Lower case, accents and curly quotes folded, underscores and runs of spaces collapsed."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u2013", "-")
    text = text.replace("_", " ").lower()
    return " ".join(text.split())


def _phrase_regex(phrases: Iterable[str]) -> re.Pattern[str]:
    # Longest first, so "lightly played" wins over "played" and "nm-mint" over "nm"; a phrase
    # must stand on its own (no letter, digit or hyphen touching it).
    alternatives = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")


_CONDITION_RE = _phrase_regex(_CONDITION_PHRASES)
_FINISH_RE = _phrase_regex(_FINISH_PHRASES)
_LANGUAGE_RE = _phrase_regex(_LANGUAGE_PHRASES)


def condition_normalise(text: str) -> str | None:
    """The grade (NM, LP, MP, HP, DMG) named in ``text``, or None when it names none."""
    match = _CONDITION_RE.search(text_key(text))
    return _CONDITION_PHRASES[match.group()] if match else None


def finish_normalise(text: str) -> str | None:
    """The finish (nonfoil, foil, etched) named in ``text``, or None when it names none."""
    match = _FINISH_RE.search(text_key(text))
    return _FINISH_PHRASES[match.group()] if match else None


def language_normalise(text: str) -> str | None:
    """The language code named in ``text`` (full words: "English", "Japanese", "Foreign")."""
    match = _LANGUAGE_RE.search(text_key(text))
    return _LANGUAGE_PHRASES[match.group()] if match else None


def condition_rank(condition: str) -> int:
    """0 for NM up to 4 for DMG; a smaller number is a better copy."""
    return CONDITIONS.index(condition)


def condition_at_least(condition: str | None, worst_acceptable: str) -> bool:
    """Whether a copy in ``condition`` is as good as ``worst_acceptable`` or better."""
    if condition not in CONDITIONS:
        return False
    return condition_rank(condition) <= condition_rank(worst_acceptable)


@dataclass(frozen=True)
class VariantTraits:
    condition: str | None
    finish: str | None
    language: str | None


def variant_traits(text: str) -> VariantTraits:
    """Condition, finish and language read from one variant description ("Near Mint Foil")."""
    return VariantTraits(
        condition=condition_normalise(text),
        finish=finish_normalise(text),
        language=language_normalise(text),
    )


# --- product titles ---------------------------------------------------------------------------

_FINISH_ONLY_RE = re.compile(
    r"(?:non-?\s?foil|foil\s+etched|etched\s+foil|etched|foil)", flags=re.IGNORECASE
)


def title_strip_finish(title: str) -> tuple[str, str | None]:
    """Split a product title into its name and the finish its suffix names.

    "Steam Vents - Foil - Borderless" -> ("Steam Vents - Borderless", "foil"). A " - Foil" segment
    or a "(Foil)" group that says nothing but the finish is removed from the name; a treatment
    that merely mentions it ("Surge Foil", "Foil (30th Anniversary Play Promos)") stays, and still
    sets the finish.
    """
    finish: str | None = None
    segments = [s.strip() for s in title.split(" - ")]
    kept = [segments[0]]
    for segment in segments[1:]:
        segment_finish = finish_normalise(segment)
        finish = finish or segment_finish
        if segment_finish and _FINISH_ONLY_RE.fullmatch(segment):
            continue
        kept.append(segment)
    name = " - ".join(kept)

    def _group(match: re.Match[str]) -> str:
        nonlocal finish
        inner = match.group(1).strip()
        group_finish = finish_normalise(inner)
        finish = finish or group_finish
        return "" if group_finish and _FINISH_ONLY_RE.fullmatch(inner) else match.group(0)

    name = re.sub(r"\s*\(([^()]*)\)", _group, name)
    return " ".join(name.split()), finish


_SET_BRACKET_RE = re.compile(r"\s*\[([^\[\]]+)\]\s*$")


def title_split_set(title: str) -> tuple[str, str]:
    """ "Steam Vents (Retro) [Ravnica Remastered]" -> ("Steam Vents (Retro)", "Ravnica Remastered")."""
    match = _SET_BRACKET_RE.search(title)
    if not match:
        return title.strip(), ""
    return title[: match.start()].strip(), match.group(1).strip()


# --- prices -----------------------------------------------------------------------------------

# Longest first: "CA$" must win over "$".
_CURRENCY_SYMBOLS: dict[str, str] = {
    "CAD$": "CAD",
    "CA$": "CAD",
    "C$": "CAD",
    "AUD$": "AUD",
    "AU$": "AUD",
    "A$": "AUD",
    "NZ$": "NZD",
    "US$": "USD",
    "£": "GBP",
    "€": "EUR",
    "¥": "JPY",
    "$": "USD",
}
CURRENCY_CODES = frozenset(
    {"GBP", "EUR", "USD", "CAD", "AUD", "NZD", "JPY", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK"}
)
# No card costs more; a bigger number is a misread page (and would not fit a stored price).
MAX_PRICE = Decimal("99999999.99")
# Prices are shown as the shops print them: with their symbol where it is unambiguous.
CURRENCY_SYMBOLS: dict[str, str] = {"GBP": "£", "EUR": "€", "USD": "$"}
_CODE_RE = re.compile(r"(?<![A-Za-z])(" + "|".join(sorted(CURRENCY_CODES)) + r")(?![A-Za-z])")
_AMOUNT_RE = re.compile(r"\d{1,3}(?:[.,\s\u00a0\u202f']\d{3})+(?:[.,]\d+)?(?!\d)|\d+(?:[.,]\d+)?")


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str  # ISO 4217, or "" when the text names none


def money_format(amount: Decimal, currency: str = "") -> str:
    """ "£30.19" for GBP; "30.19 SEK" for currencies without a symbol here; "30.19" for none."""
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}".strip()


def price_parse(text: str) -> Money:
    """A price as stores print it ("£ 30.19", "$1,234.50", "1.234,50 €", "12.00 GBP").

    Raises ValueError naming the text when it holds no price, or a negative one.
    """
    if not isinstance(text, str):
        raise ValueError(f"not a price: {text!r}")
    currency = ""
    code = _CODE_RE.search(text.upper())
    if code:
        currency = code.group(1)
    else:
        for symbol, iso in _CURRENCY_SYMBOLS.items():
            if symbol in text:
                currency = iso
                break
    match = _AMOUNT_RE.search(text)
    if not match:
        raise ValueError(f"no price in {text.strip()[:60]!r}")
    # "-£5.00", "£ -5", "\u22125 €": a minus before the number, perhaps with a currency between.
    if re.search(r"[-\u2212]\s*(?:[^\d\s]{1,4}\s*)?$", text[: match.start()]):
        raise ValueError(f"negative price in {text.strip()[:60]!r}")
    digits = re.sub(r"[\s\u00a0\u202f']", "", match.group()).rstrip(".,")
    amount = _amount_decimal(digits)
    if amount is None:
        raise ValueError(f"unreadable price {text.strip()[:60]!r}")
    if amount > MAX_PRICE:
        raise ValueError(f"implausible price {text.strip()[:60]!r}")
    return Money(amount, currency)


def _amount_decimal(digits: str) -> Decimal | None:
    last_dot, last_comma = digits.rfind("."), digits.rfind(",")
    decimal_at = max(last_dot, last_comma)
    if decimal_at != -1:
        separators = digits.count(".") + digits.count(",")
        # One separator followed by exactly three digits ("1,234" or "1.234") groups thousands.
        if separators == 1 and len(digits) - decimal_at - 1 == 3:
            decimal_at = -1
    if decimal_at == -1:
        whole, fraction = re.sub(r"[.,]", "", digits), ""
    else:
        whole, fraction = re.sub(r"[.,]", "", digits[:decimal_at]), digits[decimal_at + 1 :]
        if not fraction.isdigit():
            return None
    try:
        amount = Decimal(f"{whole or '0'}.{fraction or '0'}")
        return amount.quantize(Decimal("0.01")) if amount.as_tuple().exponent > -2 else amount
    except InvalidOperation:  # more digits than a Decimal holds: no shop's price
        return None


def minor_units_to_decimal(value: object) -> Decimal:
    """Shopify's integer prices (1160 -> Decimal("11.60")); ValueError for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"price {value!r} is not a whole number of minor units")
    text = str(value).strip()
    # ASCII digits only: "²".isdigit() is true, and Decimal() refuses it.
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"price {value!r} is not a whole number of minor units")
    if len(text) > 12 or Decimal(text) / 100 > MAX_PRICE:
        raise ValueError(f"implausible price {value!r} (minor units)")
    return (Decimal(text) / 100).quantize(Decimal("0.01"))


# --- SKUs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SkuTraits:
    set_code: str
    collector_number: str
    language: str | None
    finish: str | None
    condition: str | None


# BinderPOS: SET-NUMBER[-TREATMENT...]-LANGUAGE-FINISH-CONDITION, e.g. "GRN-257-EN-NF-1",
# "RVR-412-RETRO-EN-FO-1", "PGRN-257-EN-NF-1". The last digit grades 1 = NM ... 5 = DMG.
_SKU_RE = re.compile(
    r"^(?P<set>[A-Z0-9]{2,8})-(?P<number>[A-Z0-9\u2605]{1,8})(?:-[A-Z0-9]+)*?"
    r"-(?P<language>[A-Z]{2,3})-(?P<finish>[A-Z]{2})-(?P<condition>\d)$"
)


def sku_parse(sku: str) -> SkuTraits | None:
    """What a BinderPOS SKU says about the copy, or None when it is not one."""
    if not isinstance(sku, str):
        return None
    match = _SKU_RE.match(sku.strip().upper())
    if not match:
        return None
    grade = int(match["condition"])
    return SkuTraits(
        set_code=match["set"].lower(),
        collector_number=match["number"].lstrip("0") or "0",
        language=_SKU_LANGUAGES.get(match["language"]),
        finish=_SKU_FINISHES.get(match["finish"]),
        condition=CONDITIONS[grade - 1] if 1 <= grade <= len(CONDITIONS) else None,
    )


# --- sets -------------------------------------------------------------------------------------


def set_name_key(name: str) -> str:
    """A set name folded for comparison ("Promo Pack: Throne of Eldraine" ~ "promo pack throne of eldraine")."""
    return " ".join(re.sub(r"[^\w\s]", " ", text_key(name)).split())


def set_codes_by_name(sets: Iterable[tuple[str, str]]) -> dict[str, str]:
    """{set name key: code} from (name, code) pairs, e.g. the catalog's sets."""
    return {set_name_key(name): code.lower() for name, code in sets if name and code}


def set_code_lookup(set_name: str, codes: Mapping[str, str]) -> str:
    """The code of the set a store calls ``set_name``, or "" when the catalog has no such set."""
    return codes.get(set_name_key(set_name), "") if set_name else ""


def collector_key(number: str) -> str:
    """A collector number folded for comparison: "0157" ~ "157", "229A" ~ "229a"."""
    return number.strip().lower().lstrip("0") or ("0" if number.strip() else "")
