"""Hauling speed: one pair of hubs and "any hub to any hub", first views after a new snapshot,
in server time and over real HTTP with a few concurrent clients.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python benchmarks/hauling.py [--before DIR]

Data: what ``market_pages.py`` loads (the SDE, every hub's book at full size: The Forge ~405k
orders; Jita's history), plus the history of every type on the other hubs' markets, as the
demo has it (so destinations have daily volumes, and the flags see what a user sees).

1. Server time (Django test client, sequential), each view the first after a new snapshot: the
   web process's memos emptied, the book tops and haul books shared by the warm-up as
   ``market.warmup`` does when a snapshot lands; then again after the web process's pre-warm
   thread (``market.prewarm``) has made its recent views for the new snapshots. Baseline, in the same run: the raw SQL that
   reads the hubs' best prices (no book, no plan, no page).
2. Real HTTP: gunicorn as ``manage.py run`` starts it (2 workers x 4 threads), one client and
   then CLIENTS clients asking at once, every round right after new snapshots "landed" in every hub region: each
   current snapshot's fetch time moves on by a millisecond (what names a snapshot in every
   cache and memo, so every worker's memo is cold for it) and the warm-up shares the book tops
   (and the haul books, where the code has them), as ``market.warmup`` does in the worker that
   fetched a snapshot. ``--before DIR`` runs the same rounds against another checkout (e.g. the
   code before this change, from ``git archive``) on the same database, in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lenny.settings")
os.environ.setdefault("LENNY_MANIFEST_STATIC", "0")

import market_pages  # noqa: E402  (the desk benchmark's data and helpers)
from market_pages import (  # noqa: E402
    data_load,
    gunicorn_start,
    percentile,
    prewarm_round,
    replay_start,
    snapshot_landed,
    wait_for,
)

# The shared fixtures sit beside the checkout, or beside the folder of worktrees.
for _folder in ROOT.parents:
    if (_folder / "shared" / "fixtures" / "eve" / "sde" / "invTypes.csv").exists():
        market_pages.SHARED_SDE = _folder / "shared" / "fixtures" / "eve" / "sde"
        break

JITA, AMARR = 60003760, 60008494
PAIR_TARGET_MS = 100.0
ANY_TARGET_MS = 1000.0
CLIENTS = 3

PAIR = f"from_station_id={JITA}&to_station_id={AMARR}"
PAIR_URLS = [
    f"/market/hauling/?{PAIR}",
    f"/api/market/hauling?{PAIR}",
    f"/market/hauling/?{PAIR}&mode=relist",
    f"/api/market/hauling?{PAIR}&budget=1000000000&cargo_m3=60000",
]
ANY_URLS = [
    "/market/hauling/?from_station_id=&to_station_id=",
    "/market/hauling/?from_station_id=&to_station_id=&mode=relist",
    "/api/market/hauling?budget=1000000000&cargo_m3=60000",
    "/market/hauling/?from_station_id=&to_station_id=&sort=-roi&page=2",
]


def history_load() -> None:
    """The history of every type on each other hub's market, once (reused later)."""
    from market.hubs import HUBS
    from market.ingest import history_fetch
    from market.models import BestPrice, TypeRegionStats

    for hub in HUBS[1:]:
        on_market = set(
            BestPrice.objects.current(region_id=hub.region_id)
            .filter(location_id=hub.station_id)
            .values_list("type_id", flat=True)
        )
        known = set(
            TypeRegionStats.objects.filter(region_id=hub.region_id).values_list(
                "type_id", flat=True
            )
        )
        missing = sorted(on_market - known)
        if missing:
            print(f"history of {len(missing):,} types in {hub.region_id}…", flush=True)
            print(f"  {history_fetch(region_id=hub.region_id, type_ids=missing).summary()}")


def server_times(urls: list[str], rounds: int, *, prewarmed: bool = False) -> list[float]:
    """Each URL's first view after a new snapshot; with ``prewarmed``, after the web process's
    pre-warm thread has made its recent views again (``market.prewarm``)."""
    from django.test import Client

    client = Client(HTTP_HOST="localhost")
    times = []
    for _ in range(rounds):
        for url in urls:
            snapshot_landed(shared=True)
            if prewarmed:
                prewarm_round()
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
    return times


def raw_tops() -> Callable[[], None]:
    from django.db import connection

    from market.hubs import HUBS

    def run() -> None:
        for hub in HUBS:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT type_id, best_bid, best_ask FROM market_bestprice WHERE snapshot_id ="
                    " (SELECT id FROM market_marketsnapshot WHERE region_id = %s AND is_current)"
                    " AND location_id = %s",
                    [hub.region_id, hub.station_id],
                )
                cursor.fetchall()

    return run


def new_snapshots_everywhere() -> None:
    """What every web worker sees when a new snapshot of every hub region lands: new keys for
    everything derived from the books (the snapshot's id and fetch time name them), shared at
    once by the warm-up. The orders stay the same, so every round plans the same books."""
    from datetime import timedelta

    from django.db.models import F

    from market.hubs import HUBS
    from market.models import MarketSnapshot
    from market.warmup import book_tops_warm

    MarketSnapshot.objects.filter(is_current=True).update(
        fetched_at=F("fetched_at") + timedelta(milliseconds=1)
    )
    for region_id in {hub.region_id for hub in HUBS}:
        book_tops_warm(region_id=region_id)


def http_rounds(
    code: Path, urls: list[str], rounds: int, env: dict[str, str], clients: int
) -> list[float]:
    """Per answer, ms: ``clients`` clients each ask one of ``urls`` at once, right after new
    snapshots landed everywhere; ``rounds`` times."""
    web, base = gunicorn_start(code, env)
    times: list[float] = []
    try:
        wait_for(f"{base}/market/", web, "gunicorn")
        for url in urls:  # templates compiled, code imported, the SDE's graph read
            for _ in range(2):
                requests.get(base + url, timeout=120)
        for round_ in range(rounds):
            new_snapshots_everywhere()
            answers: list[float] = []

            def ask(url: str, answers: list[float] = answers) -> None:
                started = time.perf_counter()
                status = requests.get(base + url, timeout=120).status_code
                answers.append((time.perf_counter() - started) * 1000)
                assert status == 200, (url, status)

            threads = [
                threading.Thread(target=ask, args=(urls[(round_ + i) % len(urls)],))
                for i in range(clients)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            times += answers
    finally:
        web.terminate()
        web.wait(15)
    return times


def line(name: str, times: list[float], target: float, base: float | None = None) -> str:
    p50, p95 = statistics.median(times), percentile(times, 95)
    text = f"{name:<44} {p50:>8.1f} {p95:>8.1f} {target:>7.0f} {p95 / target:>9.2f}x"
    if base:
        text += f" {p95 / base:>8.1f}x"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="first views per URL")
    parser.add_argument("--before", type=Path, help="another checkout to measure alike")
    parser.add_argument("--no-http", action="store_true", help="server time only")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("set DATABASE_URL to a PostgreSQL database (and REDIS_URL)")

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test.utils import override_settings, setup_test_environment

    from lenny.replay import upstream_settings
    from market.queries import jump_graph, market_group_tree

    setup_test_environment()
    call_command("migrate", verbosity=0)
    replay, replay_url = replay_start()
    try:
        with override_settings(**upstream_settings(replay_url), ESI_HISTORY_RATE="1000000/1m"):
            data_load(reload=False, history_types=None)
            history_load()
    finally:
        replay.terminate()
        replay.wait(10)

    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
    jump_graph()
    market_group_tree()
    for url in PAIR_URLS + ANY_URLS:  # imports, templates: a process's very first views
        server_times([url], 1)
    print("server time, first views after a new snapshot (Django test client)…", flush=True)
    pair = server_times(PAIR_URLS, args.rounds)
    any_hub = server_times(ANY_URLS, args.rounds)
    pair_warmed = server_times(PAIR_URLS, args.rounds, prewarmed=True)
    any_warmed = server_times(ANY_URLS, args.rounds, prewarmed=True)
    base = percentile([t for t in (measure_ms(raw_tops()) for _ in range(50))], 95)
    header = f"{'':<44} {'p50 ms':>8} {'p95 ms':>8} {'target':>7} {'p95/target':>10} {'p95/SQL':>8}"
    print(f"\nraw SQL of the five hubs' best prices: p95 {base:.1f} ms")
    print(header)
    print(line("one pair, server time", pair, PAIR_TARGET_MS, base))
    print(line("any hub to any hub, server time", any_hub, ANY_TARGET_MS, base))
    print(line("one pair, server time, pre-warmed", pair_warmed, PAIR_TARGET_MS, base))
    print(line("any hub to any hub, pre-warmed", any_warmed, ANY_TARGET_MS, base))
    if args.no_http:
        return
    env = dict(os.environ)
    codes = [("after", ROOT)] + ([("before", args.before.resolve())] if args.before else [])
    print("\nreal HTTP, first views after new snapshots…", flush=True)
    print(header[:-9])
    for clients in (1, CLIENTS):
        for label, code in codes:
            pair = http_rounds(code, PAIR_URLS, args.rounds, env, clients)
            any_hub = http_rounds(code, ANY_URLS, max(2, args.rounds // 2), env, clients)
            name = f"{label}, {clients} client{'s' if clients > 1 else ''}"
            print(line(f"one pair, HTTP ({name})", pair, PAIR_TARGET_MS), flush=True)
            print(line(f"any hub to any hub, HTTP ({name})", any_hub, ANY_TARGET_MS), flush=True)


def measure_ms(call: Callable[[], None]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    main()
