"""Concurrency benchmark: a 400-page ESI result with 100 ms of latency on every page.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python benchmarks/esi_concurrency.py

Starts the replay upstreams in a separate process (ESI does not share Lenny's CPU either), sizes
The Forge's book to exactly --pages pages of 1000 orders, adds --latency to every page and times
``EsiClient(max_in_flight=…).get_paged(…)``, best and median of --runs, for raw pages (what the
ingest asks for) and for parsed JSON. Figures:

- against the ideal ``pages x latency / in-flight`` (the issue's target: ≤ 1.5x);
- against a baseline measured in the same run: one page fetched alone (latency + transfer +
  the replay's own work) x pages / in-flight — what perfect overlap would give on this machine.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lenny.settings")

FORGE = 10000002
ORDERS = f"/markets/{FORGE}/orders/"
TARGET = 1.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def replay_start(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "replay_upstreams", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/esi/_replay/state", timeout=1)
            return process
        except requests.ConnectionError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("the replay upstreams did not start")


def timed(func) -> tuple[float, object]:
    started = time.perf_counter()
    result = func()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to each page")
    parser.add_argument("--in-flight", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    from market.esi import EsiClient

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    replay = replay_start(port)
    try:
        print(f"generating The Forge's book ({args.pages} pages of 1000 orders) in the replay…")
        knobs = {"orders": {str(FORGE): args.pages * 1000}, "page_size": 1000, "warm": [FORGE]}
        requests.post(f"{base}/esi/_replay/state", json=knobs, timeout=600).raise_for_status()
        requests.post(
            f"{base}/_replay/faults",
            json={"pattern": f"/esi{ORDERS}", "latency": args.latency, "times": None},
            timeout=5,
        ).raise_for_status()

        client = EsiClient(base_url=f"{base}/esi", max_in_flight=args.in_flight, timeout=30)
        single = []
        for page in (1, 2, 3, 200, 400):
            seconds, result = timed(
                lambda page=page: client.get(
                    ORDERS, params={"order_type": "all", "page": page}, conditional=False
                )
            )
            assert result.pages == args.pages, f"the replay served {result.pages} pages"
            single.append(seconds)
        one_page = statistics.median(single)
        ideal = args.pages * args.latency / args.in_flight
        baseline = args.pages * one_page / args.in_flight

        figures = {}
        for label, raw in (("raw pages", True), ("parsed JSON", False)):
            times = []
            for _ in range(args.runs):
                seconds, result = timed(
                    lambda raw=raw: client.get_paged(
                        ORDERS, params={"order_type": "all"}, conditional=False, raw=raw
                    )
                )
                assert result.pages == args.pages and len(result.data) in (
                    args.pages,
                    args.pages * 1000,
                )
                times.append(seconds)
            figures[label] = (min(times), statistics.median(times))
    finally:
        replay.terminate()
        replay.wait(timeout=10)

    print(
        f"\nESI concurrency: {args.pages} pages x {args.latency * 1000:.0f} ms latency, "
        f"{args.in_flight} in flight (replay in its own process)"
    )
    print(f"ideal     pages x latency / in-flight          {ideal:7.3f} s")
    print(
        f"baseline  one page alone ({one_page * 1000:.0f} ms) x pages / in-flight {baseline:7.3f} s"
    )
    for label, (best, median) in figures.items():
        print(
            f"{label:12s} best {best:6.3f} s  median {median:6.3f} s  = {best / ideal:.2f}x ideal, "
            f"{best / baseline:.2f}x baseline"
        )
    best_raw = figures["raw pages"][0]
    verdict = "meets" if best_raw / ideal <= TARGET else "MISSES"
    print(f"\nraw pages / ideal = {best_raw / ideal:.2f}x — {verdict} the target of ≤ {TARGET}x")


if __name__ == "__main__":
    main()
