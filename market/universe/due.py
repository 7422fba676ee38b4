"""When types are resolved from ESI, and the SDE taking them back.

- After each snapshot lands (``snapshot_landed``, received in ``MarketConfig.ready``) a django-q2
  task is queued (:func:`snapshot_landed_queue`): the ingest only pushes one message, and the
  task (``market.tasks.types_after_snapshot``) resolves that snapshot's types.
- The ``market-types`` job (hourly) resolves what is due across every current snapshot, and
  refreshes the ESI types not checked for ``REFRESH_AFTER`` (30 days) or not fully resolved.
- What is due (:func:`types_due`): types on the market with no ``Type`` row, or with only the
  name ESI gave (their record failed); ships on the market without a packaged volume (an SDE
  without ``invVolumes``) that ESI was not asked about within ``REFRESH_AFTER``; in the periodic
  run, the ESI types above. Ids ESI did not resolve wait until their
  ``UnresolvedType.retry_at``.
- An SDE import that includes a type takes it over (:func:`types_from_sde`, called by the
  importer): ``source`` becomes ``sde``, the SDE's values win, and what the SDE does not carry
  (a packaged volume ESI gave) stays. The ESI types it does not include are due again, so they
  are checked against ESI after every import.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from market.models import (
    SHIP_CATEGORY_ID,
    BestPrice,
    MarketSnapshot,
    Type,
    UnresolvedType,
)
from market.universe.resolve import TypesOutcome, types_resolve

log = logging.getLogger("market.universe")

REFRESH_AFTER = timedelta(days=30)
# One run asks ESI about this many types at most; the next run takes the rest.
TYPES_PER_RUN = 5000
AFTER_SNAPSHOT_TASK = "market.tasks.types_after_snapshot"
AFTER_SNAPSHOT_TIMEOUT = 300
WRITE_CHUNK = 500


def _on_market(snapshot_id: int | None) -> QuerySet:
    """The type ids of one snapshot, or of every current one, as a subquery."""
    if snapshot_id is not None:
        rows = BestPrice.objects.filter(snapshot_id=snapshot_id)
    else:
        rows = BestPrice.objects.filter(
            snapshot_id__in=MarketSnapshot.objects.filter(is_current=True).values("id")
        )
    return rows.values("type_id").distinct()


def types_due(
    *, snapshot_id: int | None = None, refresh: bool = False, now: datetime | None = None
) -> list[int]:
    """The type ids to ask ESI about now (see the module docstring), at most TYPES_PER_RUN,
    the types missing altogether first."""
    now = now or timezone.now()
    waiting = UnresolvedType.objects.filter(retry_at__gt=now).values("type_id")
    on_market = _on_market(snapshot_id)
    missing = (
        _on_market(snapshot_id)
        .exclude(type_id__in=Type.objects.values("id"))
        .exclude(type_id__in=waiting)
        .values_list("type_id", flat=True)
    )
    stale = Q(esi_checked_at__isnull=True) | Q(esi_checked_at__lt=now - REFRESH_AFTER)
    ships = (
        Type.objects.filter(
            stale,
            pk__in=on_market,
            group__category_id=SHIP_CATEGORY_ID,
            packaged_volume__isnull=True,
            source=Type.Source.SDE,
        )
        .exclude(pk__in=waiting)
        .values_list("pk", flat=True)
    )
    # Named by ESI but not yet fully resolved (its record failed, its group was not given).
    incomplete = (
        Type.objects.from_esi()
        .filter(pk__in=on_market, esi_checked_at__isnull=True)
        .exclude(pk__in=waiting)
        .values_list("pk", flat=True)
    )
    due = [
        *missing.order_by("type_id")[:TYPES_PER_RUN],
        *incomplete.order_by("pk")[:TYPES_PER_RUN],
        *ships.order_by("pk")[:TYPES_PER_RUN],
    ]
    if refresh:
        esi = Type.objects.from_esi().filter(stale).exclude(pk__in=waiting)
        due += list(esi.order_by("pk").values_list("pk", flat=True)[:TYPES_PER_RUN])
    return list(dict.fromkeys(due))[:TYPES_PER_RUN]


def types_from_sde(*, type_ids: Iterable[int]) -> int:
    """The SDE import's hook: the ESI types it includes become SDE types, the others are due
    for a check against ESI. Returns how many it took over."""
    in_file = set(type_ids)
    esi_ids = set(Type.objects.from_esi().values_list("pk", flat=True))
    taken = sorted(esi_ids & in_file)
    for start in range(0, len(taken), WRITE_CHUNK):
        chunk = taken[start : start + WRITE_CHUNK]
        Type.objects.filter(pk__in=chunk).update(source=Type.Source.SDE, esi_checked_at=None)
    # Ids ESI did not know but the SDE now does: nothing is unresolved about them any more.
    unresolved = set(UnresolvedType.objects.values_list("type_id", flat=True)) & in_file
    UnresolvedType.objects.filter(type_id__in=sorted(unresolved)).delete()
    Type.objects.from_esi().update(esi_checked_at=None)
    if taken:
        log.info("the SDE import took over %d types resolved from ESI", len(taken))
    return len(taken)


def snapshot_landed_queue(sender: Any, snapshot: MarketSnapshot, **kwargs: Any) -> None:
    """``snapshot_landed`` receiver: queue the resolution of the snapshot's new types. Only a
    message to the broker, so the ingest is not slowed; a broker that is away costs nothing but
    a log line (the hourly job resolves them then)."""
    from django_q.tasks import async_task

    try:
        async_task(
            AFTER_SNAPSHOT_TASK,
            snapshot_id=snapshot.pk,
            q_options={
                "timeout": AFTER_SNAPSHOT_TIMEOUT,
                "task_name": f"types after snapshot {snapshot.pk}",
                "group": "market-types-after-snapshot",
            },
        )
    except Exception:
        log.exception("could not queue the type resolution after snapshot %s", snapshot.pk)


def types_resolve_due(
    *,
    snapshot_id: int | None = None,
    refresh: bool = False,
    deadline: float | None = None,
) -> TypesOutcome:
    """Resolve what is due now (:func:`types_due`) from ESI."""
    return types_resolve(
        type_ids=types_due(snapshot_id=snapshot_id, refresh=refresh), deadline=deadline
    )
