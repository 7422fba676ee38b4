"""The card catalog: name normalisation, search, and the Scryfall import.

- `names`: card names folded for comparison (pure, no Django);
- `search`: card search and exact resolution of names to cards;
- `scryfall`: the paced Scryfall client and resumable bulk downloads;
- `scryfall_import`: Scryfall's bulk files streamed into the catalog, and the daily refresh;
- `status`: a fresh install's catalog, fetched while it is empty, with its progress.
"""

from stores.catalog.names import front_face, name_normalise
from stores.catalog.scryfall import (
    ACCEPT,
    CatalogProgressCallback,
    ScryfallClient,
    ScryfallError,
    catalog_download,
)
from stores.catalog.scryfall_import import (
    CatalogImportError,
    ImportSummary,
    ScryfallPrinting,
    catalog_import,
    catalog_last_import,
    catalog_refresh,
    scryfall_card_read,
    scryfall_objects,
    sets_upsert,
)
from stores.catalog.search import card_resolve, card_search, card_suggestions, cards_resolve

__all__ = [
    "ACCEPT",
    "CatalogImportError",
    "CatalogProgressCallback",
    "ImportSummary",
    "ScryfallClient",
    "ScryfallError",
    "ScryfallPrinting",
    "card_resolve",
    "card_search",
    "card_suggestions",
    "cards_resolve",
    "catalog_download",
    "catalog_import",
    "catalog_last_import",
    "catalog_refresh",
    "front_face",
    "name_normalise",
    "scryfall_card_read",
    "scryfall_objects",
    "sets_upsert",
]
