"""All-regions simulation: one 5-minute cycle of every market region's order book, ingested by
django-q2 workers as in production, and what a deployment needs for it.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python benchmarks/all_regions.py \\
        [--workers 1 2] [--history PATH] [--sde PATH] [--scale 1.0]

Its own database and Redis db, please: it deletes the periodic schedules there (so that only
the cycle runs in the cluster) and flushes the Redis db between cycles.

**Regions and sizes.** The regions with a market are those of the SDE with stargates (k-space;
no wormhole space, no unreachable Jove regions), imported into the database from ``--sde``
(``../shared/fixtures/eve/sde`` when present, else the replay's slice). Their sizes come from
the real history archive (``--history``; the hubs) and the SDE's NPC stations (everywhere
else), as ``market.replay.regions`` documents: hub regions at one open order per trade a day
(The Forge ~392k trades a day, ~400k orders), every other region at the hubs' median off-hub
orders per NPC station times its stations (null-sec structure markets at least at the median
non-hub region's station count), over the types it trades a day (the hubs' power law between
orders and types traded a day). The table goes to the replay ESI (a separate process, like ESI)
as its ``regions`` knob; ``--scale`` multiplies every region's orders (a bigger universe than
the derivation says).

**One cycle.** Each region's next snapshot is published at once (``roll_over``) and generated
before the clock starts (the replay's CPU is ESI's, not Lenny's). ``manage.py qcluster`` starts
with N workers (``Q_WORKERS``); once they are up, one ``snapshot_fetch(region_id=…,
force=True)`` task per region is queued (largest first, so the largest does not start last),
exactly the work of the production ``market-orders-*`` jobs: fetch every page, COPY into a new
partition, book tops, liquidity against the previous snapshot, swap, prune, the desk's warm-up
and the queued type resolution that a new snapshot triggers. A first, untimed cycle leaves the
previous books (and the liquidity state) that a steady state compares with.

Measured per cycle, with N = each ``--workers``:

- wall time, from queueing to the last task's end; each region's task time;
- CPU seconds of the whole cluster (every process of the qcluster tree, ``/proc/<pid>/stat``
  utime + stime, read before the tasks are queued and after they all finished: process start
  is excluded), of this database's PostgreSQL backends (the server on this machine; each
  backend looked at every 0.2 s while the cycle runs), and the replay's CPU meanwhile (ESI's
  side, for scale);
- peak memory: the largest worker's peak RSS (``VmHWM``) and the cluster's summed RSS at its
  peak (sampled every 0.2 s);
- database: the current partitions' size (table + indexes) and the aggregates' tables. What
  a day writes is a cycle's partitions and book tops times 288 (each replaces the one before,
  so they do not accumulate); what a day *keeps* is the market history (one row per region,
  type and day: the types each region trades a day, at the bytes per row that real history
  rows take in ``market_historyday``) and the liquidity's station-days (at most one row per
  station and type with trades that day).

From those: the cores and worker processes a deployment needs for all regions every 5 minutes
(CPU seconds ÷ 300 s at a target of half the cores busy; workers so that a cycle ends within
half the cadence), and ESI's budget per cycle (pages x 2 tokens against the market bucket's
12,000 per 15 minutes; history requests a day against 300 a minute).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lenny.settings")

SHARED = ROOT.parent / "shared" / "fixtures" / "eve"
CADENCE = 300  # seconds between two snapshots of a region
CYCLES_PER_DAY = 86_400 // CADENCE
BUSY_TARGET = 0.5  # of the cores and of the cadence a sized deployment may use
MARKET_BUCKET = (12_000, 900)  # ESI's market token bucket: tokens per seconds
TOKENS_PER_PAGE = 2
HISTORY_RATE = (300, 60)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")

# `manage.py replay_upstreams --port N`, with a listen backlog that takes many connects at once
# (as benchmarks/ingest_orders.py explains).
REPLAY_LAUNCH = """
import runpy, sys
from http.server import ThreadingHTTPServer
ThreadingHTTPServer.request_queue_size = 256
sys.argv = ["manage.py", "replay_upstreams", "--port", sys.argv[1]]
runpy.run_path("manage.py", run_name="__main__")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- processes, from /proc ------------------------------------------------------------------
def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants now."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """utime + stime of each process (and of its children it waited for), in seconds."""
    result = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the name: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
        result[pid] = sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLOCK_TICKS
    return result


class DatabaseCpu:
    """CPU seconds of this database's PostgreSQL backends (and its autovacuum workers) while a
    cycle runs: the server must be on this machine. Backends come and go with the workers'
    connections, so they are looked at every time the cycle is polled; one that ends between
    two looks loses at most that interval of its CPU."""

    def __init__(self) -> None:
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def look(self, *, start: bool = False) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
            pids = [pid for (pid,) in cursor.fetchall()]
        for pid, seconds in cpu_seconds(pids).items():
            self.first.setdefault(pid, seconds if start else 0.0)
            self.last[pid] = seconds

    def seconds(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


def memory(pid: int) -> tuple[int, int]:
    """(RSS, peak RSS) in bytes."""
    rss = hwm = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, hwm


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


# --- the benchmark --------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--history", default="auto", help="history archive (default: auto)")
    parser.add_argument("--sde", default="", help="SDE folder (default: shared, else the slice)")
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("set DATABASE_URL to a PostgreSQL database of its own (and REDIS_URL)")
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("set REDIS_URL: the workers share ESI's limits and the queue through it")

    import logging

    import django

    django.setup()
    logging.getLogger("django-q").setLevel(logging.WARNING)  # not a line per queued task
    from django.core.cache import cache
    from django.core.management import call_command
    from django_q.models import Schedule

    from market.models import Region, SolarSystem, Station, SystemJump
    from market.replay.history import history_archive, history_path_resolve
    from market.replay.regions import (
        MarketRegion,
        hub_activity,
        region_sizes_derive,
        size_table,
        structure_locations,
    )

    call_command("migrate", verbosity=0)
    if not Region.objects.exists():
        sde = args.sde or str(
            SHARED / "sde" if (SHARED / "sde").exists() else ROOT / "market/replay/data/sde"
        )
        print(f"importing the SDE from {sde}…", flush=True)
        call_command("import_sde", sde, verbosity=0)

    # Regions with a market: those with stargates (wormhole and Jove space have none).
    gated = set(
        SolarSystem.objects.filter(id__in=SystemJump.objects.values("from_system_id")).values_list(
            "region_id", flat=True
        )
    )
    stations: dict[int, list[tuple[int, int]]] = {}
    for station_id, system_id, region_id in Station.objects.values_list(
        "id", "system_id", "region_id"
    ):
        stations.setdefault(region_id, []).append((station_id, system_id))
    systems: dict[int, list[int]] = {}
    for system_id, region_id in SolarSystem.objects.filter(region_id__in=gated).values_list(
        "id", "region_id"
    ):
        systems.setdefault(region_id, []).append(system_id)
    regions = [
        MarketRegion(r.id, r.name, len(stations.get(r.id, ())), len(systems.get(r.id, ())))
        for r in Region.objects.filter(id__in=gated).order_by("id")
    ]
    history_path = history_path_resolve(args.history)
    archive = history_archive(history_path)
    hubs = hub_activity(archive, [r.region_id for r in regions])
    sizes, derivation = region_sizes_derive(hubs=hubs, regions=regions)
    hub_ids = {h.region_id for h in hubs}
    locations = {
        r.region_id: stations.get(r.region_id) or structure_locations(systems[r.region_id])
        for r in regions
        if r.region_id not in hub_ids
    }
    table = size_table(sizes, locations, scale=args.scale)
    total_orders = sum(row["orders"] for row in table.values())
    total_pages = sum(math.ceil(row["orders"] / 1000) or 1 for row in table.values())
    types_per_day = sum(
        h.types_per_day for h in hubs if h.region_id in {s.region_id for s in sizes}
    ) + sum(s.types for s in sizes if s.basis == "stations")
    print(
        f"history: {history_path.name} ({len(hubs)} regions); regions with a market: "
        f"{len(regions)} ({len(hubs)} from the history, {len(regions) - len(hubs)} from "
        f"their NPC stations)\n"
        f"derivation: {derivation.off_hub_orders_per_station:.1f} off-hub orders per NPC "
        f"station (median of the hubs); structure markets as {derivation.floor_stations} "
        f"stations; types a day = {derivation.types_fit[0]:.1f} x orders^"
        f"{derivation.types_fit[1]:.3f}\n"
        f"universe: {total_orders:,} orders on {total_pages:,} pages, ~{types_per_day:,.0f} "
        f"(region, type) pairs traded a day (scale {args.scale:g})",
        flush=True,
    )
    for s in sorted(sizes, key=lambda s: -s.orders)[:8]:
        print(
            f"  {s.name:<16} {table[str(s.region_id)]['orders']:>8,} orders {s.types:>6,} types ({s.basis})"
        )
    smallest = min(sizes, key=lambda s: s.orders)
    print(
        f"  … smallest: {smallest.name}, {table[str(smallest.region_id)]['orders']:,} orders, "
        f"{smallest.types:,} types"
    )

    port = free_port()
    replay = subprocess.Popen(
        [sys.executable, "-c", REPLAY_LAUNCH, str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    state_url = f"{base_url}/esi/_replay/state"
    order = [int(r) for r in sorted(table, key=lambda r: -table[r]["orders"])]
    env = {
        **os.environ,
        "ESI_BASE_URL": f"{base_url}/esi",
        "LENNY_SDE_URL": f"{base_url}/sde",
        "EVE_SSO_BASE_URL": f"{base_url}/sso",
    }
    results = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(state_url, timeout=5)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise SystemExit("the replay upstreams did not start") from None
                time.sleep(0.2)
        requests.post(
            state_url,
            # Snapshots move on when a cycle rolls them over, not by the clock: generating every
            # region's next one takes minutes on a busy machine, longer than ESI's 300 s.
            json={
                "history": str(history_path),
                "regions": table,
                "page_size": 1000,
                "expiry_seconds": 3600,
            },
            timeout=60,
        ).raise_for_status()
        Schedule.objects.all().delete()  # only the cycle runs in this cluster
        for number, workers in enumerate([max(args.workers), *args.workers]):
            results.append(
                cycle(
                    workers=workers,
                    regions=order,
                    state_url=state_url,
                    replay_pid=replay.pid,
                    env=env,
                    cache=cache,
                    timed=number > 0,
                )
            )
    finally:
        replay.terminate()
        replay.wait(10)

    database = database_figures(archive_rows=archive, hub_ids=hub_ids)
    report(results[1:], database, total_pages=total_pages, types_per_day=types_per_day)


def cycle(
    *,
    workers: int,
    regions: list[int],
    state_url: str,
    replay_pid: int,
    env: dict,
    cache,
    timed: bool,
) -> dict:
    from django_q.models import Task
    from django_q.tasks import async_task

    label = f"cycle with {workers} worker{'s' if workers > 1 else ''}"
    started = time.perf_counter()
    # The next snapshot of every region, published now and generated before the clock starts.
    for i in range(0, len(regions), 8):
        batch = regions[i : i + 8]
        requests.post(
            state_url, json={"roll_over": batch, "warm": batch}, timeout=900
        ).raise_for_status()
    print(
        f"{label}: replay generated every region's next snapshot in "
        f"{time.perf_counter() - started:.0f} s{'' if timed else ' (warm-up, untimed)'}",
        flush=True,
    )
    cache.clear()  # an empty queue (the broker is this Redis db)
    with tempfile.TemporaryFile() as log:
        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env={**env, "Q_WORKERS": str(workers)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            # Up: the sentinel, monitor, pusher and N workers, and their start-up CPU spent.
            deadline = time.monotonic() + 120
            while len(tree(cluster.pid)) < workers + 4 and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(3)
            pids = tree(cluster.pid)
            cpu_before = cpu_seconds(pids)
            database_cpu = DatabaseCpu()
            database_cpu.look(start=True)
            replay_before = cpu_seconds([replay_pid])[replay_pid]
            group = f"all-regions-{time.time():.0f}"
            queued = time.time()
            for region_id in regions:
                async_task(
                    "market.ingest.snapshot_fetch",
                    region_id=region_id,
                    force=True,
                    group=group,
                    task_name=f"all-regions {region_id}",
                )
            peak_rss = 0
            done_by = time.monotonic() + 1800
            while Task.objects.filter(group=group).count() < len(regions):
                if cluster.poll() is not None or time.monotonic() > done_by:
                    log.seek(0)
                    raise SystemExit(f"the cluster stopped or hung:\n{log.read()[-3000:]}")
                pids = tree(cluster.pid)
                peak_rss = max(peak_rss, sum(memory(p)[0] for p in pids))
                database_cpu.look()
                time.sleep(0.2)
            # The type resolutions the new snapshots queued are part of the cycle's work.
            settle = time.monotonic() + 60
            while time.monotonic() < settle:
                pending = Task.objects.filter(
                    group="market-types-after-snapshot", started__gte=_aware(queued)
                ).count()
                from django_q.tasks import queue_size

                if queue_size() == 0 and pending >= len(regions) - 1:
                    break
                database_cpu.look()
                time.sleep(0.5)
            database_cpu.look()
            pids = tree(cluster.pid)
            cpu_after = cpu_seconds(pids)
            replay_after = cpu_seconds([replay_pid])[replay_pid]
            peak_worker = max(memory(p)[1] for p in pids)
        finally:
            # The cluster stops its own processes on SIGTERM; what is left is killed after.
            cluster.send_signal(signal.SIGTERM)
            try:
                cluster.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(cluster.pid, signal.SIGKILL)
                cluster.wait(10)
    tasks = list(Task.objects.filter(group=group))
    failed = [t for t in tasks if not t.success]
    for t in failed:
        print(f"  FAILED {t.name}: {str(t.result)[:300]}")
    wall = max(t.stopped.timestamp() for t in tasks) - queued
    # Each ingest's own time (django-q2's `started` is when the pusher took it off the queue).
    task_seconds = {t.kwargs["region_id"]: t.result.seconds for t in tasks if t.success}
    cpu = sum(cpu_after.get(p, 0.0) - cpu_before.get(p, 0.0) for p in cpu_after)
    snapshot_sizes = partitions_bytes()
    result = {
        "workers": workers,
        "wall": wall,
        "cpu": cpu,
        "replay_cpu": replay_after - replay_before,
        "database_cpu": database_cpu.seconds(),
        "task_seconds": task_seconds,
        "peak_worker": peak_worker,
        "peak_rss": peak_rss,
        "failed": len(failed),
        **snapshot_sizes,
    }
    print(
        f"{label}: wall {wall:.1f} s, cluster CPU {cpu:.1f} s, PostgreSQL CPU "
        f"{result['database_cpu']:.1f} s, replay CPU "
        f"{result['replay_cpu']:.1f} s, sum of task times {sum(task_seconds.values()):.1f} s "
        f"(The Forge {task_seconds.get(10000002, 0):.1f} s), largest worker peak "
        f"{mb(peak_worker)}, cluster peak {mb(peak_rss)}, failed {len(failed)}"
        f"{'' if timed else ' (warm-up)'}",
        flush=True,
    )
    return result


def _aware(timestamp: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC)


def partitions_bytes() -> dict:
    """The current order partitions' size and rows, and the aggregates' tables."""
    from django.db import connection

    from market.models import MarketSnapshot

    current = list(MarketSnapshot.objects.current().values_list("id", "orders"))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "WHERE c.relname = ANY(%s)",
            [[f"market_order_s{pk}" for pk, _ in current]],
        )
        orders_bytes = int(cursor.fetchone()[0])
        cursor.execute(
            "SELECT count(*), coalesce(sum(pg_column_size(b.*)), 0) FROM market_bestprice b "
            "JOIN market_marketsnapshot s ON s.id = b.snapshot_id AND s.is_current"
        )
        tops_rows, tops_bytes = cursor.fetchone()
    return {
        "snapshots": len(current),
        "orders": sum(n or 0 for _, n in current),
        "orders_bytes": orders_bytes,
        "tops_rows": int(tops_rows),
        "tops_bytes": int(tops_bytes),
    }


def database_figures(*, archive_rows, hub_ids: set[int]) -> dict:
    """Bytes per row that the kept tables take: real history rows (the archive's last week of the
    hub regions, loaded into market_historyday unless it holds history already) and the
    liquidity's station-days the cycles wrote."""
    from django.db import connection

    from market.replay.history import FIELDS_PER_DAY

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM market_historyday")
        if cursor.fetchone()[0] == 0:
            from datetime import date

            since = archive_rows.last_day - 7
            with cursor.copy(
                "COPY market_historyday (region_id, type_id, date, average, lowest, highest, "
                "volume, order_count) FROM STDIN"
            ) as copy:
                for (region_id, type_id), series in archive_rows.series.items():
                    if region_id not in hub_ids:
                        continue
                    for i, day in enumerate(series.days):
                        if day > since:
                            v = series.values[i * FIELDS_PER_DAY : (i + 1) * FIELDS_PER_DAY]
                            copy.write_row(
                                (
                                    region_id,
                                    type_id,
                                    date.fromordinal(day),
                                    round(v[0], 2),
                                    round(v[1], 2),
                                    round(v[2], 2),
                                    int(v[3]),
                                    int(v[4]),
                                )
                            )
            cursor.execute("ANALYZE market_historyday")
        cursor.execute(
            "SELECT count(*), pg_total_relation_size('market_historyday') FROM market_historyday"
        )
        history_rows, history_bytes = cursor.fetchone()
        cursor.execute(
            "SELECT count(*), pg_total_relation_size('market_stationtradeday'), "
            "count(DISTINCT date) FROM market_stationtradeday"
        )
        trade_rows, trade_bytes, trade_days = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM (SELECT DISTINCT o.location_id, o.type_id FROM market_order o "
            "JOIN market_marketsnapshot s ON s.id = o.snapshot_id AND s.is_current) pairs"
        )
        pairs = cursor.fetchone()[0]
    return {
        "history_row": history_bytes / max(1, history_rows),
        "history_rows_sampled": history_rows,
        "trade_row": trade_bytes / max(1, trade_rows),
        "trade_rows": trade_rows,
        "trade_days": trade_days,
        "station_type_pairs": pairs,
    }


def report(results: list[dict], database: dict, *, total_pages: int, types_per_day: float) -> None:
    last = results[-1]
    print("\n== all regions, one 5-minute cycle ==")
    print(
        f"book: {last['orders']:,} orders in {last['snapshots']} regions; current partitions "
        f"{mb(last['orders_bytes'])} ({last['orders_bytes'] / max(1, last['orders']):.0f} B an "
        f"order with indexes); book tops {last['tops_rows']:,} rows, {mb(last['tops_bytes'])}"
    )
    base = results[0]
    for r in results:
        print(
            f"N={r['workers']}: wall {r['wall']:.1f} s ({r['wall'] / base['wall']:.2f}x N="
            f"{base['workers']}), CPU {r['cpu']:.1f} s ({r['cpu'] / base['cpu']:.2f}x) + "
            f"PostgreSQL {r['database_cpu']:.1f} s, "
            f"{r['cpu'] / r['wall']:.2f} cores busy, task time {sum(r['task_seconds'].values()):.1f} s, "
            f"largest worker {mb(r['peak_worker'])}, cluster {mb(r['peak_rss'])}, "
            f"failed {r['failed']}"
        )
    cpu = min(r["cpu"] for r in results)
    database_cpu = min(r["database_cpu"] for r in results)
    task_time = min(sum(r["task_seconds"].values()) for r in results)
    forge = min(r["task_seconds"].get(10000002, 0.0) for r in results)
    cores = cpu / CADENCE / BUSY_TARGET
    database_cores = database_cpu / CADENCE / BUSY_TARGET
    workers = max(1, math.ceil(task_time / (CADENCE * BUSY_TARGET)))
    write_day = (last["orders_bytes"] + last["tops_bytes"]) * CYCLES_PER_DAY
    history_day = types_per_day * database["history_row"]
    trades_day = database["station_type_pairs"] * database["trade_row"]
    tokens = total_pages * TOKENS_PER_PAGE * (MARKET_BUCKET[1] / CADENCE)
    history_minutes = types_per_day / HISTORY_RATE[0] * HISTORY_RATE[1] / 60
    print(
        f"per day at a 5-minute cadence ({CYCLES_PER_DAY} cycles): "
        f"{(cpu + database_cpu) * CYCLES_PER_DAY / 3600:.1f} CPU hours (workers and PostgreSQL); written {write_day / 1e9:,.1f} GB (partitions and book tops, each "
        f"replacing the last; the database holds one cycle's, {mb(last['orders_bytes'] + last['tops_bytes'])}, "
        f"twice during a swap)\n"
        f"kept a day: history {types_per_day:,.0f} rows x {database['history_row']:.0f} B = "
        f"{mb(history_day)} (bytes a row from {database['history_rows_sampled']:,} real rows); "
        f"station-days at most {database['station_type_pairs']:,} rows x "
        f"{database['trade_row']:.0f} B = {mb(trades_day)} (the cycles wrote "
        f"{database['trade_rows']:,})\n"
        f"deployment: {cores:.2f} cores for the workers and {database_cores:.2f} for PostgreSQL at "
        f"{BUSY_TARGET:.0%} busy ({cpu:.1f} + {database_cpu:.1f} CPU s every {CADENCE} s); {workers} worker process(es) keep a cycle within "
        f"{CADENCE * BUSY_TARGET:.0f} s (task time {task_time:.1f} s; The Forge alone "
        f"{forge:.1f} s, the floor of any cycle)\n"
        f"ESI: {total_pages:,} pages a cycle = {tokens:,.0f} of the market bucket's "
        f"{MARKET_BUCKET[0]:,} tokens per 15 min ({tokens / MARKET_BUCKET[0]:.0%}); history "
        f"{types_per_day:,.0f} requests a day = {history_minutes / 60:.1f} h at "
        f"{HISTORY_RATE[0]}/min\n"
        f"load average now: {' '.join(f'{n:.1f}' for n in os.getloadavg())} "
        f"({os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
