"""Station trading and hauling maths: plain data in, plain data out, Decimal for ISK.

Nothing here touches the database. Pages, the JSON API and tasks read quotes and order books from
the models, call these functions and render what they return. Rates are fractions
(``Decimal("0.036")`` is 3.6 %); ISK amounts are returned unrounded (exact products of the
inputs) so that every identity below holds to the last digit; round them for display only.

- ``core``: input checks (``TradingInputError``), EVE's price grid, sorting rows.
- ``station``: station trading (one station, both legs as orders), with its formulas.
- ``flags``: why a row's prices should not be trusted (bait, outlier, tiny order, no volume,
  loss), as short reason codes.
- ``walk``: one type's haul from hub A to hub B, instant or relist: the depth walks.
- ``hauling``: many types on one trip, sharing one budget and one hold.
"""

from market.trading.core import TradingInputError, price_tick, price_undercut, rows_sort
from market.trading.hauling import (
    ALLOCATIONS,
    HAULING_COLUMNS,
    Allocation,
    HaulCandidate,
    HaulRow,
    hauling_rows,
)
from market.trading.station import (
    DEFAULT_MARKET_SHARE,
    STATION_TRADING_COLUMNS,
    Quote,
    StationOrder,
    StationQuote,
    StationTradingRow,
    station_quotes,
    station_trading_rows,
)
from market.trading.walk import (
    HAUL_MODES,
    BookEntry,
    BookOrder,
    Fill,
    HaulMode,
    HaulPlan,
    hauling_instant,
    hauling_may_pay,
    hauling_relist,
)

__all__ = [
    "ALLOCATIONS",
    "DEFAULT_MARKET_SHARE",
    "HAULING_COLUMNS",
    "HAUL_MODES",
    "STATION_TRADING_COLUMNS",
    "Allocation",
    "BookEntry",
    "BookOrder",
    "Fill",
    "HaulCandidate",
    "HaulMode",
    "HaulPlan",
    "HaulRow",
    "Quote",
    "StationOrder",
    "StationQuote",
    "StationTradingRow",
    "TradingInputError",
    "hauling_instant",
    "hauling_may_pay",
    "hauling_relist",
    "hauling_rows",
    "price_tick",
    "price_undercut",
    "rows_sort",
    "station_quotes",
    "station_trading_rows",
]
