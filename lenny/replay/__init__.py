"""The replay-upstream framework (see :mod:`lenny.replay.server`): a loopback HTTP server that
stands in for every upstream, with each app's ``<app>.replay.register`` mounting its routes."""

from lenny.replay.server import (
    Fault,
    Handler,
    LoggedRequest,
    ReplayRequest,
    ReplayResponse,
    ReplayServer,
    replay_server_build,
    upstream_settings,
)

__all__ = [
    "Fault",
    "Handler",
    "LoggedRequest",
    "ReplayRequest",
    "ReplayResponse",
    "ReplayServer",
    "replay_server_build",
    "upstream_settings",
]
