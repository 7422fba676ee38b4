"""Where the time of one Forge ingest goes: a timeline of its phases and the CPU of each process.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python benchmarks/ingest_profile.py [--runs 3]

Starts the replay upstreams in a separate process, as ``ingest_orders.py`` does, and runs
``manage.py fetch_market_orders --region 10000002 --force`` in this process (``call_command``:
the command's code without the process start) --runs times, each against the replay's next
snapshot five minutes on, with the previous book's state in the cache as the ingest before
would have left it. Each function of the ingest named in PHASES is wrapped with a timer (on
whichever thread runs it), and the CPU time of this process, of the PostgreSQL backend that does
the writing (and of the whole PostgreSQL server: the parallel workers that build the indexes
are processes of their own) and of the replay is read from /proc before and after. It prints, per run, each
phase's wall time (summed over its calls) and the CPU seconds of the three processes; the run
with the shortest ingest is printed in full.

The timers cost a few microseconds a call (≈ 3,000 calls an ingest): nothing next to the
phases they time.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lenny.settings")

from ingest_orders import FORGE, free_port, replay_forge_prepare, replay_start  # noqa: E402

# (module, attribute, label): what is timed. Functions looked up through a module's globals at
# call time are patched where they are looked up.
PHASES = [
    ("market.ingest.snapshots", "SnapshotLoad.page", "page: all of the sink's work per page"),
    ("market.ingest.snapshots", "orders_page_decode", "page: JSON decode + validation"),
    ("market.ingest.snapshots", "orders_first_seen", "page: repeats dropped"),
    ("market.ingest.snapshots", "orders_rows", "batch: orders as tuples"),
    ("market.ingest.snapshots", "orders_array", "batch: numpy columns"),
    ("market.ingest.snapshots", "orders_copy_data", "batch: binary COPY data"),
    ("market.ingest.snapshots", "SnapshotLoad._copy_send", "batch: all, COPY write included"),
    ("market.ingest.snapshots", "SnapshotLoad._begin", "page 1: transaction, record, table"),
    ("market.ingest.snapshots", "SnapshotLoad._copy_end", "finish: last batch, COPY end"),
    ("market.ingest.snapshots", "_partition_index", "finish: primary key + type index"),
    ("market.ingest.snapshots", "_best_prices_copy", "finish: BestPrice table, COPY, index"),
    ("market.ingest.snapshots", "summary_complete", "finish: previous state from the database"),
    ("market.ingest.snapshots", "_snapshot_swap", "swap (in the transaction)"),
    ("market.ingest.snapshots", "_current_locked", "swap: advisory lock, current row"),
    ("market.ingest.snapshots", "pair_trades_write", "swap: StationTradeDay upsert"),
    ("market.ingest.snapshots", "_snapshot_tidy", "tidy: old partitions dropped, records pruned"),
    ("market.ingest.snapshots", "partitions_prune", "tidy: old partitions dropped"),
    ("market.warmup", "book_tops_warm", "landing thread: desk book tops warm-up"),
    ("market.ingest.liquidity", "order_columns", "thread: pages joined"),
    ("market.ingest.liquidity", "book_sort", "thread: book sorted"),
    ("market.ingest.liquidity", "book_tops_compute", "thread: book tops"),
    ("market.ingest.liquidity", "best_prices_copy_data", "thread: BestPrice COPY data"),
    ("market.ingest.liquidity", "state_load", "thread: previous state from the cache"),
    ("market.ingest.liquidity", "trades_infer", "thread: trades inferred"),
    ("market.ingest.liquidity", "state_from_orders", "thread (after): state built"),
    ("market.ingest.liquidity", "state_save", "thread (after): state kept in the cache"),
    ("market.esi.client", "EsiClient._fetch", "fetch threads: one request (summed)"),
]


class Timers:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}

    def wrap(self, label: str, function):
        def timed(*args, **kwargs):
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                ended = time.perf_counter()
                with self.lock:
                    self.seconds[label] += ended - started
                    self.cpu[label] += time.thread_time() - cpu
                    self.calls[label] += 1
                    self.first.setdefault(label, started)
                    self.last[label] = ended

        timed.__wrapped__ = function
        return timed

    def reset(self) -> None:
        self.seconds.clear()
        self.cpu.clear()
        self.calls.clear()
        self.first.clear()
        self.last.clear()


def patch(timers: Timers) -> list[str]:
    missing = []
    for module_name, attribute, label in PHASES:
        module = importlib.import_module(module_name)
        owner, _, name = attribute.rpartition(".")
        target = getattr(module, owner) if owner else module
        if not hasattr(target, name):
            missing.append(f"{module_name}.{attribute}")
            continue
        setattr(target, name, timers.wrap(label, getattr(target, name)))
    return missing


def _stat(pid: int) -> list[str]:
    # The fields after the command's name (which may hold spaces): fields[1] is the parent's
    # pid, [11]/[12] user/system ticks, [13]/[14] those of its children waited for.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (its threads included)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(backend: int) -> float:
    """CPU seconds of the whole PostgreSQL server the backend belongs to: the postmaster, every
    process it runs now, and those that have exited (the parallel workers an index build
    starts, which the backend's own figure leaves out, end before the ingest returns)."""
    postmaster = int(_stat(backend)[1])
    fields = _stat(postmaster)
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            child = _stat(int(entry.name))
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited meanwhile: its time is in the postmaster's children's now
        if int(child[1]) == postmaster:
            ticks += int(child[11]) + int(child[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=400_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--no-infer", action="store_true", help="without the station-liquidity inference"
    )
    args = parser.parse_args()

    import django

    django.setup()
    import logging

    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import override_settings

    from lenny.replay import upstream_settings
    from market.ingest import liquidity
    from market.ingest.background import background_wait
    from market.ingest.liquidity.state import state_from_database, state_save
    from market.models import MarketSnapshot

    logging.disable(logging.INFO)  # one line per page would be timed too
    call_command("migrate", verbosity=0)
    timers = Timers()
    missing = patch(timers)
    if missing:
        print(f"(not in this version of the ingest: {', '.join(missing)})")
    port = free_port()
    replay = replay_start(port)
    base_url = f"http://127.0.0.1:{port}"
    state_url = f"{base_url}/esi/_replay/state"
    results = []
    try:
        replay_forge_prepare(state_url, orders=args.orders)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        liquidity.INFER_TRADES = not args.no_infer
        with override_settings(**upstream_settings(base_url)):
            for run in range(args.runs + 1):  # the first one warms up, and is not shown
                requests.post(
                    state_url, json={"advance": {str(FORGE): 1}, "warm": [FORGE]}, timeout=600
                ).raise_for_status()
                background_wait()
                cache.clear()
                with connection.cursor() as cursor:
                    cursor.execute(
                        "VACUUM market_bestprice, market_marketsnapshot, "
                        "market_stationtradeday, market_observedday"
                    )
                    cursor.execute("CHECKPOINT")  # as ingest_orders.py does, and why
                current = MarketSnapshot.objects.filter(region_id=FORGE, is_current=True).first()
                if current is not None and not args.no_infer:
                    state_save(current, state_from_database(current))
                timers.reset()
                load = os.getloadavg()[0]
                cpu_before = (
                    time.process_time(),
                    cpu_seconds(backend),
                    cpu_seconds(replay.pid),
                    server_cpu_seconds(backend),
                )
                started = time.perf_counter()
                call_command(
                    "fetch_market_orders", regions=[FORGE], force=True, stdout=io.StringIO()
                )
                seconds = time.perf_counter() - started
                cpu = (
                    time.process_time() - cpu_before[0],
                    cpu_seconds(backend) - cpu_before[1],
                    cpu_seconds(replay.pid) - cpu_before[2],
                    server_cpu_seconds(backend) - cpu_before[3],
                )
                timeline = {
                    label: (
                        timers.first[label] - started,
                        timers.last[label] - started,
                        timers.seconds[label],
                        timers.cpu[label],
                        timers.calls[label],
                    )
                    for label in timers.seconds
                }
                if run:
                    results.append((seconds, load, cpu, timeline))
                    print(
                        f"run {run}: {seconds:.2f} s (load {load:.1f}); CPU s: this process "
                        f"{cpu[0]:.2f}, PostgreSQL backend {cpu[1]:.2f} "
                        f"(whole server {cpu[3]:.2f}), replay {cpu[2]:.2f}",
                        flush=True,
                    )
    finally:
        liquidity.INFER_TRADES = True
        replay.terminate()
        replay.wait(10)

    seconds, load, cpu, timeline = min(results, key=lambda r: r[0])
    print(
        f"\nbest run: {seconds:.2f} s end to end (load {load:.1f}; median of "
        f"{len(results)} runs {statistics.median(r[0] for r in results):.2f} s)\n"
        f"CPU seconds: this process {cpu[0]:.2f}, PostgreSQL backend {cpu[1]:.2f} (the whole "
        f"server, parallel index workers and WAL writer included: {cpu[3]:.2f}), replay "
        f"{cpu[2]:.2f}; in all {cpu[0] + cpu[3] + cpu[2]:.2f} of the {2 * seconds:.2f} "
        f"core-seconds 2 cores offer in that time: no schedule on 2 cores takes less than "
        f"{(cpu[0] + cpu[3] + cpu[2]) / 2:.2f} s\n"
    )
    print(f"{'phase':58} {'from':>6} {'to':>6} {'summed':>7} {'its CPU':>7} {'calls':>6}")
    for _, _, label in PHASES:
        if label in timeline:
            first, last, total, cpu_total, calls = timeline[label]
            print(f"{label:58} {first:6.2f} {last:6.2f} {total:7.3f} {cpu_total:7.3f} {calls:6d}")


if __name__ == "__main__":
    main()
