"""Lenny as users feel it: real HTTP from 16 concurrent clients, idle and during a Forge ingest.

    pip install -e ".[bench]"     # Locust, the load tool (or put a `locust` on PATH / --locust)
    DATABASE_URL=postgres://… REDIS_URL=redis://… python benchmarks/load.py [--short]

Lenny is started as ``make run`` starts it (``manage.py run --no-cluster``: the same gunicorn
command line, workers and threads, access log included) on a free loopback port, against
PostgreSQL and Redis. Data, through the real pipeline and reused by later runs: what
``market_pages.py`` and ``hauling.py`` load from the replay ESI (the SDE, every hub's full book:
The Forge ~400k orders built on the shared hub history archive, and the history of every type
on each hub's market), plus a user logged in with a linked EVE character whose wallet was
synced from the replay ESI (the ledger), who wants CARDS cards at the five replay stores, each
checked (the store dashboard).

Locust (``load_locustfile.py``) drives CLIENTS users, each asking as soon as it is answered (a
closed loop: the server is saturated), every request bounded by time.

1. One group at a time (``--seconds`` each): its answers' p50/p95/p99, throughput and errors,
   and the server's CPU per request: the CPU time of every process of the web server (gunicorn's
   master and workers, from /proc) over the run ÷ its answers, beside PostgreSQL's backends of
   this database, and ``cores x wall ÷ answers`` (the machine's whole capacity per answer at
   saturation). Targets (issue 15): desk pages ≤ 20 ms of web CPU per answer, JSON ≤ 5 ms.
2. Every group mixed: idle for ``--mix-seconds``, then while ``manage.py fetch_market_orders
   --region 10000002 --force`` ingests a new Forge snapshot from the replay in its own process
   (as a worker would); per group p50/p95/p99 idle and during, and during ÷ idle (target: p95
   ≤ 2x). ``--ingest-nice N`` runs the ingest at that niceness.
3. ``--configs 2x4,3x2,…``: the mix, idle, with other gunicorn workers x threads (``manage.py
   run --web-workers W --web-threads T``), to choose the defaults from measurements.

Every request must be a 2xx (0 errors). The machine's load average is printed with each table:
other work on the machine shares its two cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lenny.settings")

FORGE, DOMAIN = 10000002, 10000043
JITA, AMARR = 60003760, 60008494
CLIENTS = 16
CARDS = 100
BENCH_USER = "load-bench"
# Web CPU per answer the issue asks for at 16 clients: what lets 16 users share 2 cores.
PAGE_CPU_TARGET_MS = 20.0
JSON_CPU_TARGET_MS = 5.0
INGEST_P95_TARGET = 2.0
LOCUSTFILE = HERE / "load_locustfile.py"


@dataclass(frozen=True)
class Group:
    """A kind of request users make: its URLs, the CPU target, whether it needs the login."""

    name: str
    urls: list[str]
    target_ms: float
    login: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    weight: int = 1


# --- pure helpers --------------------------------------------------------------------------------


def configs_parse(text: str) -> list[tuple[int, int]]:
    """ "2x4,3x2" → [(2, 4), (3, 2)]: gunicorn workers x threads."""
    configs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        workers, sep, threads = part.partition("x")
        if not sep or not workers.isdigit() or not threads.isdigit():
            raise argparse.ArgumentTypeError(f"{part!r}: write workers x threads, like 2x4")
        if not (1 <= int(workers) <= 16 and 1 <= int(threads) <= 64):
            raise argparse.ArgumentTypeError(f"{part!r}: 1-16 workers, 1-64 threads")
        configs.append((int(workers), int(threads)))
    if not configs:
        raise argparse.ArgumentTypeError("at least one workers x threads")
    return configs


def nice_parse(text: str) -> list[int]:
    """ "0,10" → [0, 10]: the ingest's niceness, one mix with an ingest for each."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: niceness values, like 0,10") from None
    if not values or any(not 0 <= value <= 19 for value in values):
        raise argparse.ArgumentTypeError(f"{text!r}: niceness values from 0 to 19")
    return values


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


@dataclass(frozen=True)
class Record:
    """One answer as Locust saw it."""

    start: float  # Unix seconds
    group: str
    ms: float
    status: int
    error: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and not self.error


def records_read(path: Path) -> list[Record]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            Record(float(start), group, float(ms), int(status), error)
            for start, group, ms, status, error in csv.reader(handle)
        ]


@dataclass(frozen=True)
class Summary:
    count: int
    errors: int
    p50: float
    p95: float
    p99: float
    rps: float
    examples: list[str]


def summarize(records: Iterable[Record], seconds: float) -> Summary:
    records = list(records)
    times = [r.ms for r in records]
    failed = [r for r in records if not r.ok]
    return Summary(
        count=len(records),
        errors=len(failed),
        p50=percentile(times, 50),
        p95=percentile(times, 95),
        p99=percentile(times, 99),
        rps=len(records) / seconds if seconds > 0 else 0.0,
        examples=sorted({f"{r.status} {r.error}".strip() for r in failed})[:3],
    )


# --- CPU time from /proc -------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces.
    return text[text.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it (gunicorn's master and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time of the processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / CLOCK_TICKS


def postgres_backends(database: str) -> list[int]:
    """The PostgreSQL backends serving ``database`` ("postgres: user db host(port) state")."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parts = command.split()
        if len(parts) >= 3 and parts[0].startswith("postgres:") and database in parts[1:4]:
            pids.append(int(entry.name))
    return pids


class CpuMeter:
    """CPU seconds the web server's processes and this database's backends spent between
    ``start()`` and ``stop()`` (backends that came or went meanwhile are counted from when seen:
    the web server's connections persist, CONN_MAX_AGE)."""

    def __init__(self, root_pid: int, database: str) -> None:
        self.root_pid, self.database = root_pid, database

    def _read(self) -> tuple[float, dict[int, float]]:
        pg = {pid: cpu_seconds([pid]) for pid in postgres_backends(self.database)}
        return cpu_seconds(process_tree(self.root_pid)), pg

    def start(self) -> None:
        self._web, self._pg = self._read()
        self._wall = time.monotonic()

    def stop(self) -> tuple[float, float, float]:
        """(web CPU s, PostgreSQL CPU s, wall s)."""
        web, pg = self._read()
        pg_spent = sum(spent - self._pg.get(pid, 0.0) for pid, spent in pg.items())
        return web - self._web, max(0.0, pg_spent), time.monotonic() - self._wall


# --- data ----------------------------------------------------------------------------------------


def shared_fixtures() -> Path | None:
    """``shared/fixtures`` beside the checkout, or beside the folder of worktrees."""
    for folder in ROOT.parents:
        if (folder / "shared" / "fixtures" / "eve" / "sde" / "invTypes.csv").exists():
            return folder / "shared" / "fixtures"
    return None


def market_load(replay_url: str) -> None:
    """The hubs' books and history (``market_pages`` and ``hauling`` load the same, reused)."""
    import hauling
    from django.test.utils import override_settings
    from market_pages import data_load

    from lenny.replay import upstream_settings
    from market.hubs import HUBS

    # The Forge's book takes the replay a while to build: build every hub's before asking.
    requests.post(
        f"{replay_url}/esi/_replay/state",
        json={"warm": [hub.region_id for hub in HUBS]},
        timeout=900,
    ).raise_for_status()
    with override_settings(**upstream_settings(replay_url), ESI_HISTORY_RATE="1000000/1m"):
        data_load(reload=False, history_types=None)
        hauling.history_load()


def people_load(cards: int) -> int:
    """The logged-in user: the replay's demo pilot linked and its wallet synced (ledger), and
    ``cards`` wanted cards checked at the five replay stores (store dashboard). Reused when
    present. Returns the user's id."""
    from bench_people import cards_want_and_check, pilot_link_and_sync
    from django.contrib.auth import get_user_model
    from django.test.utils import override_settings
    from store_checks import card_objects

    from accounts.models import Character
    from lenny.replay import replay_server_build, upstream_settings
    from market.ledger.models import WalletTransaction
    from stores.catalog import catalog_import
    from stores.models import Card, CheckResult, PreferredStore, Store
    from stores.replay import SITES

    user, _ = get_user_model().objects.get_or_create(
        username=BENCH_USER, defaults={"email": "load@localhost"}
    )
    synced = WalletTransaction.objects.filter(character__owner=user).exists()
    checked = CheckResult.objects.filter(card__wanted_by__owner=user, status="ok").count()
    if synced and checked >= cards * len(SITES):
        return user.pk
    server = replay_server_build().start()
    try:
        server.state["esi"].configure(history="sample")  # the pilot's prices: the sample's
        with override_settings(
            **upstream_settings(server.base_url),
            ESI_BACKOFF_BASE=0.01,
            ESI_BACKOFF_MAX=0.05,
        ):
            if not synced:
                pilot_link_and_sync(server, user, label="ledger")
            objects = card_objects(cards)
            if Card.objects.filter(printings__set__code__startswith="bm").count() < cards:
                with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
                    handle.writelines(json.dumps(card) + "\n" for card in objects)
                catalog_import(path=Path(handle.name), progress=False)
                os.unlink(handle.name)
            server.state["store_sites"]["extra_cards"] = objects
            server.state["store_sites"]["epoch"] = 1
            stores = []
            for slug, site in SITES.items():
                store, _ = Store.objects.update_or_create(
                    name=f"{site.name} (load)",
                    defaults={
                        "platform": site.platform,
                        "base_url": server.url(f"/stores/{slug}"),
                        "max_in_flight": 8,
                        "max_requests_per_minute": 30000,
                    },
                )
                PreferredStore.objects.get_or_create(user=user, store=store)
                stores.append(store)
            cards_want_and_check(user, stores, cards=cards, label="stores")
    finally:
        server.stop()
    assert Character.objects.filter(owner=user).exists()
    return user.pk


def session_cookie(user_id: int) -> str:
    """A logged-in session of the user, as the cookie a browser would send."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(pk=user_id))
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def groups_build() -> list[Group]:
    """The requests of the mix, from what the database holds (the busiest Jita types)."""
    from django.db.models import F

    from market.models import BestPrice, MarketGroup, Type

    busy = list(
        BestPrice.objects.current(region_id=FORGE)
        .filter(location_id=JITA, best_bid__isnull=False, best_ask__isnull=False)
        .annotate(orders=F("bid_count") + F("ask_count"))
        .order_by("-orders")
        .values_list("type_id", flat=True)[:40]
    )
    if not busy:
        raise SystemExit("no Forge snapshot with Jita prices: the data load failed")
    names = dict(Type.objects.filter(id__in=busy).values_list("id", "name"))
    words = sorted({names[t].split()[0][:5] for t in busy if t in names})[:12] or ["Trit"]
    ships = MarketGroup.objects.filter(name="Ships", parent__isnull=True).first()
    group = ships.id if ships else MarketGroup.objects.values_list("id", flat=True).first()
    pair = f"from_station_id={JITA}&to_station_id={AMARR}"
    page, api = PAGE_CPU_TARGET_MS, JSON_CPU_TARGET_MS
    return [
        Group("desk: market home", ["/market/"], page),
        Group(
            "desk: station trading, Jita",
            [
                "/market/trading/",
                "/market/trading/?min_margin=0.05",
                "/market/trading/?min_volume=100&sort=-margin",
                f"/market/trading/?market_group={group}",
                "/market/trading/?sort=type_name&page=3",
            ],
            page,
        ),
        Group(
            "desk: hauling Jita→Amarr",
            [
                f"/market/hauling/?{pair}",
                f"/market/hauling/?{pair}&mode=relist",
                f"/market/hauling/?{pair}&sort=-roi&page=2",
            ],
            page,
        ),
        Group(
            "item page",
            [f"/market/types/{t}/" for t in busy[:30]]
            + [f"/market/types/{t}/?days=365" for t in busy[30:]],
            page,
        ),
        Group(
            "API: station trading",
            [
                f"/api/market/station-trading?station_id={JITA}",
                f"/api/market/station-trading?station_id={JITA}&min_margin=0.05",
                f"/api/market/station-trading?station_id={JITA}&sort=-profit&page=2",
            ],
            api,
        ),
        Group(
            "API: hauling",
            [
                f"/api/market/hauling?{pair}",
                f"/api/market/hauling?{pair}&budget=1000000000&cargo_m3=60000",
                f"/api/market/hauling?{pair}&sort=-roi&page=2",
            ],
            api,
        ),
        Group(
            "API: type search",
            [f"/market/search/?q={word}" for word in words],
            api,
            headers={"HX-Request": "true"},  # the autocomplete's suggestions
        ),
        Group(
            "API: orders, history",
            [f"/api/market/orders?region_id={FORGE}&type_id={t}" for t in busy[:20]]
            + [f"/api/market/history?region_id={FORGE}&type_id={t}" for t in busy[20:]],
            api,
        ),
        Group("store dashboard", ["/stores/"], page, login=True),
        Group(
            "ledger",
            ["/ledger/", "/ledger/transactions/", "/ledger/profit/", "/ledger/orders/"],
            page,
            login=True,
        ),
    ]


# --- the server and the load ---------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lenny:
    """``manage.py run --no-cluster`` (gunicorn as ``make run`` starts it) on a free port."""

    def __init__(self, workers: int, threads: int, env: dict[str, str]) -> None:
        self.workers, self.threads = workers, threads
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "run",
                "--no-cluster",
                "--bind",
                f"127.0.0.1:{port}",
                "--web-workers",
                str(workers),
                "--web-threads",
                str(threads),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"manage.py run exited with {self.process.returncode}")
            try:
                requests.get(f"{self.base_url}/healthz", timeout=5)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit("Lenny did not start in 90 s") from None
                time.sleep(0.3)

    def warm(self, groups: list[Group], cookie: str) -> None:
        """Every URL once per worker: each worker (most likely) compiles the templates, imports
        the code and reads the books before the clock starts (the steady state users meet)."""
        session = requests.Session()
        for _ in range(self.workers):
            for group in groups:
                headers = dict(group.headers, **({"Cookie": cookie} if group.login else {}))
                for url in group.urls:
                    answer = session.get(
                        self.base_url + url, headers=headers, timeout=120, allow_redirects=False
                    )
                    if answer.status_code != 200:
                        raise SystemExit(f"{url}: {answer.status_code} while warming up")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # `run` stops gunicorn and waits for it
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def locust_find(given: str | None) -> str:
    candidates = [given, os.environ.get("LOCUST"), str(Path(sys.executable).parent / "locust")]
    for candidate in filter(None, candidates):
        if Path(candidate).is_file():
            return candidate
    found = shutil.which("locust")
    if found:
        return found
    raise SystemExit('no Locust: pip install -e ".[bench]" (or --locust PATH, or LOCUST=PATH)')


class Load:
    """Locust runs against one server; ``plan`` is the groups as the locustfile reads them."""

    def __init__(self, locust: str, clients: int, groups: list[Group], cookie: str, work: Path):
        self.locust, self.clients, self.work = locust, clients, work
        self.plan = work / "plan.json"
        self.plan.write_text(
            json.dumps(
                {
                    "groups": {
                        g.name: {
                            "urls": g.urls,
                            "weight": g.weight,
                            "login": g.login,
                            "headers": g.headers,
                        }
                        for g in groups
                    },
                    "cookie": cookie,
                }
            )
        )
        self.runs = 0

    def start(self, base_url: str, seconds: float, only: str = "") -> tuple[subprocess.Popen, Path]:
        self.runs += 1
        out = self.work / f"run-{self.runs}.csv"
        process = subprocess.Popen(
            [
                self.locust,
                "-f",
                str(LOCUSTFILE),
                "--headless",
                "--users",
                str(self.clients),
                "--spawn-rate",
                str(self.clients),
                "--run-time",
                f"{max(1, round(seconds))}s",
                "--stop-timeout",
                "10",
                "--host",
                base_url,
                "--loglevel",
                "ERROR",
                "--only-summary",
            ],
            env={
                **os.environ,
                "LOAD_PLAN": str(self.plan),
                "LOAD_OUT": str(out),
                "LOAD_ONLY": only,
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return process, out

    def run(self, base_url: str, seconds: float, only: str = "") -> list[Record]:
        process, out = self.start(base_url, seconds, only)
        process.wait(seconds + 60)
        return records_read(out)


def ingest_start(replay_url: str, nice: int) -> subprocess.Popen:
    """A Forge ingest from the replay in its own process, as a django-q2 worker runs it."""
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "fetch_market_orders",
            "--region",
            str(FORGE),
            "--force",
        ],
        cwd=ROOT,
        env={**os.environ, "ESI_BASE_URL": f"{replay_url}/esi", "LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=(lambda: os.nice(nice)) if nice else None,
    )


# --- phases --------------------------------------------------------------------------------------


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def groups_alone(lenny: Lenny, load: Load, groups: list[Group], seconds: float) -> list[dict]:
    meter = CpuMeter(lenny.process.pid, _database_name())
    cores = os.cpu_count() or 1
    rows = []
    for group in groups:
        meter.start()
        records = load.run(lenny.base_url, seconds, only=group.name)
        web, pg, wall = meter.stop()
        summary = summarize(records, wall)
        count = max(summary.count, 1)
        rows.append(
            {
                "group": group.name,
                "summary": summary,
                "web_ms": web / count * 1000,
                "pg_ms": pg / count * 1000,
                "wall_ms": cores * wall / count * 1000,
                "target_ms": group.target_ms,
                "load": load_average(),
            }
        )
        print(f"  {group.name}: {summary.count} answers", flush=True)
    return rows


def groups_alone_print(rows: list[dict], clients: int, workers: int, threads: int) -> None:
    print(f"\nEach group alone, {clients} clients, gunicorn {workers} workers x {threads} threads")
    print(
        f"{'group':<30} {'answers':>7} {'/s':>6} {'errors':>6} {'p50':>7} {'p95':>7} {'p99':>7}"
        f" {'web CPU':>8} {'PG CPU':>7} {'cores*wall':>10} {'target':>6}  load avg"
    )
    for row in rows:
        s = row["summary"]
        verdict = "ok" if row["web_ms"] <= row["target_ms"] else "OVER"
        print(
            f"{row['group']:<30} {s.count:>7} {s.rps:>6.1f} {s.errors:>6} {s.p50:>5.0f}ms"
            f" {s.p95:>5.0f}ms {s.p99:>5.0f}ms {row['web_ms']:>6.1f}ms {row['pg_ms']:>5.1f}ms"
            f" {row['wall_ms']:>8.1f}ms {row['target_ms']:>4.0f}ms {verdict:<4} {row['load']}"
            + (f"  e.g. {s.examples}" if s.errors else "")
        )


def mix_with_ingest(
    lenny: Lenny, load: Load, replay_url: str, idle_seconds: float, nice: int, max_ingest: float
) -> dict:
    """The mix idle, then during a Forge ingest: per-answer records split by time."""
    meter = CpuMeter(lenny.process.pid, _database_name())
    process, out = load.start(lenny.base_url, idle_seconds + max_ingest + 15)
    meter.start()
    time.sleep(idle_seconds + 2)  # Locust spawns its users in the first second
    idle_cpu = meter.stop()
    load_idle = load_average()
    ingest_started = time.time()
    meter.start()
    ingest = ingest_start(replay_url, nice)
    try:
        output, _ = ingest.communicate(timeout=max_ingest)
    except subprocess.TimeoutExpired:
        ingest.kill()
        output, _ = ingest.communicate()
        output += "\n(stopped: longer than --max-ingest)"
    ingest_ended = time.time()
    during_cpu = meter.stop()
    load_during = load_average()
    process.send_signal(signal.SIGTERM)  # Locust stops its users and writes the records
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
    records = records_read(out)
    return {
        "idle": [r for r in records if r.start + r.ms / 1000 < ingest_started],
        "during": [r for r in records if ingest_started <= r.start <= ingest_ended],
        "idle_seconds": idle_seconds,
        "ingest_seconds": ingest_ended - ingest_started,
        "ingest": (output or "").strip().splitlines()[-1:] or [""],
        "ingest_ok": ingest.returncode == 0,
        "idle_cpu": idle_cpu,
        "during_cpu": during_cpu,
        "load_idle": load_idle,
        "load_during": load_during,
    }


def mix_print(result: dict, groups: list[Group], nice: int = 0) -> None:
    idle_s, during_s = result["idle_seconds"], result["ingest_seconds"]
    print(
        f"\nThe mix, idle ({idle_s:.0f} s, load avg {result['load_idle']}) and during a Forge "
        f"ingest at niceness {nice} ({during_s:.0f} s, load avg {result['load_during']}; "
        f"{'ok' if result['ingest_ok'] else 'FAILED'}: {result['ingest'][0][:100]})"
    )
    print(
        f"{'group':<30} {'idle n':>6} {'p50':>7} {'p95':>7} {'p99':>7} {'during n':>8} {'p50':>7}"
        f" {'p95':>7} {'p99':>7} {'p95 ratio':>9}"
    )
    rows = [(g.name, [r for r in result["idle"] if r.group == g.name]) for g in groups]
    rows.append(("all", result["idle"]))
    for name, idle in rows:
        during = [r for r in result["during"] if name in ("all", r.group)]
        a, b = summarize(idle, idle_s), summarize(during, during_s)
        ratio = b.p95 / a.p95 if a.p95 else 0.0
        print(
            f"{name:<30} {a.count:>6} {a.p50:>5.0f}ms {a.p95:>5.0f}ms {a.p99:>5.0f}ms "
            f"{b.count:>8} {b.p50:>5.0f}ms {b.p95:>5.0f}ms {b.p99:>5.0f}ms {ratio:>8.2f}x"
            + (
                f"  errors {a.errors}+{b.errors} {a.examples + b.examples}"
                if a.errors + b.errors
                else ""
            )
        )
    for label, (web, pg, wall), answers in (
        ("idle", result["idle_cpu"], len(result["idle"])),
        ("during", result["during_cpu"], len(result["during"])),
    ):
        n = max(answers, 1)
        print(
            f"  {label}: {answers / wall:.1f} answers/s, web CPU {web / n * 1000:.1f} ms and "
            f"PostgreSQL (web and ingest) {pg / n * 1000:.1f} ms per answer"
        )


def configs_compare(
    configs: list[tuple[int, int]], load: Load, groups: list[Group], cookie: str, seconds: float
) -> None:
    print(f"\ngunicorn workers x threads, the mix idle for {seconds:.0f} s each")
    print(
        f"{'config':<8} {'answers/s':>9} {'p50':>7} {'p95':>7} {'p99':>7} {'errors':>6}"
        f" {'web CPU':>8} {'PG CPU':>7}  load avg"
    )
    for workers, threads in configs:
        lenny = Lenny(workers, threads, _server_env())
        try:
            lenny.warm(groups, cookie)
            meter = CpuMeter(lenny.process.pid, _database_name())
            meter.start()
            records = load.run(lenny.base_url, seconds)
            web, pg, wall = meter.stop()
        finally:
            lenny.stop()
        s = summarize(records, wall)
        n = max(s.count, 1)
        print(
            f"{workers}x{threads:<6} {s.rps:>9.1f} {s.p50:>5.0f}ms {s.p95:>5.0f}ms {s.p99:>5.0f}ms"
            f" {s.errors:>6} {web / n * 1000:>6.1f}ms {pg / n * 1000:>5.1f}ms  {load_average()}",
            flush=True,
        )


def _database_name() -> str:
    from django.conf import settings

    return settings.DATABASES["default"]["NAME"]


def _server_env() -> dict[str, str]:
    # No `collectstatic` needed: the mix asks for pages and JSON, not their static files.
    return {**os.environ, "LENNY_MANIFEST_STATIC": "0", "LOG_LEVEL": "WARNING"}


def args_parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=CLIENTS, help="concurrent users")
    parser.add_argument("--seconds", type=float, default=15, help="each group alone")
    parser.add_argument("--mix-seconds", type=float, default=30, help="the mix, idle")
    parser.add_argument("--max-ingest", type=float, default=240, help="seconds, at most")
    parser.add_argument(
        "--ingest-nice",
        type=nice_parse,
        default=[0],
        help="the ingest's niceness; several (0,10) run the mix with an ingest at each, in turn",
    )
    parser.add_argument(
        "--configs",
        type=configs_parse,
        default=None,
        help="workers x threads to compare on the mix (e.g. 2x4,3x2,4x2); the first is used for "
        "the other phases (default: manage.py run's)",
    )
    parser.add_argument("--only", default="", help="only the groups whose name holds this")
    parser.add_argument("--no-ingest", action="store_true", help="skip the mix with an ingest")
    parser.add_argument("--no-groups", action="store_true", help="skip the groups alone")
    parser.add_argument("--cards", type=int, default=CARDS, help="the store user's wants")
    parser.add_argument("--locust", help="the locust executable (default: on PATH)")
    parser.add_argument(
        "--short", action="store_true", help="a quick check: 3 s a group, 5 s of mix"
    )
    args = parser.parse_args(argv)
    if args.clients < 1:
        parser.error("--clients: at least 1")
    if args.short:
        args.seconds, args.mix_seconds = 3, 5
    return args


def main(argv: list[str] | None = None) -> None:
    args = args_parse(argv)
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get(
        "REDIS_URL"
    ):
        raise SystemExit("set DATABASE_URL to a PostgreSQL database and REDIS_URL to Redis")
    locust = locust_find(args.locust)
    fixtures = shared_fixtures()
    archive = (
        fixtures / "eve" / "history" / "market-history-hubs-2020Q1.csv.gz" if fixtures else None
    )
    if archive and archive.exists():
        # The replay builds The Forge's full book (~400k orders) on the whole hub history.
        os.environ.setdefault("ESI_REPLAY_HISTORY", str(archive))

    # The data load's thousands of ESI lines; set here, not at import: the tests import this
    # module, and every server a test starts would inherit it.
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django_q.brokers import get_broker
    from market_pages import replay_start

    from lenny.management.commands.run import WEB_THREADS, WEB_WORKERS

    call_command("migrate", verbosity=0)
    replay, replay_url = replay_start()
    work = Path(tempfile.mkdtemp(prefix="lenny-load-"))
    try:
        market_load(replay_url)
        user_id = people_load(args.cards)
        groups = [g for g in groups_build() if args.only in g.name]
        cookie = session_cookie(user_id)
        get_broker().purge_queue()  # the snapshots' follow-up tasks: no cluster runs them here
        load = Load(locust, args.clients, groups, cookie, work)
        configs = args.configs or [(WEB_WORKERS, WEB_THREADS)]
        workers, threads = configs[0]
        print(
            f"Lenny: gunicorn {workers} workers x {threads} threads; {args.clients} clients; "
            f"{os.cpu_count()} cores; load avg {load_average()}",
            flush=True,
        )
        lenny = Lenny(workers, threads, _server_env())
        try:
            lenny.warm(groups, cookie)
            if not args.no_groups:
                rows = groups_alone(lenny, load, groups, args.seconds)
                groups_alone_print(rows, args.clients, workers, threads)
            for nice in [] if args.no_ingest else args.ingest_nice:
                lenny.warm(groups, cookie)
                result = mix_with_ingest(
                    lenny, load, replay_url, args.mix_seconds, nice, args.max_ingest
                )
                mix_print(result, groups, nice)
        finally:
            lenny.stop()
        if len(configs) > 1:
            configs_compare(configs, load, groups, cookie, args.mix_seconds)
    finally:
        replay.terminate()
        replay.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
