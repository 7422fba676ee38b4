"""Store checks benchmark: a full re-check of 200 tracked cards at 5 replay stores.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python benchmarks/store_checks.py

Builds a scratch database next to DATABASE_URL's with 200 cards (generated Scryfall objects,
imported through the catalog), the five replay stores (Crystal Commerce and Shopify/BinderPOS
sites built on the real pages) and one user who wants every card at every store. The replay
runs in this process with --latency added to every store request; a real django-q2 cluster
(``manage.py qcluster``, --workers processes) runs the checks, one task per (store, card), with
the stores' politeness limits (--in-flight at once per store) shared through Redis.

Figures:

- the full re-check against the ideal the politeness limits set: for the busiest store,
  ``requests x latency / in-flight`` (or its per-minute limit, if slower) — target ≤ 1.5x;
- the same against a baseline measured in this run: one check alone (latency, the store's page,
  parsing, saving) x checks per store / in-flight;
- a cached re-check (every pair queued again within the cache's lifetime): requests sent to the
  stores, which must be 0.

The Redis database given is used for the broker and the cache; its task queue is emptied first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lenny.settings")
TARGET = 1.5
SCRATCH = "lenny_bench_store_checks"
ADJECTIVES = [
    "Gilded", "Ashen", "Verdant", "Hollow", "Sunlit", "Briny", "Feral", "Gloomy", "Radiant",
    "Rusted", "Silent", "Frozen", "Molten", "Thorned", "Wandering", "Ancient", "Crimson",
    "Drowned", "Howling", "Shattered",
]  # fmt: skip
NOUNS = [
    "Drake", "Sentinel", "Oracle", "Marauder", "Lighthouse", "Monolith", "Wurm", "Apostle",
    "Familiar", "Harbinger",
]  # fmt: skip
SETS = [("bm1", "Benchmark Dawn"), ("bm2", "Benchmark Dusk"), ("bm3", "Benchmark Remastered")]


def scratch_database() -> None:
    """Point DATABASE_URL at a fresh scratch database beside the given one, migrated."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres") or not os.environ.get("REDIS_URL"):
        raise SystemExit("set DATABASE_URL to PostgreSQL and REDIS_URL to Redis")
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{SCRATCH}"')
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{SCRATCH}"))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True
    )


def scratch_drop() -> None:
    import psycopg

    parts = urlsplit(os.environ["DATABASE_URL"])
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)')


def card_objects(count: int) -> list[dict]:
    """``count`` Scryfall card objects with distinct two-word names, one or two printings each."""
    cards = []
    for n in range(count):
        name = f"{ADJECTIVES[n % len(ADJECTIVES)]} {NOUNS[n // len(ADJECTIVES) % len(NOUNS)]}"
        if n >= len(ADJECTIVES) * len(NOUNS):
            name += f" {n}"
        oracle = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-oracle-{n}"))
        for p, (code, set_name) in enumerate(SETS[: 1 + n % 2]):
            cards.append(
                {
                    "object": "card",
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-print-{n}-{p}")),
                    "oracle_id": oracle,
                    "name": name,
                    "lang": "en",
                    "layout": "normal",
                    "set": code,
                    "set_name": set_name,
                    "set_type": "expansion",
                    "collector_number": str(n + 1),
                    "released_at": "2024-01-01",
                    "finishes": ["nonfoil", "foil"],
                    "digital": False,
                    "games": ["paper"],
                    "prices": {"eur": f"{1 + n % 17}.{n % 100:02}"},
                }
            )
    return cards


def wait_until(predicate, *, timeout: float, step: float = 0.05) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"gave up after {timeout:.0f} s")
        time.sleep(step)
    return time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cards", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds added to each request")
    parser.add_argument("--in-flight", type=int, default=2, help="per store")
    parser.add_argument("--per-minute", type=int, default=1200, help="per store")
    parser.add_argument("--workers", type=int, default=12, help="django-q2 worker processes")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    scratch_database()
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db.models import Max
    from django.utils import timezone
    from django_q.brokers import get_broker
    from django_q.status import Stat

    from lenny.replay import replay_server_build
    from stores.catalog import catalog_import
    from stores.checks import check_run, checks_queue, checks_queue_stale, listings_cache_key
    from stores.models import Card, CheckResult, PreferredStore, Store, WantedCard
    from stores.replay import SITES

    objects = card_objects(args.cards)
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
        handle.writelines(json.dumps(card) + "\n" for card in objects)
    catalog_import(path=Path(handle.name), progress=False)
    os.unlink(handle.name)

    server = replay_server_build().start()
    server.state["store_sites"]["extra_cards"] = objects
    server.state["store_sites"]["epoch"] = 1
    stores = [
        Store.objects.create(
            name=site.name,
            platform=site.platform,
            base_url=server.url(f"/stores/{slug}"),
            max_in_flight=args.in_flight,
            max_requests_per_minute=args.per_minute,
        )
        for slug, site in SITES.items()
    ]
    user = get_user_model().objects.create_user("bench", "bench@localhost", "bench-password-1")
    for store in stores:
        PreferredStore.objects.create(user=user, store=store)
    cards = list(Card.objects.filter(printings__set__code__startswith="bm").distinct())
    for card in cards:
        WantedCard.objects.create(owner=user, card=card, amount=1)
    server.fault(r"^/stores/", latency=args.latency, times=None)

    # Baseline: one check alone, in this process, against a store nobody else is asking.
    single = []
    for card in cards[:5]:
        result, _ = CheckResult.objects.get_or_create(store=stores[0], card=card)
        started = time.perf_counter()
        assert check_run(result_id=result.pk, refresh=True).status == "ok"
        single.append(time.perf_counter() - started)
    one_check = sorted(single)[len(single) // 2]
    for result in CheckResult.objects.select_related("store", "card"):
        cache.delete(listings_cache_key(result.store, result.card))
    CheckResult.objects.all().delete()
    server.log.clear()

    get_broker().purge_queue()
    env = {**os.environ, "Q_WORKERS": str(args.workers)}
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: any(s.status == "Idle" for s in Stat.get_all()), timeout=60, step=0.5)
        time.sleep(1)  # every worker up

        # A full re-check: every card at every store, nothing cached.
        started_at = timezone.now()
        started = time.monotonic()
        queued = checks_queue_stale()
        finished = wait_until(
            lambda: not CheckResult.objects.filter(queued_at__isnull=False).exists(),
            timeout=600,
        )
        last = CheckResult.objects.aggregate(last=Max("attempted_at"))["last"]
        elapsed = (last - started_at).total_seconds() if last else finished - started
        outcomes = dict.fromkeys(["ok", "failed", "never"], 0)
        for status in CheckResult.objects.values_list("status", flat=True):
            outcomes[status] += 1
        per_store = {slug: server.count(rf"^/stores/{slug}/") for slug in SITES}
        busiest = max(per_store.values())
        ideal = max(busiest * args.latency / args.in_flight, (busiest - 1) * 60 / args.per_minute)
        baseline = max(len(cards) * one_check / args.in_flight, ideal)

        # A cached re-check: the same pairs again, within the cache's lifetime.
        server.log.clear()
        pairs = list(CheckResult.objects.values_list("store_id", "card_id"))
        cached_started = time.monotonic()
        cached_queued = checks_queue(pairs=pairs)
        cached_done = wait_until(
            lambda: not CheckResult.objects.filter(queued_at__isnull=False).exists(),
            timeout=600,
        )
        cached_requests = server.count(r"^/stores/")
    finally:
        cluster.terminate()
        try:
            cluster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cluster.kill()
        server.stop()
        if not args.keep:
            django.db.connections.close_all()
            scratch_drop()

    print(
        f"\nStore checks: {len(cards)} cards x {len(stores)} replay stores = {queued} checks, "
        f"{args.latency * 1000:.0f} ms latency, {args.in_flight} in flight and "
        f"{args.per_minute}/min per store, {args.workers} workers"
    )
    print(f"outcomes            {outcomes}")
    print(f"requests per store  {per_store}")
    print(f"ideal     busiest store's requests x latency / in-flight      {ideal:7.2f} s")
    print(
        f"baseline  one check alone ({one_check * 1000:.0f} ms) x checks per store / in-flight"
        f" {baseline:7.2f} s"
    )
    ratio = elapsed / ideal
    print(
        f"full re-check       {elapsed:7.2f} s = {ratio:.2f}x ideal (target ≤ {TARGET}x), "
        f"{elapsed / baseline:.2f}x baseline"
    )
    print(
        f"cached re-check     {cached_queued} checks in {cached_done - cached_started:.2f} s, "
        f"{cached_requests} requests to the stores (target 0)"
    )
    ok = ratio <= TARGET and cached_requests == 0 and outcomes["ok"] == queued
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
