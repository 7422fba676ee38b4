"""Ingest benchmark: a full Forge order snapshot, end to end, against a raw `psql \\copy`.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python benchmarks/ingest_orders.py [--orders N]

Starts the replay upstreams in a separate process (like ESI, the upstream does not share this
process's CPU time), then measures, --runs times each, one of each in turn so that both see the
same load on a shared machine:

- ingest: ``snapshot_fetch(region_id=10000002, force=True)``: fetch every page over HTTP
  (20 in flight) while each page that arrived is decoded, validated and COPYed into a new
  partition, then index it, write the BestPrice aggregates, swap it in, drop the previous one;
- baseline: ``psql -c "\\copy …"`` of exactly the stored rows, from a file, into a fresh table
  of the same shape (``LIKE market_order INCLUDING ALL``: same columns, primary key, index).

and prints best and median of each and best ingest / best baseline (the issue's target: ≤ 2.0).
The replay builds The Forge's book from the real hub history in ../shared/fixtures when present,
else from the sample in the repo; the ``orders`` knob pins its size either way (400,000 by
default, 1000 a page).

Before each ingest the tables a swap leaves dead rows in are vacuumed, as autovacuum does between
two runs five minutes apart (on a server with autovacuum off, as in this project's test set-up,
~82k dead BestPrice rows a run would pile up and slow every later run down).

The replay's listen backlog is raised from Python's default of 5: the client opens its 20
connections at once, and a backlog of 5 makes the kernel drop some of the connection requests,
which then wait a whole second for their retransmission — a cost of the stand-in server (ESI
takes them), not of the ingest. The count of such drops during the runs is printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lenny.settings")

FORGE = 10000002


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# `manage.py replay_upstreams --port N`, with a listen backlog that takes 20 connects at once.
REPLAY_LAUNCH = """
import runpy, sys
from http.server import ThreadingHTTPServer
ThreadingHTTPServer.request_queue_size = 128
sys.argv = ["manage.py", "replay_upstreams", "--port", sys.argv[1]]
runpy.run_path("manage.py", run_name="__main__")
"""


def replay_start(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", REPLAY_LAUNCH, str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/esi/_replay/state", timeout=1)
            return process
        except requests.ConnectionError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("the replay upstreams did not start")


def psql_copy_seconds(database_url: str, table: str, columns: str, path: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["psql", database_url, "-q", "-c", f"\\copy {table} ({columns}) FROM '{path}'"],
        check=True,
    )
    return time.perf_counter() - started


def listen_drops() -> int | None:
    """Connection requests the kernel dropped so far because a listen queue was full."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            fields = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(fields.get("ListenDrops", 0))
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=400_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        raise SystemExit("set DATABASE_URL to a PostgreSQL database (and REDIS_URL)")
    if not shutil.which("psql"):
        raise SystemExit("psql is needed for the baseline")

    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import override_settings

    from lenny.replay import upstream_settings
    from market.ingest import ORDER_COLUMNS, snapshot_fetch
    from market.models import MarketSnapshot

    call_command("migrate", verbosity=0)
    port = free_port()
    replay = replay_start(port)
    base_url = f"http://127.0.0.1:{port}"
    try:
        knobs = {"orders": {str(FORGE): args.orders}, "page_size": 1000, "expiry_seconds": 3600}
        requests.post(f"{base_url}/esi/_replay/state", json=knobs, timeout=30).raise_for_status()
        print(f"replay: building The Forge's book ({args.orders:,} orders)…", flush=True)
        requests.get(
            f"{base_url}/esi/markets/{FORGE}/orders/", params={"order_type": "all"}, timeout=600
        ).raise_for_status()

        def ingest() -> float:
            cache.clear()
            with connection.cursor() as cursor:
                cursor.execute("VACUUM market_bestprice, market_marketsnapshot")
            started = time.perf_counter()
            outcome = snapshot_fetch(region_id=FORGE, force=True)
            seconds = time.perf_counter() - started
            print(f"ingest: {outcome.summary()}", flush=True)
            return seconds

        columns = ", ".join(("snapshot_id", *ORDER_COLUMNS))

        def baseline(path: str) -> float:
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE IF EXISTS bench_raw_orders")
                cursor.execute("CREATE TABLE bench_raw_orders (LIKE market_order INCLUDING ALL)")
            seconds = psql_copy_seconds(database_url, "bench_raw_orders", columns, path)
            print(f"baseline: psql \\copy, {seconds:.1f} s", flush=True)
            return seconds

        drops_before = listen_drops()
        with override_settings(**upstream_settings(base_url)):
            # A first ingest leaves the rows the baseline copies (and warms both sides up).
            ingest()
            snapshot = MarketSnapshot.objects.get(region_id=FORGE, is_current=True)
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "orders.tsv")
                with connection.cursor() as cursor, open(path, "wb") as out:
                    select = f"SELECT {columns} FROM market_order WHERE snapshot_id = {snapshot.id}"
                    with cursor.copy(f"COPY ({select}) TO STDOUT") as copy:
                        for chunk in copy:
                            out.write(chunk)
                ingest_times, baseline_times = [], []
                for _ in range(args.runs):
                    ingest_times.append(ingest())
                    baseline_times.append(baseline(path))
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE IF EXISTS bench_raw_orders")
        drops_after = listen_drops()
        snapshot = MarketSnapshot.objects.get(region_id=FORGE, is_current=True)
    finally:
        replay.terminate()
        replay.wait(10)

    best_ingest, best_baseline = min(ingest_times), min(baseline_times)
    drops = (
        "unknown"
        if drops_before is None or drops_after is None
        else f"{drops_after - drops_before}"
    )
    print(
        f"orders: {snapshot.orders:,} in {snapshot.pages} pages; load average "
        f"{' '.join(f'{n:.1f}' for n in os.getloadavg())}; listen-queue drops on this machine meanwhile: {drops}\n"
        f"ingest (fetch, parse, store, aggregates, swap): best {best_ingest:.2f} s, "
        f"median {statistics.median(ingest_times):.2f} s\n"
        f"baseline (psql \\copy, same rows, same table shape): best {best_baseline:.2f} s, "
        f"median {statistics.median(baseline_times):.2f} s\n"
        f"ratio: {best_ingest / best_baseline:.2f}x the raw copy (target: at most 2.0x)"
    )


if __name__ == "__main__":
    main()
