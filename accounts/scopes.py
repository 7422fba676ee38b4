"""The ESI scopes Lenny asks EVE SSO for: one place, named, so the settings, the sync and the
replay SSO/ESI all mean the same scopes.

A pure module (no Django imports): the SSO provider asks for ``EVE_SSO_SCOPES``; the sync and
the replays name the scope each route needs.
"""

from __future__ import annotations

# The character's wallet: balance, journal and transactions.
WALLET_SCOPE = "esi-wallet.read_character_wallet.v1"
# The character's open orders and order history.
ORDERS_SCOPE = "esi-markets.read_character_orders.v1"
# Markets of player structures the character can dock at.
STRUCTURE_MARKETS_SCOPE = "esi-markets.structure_markets.v1"
# Names, systems and owners of the structures the character can dock at.
UNIVERSE_STRUCTURES_SCOPE = "esi-universe.read_structures.v1"

# What Lenny asks EVE SSO for at every login: the wallet and the character's orders.
EVE_SSO_SCOPES = [WALLET_SCOPE, ORDERS_SCOPE]
# Asked for only when the user opts in (tracking a player structure's market): the login URL's
# ``scope`` parameter names them, and the provider adds no other scope a request names.
STRUCTURE_SCOPES = [STRUCTURE_MARKETS_SCOPE, UNIVERSE_STRUCTURES_SCOPE]
OPT_IN_SCOPES = frozenset(STRUCTURE_SCOPES)

__all__ = [
    "EVE_SSO_SCOPES",
    "OPT_IN_SCOPES",
    "ORDERS_SCOPE",
    "STRUCTURE_MARKETS_SCOPE",
    "STRUCTURE_SCOPES",
    "UNIVERSE_STRUCTURES_SCOPE",
    "WALLET_SCOPE",
]
