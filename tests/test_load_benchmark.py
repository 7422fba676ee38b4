"""The load benchmark's own parts (benchmarks/load.py) and the web server's workers x threads:
what it reads from /proc, how it sums up answers, its arguments, and `manage.py run`'s
``--web-threads``. The benchmark itself needs the full market data; these run in a blink."""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from lenny.management.commands.run import WEB_THREADS, web_command_build

ROOT = Path(__file__).resolve().parent.parent


def _load_module():
    spec = importlib.util.spec_from_file_location("load_benchmark", ROOT / "benchmarks/load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


load = _load_module()


def test_configs_are_workers_by_threads():
    assert load.configs_parse("2x4, 3x2,4x1") == [(2, 4), (3, 2), (4, 1)]
    for bad in ("2", "ax4", "2x", "0x4", "2x0", "", "2*4"):
        with pytest.raises(argparse.ArgumentTypeError):
            load.configs_parse(bad)


def test_arguments_short_mode_and_refusals(capsys):
    args = load.args_parse(["--short", "--configs", "2x4,3x2", "--only", "API"])
    assert (args.seconds, args.mix_seconds) == (3, 5)
    assert args.configs == [(2, 4), (3, 2)]
    assert args.clients == load.CLIENTS == 16
    with pytest.raises(SystemExit):
        load.args_parse(["--clients", "0"])
    with pytest.raises(SystemExit):
        load.args_parse(["--configs", "four"])
    assert load.args_parse(["--ingest-nice", "0,10"]).ingest_nice == [0, 10]
    assert load.args_parse([]).ingest_nice == [0]
    for bad in ("ten", "-1", "20", ""):
        with pytest.raises(SystemExit):
            load.args_parse(["--ingest-nice", bad])
    assert "workers x threads" in capsys.readouterr().err


def test_answers_summed_up_with_errors_named(tmp_path):
    out = tmp_path / "run.csv"
    rows = [(1000.0 + n, "item page", float(n + 1), 200, "") for n in range(99)]
    rows.append((1100.0, "item page", 500.0, 502, "502 for /market/types/34/"))
    out.write_text("".join(",".join(map(str, row)) + "\n" for row in rows))
    records = load.records_read(out)
    summary = load.summarize(records, seconds=10)
    assert summary.count == 100 and summary.errors == 1
    assert summary.rps == 10
    assert (summary.p50, summary.p95, summary.p99) == (51.0, 95.0, 99.0)
    assert summary.examples == ["502 502 for /market/types/34/"]
    assert load.records_read(tmp_path / "missing.csv") == []
    assert load.summarize([], seconds=0).p95 == 0


def test_cpu_time_of_a_process_and_its_children():
    """The web server's CPU is read from /proc for the whole tree (gunicorn's master and its
    workers): a child that spins shows up under its parent."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nend = time.process_time() + 0.4\n"
            "while time.process_time() < end: pass\ntime.sleep(30)",
        ]
    )
    try:
        tree = load.process_tree(child.pid)
        assert tree == [child.pid]
        assert child.pid in load.process_tree(load.os.getpid())
        deadline = time.monotonic() + 20
        while load.cpu_seconds([child.pid]) < 0.35 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert 0.35 <= load.cpu_seconds([child.pid]) < 5
    finally:
        child.kill()
        child.wait()
    assert load.cpu_seconds([child.pid]) == 0  # gone: nothing to count


def test_run_starts_gunicorn_with_the_threads_asked_for():
    argv = web_command_build(bind="127.0.0.1:1", workers=3, threads=2)
    assert argv[argv.index("--workers") + 1] == "3"
    assert argv[argv.index("--threads") + 1] == "2"
    default = web_command_build(bind="127.0.0.1:1", workers=1)
    assert default[default.index("--threads") + 1] == str(WEB_THREADS)


def test_run_refuses_no_workers_or_threads():
    with pytest.raises(CommandError, match="at least 1"):
        call_command("run", "--no-cluster", "--web-threads", "0")
    with pytest.raises(CommandError, match="at least 1"):
        call_command("run", "--no-cluster", "--web-workers", "0")


@pytest.mark.skipif(shutil.which("locust") is None, reason="Locust is not installed ([bench])")
def test_locust_users_record_every_answer(tmp_path, live_server, django_user_model):
    """The locustfile against a live Lenny for three seconds: every answer recorded with its
    group, a page that redirects (the login page) counted as an error."""
    import json

    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "groups": {
                    "home": {"urls": ["/"]},
                    "stores, logged out": {"urls": ["/stores/"]},
                },
                "cookie": "",
            }
        )
    )
    out = tmp_path / "out.csv"
    urllib.request.urlopen(live_server.url, timeout=30).read()  # Django's first view is slow
    subprocess.run(
        [
            shutil.which("locust"),
            "-f",
            str(ROOT / "benchmarks/load_locustfile.py"),
            "--headless",
            "--users",
            "2",
            "--spawn-rate",
            "2",
            "--run-time",
            "3s",
            "--stop-timeout",
            "20",
            "--host",
            live_server.url,
            "--loglevel",
            "ERROR",
            "--only-summary",
        ],
        env={**load.os.environ, "LOAD_PLAN": str(plan), "LOAD_OUT": str(out)},
        timeout=60,
        capture_output=True,
    )
    records = load.records_read(out)
    groups = {r.group for r in records}
    assert groups == {"home", "stores, logged out"}
    assert all(r.ok for r in records if r.group == "home")
    assert not any(r.ok for r in records if r.group == "stores, logged out")
    assert {r.status for r in records if r.group == "stores, logged out"} == {302}
