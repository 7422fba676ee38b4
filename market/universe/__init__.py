"""Item types newer than the SDE, resolved from ESI (the ``Type`` rows with ``source=esi``), and
the packaged volumes of SDE ships that lack one:

- ``resolve``: :func:`types_resolve`, one resolution of a set of type ids (names, records,
  groups and categories, failures recorded for a retry);
- ``due``: what is due and when (:func:`types_due`), the ``snapshot_landed`` receiver that
  queues a resolution, and the SDE import taking ESI types over (:func:`types_from_sde`);
- ``payloads``: ESI's answers, validated (pure).
"""

from market.universe.due import (
    REFRESH_AFTER,
    snapshot_landed_queue,
    types_due,
    types_from_sde,
    types_resolve_due,
)
from market.universe.payloads import (
    EsiCategory,
    EsiGroup,
    EsiName,
    EsiType,
    UniverseDataError,
)
from market.universe.resolve import TypesOutcome, types_resolve

__all__ = [
    "REFRESH_AFTER",
    "EsiCategory",
    "EsiGroup",
    "EsiName",
    "EsiType",
    "TypesOutcome",
    "UniverseDataError",
    "snapshot_landed_queue",
    "types_due",
    "types_from_sde",
    "types_resolve",
    "types_resolve_due",
]
