"""Market desk speed: page and JSON API server times at full size, and under 16 concurrent
clients while a Forge snapshot is being ingested.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python benchmarks/market_pages.py

Data, loaded through the real pipeline from the replay ESI (in its own process): the SDE (the
shared export when present, else the repo's slice), every hub's order book at full size (The
Forge ~405k orders with the shared history archive) and the market history of the types on
Jita's market. A database that already holds them is reused (``--reload`` fetches again); the
first history load takes a few minutes.

1. Server time, sequential, through Django's test client (routing, forms, queries, templates):
   station trading and item pages (target p95 < 100 ms), the four JSON endpoints (< 50 ms).
   Each mix cycles through several filters, sorts, hubs and the busiest types. Baseline, in the
   same run: the raw SQL that reads the same rows (no pricing, no rendering). Two kinds of
   first view after a new snapshot (each of the mix's first four URLs, every cache of the web
   process emptied but the SDE's): "first" after ``market.warmup`` shared the hubs' book tops
   and the web process's pre-warm thread (``market.prewarm``) made its recent views again, as
   both do when a snapshot lands (the "pre-warm" column is that thread's work for all five
   hubs, which a request arriving in the middle of it waits for); "shared" after the warm-up
   only (a request that beats the pre-warm thread); "unshared" with nothing shared either, so
   the worker reads the book tops itself (how every worker started before the warm-up existed).
   ``--new-columns`` adds station trading's flags and station-volume filters to its mixes;
   Jita's station volumes and depth prices are filled in where the ingest left none
   (``station_figures_fill``), so its new columns always carry work.
2. Load: gunicorn as ``manage.py run`` starts it (2 workers x 4 threads) on loopback, 16
   client threads on a mix of pages and API calls, first idle, then while
   ``fetch_market_orders --force`` swaps in a new Forge snapshot: every answer must be a 2xx,
   and no reader may wait on the writer (the slowest answer during the ingest is compared with
   the slowest while idle); the answers in the 3 s after the swap show what the first readers
   of the new snapshot waited.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lenny.settings")
# Static URLs without `collectstatic` (the manifest lookup costs the same either way).
os.environ.setdefault("LENNY_MANIFEST_STATIC", "0")
SHARED_SDE = ROOT.parent / "shared" / "fixtures" / "eve" / "sde"
SAMPLE_SDE = ROOT / "market" / "replay" / "data" / "sde"

FORGE, DOMAIN = 10000002, 10000043
JITA, AMARR = 60003760, 60008494
PAGE_TARGET_MS = 100.0
API_TARGET_MS = 50.0
CLIENTS = 16
FIRST_VIEW_ROUNDS = 3  # first views after a new snapshot, per URL (each costs a warm-up)
REPLAY_KNOBS = {
    "expiry_seconds": 3600,
    "rate_limit": "100000000/15m",
    "history_rate": "1000000/1m",
    "error_limit": 100000,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def replay_start() -> tuple[subprocess.Popen, str]:
    """The replay upstreams in a process of their own (like ESI, they do not share this
    process's CPU time), ready and set to the benchmark's knobs: the process and its URL."""
    port = free_port()
    replay = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "replay_upstreams", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    replay_url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{replay_url}/esi/_replay/state", replay, "the replay upstreams")
        requests.post(f"{replay_url}/esi/_replay/state", json=REPLAY_KNOBS, timeout=30)
    except BaseException:
        replay.terminate()
        raise
    return replay, replay_url


def gunicorn_start(code: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """The code in ``code`` served by gunicorn as in production (2 workers, 4 threads each) on a
    free loopback port: the process and its base URL (wait_for it before asking)."""
    port = free_port()
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "lenny.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--chdir",
            str(code),
        ],
        cwd=code,
        env={**env, "PYTHONPATH": str(code)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return web, f"http://127.0.0.1:{port}"


def wait_for(url: str, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        try:
            requests.get(url, timeout=10)
            return
        except requests.RequestException:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"{what} did not start")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- data --------------------------------------------------------------------------------------


def data_load(*, reload: bool, history_types: int | None) -> None:
    from django.db.models import F

    from market.hubs import HUBS
    from market.ingest import history_fetch, snapshot_fetch
    from market.models import BestPrice, MarketSnapshot, TypeRegionStats
    from market.sde import sde_import

    source = SHARED_SDE if (SHARED_SDE / "invTypes.csv").exists() else SAMPLE_SDE
    started = time.monotonic()
    sde_import(source=str(source))
    print(f"SDE from {source}: {time.monotonic() - started:.1f} s", flush=True)
    for hub in HUBS:
        current = MarketSnapshot.objects.filter(region_id=hub.region_id, is_current=True).first()
        if current is None or reload:
            print(f"  {snapshot_fetch(region_id=hub.region_id, force=True).summary()}", flush=True)
    on_market = list(
        BestPrice.objects.current(region_id=FORGE)
        .filter(location_id=JITA)
        .annotate(orders=F("bid_count") + F("ask_count"))
        .order_by("-orders")
        .values_list("type_id", flat=True)
    )
    known = set(TypeRegionStats.objects.filter(region_id=FORGE).values_list("type_id", flat=True))
    missing = [t for t in on_market if t not in known][:history_types]
    if missing:
        print(f"history of {len(missing):,} Jita types (once; reused later)…", flush=True)
        print(f"  {history_fetch(region_id=FORGE, type_ids=missing).summary()}", flush=True)
    station_figures_fill()


def station_figures_fill() -> None:
    """Jita's station volumes, competition and depth prices, where the ingest left none: one
    snapshot inferred against nothing has no trades, so without this the station-trading
    columns would carry no work. Plausible, reproducible figures from the region's history:
    a third of its daily volume sold into buy orders and a quarter bought from sell orders at
    Jita, on each of the last two whole days (watched all day), and depth prices 1 % behind the
    best. Only what is missing is written; real figures (``market.ingest``) are kept."""
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from market.models import (
        BestPrice,
        MarketSnapshot,
        ObservedDay,
        StationTradeDay,
        TypeRegionStats,
    )

    snapshot = MarketSnapshot.objects.get(region_id=FORGE, is_current=True)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {BestPrice._meta.db_table} SET depth_bid = ROUND(best_bid * 0.99, 2), "
            "depth_ask = ROUND(best_ask * 1.01, 2) WHERE snapshot_id = %s AND location_id = %s "
            "AND depth_bid IS NULL AND depth_ask IS NULL",
            [snapshot.id, JITA],
        )
        depth = cursor.rowcount
    today = timezone.now().date()
    days = [today - timedelta(days=back) for back in (1, 2)]
    if ObservedDay.objects.filter(region_id=FORGE, date__gte=days[-1]).exists():
        print(f"station figures: kept as found; depth prices for {depth:,} Jita types", flush=True)
        return
    ObservedDay.objects.bulk_create(
        [ObservedDay(region_id=FORGE, date=day, observed_seconds=86400, pairs=288) for day in days]
    )
    rows = []
    for type_id, volume in TypeRegionStats.objects.filter(region_id=FORGE).values_list(
        "type_id", "avg_daily_volume"
    ):
        sold, bought = int(volume / 3), int(volume / 4)
        if not sold and not bought:
            continue
        for n, day in enumerate(days):
            rows.append(
                StationTradeDay(
                    region_id=FORGE,
                    location_id=JITA,
                    type_id=type_id,
                    date=day,
                    sold_to_buy_orders=sold,
                    bought_from_sell_orders=bought + n,
                    bid_reprices=type_id % 40,
                    ask_reprices=type_id % 30,
                )
            )
    StationTradeDay.objects.bulk_create(rows, batch_size=5000)
    print(
        f"station figures: {len(rows):,} Jita type-days written; depth prices for {depth:,} types",
        flush=True,
    )


# --- sequential server time --------------------------------------------------------------------


def measure(call: Callable[[], object], runs: int, cpu: list[float] | None = None) -> list[float]:
    """Wall times of ``runs`` calls, ms; with ``cpu``, each call's CPU time in this thread is
    added to it too: on a busy machine the wall time measures the neighbours as well, the CPU
    time what the request itself costs."""
    times = []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.thread_time()
        call()
        times.append((time.perf_counter() - started) * 1000)
        if cpu is not None:
            cpu.append((time.thread_time() - started_cpu) * 1000)
    return times


def prewarm_round() -> float:
    """What each web process's pre-warm thread does when the hubs' snapshots move on; ms."""
    from market.hubs import HUBS
    from market.prewarm import desk_views_prepare
    from market.queries.caches import region_book

    started = time.perf_counter()
    desk_views_prepare(books={region_book(hub.region_id) for hub in HUBS})
    return (time.perf_counter() - started) * 1000


def snapshot_landed(*, shared: bool) -> None:
    """What a web process sees when new snapshots land: its memos are for the old ones. With
    ``shared``, the warm-up has put every hub's book top in the shared cache, as the
    ``snapshot_landed`` receiver does; without, nothing is there yet."""
    from django.core.cache import cache

    from market.hubs import HUBS
    from market.queries import caches_clear
    from market.warmup import book_tops_warm

    cache.clear()
    if shared:
        for region_id in {hub.region_id for hub in HUBS}:
            book_tops_warm(region_id=region_id)
    caches_clear(keep_sde=True)
    # The warm-up runs in the worker that fetched the snapshot, not in the web process: its
    # garbage is not the web process's to collect.
    gc.collect()


def server_times(
    requests_per_mix: int, *, new_columns: bool = False, only: str = ""
) -> list[tuple]:
    """(name, target, warm times, first-after-snapshot times, pre-warm round times, shared-only
    times, unshared times, baseline p95, warm CPU times, first CPU times) per mix."""
    from django.db import connection
    from django.db.models import F
    from django.test import Client

    from market.hubs import HUBS
    from market.models import BestPrice, MarketGroup, MarketSnapshot
    from market.queries import jump_graph, market_group_tree

    client = Client(HTTP_HOST="localhost")
    busy = list(
        BestPrice.objects.current(region_id=FORGE)
        .filter(location_id=JITA, best_bid__isnull=False, best_ask__isnull=False)
        .annotate(orders=F("bid_count") + F("ask_count"))
        .order_by("-orders")
        .values_list("type_id", flat=True)[:50]
    )
    ships = MarketGroup.objects.filter(name="Ships", parent__isnull=True).first()
    group = ships.id if ships else MarketGroup.objects.values_list("id", flat=True).first()
    forge_snapshot = MarketSnapshot.objects.get(region_id=FORGE, is_current=True).id

    trading = [
        "/market/trading/",
        "/market/trading/?min_margin=0.05",
        "/market/trading/?min_volume=100&sort=-margin",
        f"/market/trading/?market_group={group}",
        "/market/trading/?sort=type_name&page=3",
        "/market/trading/?max_price=1000000&min_profit=1000&sort=-profit",
        "/market/trading/?volume_cap=100&sort=-daily_profit",
        f"/market/trading/?station_id={AMARR}&min_margin=0.02",
    ]
    if new_columns:
        # Issue 13's filters and columns (a desk without them answers these with a 400).
        trading += [
            "/market/trading/?include_flagged=1",
            "/market/trading/?min_station_volume=10&trades_daily=1",
            "/market/trading/?exclude_category=none&sort=-station_daily_volume",
            "/market/trading/?share=0.25&min_achievable_profit=1m&sort=-bid_reprices_daily",
        ]
    items = [f"/market/types/{t}/?days={(90, 365)[n % 2]}" for n, t in enumerate(busy)]
    orders = [f"/api/market/orders?region_id={FORGE}&type_id={t}" for t in busy]
    history = [f"/api/market/history?region_id={FORGE}&type_id={t}&days=365" for t in busy]
    trading_api = [
        u.replace("/market/trading/?", "/api/market/station-trading?station_id=60003760&")
        for u in trading[:7] + trading[8:]
    ]
    hauling = f"from_station_id={JITA}&to_station_id={AMARR}"
    hauling_api = [
        f"/api/market/hauling?{hauling}",
        f"/api/market/hauling?{hauling}&budget=1000000000&cargo_m3=60000",
        f"/api/market/hauling?{hauling}&mode=relist&budget=5000000000",
        f"/api/market/hauling?{hauling}&sort=-roi&page=2",
    ]

    def raw(sql: str, params: list) -> Callable[[], None]:
        def run() -> None:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                cursor.fetchall()

        return run

    tops = raw(
        "SELECT type_id, best_bid, best_ask FROM market_bestprice WHERE snapshot_id = %s "
        "AND location_id = %s AND best_bid IS NOT NULL AND best_ask IS NOT NULL",
        [forge_snapshot, JITA],
    )
    rng = random.Random(5)

    def book_rows() -> None:
        t = rng.choice(busy)
        raw(
            "SELECT * FROM market_order WHERE snapshot_id = %s AND type_id = %s",
            [forge_snapshot, t],
        )()
        raw(
            "SELECT * FROM market_historyday WHERE region_id = %s AND type_id = %s "
            "ORDER BY date DESC LIMIT 365",
            [FORGE, t],
        )()

    def history_rows() -> None:
        raw(
            "SELECT * FROM market_historyday WHERE region_id = %s AND type_id = %s "
            "ORDER BY date DESC LIMIT 365",
            [FORGE, rng.choice(busy)],
        )()

    def order_rows() -> None:
        raw(
            "SELECT * FROM market_order WHERE snapshot_id = %s AND type_id = %s "
            "ORDER BY order_id LIMIT 100",
            [forge_snapshot, rng.choice(busy)],
        )()

    def two_tops() -> None:
        tops()
        raw(
            "SELECT type_id, best_bid, best_ask FROM market_bestprice WHERE snapshot_id = "
            "(SELECT id FROM market_marketsnapshot WHERE region_id = %s AND is_current) "
            "AND location_id = %s",
            [DOMAIN, AMARR],
        )()

    any_hub = [
        "/market/hauling/?from_station_id=&to_station_id=",
        "/market/hauling/?from_station_id=&to_station_id=&mode=relist",
        "/market/hauling/?from_station_id=&to_station_id=&budget=1000000000&cargo_m3=60000",
        "/market/hauling/?from_station_id=&to_station_id=&sort=-roi&page=2",
    ]

    def five_tops() -> None:
        for hub in HUBS:
            raw(
                "SELECT type_id, best_bid, best_ask FROM market_bestprice WHERE snapshot_id = "
                "(SELECT id FROM market_marketsnapshot WHERE region_id = %s AND is_current) "
                "AND location_id = %s",
                [hub.region_id, hub.station_id],
            )()

    mixes = [
        ("station trading page", PAGE_TARGET_MS, trading, tops),
        ("item page", PAGE_TARGET_MS, items, book_rows),
        (
            "hauling page, one trip (no target)",
            PAGE_TARGET_MS,
            [u.replace("/api/market/hauling?", "/market/hauling/?") for u in hauling_api],
            two_tops,
        ),
        ("GET /api/market/orders", API_TARGET_MS, orders, order_rows),
        ("GET /api/market/history", API_TARGET_MS, history, history_rows),
        ("GET /api/market/station-trading", API_TARGET_MS, trading_api, tops),
        ("GET /api/market/hauling", API_TARGET_MS, hauling_api, two_tops),
        ("hauling page, any hub (no target)", PAGE_TARGET_MS, any_hub, five_tops),
    ]
    results = []
    for name, target, urls, baseline in mixes:
        if only not in name:
            continue

        def get(url: str) -> None:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        # The SDE's graph and tree live for the life of a process, snapshots or not; so do
        # compiled templates and imported code, which the process's very first views pay for.
        jump_graph()
        market_group_tree()
        for url in urls[:4]:
            get(url)
        first, prewarm, shared, unshared, first_cpu, warm_cpu = [], [], [], [], [], []
        for url in urls[:4] * FIRST_VIEW_ROUNDS:
            snapshot_landed(shared=True)
            prewarm.append(prewarm_round())
            gc.collect()  # the thread's garbage, collected in its own time
            first += measure(lambda url=url: get(url), 1, first_cpu)
            snapshot_landed(shared=True)
            shared += measure(lambda url=url: get(url), 1)
            snapshot_landed(shared=False)
            unshared += measure(lambda url=url: get(url), 1)
        snapshot_landed(shared=True)
        for url in urls:  # warm: each variant's first view after a new snapshot is above
            get(url)
        cycle = iter(urls * (requests_per_mix // len(urls) + 1))
        warm = measure(lambda cycle=cycle: get(next(cycle)), requests_per_mix, warm_cpu)
        base = measure(baseline, requests_per_mix)
        results.append(
            (
                name,
                target,
                warm,
                first,
                prewarm,
                shared,
                unshared,
                percentile(base, 95),
                warm_cpu,
                first_cpu,
            )
        )
        print(f"  measured {name}", flush=True)
    return results


# --- load while ingesting ----------------------------------------------------------------------


def load_run(base_url: str, urls: list[str], stop: threading.Event, out: list) -> None:
    session = requests.Session()
    rng = random.Random(threading.get_ident())
    while not stop.is_set():
        url = rng.choice(urls)
        started = time.perf_counter()
        try:
            status = session.get(base_url + url, timeout=30).status_code
        except requests.RequestException as exc:
            status = f"error: {type(exc).__name__}"
        out.append((time.monotonic(), (time.perf_counter() - started) * 1000, status, url))


def under_load(env: dict[str, str], replay_url: str) -> dict:
    from django.db.models import F

    from market.models import BestPrice, MarketSnapshot

    busy = list(
        BestPrice.objects.current(region_id=FORGE)
        .filter(location_id=JITA)
        .annotate(orders=F("bid_count") + F("ask_count"))
        .order_by("-orders")
        .values_list("type_id", flat=True)[:30]
    )
    urls = (
        ["/market/trading/", "/market/trading/?min_margin=0.05", "/market/trading/?sort=-margin"]
        + [f"/market/types/{t}/" for t in busy[:10]]
        + [f"/api/market/orders?region_id={FORGE}&type_id={t}" for t in busy[10:20]]
        + [f"/api/market/history?region_id={FORGE}&type_id={t}" for t in busy[20:30]]
        + ["/api/market/station-trading?station_id=60003760&min_margin=0.05"]
        + [f"/api/market/hauling?from_station_id={JITA}&to_station_id={AMARR}&cargo_m3=60000"]
    )
    web, base_url = gunicorn_start(ROOT, env)
    before = MarketSnapshot.objects.get(region_id=FORGE, is_current=True).id
    try:
        wait_for(f"{base_url}/market/", web, "gunicorn")
        for url in urls:  # every worker reads the books once before the clock starts
            requests.get(base_url + url, timeout=60)
        out: list = []
        stop = threading.Event()
        threads = [
            threading.Thread(target=load_run, args=(base_url, urls, stop, out))
            for _ in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        time.sleep(10)
        ingest_started = time.monotonic()
        ingest = subprocess.run(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "fetch_market_orders",
                "--region",
                str(FORGE),
                "--force",
            ],
            cwd=ROOT,
            env={**env, "ESI_BASE_URL": f"{replay_url}/esi", "LOG_LEVEL": "WARNING"},
            capture_output=True,
            text=True,
        )
        ingest_ended = time.monotonic()
        time.sleep(3)
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        web.terminate()
        web.wait(15)
    after = MarketSnapshot.objects.get(region_id=FORGE, is_current=True).id
    idle = [ms for at, ms, _, _ in out if at < ingest_started]
    during = [ms for at, ms, _, _ in out if ingest_started <= at <= ingest_ended]
    after = [ms for at, ms, _, _ in out if ingest_ended < at <= ingest_ended + 3]
    failures = [
        (status, url) for _, _, status, url in out if not (isinstance(status, int) and status < 400)
    ]
    return {
        "ingest": ingest.stdout.strip() or ingest.stderr.strip()[-300:],
        "ingest_seconds": ingest_ended - ingest_started,
        "swapped": after != before,
        "idle": idle,
        "during": during,
        "after": after,
        "requests": len(out),
        "failures": failures,
    }


# --- main --------------------------------------------------------------------------------------


def results_print(results: list, requests_per_mix: int) -> None:
    load_avg = os.getloadavg()[0]
    print(f"\nMarket desk, {requests_per_mix} requests per mix (load average {load_avg:.1f})")
    print(
        f"{'mix':<34} {'p50':>8} {'p95':>8} {'target':>7} {'p95/target':>10} "
        f"{'first p50':>10} {'first p95':>10} {'pre-warm p50':>12} {'shared p95':>10} "
        f"{'unshared p95':>12} {'raw SQL p95':>11} {'p95/SQL':>8} {'CPU p95':>8} "
        f"{'first CPU p95':>13}"
    )
    for name, target, warm, first, prewarm, shared, unshared, base, cpu, first_cpu in results:
        p50, p95 = statistics.median(warm), percentile(warm, 95)
        print(
            f"{name:<34} {p50:>6.1f}ms {p95:>6.1f}ms {target:>5.0f}ms {p95 / target:>9.2f}x "
            f"{statistics.median(first):>8.1f}ms {percentile(first, 95):>8.1f}ms "
            f"{statistics.median(prewarm):>10.0f}ms {percentile(shared, 95):>8.1f}ms "
            f"{percentile(unshared, 95):>10.1f}ms {base:>9.2f}ms {p95 / base:>7.1f}x "
            f"{percentile(cpu, 95):>6.1f}ms {percentile(first_cpu, 95):>11.1f}ms",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="timed requests per mix")
    parser.add_argument("--reload", action="store_true", help="fetch every hub's book again")
    parser.add_argument(
        "--history-types",
        type=int,
        default=None,
        help="fetch history for at most this many Jita types (default: all)",
    )
    parser.add_argument("--skip-load", action="store_true", help="no concurrent phase")
    parser.add_argument("--only", default="", help="only the mixes whose name holds this")
    parser.add_argument(
        "--new-columns",
        action="store_true",
        help="add station trading's flags, station-volume and category filters to its mixes",
    )
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("set DATABASE_URL to a PostgreSQL database (and REDIS_URL)")

    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import override_settings, setup_test_environment

    from lenny.replay import upstream_settings

    setup_test_environment()  # the test client on a real database, Django's way
    call_command("migrate", verbosity=0)
    replay, replay_url = replay_start()
    try:
        with override_settings(**upstream_settings(replay_url), ESI_HISTORY_RATE="1000000/1m"):
            data_load(reload=args.reload, history_types=args.history_types)
        from django.conf import settings

        settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
        print("server time (Django test client, sequential)…", flush=True)
        results = server_times(args.requests, new_columns=args.new_columns, only=args.only)
        results_print(results, args.requests)
        load = None
        if not args.skip_load:
            print(
                f"{CLIENTS} clients against gunicorn, idle then during a Forge ingest…", flush=True
            )
            load = under_load(dict(os.environ), replay_url)
    finally:
        replay.terminate()
        replay.wait(10)

    if load:
        idle, during = load["idle"], load["during"]
        print(
            f"\nunder load: {load['requests']:,} requests from {CLIENTS} clients, "
            f"{len(load['failures'])} failed"
            + (f" (e.g. {load['failures'][:3]})" if load["failures"] else "")
        )
        print(
            f"  ingest: {load['ingest']} ({load['ingest_seconds']:.1f} s; "
            f"new snapshot current: {load['swapped']})"
        )
        for label, times in (
            ("idle", idle),
            ("during ingest", during),
            ("3 s after", load["after"]),
        ):
            if times:
                print(
                    f"  {label:<14} {len(times):>5} answers: p50 {statistics.median(times):.0f} ms, "
                    f"p95 {percentile(times, 95):.0f} ms, slowest {max(times):.0f} ms"
                )
        if idle and during:
            print(f"  slowest during ingest / slowest idle: {max(during) / max(idle):.2f}x")


if __name__ == "__main__":
    main()
