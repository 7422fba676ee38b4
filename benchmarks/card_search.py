"""Card-name autocomplete at full catalog size: latency of /stores/cards/suggest.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python benchmarks/card_search.py

Imports the full-size bulk file benchmarks/scryfall_import.py builds (~115k printings, ~36k
cards) into a scratch database next to DATABASE_URL's, then replays autocomplete traffic through
Django's test client (routing, search, template): for 200 card names from the catalog, every
prefix a user types from two letters on, the name with a letter dropped or two letters swapped,
its words out of order, and its back face. Target: p95 < 20 ms.

Baseline, measured in the same run on the same queries: a naive ``Card.name__icontains`` scan
(no search key, no index, no ranking).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import scryfall_import

TARGET_P95_MS = 20.0


def queries_build(names: list[tuple[str, bool]], count: int) -> list[tuple[str, str]]:
    rng = random.Random(7)
    queries: list[tuple[str, str]] = []
    full_names = [name for name, is_face in names if not is_face]
    faces = [name for name, is_face in names if is_face]
    for name in rng.sample(full_names, count):
        queries += [("typing", name[:n]) for n in range(2, min(len(name), 18) + 1)]
        i = rng.randrange(1, len(name) - 1)
        queries.append(("typo", name[:i] + name[i + 1 :]))
        queries.append(("typo", name[: i - 1] + name[i] + name[i - 1] + name[i + 1 :]))
        words = name.split()
        if len(words) > 1:
            queries.append(("words", " ".join(reversed(words))))
    queries += [("face", face) for face in rng.sample(faces, min(count // 2, len(faces)))]
    return queries


def timed(call, query: str) -> float:
    started = time.perf_counter()
    call(query)
    return (time.perf_counter() - started) * 1000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "lenny.settings"}
    path = scryfall_import.file_build("jsonl.gz", 115_000, 36_000, 900)
    env = scryfall_import.scratch_database(env, "lenny_bench_card_search")
    imported = scryfall_import.child_run(path, "import", env)
    os.environ.update(env)

    import django

    django.setup()
    from django.test import Client

    from stores.models import Card, CardName

    names = list(CardName.objects.values_list("name", "is_face"))
    queries = queries_build(names, 200)
    client = Client(HTTP_HOST="localhost")

    def view(query: str) -> None:
        response = client.get("/stores/cards/suggest", {"q": query}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200

    def naive(query: str) -> None:
        list(Card.objects.filter(name__icontains=query).order_by("name")[:8])

    for _, query in queries[:50]:  # warm connections and caches
        view(query), naive(query)
    found = sum(
        1
        for kind, query in queries
        if kind == "typo"
        and b'role="option"' in client.get("/stores/cards/suggest", {"q": query}).content
    )
    by_kind: dict[str, list[float]] = {}
    ours, baseline = [], []
    for kind, query in queries:
        ms = timed(view, query)
        ours.append(ms)
        by_kind.setdefault(kind, []).append(ms)
        baseline.append(timed(naive, query))
    p95, base95 = percentile(ours, 95), percentile(baseline, 95)
    typos = sum(1 for kind, _ in queries if kind == "typo")
    print(
        f"catalog: {imported['cards']:,} cards, {CardName.objects.count():,} searchable names; "
        f"{len(queries):,} autocomplete requests"
    )
    print(
        f"  /stores/cards/suggest  p50 {statistics.median(ours):5.1f} ms  p95 {p95:5.1f} ms  "
        f"p99 {percentile(ours, 99):5.1f} ms  ({'within' if p95 < TARGET_P95_MS else 'OVER'} "
        f"{TARGET_P95_MS:.0f} ms p95)"
    )
    for kind, values in sorted(by_kind.items()):
        print(
            f"    {kind:8s} ({len(values):5d})  p50 {statistics.median(values):5.1f} ms  p95 {percentile(values, 95):5.1f} ms"
        )
    print(
        f"  baseline name__icontains  p50 {statistics.median(baseline):5.1f} ms  p95 {base95:5.1f} ms"
        f"  → suggest p95 = {p95 / base95:.2f} x baseline"
    )
    print(f"  misspelt names that still got suggestions: {found}/{typos}")
    from django.db import connection

    connection.close()
    scryfall_import.scratch_drop(env)
    sys.exit(0 if p95 < TARGET_P95_MS else 1)


if __name__ == "__main__":
    main()
