"""Market data services: region order snapshots and market history, from ESI into the database.

- ``snapshots``: a region's order book fetched and swapped in atomically (COPY and partition
  swap on PostgreSQL; ``sqlite``: the embedded default's path in short transactions);
- ``book_tops``: the top of every book of a snapshot (``BestPrice``), depth prices included,
  computed over ``columns``, the snapshot's orders as numpy arrays;
- ``liquidity``: what traded at each station since the region's previous snapshot
  (``StationTradeDay``, ``ObservedDay``), inferred while the snapshot is stored;
- ``payloads``: ESI's payloads, validated while decoded;
- ``history``: the daily market history and the statistics the desk prices by.
"""

from market.ingest.book_tops import OrderBookTops
from market.ingest.history import (
    HISTORY_FETCH_THREADS,
    HistoryOutcome,
    history_fetch,
    history_prune,
    history_refresh,
    history_refresh_cutoff,
    history_types_due,
    history_window_end,
    stats_refresh,
)
from market.ingest.payloads import (
    ORDER_COLUMNS,
    EsiHistoryDay,
    EsiOrder,
    MarketDataError,
    orders_decode,
    orders_first_seen,
    orders_unique,
)
from market.ingest.snapshots import (
    CACHE_ERRORS,
    SnapshotError,
    SnapshotLoad,
    SnapshotOutcome,
    partitions_prune,
    snapshot_fetch,
    snapshot_store,
)
from market.ingest.sqlite import SQLITE_LOAD_ABANDONED_AFTER

__all__ = [
    "CACHE_ERRORS",
    "HISTORY_FETCH_THREADS",
    "ORDER_COLUMNS",
    "SQLITE_LOAD_ABANDONED_AFTER",
    "EsiHistoryDay",
    "EsiOrder",
    "HistoryOutcome",
    "MarketDataError",
    "OrderBookTops",
    "SnapshotError",
    "SnapshotLoad",
    "SnapshotOutcome",
    "history_fetch",
    "history_prune",
    "history_refresh",
    "history_refresh_cutoff",
    "history_types_due",
    "history_window_end",
    "orders_decode",
    "orders_first_seen",
    "orders_unique",
    "partitions_prune",
    "snapshot_fetch",
    "snapshot_store",
    "stats_refresh",
]
