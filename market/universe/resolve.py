"""Item types resolved from ESI: the names, groups and volumes of types the SDE lacks, and the
packaged volume of SDE ships that have none.

One resolution (:func:`types_resolve`) of a set of type ids:

1. Names first, in one request per 1,000 ids (``POST /universe/names/``), for the ids with no
   ``Type`` row: they are written at once (``source=esi``, not yet published, volume unknown), so
   the desk shows names even if the details below fail. ESI answers 404 for the whole batch when
   one id is unknown; the details tell which.
2. Each type's record (``GET /universe/types/{type_id}/``, a few at a time): group, market group,
   volume, packaged volume, portion size, published. For an ESI type it is the whole record; for
   an SDE type only its packaged volume is taken (an SDE without ``invVolumes`` has none, and a
   ship's assembled volume is no cargo figure). A refresh of a known ESI type asks with its ETag:
   a 304 only moves ``esi_checked_at`` on.
3. Groups and categories the database lacks (``/universe/groups/``, ``/universe/categories/``):
   a type's category is what the desk filters by (blueprints, SKINs). A market group the SDE
   lacks is not resolved: the type is kept without one (it is still searched, traded and
   hauled; only the market browser, built from the SDE's tree, does not list it).
4. One transaction writes it all. A 404 is recorded as ``UnresolvedType`` ``not_found`` (the desk
   calls it "Type N (unknown to ESI)") and asked again a day later; a failure (5xx after the
   client's retries, a timeout, an answer that does not validate) as ``failed``, asked again
   after 5 minutes, doubling up to 6 hours. Nothing of a failed or malformed answer is written.
   After ``TYPES_MAX_FAILURES_IN_A_ROW`` failures in a row ESI looks down: the rest waits.
5. The desk's caches of the regions selling a changed type are re-keyed and re-shared
   (``market.warmup.types_changed_warm``), so every page shows the new names at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from market.esi import EsiClient, EsiError, EsiNotFound
from market.models import Category, Group, MarketGroup, Type, UnresolvedType
from market.universe.payloads import (
    EsiCategory,
    EsiGroup,
    EsiType,
    UniverseDataError,
    names_convert,
    payload_convert,
    type_convert,
)
from market.warmup import types_changed_warm

log = logging.getLogger("market.universe")

NAMES_BATCH = 1000  # ids per POST /universe/names/ (ESI's maximum)
TYPES_FETCH_THREADS = 4  # requests in flight, as the history fetch keeps them
TYPES_MAX_FAILURES_IN_A_ROW = 10
NOT_FOUND_RETRY = timedelta(days=1)
FAILED_RETRY_FIRST = timedelta(minutes=5)
FAILED_RETRY_MAX = timedelta(hours=6)
ERROR_TEXT_MAX = 500
ESI_FIELDS = (
    "name",
    "group",
    "market_group",
    "volume",
    "packaged_volume",
    "portion_size",
    "published",
    "esi_checked_at",
)


@dataclass
class TypesOutcome:
    """What one resolution did, for the job's record and the admin's message."""

    asked: int = 0
    named: int = 0  # new types named by /universe/names/
    resolved: int = 0  # ESI types whose record was written
    unchanged: int = 0  # ESI types ESI answered 304 for
    packaged: int = 0  # SDE types given their packaged volume
    groups: int = 0
    categories: int = 0
    not_found: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    waiting: int = 0  # not asked: ESI looked down, or the deadline passed
    regions: list[int] = field(default_factory=list)  # whose desk caches were refreshed
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.named or self.resolved or self.packaged or self.not_found)

    def summary(self) -> str:
        if not self.asked:
            return "no types to resolve"
        parts = [f"{self.asked:,} types asked"]
        for count, text in (
            (self.named, "named"),
            (self.resolved, "resolved"),
            (self.unchanged, "unchanged"),
            (self.packaged, "given a packaged volume"),
            (self.groups, "groups added"),
            (self.categories, "categories added"),
            (len(self.not_found), "unknown to ESI"),
            (len(self.failed), "failed"),
            (self.waiting, "waiting for the next run"),
        ):
            if count:
                parts.append(f"{count:,} {text}")
        text = ", ".join(parts) + f" in {self.seconds:.1f} s"
        if self.failed:
            type_id, error = next(iter(self.failed.items()))
            text += f" (e.g. type {type_id}: {error})"
        return text


@dataclass
class _Answer:
    """One type's answer: its record, or 304 (``unchanged``), or why not."""

    type_id: int
    record: EsiType | None = None
    unchanged: bool = False
    not_found: bool = False
    error: str = ""
    skipped: bool = False


def types_resolve(
    *,
    type_ids: Iterable[int],
    client: EsiClient | None = None,
    deadline: float | None = None,
    force: bool = False,
    now: datetime | None = None,
) -> TypesOutcome:
    """Resolve ``type_ids`` from ESI (see the module docstring) and write what ESI answered.
    ``force`` (the admin's refresh) asks for every record in full, without ETags."""
    ids = sorted({int(t) for t in type_ids})
    if not ids:
        return TypesOutcome()
    if client is not None:
        return _resolve(ids, client=client, deadline=deadline, force=force, now=now)
    with EsiClient() as own:
        return _resolve(ids, client=own, deadline=deadline, force=force, now=now)


def _resolve(
    ids: list[int],
    *,
    client: EsiClient,
    deadline: float | None,
    force: bool,
    now: datetime | None,
) -> TypesOutcome:
    started = time.monotonic()
    now = now or timezone.now()
    outcome = TypesOutcome(asked=len(ids))
    known = {
        row["id"]: row
        for row in Type.objects.filter(pk__in=ids).values(
            "id", "source", "esi_checked_at", "packaged_volume"
        )
    }
    new_ids = [t for t in ids if t not in known]
    outcome.named = _names_write(new_ids, client=client)
    # A complete ESI record is asked again with its ETag; anything else needs the full answer.
    revalidate = (
        set()
        if force
        else {
            t
            for t, row in known.items()
            if row["source"] == Type.Source.ESI and row["esi_checked_at"] is not None
        }
    )
    answers = _types_fetch(ids, client=client, revalidate=revalidate, deadline=deadline)
    records = [a.record for a in answers if a.record is not None]
    groups, categories, missing_groups = _parents_fetch(records, client=client)
    sde_known = {t: row for t, row in known.items() if row["source"] == Type.Source.SDE}
    with transaction.atomic():
        outcome.categories = len(
            Category.objects.bulk_create(
                [
                    Category(id=c.category_id, name=c.name, published=c.published)
                    for c in categories
                ],
                ignore_conflicts=True,
            )
        )
        outcome.groups = len(_groups_write(groups))
        _answers_write(answers, sde_known, missing_groups, outcome, now=now)
    outcome.waiting = sum(1 for a in answers if a.skipped)
    if outcome.changed:
        changed = [a.type_id for a in answers if a.record is not None or a.not_found]
        outcome.regions = types_changed_warm(type_ids=[*new_ids, *changed])
    outcome.seconds = time.monotonic() - started
    log.info("types resolved from ESI: %s", outcome.summary())
    return outcome


# --- asking ESI ----------------------------------------------------------------------------------


def _names_write(new_ids: list[int], *, client: EsiClient) -> int:
    """Name the new types in batches of 1,000 and write them at once; returns how many."""
    named: dict[int, str] = {}
    for start in range(0, len(new_ids), NAMES_BATCH):
        batch = new_ids[start : start + NAMES_BATCH]
        try:
            result = client.post("/universe/names/", body=batch)
            named.update(names_convert(result.data, asked=set(batch)))
        except EsiNotFound:
            # "All IDs must resolve to a name, or nothing will be returned": the type records
            # below say which ids ESI does not know.
            log.info("ESI could not name every one of %d types: asking each", len(batch))
        except (EsiError, UniverseDataError) as exc:
            log.warning("naming %d types failed: %s", len(batch), exc)
    if named:
        Type.objects.bulk_create(
            [
                Type(id=type_id, name=name, source=Type.Source.ESI, published=False)
                for type_id, name in named.items()
            ],
            ignore_conflicts=True,
        )
    return len(named)


def _types_fetch(
    ids: list[int], *, client: EsiClient, revalidate: set[int], deadline: float | None
) -> list[_Answer]:
    failures_in_a_row = [0]
    lock = threading.Lock()

    def fetch(type_id: int) -> _Answer:
        with lock:
            down = failures_in_a_row[0] >= TYPES_MAX_FAILURES_IN_A_ROW
        if down or (deadline is not None and time.monotonic() > deadline):
            return _Answer(type_id, skipped=True)
        answer = _type_fetch(type_id, client=client, conditional=type_id in revalidate)
        with lock:
            failures_in_a_row[0] = failures_in_a_row[0] + 1 if answer.error else 0
        return answer

    with ThreadPoolExecutor(TYPES_FETCH_THREADS, thread_name_prefix="esi-types") as pool:
        return list(pool.map(fetch, ids))


def _type_fetch(type_id: int, *, client: EsiClient, conditional: bool) -> _Answer:
    path = f"/universe/types/{type_id}/"
    try:
        result = client.get(path, conditional=conditional)
        if result.not_modified:
            return _Answer(type_id, unchanged=True)
        return _Answer(type_id, type_convert(result.data, type_id=type_id))
    except EsiNotFound:
        return _Answer(type_id, not_found=True)
    except (EsiError, UniverseDataError) as exc:
        return _Answer(type_id, error=(str(exc) or type(exc).__name__)[:ERROR_TEXT_MAX])


def _parents_fetch(
    records: list[EsiType], *, client: EsiClient
) -> tuple[list[EsiGroup], list[EsiCategory], set[int]]:
    """The groups (and their categories) the records need that the database lacks; and the
    group ids ESI could not give, whose types are kept without a group for now."""
    wanted = {r.group_id for r in records} - set(
        Group.objects.filter(pk__in={r.group_id for r in records}).values_list("pk", flat=True)
    )
    groups, missing = [], set()
    for group_id in sorted(wanted):
        group = _parent_fetch(f"/universe/groups/{group_id}/", EsiGroup, client=client)
        if group is None or group.group_id != group_id:
            missing.add(group_id)
        else:
            groups.append(group)
    needed = {g.category_id for g in groups}
    have = set(Category.objects.filter(pk__in=needed).values_list("pk", flat=True))
    categories = []
    for category_id in sorted(needed - have):
        category = _parent_fetch(f"/universe/categories/{category_id}/", EsiCategory, client=client)
        if category is not None and category.category_id == category_id:
            categories.append(category)
    return groups, categories, missing


def _parent_fetch(path: str, shape: type, *, client: EsiClient) -> Any:
    try:
        return payload_convert(client.get(path, conditional=False).data, shape, what=path)
    except (EsiError, UniverseDataError) as exc:
        log.warning("ESI %s failed: %s", path, exc)
        return None


# --- writing -------------------------------------------------------------------------------------


def _groups_write(groups: list[EsiGroup]) -> list[Group]:
    # A category ESI did not give (or the database lacks) leaves the group without one.
    categories = set(
        Category.objects.filter(pk__in={g.category_id for g in groups}).values_list("pk", flat=True)
    )
    return Group.objects.bulk_create(
        [
            Group(
                id=g.group_id,
                name=g.name,
                category_id=g.category_id if g.category_id in categories else None,
                published=g.published,
            )
            for g in groups
        ],
        ignore_conflicts=True,
    )


def _answers_write(
    answers: list[_Answer],
    sde_known: dict[int, dict[str, Any]],
    missing_groups: set[int],
    outcome: TypesOutcome,
    *,
    now: datetime,
) -> None:
    records = [a.record for a in answers if a.record is not None]
    market_groups = set(
        MarketGroup.objects.filter(
            pk__in={r.market_group_id for r in records if r.market_group_id is not None}
        ).values_list("pk", flat=True)
    )
    esi_rows, sde_rows = [], []
    for record in records:
        sde = sde_known.get(record.type_id)
        if sde is not None:
            sde_rows.append(
                Type(
                    id=record.type_id,
                    packaged_volume=_sde_packaged_volume(sde, record),
                    esi_checked_at=now,
                )
            )
            continue
        complete = record.group_id not in missing_groups
        esi_rows.append(
            Type(
                id=record.type_id,
                name=record.name,
                group_id=record.group_id if complete else None,
                market_group_id=(
                    record.market_group_id if record.market_group_id in market_groups else None
                ),
                volume=record.volume,
                packaged_volume=record.packaged_volume,
                portion_size=record.portion_size,
                published=record.published,
                source=Type.Source.ESI,
                # Without its group the type is asked again on the next run.
                esi_checked_at=now if complete else None,
            )
        )
    # Rows an SDE import took over meanwhile are left to it (the filter on ``source``).
    existing = set(
        Type.objects.filter(pk__in=[r.id for r in esi_rows]).values_list("pk", flat=True)
    )
    Type.objects.bulk_create([r for r in esi_rows if r.id not in existing], ignore_conflicts=True)
    Type.objects.from_esi().bulk_update(
        [r for r in esi_rows if r.id in existing], ESI_FIELDS, batch_size=500
    )
    Type.objects.filter(source=Type.Source.SDE).bulk_update(
        sde_rows, ["packaged_volume", "esi_checked_at"], batch_size=500
    )
    unchanged = [a.type_id for a in answers if a.unchanged]
    Type.objects.filter(pk__in=unchanged).update(esi_checked_at=now)
    outcome.resolved = len(esi_rows)
    outcome.packaged = sum(1 for r in sde_rows if r.packaged_volume is not None)
    outcome.unchanged = len(unchanged)
    answered = [a.type_id for a in answers if a.record is not None or a.unchanged]
    UnresolvedType.objects.filter(type_id__in=answered).delete()
    outcome.not_found = [a.type_id for a in answers if a.not_found]
    outcome.failed = {a.type_id: a.error for a in answers if a.error}
    _failures_record(outcome.not_found, outcome.failed, now=now)


def _sde_packaged_volume(sde: dict[str, Any], record: EsiType) -> float | None:
    """The SDE's own packaged volume (``invVolumes``) wins; ESI fills one the SDE lacks, and
    replaces one it gave before."""
    from_sde = sde["packaged_volume"] is not None and sde["esi_checked_at"] is None
    if from_sde or record.packaged_volume is None:
        return sde["packaged_volume"]
    return record.packaged_volume


def _failures_record(not_found: list[int], failed: dict[int, str], *, now: datetime) -> None:
    ids = [*not_found, *failed]
    if not ids:
        return
    before = {u.type_id: u for u in UnresolvedType.objects.filter(type_id__in=ids)}
    rows = []
    for type_id in ids:
        previous = before.get(type_id)
        failures = (previous.failures if previous else 0) + 1
        if type_id in failed:
            reason, error = UnresolvedType.Reason.FAILED, failed[type_id]
            retry = min(FAILED_RETRY_FIRST * 2 ** (failures - 1), FAILED_RETRY_MAX)
        else:
            reason, error, retry = UnresolvedType.Reason.NOT_FOUND, "404 Type not found", None
        rows.append(
            UnresolvedType(
                type_id=type_id,
                reason=reason,
                error=error,
                failures=failures,
                first_failed_at=previous.first_failed_at if previous else now,
                failed_at=now,
                retry_at=now + (retry or NOT_FOUND_RETRY),
            )
        )
    UnresolvedType.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["type_id"],
        update_fields=["reason", "error", "failures", "failed_at", "retry_at"],
    )
