"""Two worker processes (as on two hosts) fetching from ESI at once stay within ESI's limits
together: the error limit and the market token bucket are shared through Redis
(``market.esi.limits``), and counted here from the replay ESI's own request log.

The limits are scaled down (a bucket of 120 tokens in 5 s, 20 errors in 3 s) so that the two
workers' fetches meet them within seconds; everything else is as in production: separate OS
processes with their own Django, the real Redis, real sockets to the replay ESI, injected 502s
answered with ESI's limit headers, and 404s from history requests for unknown types.
"""

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from market.replay.esi import TOKEN_COST
from market.tests.factories import DOMAIN, FORGE

ROOT = Path(__file__).resolve().parents[2]
TOKENS, TOKEN_WINDOW = 120, 5.0
ERRORS, ERROR_WINDOW = 20, 3
ROUNDS = 2
BAD_TYPES = 15

pytestmark = pytest.mark.esi_replay(orders={FORGE: 3000, DOMAIN: 1500}, page_size=100)

# One worker: its own process and Django, fetching both books ROUNDS times (each fetch in full,
# 20 pages in flight, as the ingest does), then asking for the history of types that do not
# exist, from the moment given, so that both workers start together.
WORKER = """
import json, os, sys, time
import django
django.setup()
from market.esi import EsiClient, EsiError
regions, rounds, bad_types, start_at = json.loads(sys.argv[1])
client = EsiClient()
outcome = {"fetched": 0, "failed": 0, "missing": 0}
time.sleep(max(0.0, start_at - time.time()))
for _ in range(rounds):
    for region in regions:
        try:
            client.get_paged(
                f"/markets/{region}/orders/", params={"order_type": "all"}, raw=True,
                conditional=False,
            )
            outcome["fetched"] += 1
        except EsiError as exc:
            outcome["failed"] += 1
            print(f"fetch of {region} failed: {exc}", file=sys.stderr)
for n in range(bad_types):
    try:
        client.get(f"/markets/{regions[0]}/history/", params={"type_id": 990_000_000 + n})
    except EsiError:
        outcome["missing"] += 1
print(json.dumps(outcome))
"""


def worker_env(upstreams, number: int) -> dict[str, str]:
    return {
        **os.environ,
        "LENNY_USER_AGENT": f"Lenny/test worker-{number}",
        "DJANGO_SETTINGS_MODULE": "lenny.settings",
        "ESI_BASE_URL": upstreams.url("/esi"),
        "ESI_MAX_IN_FLIGHT": "20",
        "ESI_MAX_RETRIES": "2",
        "ESI_BACKOFF_BASE": "0.01",
        "ESI_BACKOFF_MAX": "0.05",
        "ESI_ROLLOVER_WAIT": "0.05",
        "ESI_MAX_WAIT": "30",
        "UPSTREAM_TIMEOUT": "5",
    }


def workers_run(
    upstreams, script: str, argument: list, *, env: dict[str, str] | None = None
) -> list[str]:
    """Two worker processes running ``script`` with ``argument`` (as JSON) at once; the last line
    each printed, once both are done (each must exit cleanly)."""
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, json.dumps(argument)],
            cwd=ROOT,
            env={**worker_env(upstreams, number), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for number in range(2)
    ]
    lines = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-2000:]
        lines.append(out.strip().splitlines()[-1])
    return lines


def most_in_any_window(events: list[tuple[float, int]], window: float) -> int:
    """The largest sum of weights of events within any ``window`` seconds (sliding)."""
    events = sorted(events)
    best = total = 0
    first = 0
    for at, weight in events:
        total += weight
        while events[first][0] <= at - window:
            total -= events[first][1]
            first += 1
        best = max(best, total)
    return best


def test_two_worker_processes_stay_within_esis_limits_together(esi, upstreams):
    esi.configure(
        rate_limit=f"{TOKENS}/{TOKEN_WINDOW:g}s", error_limit=ERRORS, error_window=ERROR_WINDOW
    )
    # ESI's own faults on demand: the first five requests of page 7 answer 502 (with the
    # limits' headers, counted as errors): one fetch at most fails after its two retries.
    upstreams.fault(r"/markets/\d+/orders/", query={"page": "7"}, status=502, times=5)
    start_at = time.time() + 4  # both workers' Django is up by then
    argument = [[FORGE, DOMAIN], ROUNDS, BAD_TYPES, start_at]
    outcomes = [json.loads(line) for line in workers_run(upstreams, WORKER, argument)]

    log = upstreams.requests("/esi/markets/")
    statuses = [r.status for r in log]
    # Neither worker ever met ESI's refusals: no 420 (error limit), no 429 (token bucket).
    assert 420 not in statuses and 429 not in statuses
    # Counted from the replay's log: the market bucket's tokens within any 5 s, all workers
    # together, and the errors within any 3 s.
    rated = [(r.at, TOKEN_COST[r.status // 100]) for r in log if "/orders/" in r.path]
    errors = [(r.at, 1) for r in log if r.status >= 400]
    assert most_in_any_window(rated, TOKEN_WINDOW) <= TOKENS
    assert most_in_any_window(errors, ERROR_WINDOW) <= ERRORS
    # … while the work got done, and pushed against both limits: 2 x 2 x 45 pages need more
    # tokens (360) than three windows hold, and 30 missing types more errors than one window.
    assert sum(o["fetched"] for o in outcomes) >= 2 * ROUNDS * 2 - 1
    assert sum(o["failed"] for o in outcomes) <= 1
    assert sum(o["missing"] for o in outcomes) == 2 * BAD_TYPES
    assert statuses.count(502) == 5 and statuses.count(404) == 2 * BAD_TYPES
    pages = [r for r in log if "/orders/" in r.path and r.status == 200]
    # Every page of every fetch (30 of The Forge, 15 of Domain), but a failed one's.
    assert len(pages) >= 2 * ROUNDS * (30 + 15) - 30
    assert most_in_any_window(rated, TOKEN_WINDOW) >= TOKENS * 0.6
    # The two processes really fetched at the same time: their pages interleave.
    by_worker = [
        [r.at for r in pages if r.headers.get("User-Agent", "").endswith(f"worker-{n}")]
        for n in range(2)
    ]
    assert all(by_worker)
    assert max(min(times) for times in by_worker) < min(max(times) for times in by_worker)


# One worker of an ESI outage: a single paged fetch (20 pages in flight), from the moment given.
OUTAGE_WORKER = """
import json, sys, time
import django
django.setup()
from market.esi import EsiClient, EsiError
region, start_at = json.loads(sys.argv[1])
time.sleep(max(0.0, start_at - time.time()))
try:
    EsiClient().get_paged(f"/markets/{region}/orders/", params={"order_type": "all"}, raw=True,
                          conditional=False)
    print("fetched")
except EsiError as exc:
    print(f"failed: {exc}")
"""


def test_two_workers_in_an_esi_outage_never_take_the_error_limit_past_zero(esi, upstreams):
    # ESI fails every page but the first, slowly: each worker has twenty pages on their way
    # when the error limit nears the margin. Each worker alone keeps its own requests in flight
    # within the errors left above the margin; together they must too, or the pages of both
    # that all fail take the limit past zero and ESI answers 420 to every worker for a minute.
    esi.configure(error_limit=60, error_window=30)
    for page in range(2, 31):
        upstreams.fault(
            r"/markets/\d+/orders/", query={"page": str(page)}, status=502, latency=0.1, times=None
        )
    env = {"ESI_ERROR_LIMIT_MARGIN": "10", "ESI_MAX_WAIT": "1", "ESI_MAX_RETRIES": "3"}
    outcomes = workers_run(upstreams, OUTAGE_WORKER, [FORGE, time.time() + 4], env=env)

    assert all(outcome.startswith("failed") for outcome in outcomes), outcomes
    log = upstreams.requests("/esi/markets/")
    statuses = Counter(r.status for r in log)
    # Never past the limit: no 420, and fewer errors than it allows. The workers stop near the
    # margin (60 - 10: 49-52 errors in runs here, give or take answers that come back out of
    # order between them); without the shared permits their forty pages in flight took it to
    # 60 (and ESI's 420s after).
    assert statuses[420] == 0, statuses
    assert 30 <= statuses[502] < 60, statuses
    # Both fetched at once: each had its first page.
    firsts = Counter(r.headers.get("User-Agent", "")[-8:] for r in log if r.status == 200)
    assert firsts == {"worker-0": 1, "worker-1": 1}, firsts
