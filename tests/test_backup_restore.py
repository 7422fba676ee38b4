"""The documented backup and restore, performed: scripts/backup.sh dumps a real PostgreSQL database
holding ledger rows, scripts/restore.sh brings them back into a fresh one, migrate runs on it;
retention keeps the newest dumps and a failed dump leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from accounts.models import Character
from market.ledger.models import WalletJournalEntry, WalletTransaction

ROOT = Path(__file__).resolve().parent.parent
BACKUP = ROOT / "scripts" / "backup.sh"
RESTORE = ROOT / "scripts" / "restore.sh"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not shutil.which("pg_dump") or not shutil.which("pg_restore"),
        reason="the PostgreSQL client tools are not installed",
    ),
]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("backups are pg_dump's: they need PostgreSQL")


def libpq_env(database: str, **extra: str) -> dict[str, str]:
    """The variables the compose service gives the scripts, pointed at the test server."""
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env |= {
        "PGHOST": db["HOST"] or "127.0.0.1",
        "PGPORT": str(db["PORT"] or 5432),
        "PGUSER": db["USER"] or "",
        "PGDATABASE": database,
    }
    if db["PASSWORD"]:
        env["PGPASSWORD"] = db["PASSWORD"]
    return env | extra


def run(*args, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args], env=env, capture_output=True, text=True, timeout=300
    )


def server(database: str = "postgres") -> psycopg.Connection:
    env = libpq_env(database)
    return psycopg.connect(
        host=env["PGHOST"],
        port=env["PGPORT"],
        user=env["PGUSER"],
        password=env.get("PGPASSWORD"),
        dbname=database,
        autocommit=True,
    )


@pytest.fixture
def fresh_database():
    """An empty database beside the test one, as a new PostgreSQL volume has; dropped after."""
    name = f"{connection.settings_dict['NAME']}_restored"
    with server() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with server() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def ledger(django_user_model) -> Character:
    """A pilot with journal entries and transactions older than ESI's 30 days."""
    owner = django_user_model.objects.create_user("alice", "", "correct horse 9")
    pilot = Character.objects.create(
        character_id=2112625428, name="Lenny Demo Pilot", owner=owner, owner_hash="hash"
    )
    for i in range(1, 51):
        WalletJournalEntry.objects.create(
            character=pilot,
            entry_id=700_000 + i,
            date=datetime(2025, 1, i % 28 + 1, tzinfo=UTC),
            ref_type="market_transaction",
            amount=Decimal(f"{i * 1000}.{i:02d}"),
            balance=Decimal("1000000.00"),
        )
        WalletTransaction.objects.create(
            character=pilot,
            transaction_id=800_000 + i,
            date=datetime(2025, 1, i % 28 + 1, tzinfo=UTC),
            type_id=34,
            quantity=i,
            unit_price=Decimal("4.25"),
            is_buy=i % 2 == 0,
            location_id=60003760,
        )
    return pilot


def journal(database: str) -> list[tuple]:
    with server(database) as db:
        return db.execute(
            "SELECT entry_id, amount FROM market_walletjournalentry ORDER BY entry_id"
        ).fetchall()


def dumps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("lenny-*.dump"))


@pytest.fixture
def snapshot_partition():
    """A snapshot's order partition, as every ingest leaves one: --clean restores trip on it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE market_order_s_backup PARTITION OF market_order FOR VALUES IN (987654321)"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS market_order_s_backup")


def test_backup_then_documented_restore_brings_the_ledger_back(
    ledger, snapshot_partition, fresh_database, tmp_path
):
    source = connection.settings_dict["NAME"]
    folder = tmp_path / "backups"
    folder.mkdir()
    older = ["lenny-20200101T000000Z.dump", "lenny-20200102T000000Z.dump"]
    for name in older:
        (folder / name).write_bytes(b"an older dump")
    (folder / "notes.txt").write_text("not a dump: retention leaves it alone")
    expected = list(
        WalletJournalEntry.objects.order_by("entry_id").values_list("entry_id", "amount")
    )

    backed_up = run(
        BACKUP, "--once", env=libpq_env(source, BACKUP_DIR=str(folder), BACKUP_KEEP="2")
    )

    assert backed_up.returncode == 0, backed_up.stderr
    kept = dumps(folder)
    # The newest two: this run's and the newer of the old ones; the oldest was pruned.
    assert len(kept) == 2 and kept[0] == older[1] and kept[1] > older[1]
    assert "removed lenny-20200101T000000Z.dump" in backed_up.stdout
    assert (folder / "notes.txt").exists() and not list(folder.glob(".*partial"))
    dump = folder / kept[1]

    # README, "Backups": web and workers stopped, restore.sh FILE, then migrate.
    restored = run(RESTORE, dump, env=libpq_env(fresh_database))
    assert restored.returncode == 0, restored.stderr
    migrated = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": _url(fresh_database)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "No migrations to apply" in migrated.stdout

    assert journal(fresh_database) == expected and len(expected) == 50
    with server(fresh_database) as db:
        assert db.execute(
            "SELECT count(*), sum(quantity) FROM market_wallettransaction"
        ).fetchone() == (50, sum(range(1, 51)))
        assert db.execute("SELECT name FROM accounts_character").fetchall() == [
            ("Lenny Demo Pilot",)
        ]
        # A database damaged after the backup: restoring over it puts the rows back.
        db.execute("DELETE FROM market_walletjournalentry WHERE entry_id > 700010")
    again = run(RESTORE, dump, env=libpq_env(fresh_database))
    assert again.returncode == 0, again.stderr
    assert journal(fresh_database) == expected


def test_a_failing_pg_dump_leaves_no_partial_file_and_prunes_nothing(tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    old = folder / "lenny-20200101T000000Z.dump"
    old.write_bytes(b"the only good dump")

    failed = run(
        BACKUP,
        "--once",
        env=libpq_env(
            "no_such_database_h8", BACKUP_DIR=str(folder), BACKUP_KEEP="1", PGPASSWORD="s3cret-pw"
        ),
    )

    assert failed.returncode != 0
    assert "pg_dump failed" in failed.stderr and "no backup written" in failed.stderr
    assert sorted(p.name for p in folder.iterdir()) == [old.name]  # no .partial, nothing pruned
    assert old.read_bytes() == b"the only good dump"
    assert "s3cret-pw" not in failed.stdout + failed.stderr


def test_a_truncated_dump_is_refused_before_anything_is_dropped(ledger, fresh_database, tmp_path):
    folder = tmp_path / "backups"
    done = run(
        BACKUP, "--once", env=libpq_env(connection.settings_dict["NAME"], BACKUP_DIR=str(folder))
    )
    assert done.returncode == 0, done.stderr
    dump = folder / dumps(folder)[0]
    assert run(RESTORE, dump, env=libpq_env(fresh_database)).returncode == 0
    expected = journal(fresh_database)
    broken = tmp_path / "broken.dump"
    broken.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])

    refused = run(RESTORE, broken, env=libpq_env(fresh_database))

    assert refused.returncode != 0 and "nothing changed" in refused.stderr
    assert journal(fresh_database) == expected


def test_the_scripts_refuse_bad_settings(tmp_path):
    env = libpq_env("postgres", BACKUP_DIR=str(tmp_path))
    for name, value in (
        ("BACKUP_KEEP", "0"),
        ("BACKUP_KEEP", "ten"),
        ("BACKUP_INTERVAL_HOURS", "-1"),
    ):
        result = run(BACKUP, "--once", env=env | {name: value})
        assert result.returncode == 2 and name in result.stderr, (name, value)
    assert not list(tmp_path.iterdir())
    assert run(RESTORE, env=env).returncode == 2
    assert run(RESTORE, tmp_path / "missing.dump", env=env).returncode == 2
    # The healthcheck: unhealthy with no dump, healthy after a fresh one.
    assert run(BACKUP, "--check", env=env).returncode == 1
    (tmp_path / "lenny-20991231T000000Z.dump").write_bytes(b"x")
    assert run(BACKUP, "--check", env=env).returncode == 0


def _url(database: str) -> str:
    env = libpq_env(database)
    password = f":{env['PGPASSWORD']}" if env.get("PGPASSWORD") else ""
    return f"postgres://{env['PGUSER']}{password}@{env['PGHOST']}:{env['PGPORT']}/{database}"
