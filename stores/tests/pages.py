"""The real store search pages copied from ../shared/fixtures/mtg/stores, for adapter tests."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from urllib.parse import urlsplit

PAGES = Path(__file__).resolve().parent / "data" / "pages"

# (platform, page, card searched, the store's real base URL)
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
