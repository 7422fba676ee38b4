"""Run Lenny: the web server and a django-q2 cluster together; Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def processes_supervise(
    commands: dict[str, list[str]], *, env: dict[str, str] | None = None
) -> int:
    """Start every command, wait until one exits or we are interrupted, then stop them all."""
    children = {
        name: subprocess.Popen(argv, env=env or os.environ.copy())
        for name, argv in commands.items()
    }
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    exit_code = 0
    try:
        while not stopping:
            for name, child in children.items():
                code = child.poll()
                if code is not None:
                    sys.stderr.write(f"{name} exited with {code}; stopping Lenny\n")
                    exit_code = code or 1
                    stopping = True
                    break
            time.sleep(0.3)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return exit_code


# Gunicorn's workers x threads on the 2-core machine Lenny is sized for, chosen from
# benchmarks/load.py (README, "Run it"): WEB_CONCURRENCY and WEB_THREADS override them.
WEB_WORKERS = 2
WEB_THREADS = 4


def web_command_build(*, bind: str, workers: int, threads: int = WEB_THREADS) -> list[str]:
    """The gunicorn command line `run` starts (tests and benchmarks start the same one)."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "lenny.wsgi:application",
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--access-logfile",
        "-",
        # The OAuth callback's code and state never reach the access log.
        "--logger-class",
        "accounts.access_log.RedactingGunicornLogger",
        "--chdir",
        str(settings.BASE_DIR),
    ]


class Command(BaseCommand):
    help = "Run the web server (gunicorn) and the task cluster (qcluster) together."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("LENNY_BIND", "127.0.0.1:8000"))
        parser.add_argument(
            "--web-workers",
            type=int,
            default=int(os.environ.get("WEB_CONCURRENCY", WEB_WORKERS)),
        )
        parser.add_argument(
            "--web-threads", type=int, default=int(os.environ.get("WEB_THREADS", WEB_THREADS))
        )
        parser.add_argument("--no-cluster", action="store_true", help="web server only")

    def handle(
        self, *args, bind: str, web_workers: int, web_threads: int, no_cluster: bool, **options
    ):
        if web_workers < 1 or web_threads < 1:
            raise CommandError("--web-workers and --web-threads: at least 1")
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        commands = {"web": web_command_build(bind=bind, workers=web_workers, threads=web_threads)}
        if not no_cluster:
            commands["worker"] = [python, manage, "qcluster"]
            # "Refresh now" jobs have a cluster of their own; django-q2 reads its name from the env.
            commands["priority-worker"] = [
                "env",
                f"Q_CLUSTER_NAME={settings.LEDGER_PRIORITY_CLUSTER}",
                *commands["worker"],
            ]
        self.stdout.write(f"Lenny on http://{bind}/ (Ctrl-C stops web and workers)")
        code = processes_supervise(commands)
        if code:
            raise CommandError(f"Lenny stopped with exit code {code}")
