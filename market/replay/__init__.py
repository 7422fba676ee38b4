"""The market's replay upstreams, mounted on the replay server by :func:`register`:

- ``esi``: ESI's market routes under ``/esi`` (order snapshots, history, types, prices);
- ``orders``: the deterministic order books the snapshots are cut from;
- ``history``: the real hub history they follow (the sample in ``data/history``);
- ``sde``: Fuzzwork's SDE dump under ``/sde`` (the small slice in ``data/sde``);
- ``demo``: :func:`demo_load`, the offline demo's market data fetched from them.
"""

from market.replay.demo import demo_data_load, demo_load
from market.replay.esi import EsiReplay, register
from market.replay.history import (
    SAMPLE_HISTORY,
    history_archive,
    history_refreshed_at,
    stations_load,
)
from market.replay.orders import OrderBook
from market.replay.sde import SdeReplay, sde_register

__all__ = [
    "SAMPLE_HISTORY",
    "EsiReplay",
    "OrderBook",
    "SdeReplay",
    "demo_data_load",
    "demo_load",
    "history_archive",
    "history_refreshed_at",
    "register",
    "sde_register",
    "stations_load",
]
