"""Replay ESI's character routes (under ``/esi``): a pilot's wallet, journal, transactions, orders.

Routes, answered like ESI (``ETag``/304, ``Expires`` and ``Last-Modified`` as HTTP dates, the
error-limit headers, ``X-Pages`` on paged routes, JSON errors):

- ``/characters/{id}/wallet/`` — the balance, a JSON number (cached 120 s);
- ``/characters/{id}/wallet/journal/[?page=]`` — the last 30 days, newest first, paged (3600 s);
- ``/characters/{id}/wallet/transactions/[?from_id=]`` — the last 30 days, newest first, at most
  ``transactions_limit`` an answer; ``from_id`` gives that transaction and older ones (the row
  itself comes back again, as from ESI) (3600 s);
- ``/characters/{id}/orders/`` — open orders (1200 s);
- ``/characters/{id}/orders/history/[?page=]`` — orders closed in the last 90 days (3600 s).

Authentication is real: a ``Bearer`` access token the replay SSO issued (it records them in
``server.state["sso"]["access_tokens"]``). Unknown or expired → 401; a token of another
character, or without the route's scope (``esi-wallet.read_character_wallet.v1`` for the wallet
routes, ``esi-markets.read_character_orders.v1`` for the order routes) → 403.

Every character has a deterministic trading history, seeded by its id, spread from 75 days
before the replay's start to 45 days after it and revealed as the replay's clock passes:
station trading in Jita at prices from the real history the ESI replay uses. Buy orders fill
in parts (their escrow is released as they fill) or are cancelled with a part unfilled; some
buys are instant; sell orders fill in two to six parts, some are repriced once (a new
``issued`` and another broker fee), some are cancelled; and a few sales are of an item never
bought (mined Megacyte: "cost unknown" for the ledger). The journal has what the game writes:
``brokers_fee`` (half of them naming their order, as newer ESI data does), ``market_escrow``,
``market_transaction`` (naming its transaction) and, for a sale, its ``transaction_tax`` with the
next journal id at the same second, all with the running balance. The demo pilot (2112625428)
is one of them.

Knobs, on ``server.state["characters"]`` (a :class:`CharacterReplay`; ``reset()`` restores them):

- ``advance(days=…, seconds=…)`` moves the replay's clock forward: the answers come from later
  (older rows drop out of ESI's 30-day window, newer trades appear); ``clock_offset`` in seconds;
- ``journal_page_size`` (2500), ``transactions_limit`` (2500), ``history_page_size`` (1000);
- ``set_history(character_id, TradingHistory(...))`` serves a hand-made history instead.

Answers are computed as of the start of the route's cache period, so the pages of one paged
answer always agree. ``POST /esi/_replay/characters`` with knobs as JSON sets them from another
process (``{"advance_days": 10}`` too).
"""

from __future__ import annotations

from lenny.replay import ReplayServer
from market.ledger.replay.history import (
    JOURNAL_DAYS,
    PREFIX,
    OrderLife,
    TradingHistory,
    trading_history_generate,
)
from market.ledger.replay.routes import CharacterReplay

__all__ = [
    "JOURNAL_DAYS",
    "CharacterReplay",
    "OrderLife",
    "TradingHistory",
    "characters_register",
    "register",
    "trading_history_generate",
]


def characters_register(server: ReplayServer) -> None:
    replay = CharacterReplay(server)
    server.state["characters"] = replay
    server.on_reset(replay.reset)
    character = rf"{PREFIX}/characters/(?P<character_id>\d+)"
    server.add_route("GET", rf"{character}/wallet/?", replay.wallet_view)
    server.add_route("GET", rf"{character}/wallet/journal/?", replay.journal_view)
    server.add_route("GET", rf"{character}/wallet/transactions/?", replay.transactions_view)
    server.add_route("GET", rf"{character}/orders/?", replay.orders_view)
    server.add_route("GET", rf"{character}/orders/history/?", replay.order_history_view)
    server.add_route("GET", rf"{PREFIX}/_replay/characters", replay.state_view)
    server.add_route("POST", rf"{PREFIX}/_replay/characters", replay.state_view)


def register(server: ReplayServer) -> None:
    """Mounted by ``lenny.replay.replay_server_build`` (every app's ``replay.register``)."""
    characters_register(server)
