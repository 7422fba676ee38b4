"""What traded between two consecutive snapshots of a region: pure numpy over two BookStates.

The rules (the package docstring has a worked example of each):

1. An order in both snapshots whose ``volume_remain`` went down traded the difference, for
   certain, at its previous price: a buy order's units were sold into it
   (``sold_to_buy_orders``), a sell order's were bought from it (``bought_from_sell_orders``).
2. An order only in the newer snapshot, issued after the older one's time, with
   ``volume_total`` above ``volume_remain``, was filled by the difference in between: certain.
3. An order in both whose price changed was repriced once: competition on its side
   (``bid_reprices`` / ``ask_reprices``), whatever else it did.
4. An order that vanished had expired if ``issued + duration`` days is at or before the newer
   snapshot's time: nothing traded. Otherwise, if it was at the best price of its side at its
   station in the older snapshot, its remaining units probably traded (``probable_sold`` /
   ``probable_bought``, ``probable_isk``); otherwise it was cancelled: nothing traded.
5. Only orders at a station or structure count (location ids from 60,000,000 up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property

import numpy as np

from market.ingest.liquidity.state import BookState, CurrentBook

# Two snapshots further apart than this are not compared: the time between them is unobserved.
MAX_PAIR_SECONDS = 3600
# NPC stations' ids start here; player structures' are far above. Anything below is not a place
# where an order can trade.
FIRST_STATION_ID = 60_000_000

# The per-(location, type) figures of a pair, in StationTradeDay's column names.
UNIT_COLUMNS = (
    "sold_to_buy_orders",
    "bought_from_sell_orders",
    "probable_sold",
    "probable_bought",
    "bid_reprices",
    "ask_reprices",
)
ISK_COLUMNS = ("isk", "probable_isk")  # in cents


@dataclass
class PairTrades:
    """What one compared pair of snapshots tells: per (location, type), sorted by both."""

    date: date  # the UTC day of the newer snapshot
    observed_seconds: int
    location_id: np.ndarray
    type_id: np.ndarray
    units: dict[str, np.ndarray]  # UNIT_COLUMNS → int64 per (location, type)
    cents: dict[str, list[int]]  # ISK_COLUMNS → whole cents per (location, type)

    def __len__(self) -> int:
        return len(self.location_id)

    def rows(self) -> list[tuple]:
        """(location_id, type_id, *UNIT_COLUMNS, *ISK_COLUMNS in cents) per (location, type)."""
        return list(
            zip(
                self.location_id.tolist(),
                self.type_id.tolist(),
                *(self.units[name].tolist() for name in UNIT_COLUMNS),
                *(self.cents[name] for name in ISK_COLUMNS),
                strict=True,
            )
        )

    @cached_property
    def copy_csv(self) -> bytes:
        """:meth:`rows` as COPY's CSV, ISK in decimal text: made on the thread that inferred the
        trades (``snapshot_summarise``), so the swap only sends it."""
        return rows_csv(self.rows())


def cents_text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def rows_csv(rows: list[tuple]) -> bytes:
    """Rows of :meth:`PairTrades.rows` as CSV lines for COPY."""
    figures = len(UNIT_COLUMNS)
    return "".join(
        ",".join(map(str, row[: 2 + figures]))
        + ","
        + ",".join(cents_text(c) for c in row[2 + figures :])
        + "\n"
        for row in rows
    ).encode()


def pair_comparable(previous_at: int, current_at: int) -> bool:
    """True when the two snapshots are close enough to compare (and in order)."""
    return 0 < current_at - previous_at <= MAX_PAIR_SECONDS


def trades_infer(previous: BookState, current: CurrentBook) -> PairTrades:
    """Apply the rules to a pair (the caller checked :func:`pair_comparable`)."""
    p, c = previous, current
    where = np.searchsorted(p.order_id, c.order_id)
    clipped = np.minimum(where, max(len(p) - 1, 0))
    in_both = (where < len(p)) & (p.order_id[clipped] == c.order_id) if len(p) else where < 0
    ic = np.flatnonzero(in_both)
    ip = where[ic]

    events = _Events()
    # 1. Partial fills of orders in both snapshots, at the previous price.
    traded = p.volume_remain[ip] - c.volume_remain[ic]
    filled = traded > 0
    events.add(p, ip[filled], traded[filled], p.cents[ip[filled]], certain=True)
    # 3. Reprices.
    repriced = ip[p.cents[ip] != c.cents[ic]]
    events.add_reprices(p, repriced)
    # 2. New orders already partly filled since the previous snapshot.
    new = np.flatnonzero(~in_both)
    new = new[c.volume_total[new] > c.volume_remain[new]]
    new_filled = new[c.issued(new) > p.at]
    events.add(
        c,
        new_filled,
        c.volume_total[new_filled] - c.volume_remain[new_filled],
        c.cents[new_filled],
        certain=True,
    )
    # 4. Vanished orders: expired (nothing), at the best price (probable), else cancelled.
    vanished = np.ones(len(p), dtype=bool)
    vanished[ip] = False
    probable = np.flatnonzero(vanished & (p.expires > c.at) & p.at_best)
    events.add(p, probable, p.volume_remain[probable], p.cents[probable], certain=False)
    return events.summed(
        date=datetime.fromtimestamp(c.at, UTC).date(), observed_seconds=int(c.at - p.at)
    )


class _Events:
    """Trades and reprices collected as flat arrays, then summed per (location, type)."""

    def __init__(self) -> None:
        self.location: list[np.ndarray] = []
        self.type_id: list[np.ndarray] = []
        self.column: list[np.ndarray] = []  # index into UNIT_COLUMNS
        self.units: list[np.ndarray] = []
        self.cents: list[np.ndarray] = []

    def _append(
        self, state: BookState | CurrentBook, rows: np.ndarray, column, units, cents
    ) -> None:
        at_station = state.location_id[rows] >= FIRST_STATION_ID
        rows = rows[at_station]
        self.location.append(state.location_id[rows])
        self.type_id.append(state.type_id[rows].astype(np.int64))
        self.column.append(np.asarray(column, dtype=np.int64)[at_station])
        self.units.append(np.asarray(units, dtype=np.int64)[at_station])
        self.cents.append(np.asarray(cents, dtype=np.int64)[at_station])

    def add(self, state: BookState | CurrentBook, rows, units, cents, *, certain: bool) -> None:
        buy = state.is_buy_order[rows]
        # Buy orders: units sold into them; sell orders: units bought from them.
        column = np.where(buy, 0, 1) + (0 if certain else 2)
        self._append(state, rows, column, units, cents)

    def add_reprices(self, state: BookState, rows: np.ndarray) -> None:
        column = np.where(state.is_buy_order[rows], 4, 5)
        self._append(state, rows, column, np.ones(len(rows), np.int64), np.zeros(len(rows)))

    def summed(self, *, date: date, observed_seconds: int) -> PairTrades:
        location = np.concatenate(self.location) if self.location else np.zeros(0, np.int64)
        type_id = np.concatenate(self.type_id) if self.type_id else np.zeros(0, np.int64)
        column = np.concatenate(self.column) if self.column else np.zeros(0, np.int64)
        units = np.concatenate(self.units) if self.units else np.zeros(0, np.int64)
        cents = np.concatenate(self.cents) if self.cents else np.zeros(0, np.int64)
        order = np.lexsort((type_id, location))
        location, type_id, column = location[order], type_id[order], column[order]
        units, cents = units[order], cents[order]
        first = np.ones(len(location), dtype=bool)
        first[1:] = (location[1:] != location[:-1]) | (type_id[1:] != type_id[:-1])
        group = np.cumsum(first) - 1
        n = int(group[-1]) + 1 if len(group) else 0
        sums = {}
        for index, name in enumerate(UNIT_COLUMNS):  # a reprice is one "unit" of its column
            mine = column == index
            sums[name] = np.zeros(n, dtype=np.int64)
            np.add.at(sums[name], group[mine], units[mine])
        isk: dict[str, list[int]] = {}
        # ISK in Python integers: units x cents can pass int64 with hostile prices.
        for name, columns in (("isk", (0, 1)), ("probable_isk", (2, 3))):
            totals = [0] * n
            mine = np.flatnonzero(np.isin(column, columns))
            for g, u, ct in zip(
                group[mine].tolist(), units[mine].tolist(), cents[mine].tolist(), strict=True
            ):
                totals[g] += u * ct
            isk[name] = totals
        return PairTrades(
            date=date,
            observed_seconds=observed_seconds,
            location_id=location[first],
            type_id=type_id[first],
            units=sums,
            cents=isk,
        )
