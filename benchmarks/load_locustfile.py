"""The Locust users of ``benchmarks/load.py`` (run by it; not a benchmark of its own).

Every user asks as fast as it is answered (a closed loop, no think time: the server is
saturated), each request a URL of a group drawn by the groups' weights. The plan is a JSON file
(``LOAD_PLAN``) that ``load.py`` writes from the database::

    {"groups": {"name": {"urls": [...], "weight": 1, "login": false, "headers": {}}},
     "cookie": "sessionid=…"}

``LOAD_ONLY`` keeps the one group named; every answer is recorded (``LOAD_OUT``, CSV: start in
Unix seconds, group, ms, status, error) for ``load.py`` to split idle from during-ingest and to
count against the server's CPU time. Anything but a 2xx is an error, redirects included (a
redirect to the login page would hide a broken session).

Locust's own API: https://docs.locust.io/en/stable/writing-a-locustfile.html (FastHttpUser,
``catch_response``, ``events.request`` and ``events.quitting``).
"""

from __future__ import annotations

import csv
import json
import os
import random
from pathlib import Path

from locust import FastHttpUser, constant, events, task

PLAN = json.loads(Path(os.environ["LOAD_PLAN"]).read_text(encoding="utf-8"))
ONLY = os.environ.get("LOAD_ONLY", "")
GROUPS = {name: group for name, group in PLAN["groups"].items() if not ONLY or name == ONLY}
if not GROUPS:
    raise SystemExit(f"no group named {ONLY!r} in the plan")
NAMES = list(GROUPS)
WEIGHTS = [GROUPS[name].get("weight", 1) for name in NAMES]
RECORDS: list[tuple[float, str, float, int, str]] = []


@events.request.add_listener
def _record(name, response_time, response, exception, start_time=None, **kwargs) -> None:
    status = getattr(response, "status_code", 0) or 0
    RECORDS.append((start_time or 0.0, name, response_time, status, str(exception or "")[:80]))


@events.quitting.add_listener
def _write(environment, **kwargs) -> None:
    with open(os.environ["LOAD_OUT"], "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(RECORDS)


class Visitor(FastHttpUser):
    wait_time = constant(0)
    # One connection per user, as a browser tab keeps one open; no TLS on loopback.
    concurrency = 1

    def on_start(self) -> None:
        self.rng = random.Random()

    @task
    def ask(self) -> None:
        name = self.rng.choices(NAMES, WEIGHTS)[0]
        group = GROUPS[name]
        headers = dict(group.get("headers", {}))
        if group.get("login"):
            headers["Cookie"] = PLAN["cookie"]
        url = self.rng.choice(group["urls"])
        with self.client.get(
            url, name=name, headers=headers, allow_redirects=False, catch_response=True
        ) as response:
            if not 200 <= (response.status_code or 0) < 300:
                response.failure(f"{response.status_code} for {url}")
            else:
                response.success()
