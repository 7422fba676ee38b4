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
    # The postgres image and django-q2 (Q_CLUSTER_NAME) read these themselves.
    read_elsewhere = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "Q_CLUSTER_NAME"}
    assert "Q_CLUSTER_NAME" in readme
    for name in used - read_elsewhere:
        assert f'"{name}"' in settings, f"compose sets {name}, which the settings never read"
        assert name in readme, f"compose sets {name}, which the README does not document"
