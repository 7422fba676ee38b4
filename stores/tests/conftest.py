"""Stores fixtures: bulk files built from the real Scryfall samples, an imported catalog, the
replay stores and their stock (the data helpers are in factories.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lenny.replay import ReplayServer
from stores.catalog import catalog_import
from stores.models import Card, CheckResult, PreferredStore, Store, WantedCard
from stores.replay import SITES, site_stock_set
from stores.tests.factories import SCRYFALL, bulk_bytes, sample_cards
from stores.wants import wanted_card_merge


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
def alice(client, user, catalog):
    """Alice signed in, with the sample catalog imported."""
    client.force_login(user)
    return client


@pytest.fixture
def want(card) -> Callable[..., WantedCard]:
    def make(owner, name: str, amount: int = 1, **spec: Any) -> WantedCard:
        wanted, _ = wanted_card_merge(
            owner=owner, card=card(name), amount=amount, specs=[spec] if spec else []
        )
        return wanted

    return make


# --- Store stock checks -------------------------------------------------------------------------


@pytest.fixture
def quick_checks(settings) -> None:
    # Back-off and timeouts are real seconds: keep them short, keep their shape.
    settings.STORE_BACKOFF_BASE = 0.01
    settings.STORE_BACKOFF_MAX = 0.05
    settings.STORE_MAX_RETRIES = 2
    settings.STORE_REQUEST_TIMEOUT = 2.0
    settings.STORE_MAX_WAIT = 10.0


@pytest.fixture
def shops(upstreams, catalog, quick_checks) -> dict[str, Store]:
    """A Store for every replay site, pointing at the replay server, with fast politeness."""
    return {
        slug: Store.objects.create(
            name=site.name,
            platform=site.platform,
            base_url=upstreams.url(f"/stores/{slug}"),
            currency="GBP",
            city="Replay",
            max_requests_per_minute=600,
            max_in_flight=2,
        )
        for slug, site in SITES.items()
    }


@pytest.fixture
def stock(upstreams) -> Callable[..., None]:
    """stock(slug, card name, *offers): what a replay store carries of a card, exactly."""

    def set_stock(slug: str, card_name: str, *offers: dict[str, Any]) -> None:
        site_stock_set(upstreams, slug, card_name, offers)

    return set_stock


@pytest.fixture
def prefer() -> Callable[..., None]:
    def make(user: Any, *stores: Store) -> None:
        for store in stores:
            PreferredStore.objects.get_or_create(user=user, store=store)

    return make


@pytest.fixture
def result_of() -> Callable[[Store, Card], CheckResult]:
    def get(store: Store, card: Card) -> CheckResult:
        return CheckResult.objects.get_or_create(store=store, card=card)[0]

    return get


@pytest.fixture
def sync_tasks(monkeypatch) -> None:
    """Queued tasks run at once, in this process (django-q2's sync mode)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def store_site() -> Iterator[ReplayServer]:
    """A tiny store site of a test's own on a real socket (the replay stores are in `shops`)."""
    server = ReplayServer().start()
    yield server
    server.stop()
