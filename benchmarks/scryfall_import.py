"""Scryfall catalog import at full size: ~115k card objects, the size of `default_cards`.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python benchmarks/scryfall_import.py

Builds a full-size bulk file from the real samples (../shared/fixtures/mtg/scryfall when present,
else the copies in stores/replay/data) by varying ids, names, sets and collector numbers, in both
forms Scryfall serves (a JSON array, and gzipped JSON Lines). Then, in a scratch database next to
DATABASE_URL's, each form is imported into an empty catalog and once more over itself (idempotent
upserts), each import in its own process so its peak memory (getrusage) is its own.

Targets: < 60 s and < 300 MB peak RSS per import. Baseline, measured in the same run: reading and
picking apart the same file without a database (what streaming alone costs).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "fixtures" / "mtg" / "scryfall"
LOCAL = ROOT / "stores" / "replay" / "data" / "scryfall"
OUT = ROOT / "benchmarks" / "out"
NAMESPACE = uuid.UUID("6c0b1c4e-5f6b-4a43-9c1e-6d3c9d0c1a10")

TIME_LIMIT = 60.0
RSS_LIMIT_MB = 300.0


def samples() -> list[dict]:
    folder = SHARED if SHARED.is_dir() else LOCAL
    cards = []
    for path in sorted(folder.glob("*.jsonl")):
        cards.extend(json.loads(line) for line in path.read_text("utf-8").splitlines() if line)
    return cards


def generated_cards(objects: int, oracles: int, sets: int):
    """Yield ``objects`` card objects made from the real samples: the samples themselves first,
    then variations with their own ids, names (from the samples' words), sets and numbers."""
    templates = samples()
    yield from templates
    # Real names use ~15k distinct words; blending the samples' words gives a vocabulary of that
    # order, so the trigram index is as selective here as on the real catalog.
    real = sorted({w.strip(",'") for c in templates for w in c["name"].replace("//", " ").split()})
    real = [w for w in real if w.isalpha() and len(w) > 2]
    blends = {a[: max(2, len(a) // 2)] + b[len(b) // 2 :].lower() for a in real for b in real}
    vocabulary = sorted(set(real) | blends)
    taken: set[str] = {c["name"] for c in templates}

    def name(k: int) -> str:
        rng = random.Random(k)
        while True:
            candidate = " ".join(rng.choice(vocabulary) for _ in range(rng.choice((2, 2, 3, 3, 4))))
            if candidate not in taken:
                taken.add(candidate)
                return candidate

    names: dict[int, str] = {}

    def name_of(k: int) -> str:
        if k not in names:
            names[k] = name(k)
        return names[k]

    set_codes = [f"b{n:03x}" for n in range(sets)]
    for j in range(objects - len(templates)):
        template = templates[j % len(templates)]
        k = j % oracles
        card = dict(template)
        card["id"] = str(uuid.uuid5(NAMESPACE, f"printing-{j}"))
        oracle_id = str(uuid.uuid5(NAMESPACE, f"oracle-{k}-{template['layout']}"))
        faces = template.get("card_faces")
        if faces:
            card["card_faces"] = [dict(face) for face in faces]
            face_names = [name_of(k), name_of(k + oracles)]
            if len({f["name"] for f in faces}) == 1:
                face_names = [face_names[0]] * len(faces)
            for face, face_name in zip(card["card_faces"], face_names, strict=False):
                face["name"] = face_name
                if "oracle_id" in face:
                    face["oracle_id"] = oracle_id
            card["name"] = " // ".join(face_names)
        else:
            card["name"] = name_of(k)
        if "oracle_id" in template:
            card["oracle_id"] = oracle_id
        code = set_codes[j % sets]
        card["set"], card["set_name"] = code, f"Benchmark Set {code.upper()}"
        card["set_id"] = str(uuid.uuid5(NAMESPACE, code))
        suffix = "".join(ch for ch in template["collector_number"] if not ch.isdigit())
        card["collector_number"] = f"{j // sets + 1}{suffix}"
        if card.get("tcgplayer_id"):
            card["tcgplayer_id"] = 1_000_000 + j
        yield card


def file_build(form: str, objects: int, oracles: int, sets: int) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    suffix = "json" if form == "json" else "jsonl.gz"
    path = OUT / f"default-cards-v2-{objects}-{oracles}-{sets}.{suffix}"
    if path.exists():
        return path
    part = path.with_name(path.name + ".part")
    if form == "json":
        with open(part, "w", encoding="utf-8") as fh:
            fh.write("[\n")
            for n, card in enumerate(generated_cards(objects, oracles, sets)):
                fh.write((",\n" if n else "") + json.dumps(card, ensure_ascii=False))
            fh.write("\n]\n")
    else:
        with gzip.open(part, "wt", encoding="utf-8", compresslevel=6) as fh:
            for card in generated_cards(objects, oracles, sets):
                fh.write(json.dumps(card, ensure_ascii=False) + "\n")
    part.replace(path)
    return path


# --- runs in a child process, so getrusage's peak is the import's own --------------------------
CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import django
django.setup()
from stores.catalog import catalog_import, scryfall_card_read, scryfall_objects
path, mode = Path(sys.argv[1]), sys.argv[2]
started = time.monotonic()
if mode == "parse":
    n = sum(1 for where, obj, _ in scryfall_objects(path) if scryfall_card_read(obj, where=where))
    result = {"objects": n}
else:
    summary = catalog_import(path=path, progress=False)
    result = {"objects": summary.objects_read, "cards": summary.cards, "printings": summary.printings,
              "created": summary.printings_created, "sets": summary.sets}
result["seconds"] = time.monotonic() - started
result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(result))
"""


def child_run(path: Path, mode: str, env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), mode],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def scratch_database(env: dict[str, str], name: str) -> dict[str, str]:
    """A fresh, migrated scratch database next to DATABASE_URL's (or a scratch SQLite file)."""
    url = env.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        import psycopg

        parts = urlsplit(url)
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        env = {**env, "DATABASE_URL": urlunsplit(parts._replace(path=f"/{name}"))}
    else:
        data_dir = OUT / name
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "lenny.sqlite3").unlink(missing_ok=True)
        env = {**env, "LENNY_DATA_DIR": str(data_dir)}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0", "--skip-checks"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return env


def scratch_drop(env: dict[str, str]) -> None:
    url = env.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        import psycopg

        parts = urlsplit(url)
        with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=115_000)
    parser.add_argument("--oracles", type=int, default=36_000, help="distinct cards")
    parser.add_argument("--sets", type=int, default=900)
    parser.add_argument("--forms", default="jsonl.gz,json", help="jsonl.gz and/or json")
    args = parser.parse_args()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "lenny.settings", "PYTHONPATH": str(ROOT)}
    ok = True
    for form in args.forms.split(","):
        path = file_build(form, args.objects, args.oracles, args.sets)
        size_mb = path.stat().st_size / 2**20
        db_env = scratch_database(env, f"lenny_bench_scryfall_{form.replace('.', '_')}")
        baseline = child_run(path, "parse", db_env)
        first = child_run(path, "import", db_env)
        again = child_run(path, "import", db_env)
        scratch_drop(db_env)
        print(f"{form}: {path.name} ({size_mb:.0f} MB), {first['objects']:,} objects")
        print(
            f"  baseline, stream + pick apart only: {baseline['seconds']:6.1f} s, "
            f"peak {baseline['rss_mb']:.0f} MB"
        )
        for label, run in (("import into empty catalog", first), ("re-import (no changes)", again)):
            within = run["seconds"] < TIME_LIMIT and run["rss_mb"] < RSS_LIMIT_MB
            ok &= within
            print(
                f"  {label:33s} {run['seconds']:6.1f} s, peak {run['rss_mb']:.0f} MB "
                f"= {run['seconds'] / baseline['seconds']:.2f} x baseline "
                f"({'within' if within else 'OVER'} {TIME_LIMIT:.0f} s / {RSS_LIMIT_MB:.0f} MB); "
                f"{run['cards']:,} cards, {run['printings']:,} printings (+{run['created']:,}), "
                f"{run['sets']:,} sets"
            )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
