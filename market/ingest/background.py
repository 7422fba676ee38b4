"""The ingest's work that need not hold the ingest up, on threads of this process.

Two kinds, each on its own pool so neither waits behind the other:

- ``summaries``: a snapshot's book tops, trades and state (``market.ingest.liquidity``), computed
  while PostgreSQL indexes the new partition; the state for the next ingest is kept after the
  snapshot has landed (two threads: regions ingested at once by one process each get one);
- ``landings``: the ``snapshot_landed`` receivers (the desk's warm-up, the ledger's undercut
  check, the type resolution's message), run once the new snapshot has committed. Readers see
  the new book from the commit on; the receivers only prepare for them, and the ingest (a
  django-q task, or ``fetch_market_orders``) does not wait for them.

The pools outlive the call that submitted the work. One pool per process: a forked worker does
not inherit the threads of its parent's pool. At exit Python lets them finish what was
submitted (``concurrent.futures`` joins its threads), so a management command's work is done
before its process ends.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Literal

from django.db import connections

log = logging.getLogger("market.ingest")

Kind = Literal["summaries", "landings"]
_THREADS: dict[Kind, int] = {"summaries": 2, "landings": 1}

_pools: dict[Kind, tuple[int, ThreadPoolExecutor]] = {}
_pending: set[Future] = set()
_lock = threading.Lock()


def _pool(kind: Kind) -> ThreadPoolExecutor:
    with _lock:
        owned = _pools.get(kind)
        if owned is None or owned[0] != os.getpid():
            owned = (
                os.getpid(),
                ThreadPoolExecutor(_THREADS[kind], thread_name_prefix=f"ingest-{kind}"),
            )
            _pools[kind] = owned
        return owned[1]


def background_submit(kind: Kind, function: Callable, /, *args, **kwargs) -> Future:
    """Run ``function`` on a thread of the ``kind``'s pool; the database connection it opened
    there is closed when it returns (a thread's connection is its own, and an idle one left
    open would hold a server process for nothing)."""

    def run():
        try:
            return function(*args, **kwargs)
        except BaseException:
            if kind == "landings":  # nobody waits on their future to see it
                log.exception("the snapshot_landed receivers failed")
            raise
        finally:
            connections.close_all()

    done = _pool(kind).submit(run)
    with _lock:
        _pending.add(done)
    done.add_done_callback(_forget)
    return done


def _forget(done: Future) -> None:
    with _lock:
        _pending.discard(done)


def background_wait(timeout: float = 60) -> None:
    """Wait until what was submitted so far is done (tests, benchmarks)."""
    with _lock:
        pending = list(_pending)
    wait(pending, timeout=timeout)
