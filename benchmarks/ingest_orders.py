"""Ingest benchmark: a full Forge order snapshot, end to end, against a raw `psql \\copy`.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python benchmarks/ingest_orders.py [--orders N]

Starts the replay upstreams in a separate process (like ESI, the upstream does not share this
process's CPU time), then measures, best of --runs:

- ingest: ``snapshot_fetch(region_id=10000002, force=True)``: fetch every page over HTTP
  (20 in flight), decode and validate, COPY into a new partition, index it, compute the
  BestPrice aggregates, swap it in, drop the previous one;
- baseline: ``psql -c "\\copy …"`` of exactly the stored rows, from a file, into a fresh table
  of the same shape (``LIKE market_order INCLUDING ALL``: same columns, primary key, index).

and prints ingest / baseline (the issue's target: ≤ 2.0). The replay builds The Forge's book from
the real hub history in ../shared/fixtures when present, else from the sample in the repo; the
``orders`` knob pins its size either way (400,000 by default, 1000 a page).
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


def replay_start(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "replay_upstreams", "--port", str(port)],
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

        ingest_times = []
        with override_settings(**upstream_settings(base_url)):
            for run in range(args.runs):
                cache.clear()
                started = time.perf_counter()
                outcome = snapshot_fetch(region_id=FORGE, force=True)
                ingest_times.append(time.perf_counter() - started)
                print(f"ingest run {run + 1}: {outcome.summary()}", flush=True)
        snapshot = MarketSnapshot.objects.get(region_id=FORGE, is_current=True)

        columns = ", ".join(("snapshot_id", *ORDER_COLUMNS))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "orders.tsv")
            with connection.cursor() as cursor, open(path, "wb") as out:
                select = f"SELECT {columns} FROM market_order WHERE snapshot_id = {snapshot.id}"
                with cursor.copy(f"COPY ({select}) TO STDOUT") as copy:
                    for chunk in copy:
                        out.write(chunk)
            baseline_times = []
            for _ in range(args.runs):
                with connection.cursor() as cursor:
                    cursor.execute("DROP TABLE IF EXISTS bench_raw_orders")
                    cursor.execute(
                        "CREATE TABLE bench_raw_orders (LIKE market_order INCLUDING ALL)"
                    )
                baseline_times.append(
                    psql_copy_seconds(database_url, "bench_raw_orders", columns, path)
                )
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE IF EXISTS bench_raw_orders")
    finally:
        replay.terminate()
        replay.wait(10)

    ingest, baseline = min(ingest_times), min(baseline_times)
    print(
        f"orders: {snapshot.orders:,} in {snapshot.pages} pages\n"
        f"ingest (fetch, parse, store, aggregates, swap): best {ingest:.2f} s, "
        f"median {statistics.median(ingest_times):.2f} s\n"
        f"baseline (psql \\copy, same rows, same table shape): best {baseline:.2f} s, "
        f"median {statistics.median(baseline_times):.2f} s\n"
        f"ratio: {ingest / baseline:.2f}x the raw copy (target: at most 2.0x)"
    )


if __name__ == "__main__":
    main()
