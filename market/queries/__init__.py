"""Read-side services of the market desk: what the pages and the JSON API show, assembled from the
market models and priced by ``market.trading``.

Pages and API call the same functions, so they always show the same numbers. Every answer reads
the regions' current snapshots (one snapshot per region per statement), and says how old its
data is.

Speed, in two levels. A hub's whole book top (every type's best bid and ask, joined with its
name, market group, volume and 30-day history figures) is read in one query when its snapshot
lands (``market.warmup``) and put in the shared cache (Redis in production) as one MessagePack
blob, keyed by the snapshot; each web worker then keeps the decoded book in its own memory, keyed
the same way. A new snapshot is a new key, so nothing stale is ever served, and no worker reads
the orders' aggregates itself unless the shared copy is missing (then it shares what it read).
History that lands while a snapshot lives changes the daily volumes: each region has a history
version (``history_version_bump``, when ``history_landed``), and the book keys carry it too, so
every worker reads the book again and re-prices its rows; the poll marker changes with it, so
open pages fetch the new table. Station-trading rows are priced once per (book, fees, volume cap,
market share), flags included, and filtered, sorted and paginated from memory. Hauling plans are
kept per trip and parameters (a new snapshot or new history re-plans only the trips to and from
its hub) and as whole sorted answers; the order books a walk needs are read once per station for
all the trips of a request.

The package, by sub-domain (each module's docstring says more):

- ``stations``: the hubs and SDE stations (``StationRef``), region names.
- ``sde``: type search, the market-group tree, the stargate graph.
- ``books``: a station's book tops (``station_book``, shared through the cache), data ages and
  the snapshot marker a polling page compares.
- ``caches``: the per-process memos and the regions' history versions the caches are keyed by.
- ``trading``: the station-trading table; ``hauling_plans``: hauling between hubs, over
  ``haul_books`` (each hub's order book, read once per snapshot and shared like the book tops).
- ``type_page``: one type's order books, quotes at every hub and history.
- ``liquidity``: what trades at a station, from the figures the ingest infers from consecutive
  snapshots (the desk's daily averages, the station-volume API's days).
"""

from market.queries.books import (
    BookTop,
    RegionAge,
    StationBook,
    book_ages,
    book_marker,
    book_tops_publish,
    region_ages,
    snapshot_marker,
    station_book,
    station_books,
)
from market.queries.caches import (
    BOOK_TTL_SECONDS,
    SDE_TTL_SECONDS,
    caches_clear,
    history_version_bump,
    history_versions,
)
from market.queries.haul_books import HaulBook, haul_book_publish
from market.queries.hauling_plans import (
    HAULING_DEFAULT_SORT,
    HUB_HAULING_COLUMNS,
    HaulingResult,
    HubHaulRow,
    hauling,
)
from market.queries.liquidity import (
    STATION_VOLUME_DAYS,
    StationTypeLiquidity,
    StationVolume,
    StationVolumeDay,
    station_region,
    station_volume,
    type_liquidity_at,
)
from market.queries.sde import (
    MarketGroupNode,
    MarketGroupTree,
    TypeHit,
    jump_graph,
    jumps_between,
    market_group_children,
    market_group_tree,
    type_search,
)
from market.queries.stations import (
    DEFAULT_STATION,
    HUB_STATIONS,
    StationRef,
    region_known,
    region_name,
    station_get,
)
from market.queries.trading import (
    CategoryChoice,
    TradingFilters,
    TradingResult,
    market_categories,
    station_trading,
)
from market.queries.type_page import (
    BOOK_SORTS,
    HubQuote,
    history_days,
    hub_quotes,
    type_get,
    type_on_market,
    type_orders,
    type_unknown_name,
)

__all__ = [
    "BOOK_SORTS",
    "BOOK_TTL_SECONDS",
    "DEFAULT_STATION",
    "HAULING_DEFAULT_SORT",
    "HUB_HAULING_COLUMNS",
    "HUB_STATIONS",
    "SDE_TTL_SECONDS",
    "STATION_VOLUME_DAYS",
    "BookTop",
    "CategoryChoice",
    "HaulBook",
    "HaulingResult",
    "HubHaulRow",
    "HubQuote",
    "MarketGroupNode",
    "MarketGroupTree",
    "RegionAge",
    "StationBook",
    "StationRef",
    "StationTypeLiquidity",
    "StationVolume",
    "StationVolumeDay",
    "TradingFilters",
    "TradingResult",
    "TypeHit",
    "book_ages",
    "book_marker",
    "book_tops_publish",
    "caches_clear",
    "haul_book_publish",
    "hauling",
    "history_days",
    "history_version_bump",
    "history_versions",
    "hub_quotes",
    "jump_graph",
    "jumps_between",
    "market_categories",
    "market_group_children",
    "market_group_tree",
    "region_ages",
    "region_known",
    "region_name",
    "snapshot_marker",
    "station_book",
    "station_books",
    "station_get",
    "station_region",
    "station_trading",
    "station_volume",
    "type_get",
    "type_liquidity_at",
    "type_on_market",
    "type_orders",
    "type_search",
    "type_unknown_name",
]
