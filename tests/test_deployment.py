"""The deployment files stay honest: compose validates, production settings pass check --deploy."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "LENNY_PRODUCTION": "1",
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnop",
    "ALLOWED_HOSTS": "lenny.example.com",
    "FIELD_ENCRYPTION_KEYS": "i9kTdfonjUfWA5h_r1fyB-DdegnfsUqPItDzdsXibkI=",
}


def test_manage_check_deploy_is_clean_with_production_settings():
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(PRODUCTION_ENV)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env["LENNY_PRODUCTION"] = "1"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose is not installed")
def test_compose_file_validates():
    result = subprocess.run(
        ["docker-compose", "-f", "compose.yaml", "config", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **PRODUCTION_ENV, "POSTGRES_PASSWORD": "pw"},
    )
    assert result.returncode == 0, result.stderr


def test_compose_uses_the_same_variables_as_the_settings_and_readme():
    compose = (ROOT / "compose.yaml").read_text()
    settings = (ROOT / "lenny" / "settings.py").read_text()
    readme = (ROOT / "README.md").read_text()
    used = set(re.findall(r"^\s+([A-Z][A-Z0-9_]+):", compose, re.M))
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS"} <= used
    # The postgres image and django-q2 (Q_CLUSTER_NAME) read these themselves; the backup
    # service's pg_dump reads libpq's PG* variables and scripts/backup.sh the BACKUP_* ones.
    read_elsewhere = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "Q_CLUSTER_NAME"}
    read_elsewhere |= {"PGHOST", "PGUSER", "PGPASSWORD", "PGDATABASE"}
    read_elsewhere |= {name for name in used if name.startswith("BACKUP_")}
    assert "Q_CLUSTER_NAME" in readme
    for name in used - read_elsewhere:
        assert f'"{name}"' in settings, f"compose sets {name}, which the settings never read"
        assert name in readme, f"compose sets {name}, which the README does not document"


def _compose_config() -> str:
    result = subprocess.run(
        ["docker-compose", "-f", "compose.yaml", "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **PRODUCTION_ENV, "POSTGRES_PASSWORD": "pw"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose is not installed")
def test_compose_backs_the_database_up_to_a_volume_with_retention():
    config = _compose_config()
    backup = re.search(r"^  backup:\n((?:    .*\n|      .*\n)+)", config, re.M)
    assert backup, "compose has no backup service"
    service = backup.group(1)
    assert "image: postgres:15" in service  # pg_dump of the same major version as the server
    assert "- /scripts/backup.sh" in service and "- --check" in service  # runs it, health too
    assert re.search(r"- backups:/backups(:rw)?\n", service) and "BACKUP_DIR: /backups" in service
    assert "PGHOST: postgres" in service and "PGPASSWORD: pw" in service
    assert "BACKUP_INTERVAL_HOURS: '24'" in service and "BACKUP_KEEP: '14'" in service
    assert re.search(r"^volumes:\n(?:  .*\n)*  backups:", config, re.M)
    script = (ROOT / "scripts" / "backup.sh").read_text()
    readme = (ROOT / "README.md").read_text()
    for name in ("BACKUP_DIR", "BACKUP_INTERVAL_HOURS", "BACKUP_KEEP"):
        assert f"${{{name}" in script or f"${name}" in script, f"backup.sh never reads {name}"
        assert name in readme, f"the README does not document {name}"
    assert (
        "scripts/restore.sh" in readme and "pg_restore" in (ROOT / "scripts/restore.sh").read_text()
    )
    # The password reaches pg_dump through the environment only, never a command line.
    assert "PGPASSWORD" not in re.sub(r"^#.*$", "", script, flags=re.M)


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose is not installed")
def test_workers_scale_out_on_this_host_and_on_others():
    # `--scale worker=N` needs a worker with no fixed name and no host port.
    config = _compose_config()
    worker = re.search(r"^  worker:\n((?:    .*\n|      .*\n)+)", config, re.M)
    assert worker and "container_name" not in worker.group(1) and "ports:" not in worker.group(1)
    assert "command: python manage.py qcluster" in worker.group(1)

    def workers_config(**env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["docker-compose", "-f", "compose.workers.yaml", "config"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={
                **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
                **PRODUCTION_ENV,
                **env,
            },
        )

    # Another host's workers reach the main host's PostgreSQL and Redis, and say so when unset.
    shared = {
        "DATABASE_URL": "postgres://lenny:pw@10.0.0.1:5432/lenny",
        "REDIS_URL": "redis://:pw@10.0.0.1:6379/0",
    }
    result = workers_config(**shared)
    assert result.returncode == 0, result.stderr
    assert re.findall(r"^  (\w[\w-]*):$", result.stdout.split("services:")[1], re.M)[0] == "worker"
    assert "DATABASE_URL: postgres://lenny:pw@10.0.0.1:5432/lenny" in result.stdout
    refused = workers_config(REDIS_URL=shared["REDIS_URL"])
    assert refused.returncode != 0 and "set DATABASE_URL" in refused.stderr
