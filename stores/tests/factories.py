"""Test support for the stores app: the captured Scryfall samples and store pages (served by the
replay, in ``stores/replay/data``), bulk files built from them, and plain stock data. The fixtures
are in conftest.py."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stores.replay.scryfall import SAMPLES as SCRYFALL
from stores.replay.sites import PAGES

# What the adapters must read from each captured page (``.expected.json``: the store's own
# product data; ``.listings.json``: what `probe_store --json` prints).
EXPECTED = Path(__file__).resolve().parent / "data" / "pages"

# (platform, page, card searched, the store's real base URL): the real store search pages
# copied from ../shared/fixtures/mtg/stores.
STORE_PAGES = [
    ("crystalcommerce", "harlequins_tarmogoyf", "Tarmogoyf", "https://www.harlequins-games.com"),
    ("crystalcommerce", "skyward-fire_steam-vents", "Steam Vents", "https://www.skywardfire.com"),
    ("crystalcommerce", "troll-trader_tarmogoyf", "Tarmogoyf", "https://www.trolltradercards.com"),
    ("shopify", "dice-saloon_steam-vents", "Steam Vents", "https://www.dicesaloonsingles.co.uk"),
    ("shopify", "lvl-up-gaming_steam-vents", "Steam Vents", "https://lvlupgaming.co.uk"),
]


def page_path(platform: str, name: str) -> Path:
    return PAGES / platform / f"{name}.html.gz"


def page_html(platform: str, name: str) -> str:
    return gzip.decompress(page_path(platform, name).read_bytes()).decode()


def path_of(url: str) -> str:
    """A product URL's path, as two scrapers that join URLs differently both write it."""
    return re.sub(r"/{2,}", "/", urlsplit(url).path)


def sample_cards() -> list[dict[str, Any]]:
    """The real card objects: cards-sample.jsonl (every layout) and power9.jsonl."""
    cards = []
    for name in ("cards-sample.jsonl", "power9.jsonl"):
        lines = (SCRYFALL / name).read_text("utf-8").splitlines()
        cards.extend(json.loads(line) for line in lines if line.strip())
    return cards


def bulk_bytes(cards: list[dict[str, Any]], form: str) -> bytes:
    """``cards`` as Scryfall serves them: "json", "jsonl", "json.gz" or "jsonl.gz"."""
    if form.startswith("jsonl"):
        body = "".join(json.dumps(card, ensure_ascii=False) + "\n" for card in cards).encode()
    else:
        body = (
            "[\n" + ",\n".join(json.dumps(card, ensure_ascii=False) for card in cards) + "\n]"
        ).encode()
    return gzip.compress(body) if form.endswith(".gz") else body


def offer(
    set_name: str = "Masters 25",
    set_code: str = "a25",
    number: str = "208",
    *,
    price: str = "1.00",
    quantity: int = 1,
    **more: Any,
) -> dict[str, Any]:
    return {
        "set_name": set_name,
        "set_code": set_code,
        "collector_number": number,
        "price": price,
        "quantity": quantity,
        **more,
    }
