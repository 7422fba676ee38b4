"""The pilot's ledger pages: web CPU and queries per answer, in one process.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python benchmarks/ledger_pages.py [--rounds N]

Data, as ``load.py`` sets up its ledger user: the replay's demo pilot linked to the user
``ledger-bench`` and synced through the replay ESI (in this process, on loopback; 585
transactions, 1,408 journal entries), with the repo's SDE slice for item and station names.
A database that already holds them is reused.

Each page is asked through Django's test client (routing, middleware, session, queries,
templates), warm (the first answers are thrown away, so the ledger summary is cached as the
sync jobs leave it), ``--rounds`` times; the CPU of this process (``time.process_time``) and the
queries (``CaptureQueriesContext``) are counted per answer; "1st" is the first view after a
sync (every cache emptied, then what the sync job warms: the summary, the overview's figures). Baseline, in the same run: the same
user's rows the page is about fetched raw with one query (no accounting, no rendering); the
ratio says how many such fetches a page costs. The issue's target: ≤ 20 ms of CPU per answer.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lenny.settings")
os.environ.setdefault("LENNY_MANIFEST_STATIC", "0")
os.environ.setdefault("LOG_LEVEL", "WARNING")

BENCH_USER = "ledger-bench"
SAMPLE_SDE = ROOT / "market" / "replay" / "data" / "sde"
CPU_TARGET_MS = 20.0
PAGES = {
    "overview": "/ledger/",
    "transactions": "/ledger/transactions/",
    "transactions p3 sells": "/ledger/transactions/?side=sell&page=3",
    "profit 30d": "/ledger/profit/",
    "profit all": "/ledger/profit/?period=all",
    "orders": "/ledger/orders/",
}


def pilot_load() -> int:
    """The user with the demo pilot linked and synced (reused when present): their id."""
    from bench_people import pilot_link_and_sync
    from django.contrib.auth import get_user_model
    from django.test.utils import override_settings

    from lenny.replay import replay_server_build, upstream_settings
    from market.ledger.models import WalletTransaction
    from market.models import Type
    from market.sde import sde_import

    if not Type.objects.exists():
        sde_import(source=str(SAMPLE_SDE))
    user, _ = get_user_model().objects.get_or_create(
        username=BENCH_USER, defaults={"email": "ledger@localhost"}
    )
    if WalletTransaction.objects.filter(character__owner=user).exists():
        return user.pk
    server = replay_server_build().start()
    try:
        server.state["esi"].configure(history="sample")
        with override_settings(
            **upstream_settings(server.base_url), ESI_BACKOFF_BASE=0.01, ESI_BACKOFF_MAX=0.05
        ):
            pilot_link_and_sync(server, user, label="synced")
    finally:
        server.stop()
    return user.pk


def baselines(user_id: int) -> dict[str, Callable[[], object]]:
    """Per page, the raw rows it is about, one query each."""
    from django.db import connection

    def raw(sql: str) -> Callable[[], object]:
        def run() -> object:
            with connection.cursor() as cursor:
                cursor.execute(sql, [user_id])
                return cursor.fetchall()

        return run

    owned = "character_id IN (SELECT id FROM accounts_character WHERE owner_id = %s)"
    transactions = raw(
        f"SELECT character_id, transaction_id, date, type_id, quantity, unit_price, is_buy, "
        f"location_id, client_id FROM market_wallettransaction WHERE {owned}"
    )
    page = raw(
        f"SELECT * FROM market_wallettransaction WHERE {owned} "
        f"ORDER BY date DESC, transaction_id DESC LIMIT 50"
    )
    journal = raw(
        f"SELECT character_id, entry_id, date, ref_type, amount, balance "
        f"FROM market_walletjournalentry WHERE {owned}"
    )
    orders = raw(f"SELECT * FROM market_characterorder WHERE state = 'open' AND {owned}")
    return {
        "overview": journal,
        "transactions": page,
        "transactions p3 sells": page,
        "profit 30d": transactions,
        "profit all": transactions,
        "orders": orders,
    }


def measure(
    run: Callable[[], object], rounds: int, prepare: Callable[[], None] | None = None
) -> tuple[float, int]:
    """Median CPU ms of ``run`` over ``rounds`` calls (after two warm ones) and its queries;
    ``prepare`` runs before each call, outside the count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):
        run()
    times = []
    for _ in range(rounds):
        if prepare is not None:
            prepare()
        with CaptureQueriesContext(connection) as queries:
            started = time.process_time()
            run()
            times.append((time.process_time() - started) * 1000)
    return statistics.median(times), len(queries)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.core.management import call_command
    from django.test import Client

    from market.ledger import queries
    from market.ledger.models import LedgerPreference, WalletJournalEntry, WalletTransaction
    from market.ledger.summary import ledger_summary

    overview_figures = getattr(queries, "overview_figures", None)

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.DEBUG = False
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.get(pk=pilot_load())
    print(
        f"user {user.username}: "
        f"{WalletTransaction.objects.filter(character__owner=user).count():,} transactions, "
        f"{WalletJournalEntry.objects.filter(character__owner=user).count():,} journal entries",
        flush=True,
    )
    client = Client()
    client.force_login(user)
    raws = baselines(user.pk)

    def get(url: str) -> Callable[[], object]:
        def run() -> object:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            return response

        return run

    def after_sync() -> None:
        # A sync landed: every page cache is stale; the sync job warmed what it warms (the
        # summary, and the overview's figures where the code has them).
        cache.clear()
        ledger_summary(user=user)
        if overview_figures is not None:
            overview_figures(user=user, method=LedgerPreference.for_user(user).cost_method)

    print(
        f"\n{'page':<22} {'CPU ms':>8} {'queries':>8} {'raw ms':>8} {'÷ raw':>7} "
        f"{'1st ms':>8} {'1st q':>6}  (median of {args.rounds}; target ≤ {CPU_TARGET_MS:.0f} ms;"
        " 1st: the first view after a sync)"
    )
    for name, url in PAGES.items():
        page_ms, page_queries = measure(get(url), args.rounds)
        raw_ms, _ = measure(raws[name], args.rounds)
        first_ms, first_queries = measure(get(url), max(3, args.rounds // 4), after_sync)
        print(
            f"{name:<22} {page_ms:>8.1f} {page_queries:>8} {raw_ms:>8.2f} "
            f"{page_ms / raw_ms if raw_ms else float('nan'):>7.1f} "
            f"{first_ms:>8.1f} {first_queries:>6}",
            flush=True,
        )


if __name__ == "__main__":
    main()
