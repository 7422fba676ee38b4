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
- ``haul_trust``: which hauling rows to trust (their flags), for one type or a trip's arrays.
"""

from market.trading.core import TradingInputError, price_tick, price_undercut, rows_sort
from market.trading.haul_trust import (
    HAUL_PRICE_RATIO_MAX,
    SideTop,
    SideTops,
    haul_row_unwalked,
    haul_rows_unwalked,
    haul_trust_flags,
    haul_trust_masks,
    mask_flags,
)
from market.trading.hauling import (
    ALLOCATIONS,
    HAULING_COLUMNS,
    Absorption,
    Allocation,
    HaulCandidate,
    HaulRow,
    hauling_rows,
    relist_absorption,
    relist_cap,
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
    AskLevels,
    BidLevels,
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
    "HAUL_PRICE_RATIO_MAX",
    "STATION_TRADING_COLUMNS",
    "Absorption",
    "Allocation",
    "AskLevels",
    "BidLevels",
    "BookEntry",
    "BookOrder",
    "Fill",
    "HaulCandidate",
    "HaulMode",
    "HaulPlan",
    "HaulRow",
    "Quote",
    "SideTop",
    "SideTops",
    "StationOrder",
    "StationQuote",
    "StationTradingRow",
    "TradingInputError",
    "haul_row_unwalked",
    "haul_rows_unwalked",
    "haul_trust_flags",
    "haul_trust_masks",
    "hauling_instant",
    "hauling_may_pay",
    "hauling_relist",
    "hauling_rows",
    "mask_flags",
    "price_tick",
    "price_undercut",
    "relist_absorption",
    "relist_cap",
    "rows_sort",
    "station_quotes",
    "station_trading_rows",
]
