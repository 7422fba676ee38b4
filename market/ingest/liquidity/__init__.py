"""Station-level liquidity, inferred at ingest from consecutive snapshots of a region's book.

ESI's history is per region; what trades *at a station* shows in how its orders change from one
5-minute snapshot to the next. Each ingest compares the new snapshot with the previous one of
the same region (``inference``), adds what it finds to ``StationTradeDay`` per (station, type,
UTC day) and the compared time to the region's ``ObservedDay`` (``store``), in the transaction
that makes the new snapshot current. ``market.queries.liquidity`` reads them back as daily
averages over the observed time.

The rules, each with a worked example (Jita 4-4, Tritanium; "P" is the older snapshot at
12:00:00, "C" the newer at 12:05:00):

1. **Partial fill (certain).** An order in both snapshots whose ``volume_remain`` went down
   traded the difference at its price in P. Buy order 1 at 4.00 ISK, 1,000 left in P and 700
   in C: 300 units *sold to buy orders*, 1,200.00 ISK. Sell order 2 at 5.00 with 50 then 20:
   30 units *bought from sell orders*, 150.00 ISK.
2. **New order already filled (certain).** An order only in C, issued after P's time (12:02),
   with ``volume_total`` 100 and ``volume_remain`` 60 at 5.10: 40 units bought from it between
   the two snapshots, 204.00 ISK.
3. **Reprice (competition).** An order in both whose price changed, e.g. a sell order moved
   from 5.00 to 4.99 (the usual one-tick undercut): one *ask reprice*. A price change alone
   never changes ``volume_remain``, so a repriced order that also lost units counts both.
4. **Vanished order.** An order in P and not in C:
   - its expiry (``issued`` + ``duration`` days) is at or before C's time: it **expired**,
     nothing traded (a 1-day order issued at 12:03 the day before, gone at 12:05);
   - else, if it was at the **best price of its side at its station in P**, its remaining
     units **probably** traded: a sell order at the best ask of 5.00 with 25 left vanishes →
     25 units *probably bought* (``probable_bought``), 125.00 ISK of ``probable_isk``. A
     trader also cancels orders at the best price, so these units are reported apart;
   - else it was **cancelled**: a buy order at 3.50 under a best bid of 4.00 vanishes →
     nothing (nobody sells into a bid below the best one).
5. **Observed time.** A pair is compared only when its two snapshots are at most an hour apart
   (their Last-Modified, else their fetch time): P at 12:00 and C at 12:05 add 300 seconds to
   the region's observed day of C (UTC) and their trades to C's day. After a gap (P at 09:00,
   C at 12:05) nothing is compared: the gap is unobserved time, not a time without trades, and
   the daily averages are taken over the observed time only (readers cap a day at 24 hours).
6. Only orders at a station or a player structure count (every location id from 60,000,000);
   a snapshot that is superseded before it lands writes nothing.

Speed: the whole book is in numpy arrays already (the book tops are computed from the same
columns), so the comparison is a search of sorted order ids and a few masks, done on the
book-tops thread while PostgreSQL builds the new partition's indexes. The previous snapshot's
state comes from the shared cache (``state``), or from its orders in the database when the cache
lost it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial

from market.ingest.background import background_submit
from market.ingest.book_tops import (
    BookTops,
    best_prices_copy_data,
    book_sort,
    book_tops_compute,
)
from market.ingest.columns import order_columns
from market.ingest.liquidity.inference import (
    FIRST_STATION_ID,
    MAX_PAIR_SECONDS,
    PairTrades,
    pair_comparable,
    trades_infer,
)
from market.ingest.liquidity.state import (
    BookState,
    CurrentBook,
    snapshot_time,
    state_from_database,
    state_from_orders,
    state_load,
    state_save,
)
from market.ingest.liquidity.store import KEEP_DAYS, liquidity_prune, pair_trades_write
from market.models import MarketSnapshot

log = logging.getLogger("market.ingest")

# How long the state waits for its snapshot to be committed (finish() always says, landed or
# not, well before; this only bounds a thread that would otherwise wait for ever).
LANDING_WAIT_SECONDS = 600

# The switch the ingest benchmark turns off to measure the ingest without the inference (the
# book tops, depth prices included, are computed either way).
INFER_TRADES = True


@dataclass
class SnapshotSummary:
    """What finish() computes from a snapshot's pages: its book tops, its state for the next
    ingest, and what traded since the previous snapshot (None when not comparable)."""

    tops: BookTops
    best_prices_data: bytes | None = None
    current: CurrentBook | None = None
    trades: PairTrades | None = None
    # The previous snapshot's state was not in the cache: read it from the database, on the
    # thread that owns the connection (see summary_complete).
    previous_missing: bool = False
    # Keeps this snapshot's state for the next ingest: for the caller to call once the snapshot
    # is current (when snapshot_summarise was not told through ``landed``).
    state_keep: Callable[[], None] | None = None


def snapshot_summarise(
    snapshot: MarketSnapshot,
    pages: list,
    *,
    previous: MarketSnapshot | None,
    copy: bool = False,
    tops_ready: Future | None = None,
    trades_ready: Future | None = None,
    landed: Future | None = None,
) -> SnapshotSummary:
    """The book tops (and their binary COPY data when ``copy``), the inference against ``previous``,
    and this snapshot's state kept for the next ingest. It touches the cache but never the
    database, so it can run on another thread; ``tops_ready`` gets the summary as soon as the
    book tops are in it (the caller stores them while the trades are worked out), and
    ``trades_ready`` as soon as the trades are. With ``landed``, the state is kept once the
    caller has committed the snapshot (True) and not at all when it did not land (False):
    building and storing it (an 18 MB pickle for The Forge) then never competes with the swap
    for a core, and a superseded or failed snapshot's state is never stored."""
    try:
        orders = order_columns(pages)
        book = book_sort(orders)
        tops = book_tops_compute(book)
        summary = SnapshotSummary(tops, best_prices_copy_data(snapshot, tops) if copy else None)
    except BaseException as exc:
        if tops_ready is not None:
            tops_ready.set_exception(exc)
        raise
    if tops_ready is not None:
        tops_ready.set_result(summary)
    if not INFER_TRADES:
        if trades_ready is not None:
            trades_ready.set_result(summary)
        return summary
    try:
        at = snapshot_time(snapshot)
        summary.current = CurrentBook(orders, at=at)
        if previous is not None and pair_comparable(snapshot_time(previous), at):
            previous_state = state_load(previous)
            if previous_state is None:
                summary.previous_missing = True
            else:
                summary.trades = trades_infer(previous_state, summary.current)
                if copy:
                    summary.trades.copy_csv  # noqa: B018 (encoded here, off the swap's path)
    except BaseException as exc:
        if trades_ready is not None:
            trades_ready.set_exception(exc)
        raise
    if trades_ready is not None:
        trades_ready.set_result(summary)
    if landed is None:
        summary.state_keep = partial(_state_keep, snapshot, orders, at=at, book=book)
    elif landed.result(timeout=LANDING_WAIT_SECONDS):
        # For the next ingest of the region; its caller is no longer waiting.
        _state_keep(snapshot, orders, at=at, book=book)
    return summary


def _state_keep(snapshot: MarketSnapshot, orders, *, at: int, book) -> None:
    try:
        state_save(snapshot, state_from_orders(orders, at=at, book=book))
    except Exception:
        # Not worth failing a stored snapshot for: the next ingest reads the orders instead.
        log.exception("could not keep the book state of snapshot %s", snapshot.pk)


def summary_submit(snapshot: MarketSnapshot, pages: list, **kwargs) -> Future:
    """:func:`snapshot_summarise` on a thread of its own (see ``market.ingest.background``; the
    caller waits on the futures it passes, not on this one)."""
    return background_submit("summaries", snapshot_summarise, snapshot, pages, **kwargs)


def summary_complete(summary: SnapshotSummary, *, previous: MarketSnapshot | None) -> None:
    """Infer the trades from the previous snapshot's orders in the database when its state was
    not in the cache (they are still there until the new snapshot is swapped in)."""
    if summary.previous_missing and previous is not None and summary.current is not None:
        summary.trades = trades_infer(state_from_database(previous), summary.current)
        summary.previous_missing = False


__all__ = [
    "FIRST_STATION_ID",
    "KEEP_DAYS",
    "MAX_PAIR_SECONDS",
    "BookState",
    "CurrentBook",
    "PairTrades",
    "SnapshotSummary",
    "liquidity_prune",
    "pair_trades_write",
    "snapshot_summarise",
    "summary_complete",
    "summary_submit",
    "trades_infer",
]
