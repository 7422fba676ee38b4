"""The store dashboard's web CPU per answer: 100 wanted cards x 5 stores, in one process.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python benchmarks/store_dashboard.py [--reuse]

Builds a scratch database next to DATABASE_URL's (``<name>_store_dashboard``; ``--reuse`` keeps
the one a previous run built) as ``load.py`` builds its store user: ``--cards`` generated cards
imported through the catalog, the five replay stores (Crystal Commerce and Shopify/BinderPOS
sites built on the real pages) and a user who wants 2 copies of each card, every card checked at
every store through the real check (replay server on loopback, listings as the stores print
them).

Then, through Django's test client (middleware, session, routing, template), warm, for
``--rounds`` rounds: CPU time (``time.process_time``) and queries per answer of

- the dashboard page (``GET /stores/``), its first render after the cache was emptied ("cold")
  and warm;
- a row's htmx refresh (``GET /stores/wants/<pk>/``) and the "where to buy" poll;

against a baseline measured in the same run: the fastest raw way to the same rows — one query
reading each want's card name and amount and its check results' listings, joined into a string.
Target (issue 15): a desk page ≤ 20 ms of web CPU per answer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lenny.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

TARGET_MS = 20.0
USER = "dashboard-bench"


def scratch_database(*, reuse: bool) -> bool:
    """Point DATABASE_URL at ``<name>_store_dashboard``; True when it holds a previous run's
    data (``reuse``), else it is made fresh and migrated."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres") or not os.environ.get("REDIS_URL"):
        raise SystemExit("set DATABASE_URL to PostgreSQL and REDIS_URL to Redis")
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/") + "_store_dashboard"
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if reuse and exists:
            return True
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0", "--skip-checks"],
        cwd=ROOT,
        check=True,
    )
    return False


def data_build(cards: int) -> None:
    """The store user as ``load.py`` builds it: ``cards`` wants, each checked at 5 stores."""
    from bench_people import cards_want_and_check
    from django.contrib.auth import get_user_model
    from store_checks import card_objects

    from lenny.replay import replay_server_build
    from stores.catalog import catalog_import
    from stores.models import PreferredStore, Store
    from stores.replay import SITES

    objects = card_objects(cards)
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
        handle.writelines(json.dumps(card) + "\n" for card in objects)
    catalog_import(path=Path(handle.name), progress=False)
    os.unlink(handle.name)
    user = get_user_model().objects.create_user(USER, "bench@localhost", "bench-password-1")
    server = replay_server_build().start()
    try:
        server.state["store_sites"]["extra_cards"] = objects
        server.state["store_sites"]["epoch"] = 1
        stores = []
        for slug, site in SITES.items():
            store = Store.objects.create(
                name=f"{site.name} (bench)",
                platform=site.platform,
                base_url=server.url(f"/stores/{slug}"),
                city="Replay",
                max_in_flight=8,
                max_requests_per_minute=30000,
            )
            PreferredStore.objects.create(user=user, store=store)
            stores.append(store)
        cards_want_and_check(user, stores, cards=cards, label="data")
    finally:
        server.stop()


def measured(call, rounds: int) -> tuple[float, int, int]:
    """(median CPU ms, queries, bytes) of ``call`` over ``rounds`` warm rounds."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    call()  # warm: imports, template loading, connections
    times, queries, size = [], 0, 0
    for _ in range(rounds):
        with CaptureQueriesContext(connection) as captured:
            started = time.process_time()
            size = call()
            times.append((time.process_time() - started) * 1000)
        queries = len(captured.captured_queries)
    return statistics.median(times), queries, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cards", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--reuse", action="store_true", help="reuse a previous run's data")
    args = parser.parse_args()

    reused = scratch_database(reuse=args.reuse)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client

    from stores.models import CheckResult, WantedCard

    if not reused:
        data_build(args.cards)
    user = get_user_model().objects.get(username=USER)
    wants = WantedCard.objects.filter(owner=user).count()
    cells = CheckResult.objects.filter(card__wanted_by__owner=user).count()
    listings = sum(
        len(x)
        for x in CheckResult.objects.filter(card__wanted_by__owner=user).values_list(
            "listings", flat=True
        )
    )
    print(f"{wants} wants, {cells} stock cells, {listings} store listings behind them")

    client = Client(HTTP_HOST="localhost")
    client.force_login(user)

    def baseline() -> int:
        # The same rows, read with one query and joined into a string: no matching, no HTML.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.name, w.amount, r.store_id, r.status, r.listings::text "
                "FROM stores_wantedcard w JOIN stores_card c ON c.id = w.card_id "
                "JOIN stores_checkresult r ON r.card_id = w.card_id "
                "JOIN stores_preferredstore p ON p.store_id = r.store_id AND p.user_id = w.owner_id "
                "WHERE w.owner_id = %s ORDER BY c.name, r.store_id",
                [user.pk],
            )
            text = "\n".join("\t".join(map(str, row)) for row in cursor.fetchall())
        return len(text)

    def page() -> int:
        response = client.get("/stores/")
        assert response.status_code == 200, response.status_code
        return len(response.content)

    def page_cold() -> int:
        cache.clear()
        return page()

    pk = (
        WantedCard.objects.filter(owner=user)
        .order_by("card__name")
        .values_list("pk", flat=True)[wants // 2]
    )

    def row() -> int:
        response = client.get(f"/stores/wants/{pk}/", HTTP_HX_REQUEST="true")
        assert response.status_code == 200, response.status_code
        return len(response.content)

    def summary() -> int:
        response = client.get("/stores/stock/summary", HTTP_HX_REQUEST="true")
        assert response.status_code == 200, response.status_code
        return len(response.content)

    base_ms, base_q, base_size = measured(baseline, args.rounds)
    print(f"\nper answer, median of {args.rounds} warm rounds (CPU of this process):")
    print(f"  {'':34} {'CPU ms':>8} {'queries':>8} {'bytes':>9} {'÷ baseline':>11}")
    print(f"  {'baseline: one query, joined':34} {base_ms:8.1f} {base_q:8d} {base_size:9,d}")
    for label, call in (
        ("dashboard, cold (cache emptied)", page_cold),
        ("dashboard, warm", page),
        ("row refresh (htmx)", row),
        ("where to buy (htmx poll)", summary),
    ):
        ms, queries, size = measured(call, args.rounds)
        print(f"  {label:34} {ms:8.1f} {queries:8d} {size:9,d} {ms / base_ms:10.1f}x")
    print(f"  target: dashboard ≤ {TARGET_MS:.0f} ms of CPU per answer")


if __name__ == "__main__":
    main()
