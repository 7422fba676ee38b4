"""Stores fixtures: the real Scryfall samples, bulk files built from them, an imported catalog."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stores.catalog import catalog_import
from stores.models import Card, WantedCard

DATA = Path(__file__).resolve().parent / "data"
SCRYFALL = DATA / "scryfall"


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


@pytest.fixture(autouse=True)
def _scryfall_quick(settings, tmp_path) -> None:
    # Scryfall's pacing and back-off are real seconds; tests that check them set their own.
    settings.SCRYFALL_REQUEST_INTERVAL = 0.0
    settings.SCRYFALL_BACKOFF_SECONDS = 0.05
    settings.SCRYFALL_DOWNLOAD_DIR = tmp_path / "scryfall-downloads"


@pytest.fixture
def bulk_file(tmp_path) -> Callable[..., Path]:
    def write(
        cards: list[dict[str, Any]] | None = None, form: str = "jsonl", name: str = ""
    ) -> Path:
        path = tmp_path / (name or f"cards.{form}")
        path.write_bytes(bulk_bytes(sample_cards() if cards is None else cards, form))
        return path

    return write


@pytest.fixture
def catalog(db) -> None:
    """The real samples imported: 43 cards in 18 sets, every layout."""
    for name in ("cards-sample.jsonl", "power9.jsonl"):
        catalog_import(path=SCRYFALL / name, progress=False)


@pytest.fixture
def card(catalog) -> Callable[[str], Card]:
    return lambda name: Card.objects.get(name=name)


@pytest.fixture
def want(card) -> Callable[..., WantedCard]:
    def make(owner, name: str, amount: int = 1, **spec: Any) -> WantedCard:
        wanted, _ = WantedCard.objects.merge(
            owner=owner, card=card(name), amount=amount, specs=[spec] if spec else []
        )
        return wanted

    return make
