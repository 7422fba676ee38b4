"""Test data for the pilot's ledger: hand-made trading histories, order snapshots stored by the
real ingest, the sample SDE, and real django-q2 clusters in subprocesses.

Plain functions; linked characters come from accounts/tests/factories.py, and the shared fixtures
built on these (``hand_made``, ``sde_loaded``) are in tests/fixtures.py.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import connection

from accounts.models import Character
from accounts.tests.factories import DEMO_PILOT, character_link_replay, upstreams_configure
from lenny.replay import ReplayServer, upstream_settings
from market.ingest import snapshot_store
from market.ledger.replay import OrderLife, TradingHistory
from market.models import MarketSnapshot

ROOT = Path(__file__).resolve().parents[3]
JITA_REGION, JITA_STATION, JITA_SYSTEM = 10000002, 60003760, 30000142
TRITANIUM, PYERITE = 34, 35
HOUR = 3600


def book_order(
    order_id: int,
    *,
    type_id: int,
    price: str | float,
    is_buy: bool = False,
    location_id: int = JITA_STATION,
    volume: int = 100,
) -> dict:
    """One order of a region's book, as ESI's /markets/{region}/orders/ lists it."""
    return {
        "duration": 90,
        "is_buy_order": is_buy,
        "issued": "2026-01-01T00:00:00Z",
        "location_id": location_id,
        "min_volume": 1,
        "order_id": order_id,
        "price": float(price),
        "range": "region" if not is_buy else "station",
        "system_id": JITA_SYSTEM,
        "type_id": type_id,
        "volume_remain": volume,
        "volume_total": volume,
    }


def snapshot_land(
    orders: list[dict], *, region_id: int = JITA_REGION, last_modified: datetime
) -> MarketSnapshot:
    """Store ``orders`` as the region's current snapshot with the real ingest."""
    return snapshot_store(
        region_id=region_id,
        pages=[json.dumps(orders).encode()],
        last_modified=last_modified,
        expires=last_modified + timedelta(minutes=5),
    )


def sde_sample_load() -> None:
    """The repo's small SDE slice (item and station names), through the real importer."""
    call_command(
        "import_sde", str(ROOT / "market" / "replay" / "data" / "sde"), stdout=io.StringIO()
    )


def trading_history_hand_made(anchor: int) -> TradingHistory:
    """Two Tritanium buys (10 @ 100, 10 @ 110), three sales (15 @ 150, 3 @ 160, 1 @ 170) from one
    sell order that cost a 30 ISK broker fee, and 4 Pyerite sold that were never bought; 3.6% tax
    on each sale, written right after it in the journal. FIFO: 775.60 ISK realized, one unit
    left at 110; average cost: 770.60, one unit at 105. And one sell order still open: 50
    Tritanium at 180."""
    t0 = anchor - 5 * 24 * HOUR

    def tx(tx_id, at, type_id, quantity, price, is_buy):
        return {
            "_at": at,
            "transaction_id": tx_id,
            "type_id": type_id,
            "quantity": quantity,
            "unit_price": price,
            "is_buy": is_buy,
            "is_personal": True,
            "location_id": 60003760,
            "client_id": 95000000 + tx_id,
            "journal_ref_id": None,
        }

    transactions = [
        tx(1001, t0, TRITANIUM, 10, 100.0, True),
        tx(1002, t0 + HOUR, TRITANIUM, 10, 110.0, True),
        tx(1003, t0 + 2 * HOUR, TRITANIUM, 15, 150.0, False),
        tx(1004, t0 + 3 * HOUR, TRITANIUM, 3, 160.0, False),
        tx(1005, t0 + 4 * HOUR, TRITANIUM, 1, 170.0, False),
        tx(1006, t0 + 5 * HOUR, PYERITE, 4, 10.0, False),
    ]
    journal, balance, entry_id = [], 1_000_000.0, 5000

    def entry(at, ref_type, amount, **context):
        nonlocal balance, entry_id
        entry_id += 1
        balance = round(balance + amount, 2)
        journal.append(
            {"_at": at, "id": entry_id, "ref_type": ref_type, "amount": amount, "balance": balance}
            | context
        )

    for row in transactions:
        gross = row["quantity"] * row["unit_price"]
        if row["transaction_id"] == 1003:
            entry(
                t0 + 90 * 60,
                "brokers_fee",
                -30.0,
                context_id=9001,
                context_id_type="market_order_id",
            )
        entry(
            row["_at"],
            "market_transaction",
            -gross if row["is_buy"] else gross,
            context_id=row["transaction_id"],
            context_id_type="market_transaction_id",
        )
        if not row["is_buy"]:
            entry(row["_at"], "transaction_tax", -round(gross * 0.036, 2))
    order = OrderLife(
        order_id=9001,
        type_id=TRITANIUM,
        is_buy_order=False,
        volume_total=19,
        versions=[(t0 + 90 * 60, 150.0)],
        fills=[(t0 + 2 * HOUR, 15), (t0 + 3 * HOUR, 3), (t0 + 4 * HOUR, 1)],
        closed_at=t0 + 4 * HOUR,
    )
    still_open = OrderLife(
        order_id=9002,
        type_id=TRITANIUM,
        is_buy_order=False,
        volume_total=50,
        versions=[(t0 + 6 * HOUR, 180.0)],
    )
    return TradingHistory(
        start_balance=1_000_000.0,
        journal=journal,
        transactions=transactions,
        orders=[order, still_open],
    )


# --- real clusters -----------------------------------------------------------------------------


def pilot_with_undercut_book(server: ReplayServer, settings, owner) -> Character:
    """The replay pilot linked to ``owner`` and synced with the hand-made history, the sample
    SDE, and a Jita book where someone sells Tritanium at 175 (the pilot's 180 is undercut)."""
    from django.utils import timezone

    from market.ledger.sync import character_sync

    upstreams_configure(server, settings)
    sde_sample_load()
    replay = server.state["characters"]
    replay.set_history(DEMO_PILOT, trading_history_hand_made(replay.anchor))
    character = character_link_replay(server, owner)
    assert all(outcome.ok for outcome in character_sync(character=character))
    snapshot_land(
        [book_order(1, type_id=34, price="175.00"), book_order(2, type_id=35, price="11.00")],
        last_modified=timezone.now().replace(microsecond=0) - timedelta(minutes=1),
    )
    return character


def cluster_env(server: ReplayServer, **extra: str) -> dict[str, str]:
    """The environment of a qcluster subprocess: this test database, Redis and the replay."""
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
        ),
        "REDIS_URL": settings.REDIS_URL,
        "LOG_LEVEL": "WARNING",
        **upstream_settings(server.base_url),
        **extra,
    }
    env.pop("Q_CLUSTER_NAME", None)
    return env


def cluster_start(env: dict[str, str], *, name: str | None = None) -> subprocess.Popen:
    if name:
        env = {**env, "Q_CLUSTER_NAME": name}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "qcluster"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def cluster_stop(process: subprocess.Popen) -> str:
    """Stop a cluster this test started; returns what it wrote on stderr."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.stderr.read().decode(errors="replace") if process.stderr else ""


def wait_until(condition, *, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
