"""The real hub market history the ESI replay is built on, loaded into compact per-series arrays.

The full archive (``../shared/fixtures/eve/history``, 1.9M rows, five hub regions, 90 days) is
used when present; the small real sample in ``market/replay/data/history`` otherwise, and always by
the tests. Both have ESI's history fields flattened with region and type:
``date,region_id,type_id,average,lowest,highest,volume,order_count``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import statistics
import threading
from array import array
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[2]
SAMPLE_DIR = Path(__file__).resolve().parent / "data" / "history"
SAMPLE_HISTORY = SAMPLE_DIR / "market-history-hubs-sample.csv.gz"
STATIONS_FILE = SAMPLE_DIR / "hub-region-stations.csv.gz"
FULL_HISTORY = (
    REPO_DIR.parent
    / "shared"
    / "fixtures"
    / "eve"
    / "history"
    / "market-history-hubs-2020Q1.csv.gz"
)

HISTORY_REFRESH = (11, 5)  # ESI refreshes market history daily at 11:05 UTC

HISTORY_COLUMNS = (
    "date",
    "region_id",
    "type_id",
    "average",
    "lowest",
    "highest",
    "volume",
    "order_count",
)
# Values per day in a series' ``values`` array, in this order.
AVERAGE, LOWEST, HIGHEST, VOLUME, ORDER_COUNT = range(5)
FIELDS_PER_DAY = 5

# The window the order-book generator reads "how this type trades lately" from.
RECENT_DAYS = 30


def history_path_resolve(source: str | Path | None) -> Path:
    """``"sample"``, ``"full"``, a path, or empty/``"auto"`` (the full archive when present)."""
    if source in (None, "", "auto"):
        return FULL_HISTORY if FULL_HISTORY.exists() else SAMPLE_HISTORY
    if source == "sample":
        return SAMPLE_HISTORY
    if source == "full":
        if not FULL_HISTORY.exists():
            raise FileNotFoundError(f"the full history archive is not at {FULL_HISTORY}")
        return FULL_HISTORY
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"no market history file at {path}")
    return path


@dataclass(frozen=True)
class TypeTrading:
    """How one type traded in one region lately: what the generated order book follows."""

    type_id: int
    price: float  # the latest day's average
    half_spread: float  # half the typical (highest - lowest) / average, clamped
    daily_volume: float  # units a day over the recent window (days without trades count as 0)
    daily_trades: float  # ESI's order_count a day over the same window


class Series:
    """One (region, type)'s days: ordinals and five numbers a day, sorted by date."""

    __slots__ = ("days", "values")

    def __init__(self) -> None:
        self.days = array("i")
        self.values = array("d")

    def __len__(self) -> int:
        return len(self.days)

    def sort(self) -> None:
        if all(a < b for a, b in zip(self.days, self.days[1:], strict=False)):
            return
        rows = sorted(
            (day, self.values[i * FIELDS_PER_DAY : (i + 1) * FIELDS_PER_DAY])
            for i, day in enumerate(self.days)
        )
        self.days = array("i", (day for day, _ in rows))
        self.values = array("d", (v for _, values in rows for v in values))

    def row(self, i: int) -> tuple[float, ...]:
        return tuple(self.values[i * FIELDS_PER_DAY : (i + 1) * FIELDS_PER_DAY])


class HistoryArchive:
    """All series of one history file. Loading the full archive takes a few seconds, once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.series: dict[tuple[int, int], Series] = {}
        self._load()
        self.last_day = max(s.days[-1] for s in self.series.values()) if self.series else 0
        self._trading: dict[int, list[TypeTrading]] = {}
        self._lock = threading.Lock()

    def _load(self) -> None:
        opener = gzip.open if self.path.suffix == ".gz" else open
        with opener(self.path, "rb") as raw:
            header = raw.readline().decode("utf-8-sig").strip().lower().split(",")
            missing = [c for c in HISTORY_COLUMNS if c not in header]
            if missing:
                raise ValueError(f"{self.path}: history header lacks {', '.join(missing)}")
            i_date, i_region, i_type, i_avg, i_low, i_high, i_vol, i_count = (
                header.index(c) for c in HISTORY_COLUMNS
            )
            ordinals: dict[bytes, int] = {}
            series = self.series
            for line_no, line in enumerate(raw, start=2):
                fields = line.rstrip(b"\r\n").split(b",")
                if len(fields) < len(header):
                    if not line.strip():
                        continue
                    raise ValueError(f"{self.path}, line {line_no}: expected {len(header)} fields")
                try:
                    key = (int(fields[i_region]), int(fields[i_type]))
                    day = ordinals.get(fields[i_date])
                    if day is None:
                        day = ordinals[fields[i_date]] = date.fromisoformat(
                            fields[i_date].decode()
                        ).toordinal()
                    values = (
                        float(fields[i_avg]),
                        float(fields[i_low]),
                        float(fields[i_high]),
                        float(fields[i_vol]),
                        float(fields[i_count]),
                    )
                except ValueError as exc:
                    raise ValueError(f"{self.path}, line {line_no}: {exc}") from None
                s = series.get(key)
                if s is None:
                    s = series[key] = Series()
                s.days.append(day)
                s.values.extend(values)
        for s in self.series.values():
            s.sort()

    def get(self, region_id: int, type_id: int) -> Series | None:
        return self.series.get((region_id, type_id))

    def type_ids(self) -> set[int]:
        return {type_id for _, type_id in self.series}

    def trading(self, region_id: int) -> list[TypeTrading]:
        """Every type with history in the region, sorted by type id (computed once per region)."""
        with self._lock:
            if region_id not in self._trading:
                self._trading[region_id] = self._trading_compute(region_id)
            return self._trading[region_id]

    def _trading_compute(self, region_id: int) -> list[TypeTrading]:
        since = self.last_day - RECENT_DAYS
        result = []
        for (region, type_id), s in sorted(self.series.items()):
            if region != region_id:
                continue
            recent = [i for i, day in enumerate(s.days) if day > since]
            volume = sum(s.values[i * FIELDS_PER_DAY + VOLUME] for i in recent)
            trades = sum(s.values[i * FIELDS_PER_DAY + ORDER_COUNT] for i in recent)
            sample = recent or [len(s) - 1]
            ranges = []
            for i in sample:
                average, lowest, highest = s.row(i)[:3]
                if average > 0:
                    ranges.append((highest - lowest) / average)
            half_spread = min(0.1, max(0.002, statistics.median(ranges) / 2 if ranges else 0.05))
            price = s.values[(len(s) - 1) * FIELDS_PER_DAY + AVERAGE]
            if price <= 0:
                continue
            result.append(
                TypeTrading(
                    type_id=type_id,
                    price=price,
                    half_spread=half_spread,
                    daily_volume=volume / RECENT_DAYS,
                    daily_trades=trades / RECENT_DAYS,
                )
            )
        return result


@dataclass(frozen=True)
class Station:
    station_id: int
    system_id: int


def stations_load(path: Path = STATIONS_FILE) -> dict[int, list[Station]]:
    """Real NPC stations of the hub regions (from the SDE's staStations), by region id."""
    by_region: dict[int, list[Station]] = {}
    with gzip.open(path, "rb") as raw:
        for row in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")):
            by_region.setdefault(int(row["regionID"]), []).append(
                Station(int(row["stationID"]), int(row["solarSystemID"]))
            )
    return by_region


_archives: dict[Path, HistoryArchive] = {}
_archives_lock = threading.Lock()


def history_archive(path: Path) -> HistoryArchive:
    """The archive for ``path``, loaded once per process (tests and demo share it)."""
    with _archives_lock:
        archive = _archives.get(path)
        if archive is None:
            archive = _archives[path] = HistoryArchive(path)
        return archive


def history_refreshed_at(now: float) -> datetime:
    """The latest daily history refresh (11:05 UTC) at or before ``now``."""
    moment = datetime.fromtimestamp(now, UTC)
    refresh = moment.replace(
        hour=HISTORY_REFRESH[0], minute=HISTORY_REFRESH[1], second=0, microsecond=0
    )
    return refresh if refresh <= moment else refresh - timedelta(days=1)


def prices_render(archive: HistoryArchive) -> bytes:
    """ESI's /markets/prices/: the latest average (The Forge first) and a 28-day mean."""
    latest: dict[int, tuple[int, float]] = {}
    sums: dict[int, list[float]] = {}
    since = archive.last_day - 28
    for (region_id, type_id), series in archive.series.items():
        last = len(series) - 1
        average = series.values[last * FIELDS_PER_DAY]
        rank = (1 if region_id == 10000002 else 0, series.days[last])
        if type_id not in latest or rank > latest[type_id][0]:
            latest[type_id] = (rank, average)
        bucket = sums.setdefault(type_id, [0.0, 0.0])
        for i, day in enumerate(series.days):
            if day > since:
                bucket[0] += series.values[i * FIELDS_PER_DAY]
                bucket[1] += 1
    rows = []
    for type_id in sorted(latest):
        total, count = sums[type_id]
        average = latest[type_id][1]
        adjusted = round(total / count, 2) if count else average
        rows.append({"adjusted_price": adjusted, "average_price": average, "type_id": type_id})
    return json.dumps(rows, separators=(",", ":")).encode()
