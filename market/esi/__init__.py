"""The ESI client every ESI call in Lenny goes through (see :mod:`market.esi.client`).

- ``client``: :class:`EsiClient`, its caching, paging and retries;
- ``pages``: the :class:`PageSink` a paged call hands its pages to;
- ``limits``: the limits every worker shares through the cache (:class:`EsiLimits`);
- ``counters``: the request and error counters for ``/healthz`` (:func:`esi_counters`);
- ``headers``: ESI's notations read (rates, HTTP dates, routes);
- ``errors``: :class:`EsiError` and its kinds.
"""

from market.esi.client import EsiClient, EsiResult, token_owner
from market.esi.counters import esi_counters
from market.esi.errors import EsiAuthError, EsiError, EsiNotFound, EsiRolledOver, EsiTimeout
from market.esi.headers import rate_parse, route_template
from market.esi.limits import LIMITS_REFRESH, EsiLimits
from market.esi.pages import PageSink

__all__ = [
    "LIMITS_REFRESH",
    "EsiAuthError",
    "EsiClient",
    "EsiError",
    "EsiLimits",
    "EsiNotFound",
    "EsiResult",
    "EsiRolledOver",
    "EsiTimeout",
    "PageSink",
    "esi_counters",
    "rate_parse",
    "route_template",
    "token_owner",
]
