"""The offline demo: replay upstreams, data loaded from them, then Lenny's web and workers."""

from __future__ import annotations

import os
import sys
from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.test.utils import override_settings
from django.utils.module_loading import module_has_submodule

from lenny.management.commands.run import processes_supervise
from lenny.replay import replay_server_build, upstream_settings


class Command(BaseCommand):
    help = "Run Lenny against its replay upstreams with demo data (no internet needed)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8700, help="replay upstream port")
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument("--load-only", action="store_true", help="load data, do not serve")

    def handle(self, *args, port: int, bind: str, load_only: bool, **options):
        server = replay_server_build("127.0.0.1", port).start()
        upstreams = upstream_settings(server.base_url)
        try:
            call_command("migrate", interactive=False, verbosity=0)
            with override_settings(**upstreams):
                # Each app loads its own demo data from its replay upstream (``replay.demo_load``).
                for app in apps.get_app_configs():
                    if app.name != "lenny" and module_has_submodule(app.module, "replay"):
                        module = import_module(f"{app.name}.replay")
                        if hasattr(module, "demo_load"):
                            self.stdout.write(f"loading {app.label} demo data…")
                            module.demo_load(base_url=server.base_url, stdout=self.stdout)
            if load_only:
                return
            env = {**os.environ, **upstreams}
            self.stdout.write(f"demo on http://{bind}/ (replay upstreams on {server.base_url})")
            manage = str(settings.BASE_DIR / "manage.py")
            processes_supervise(
                {
                    "web": [sys.executable, manage, "run", "--bind", bind, "--no-cluster"],
                    "worker": [sys.executable, manage, "qcluster"],
                    "priority-worker": [
                        "env",
                        f"Q_CLUSTER_NAME={settings.LEDGER_PRIORITY_CLUSTER}",
                        sys.executable,
                        manage,
                        "qcluster",
                    ],
                },
                env=env,
            )
        finally:
            server.stop()
