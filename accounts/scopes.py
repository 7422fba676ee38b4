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

# What Lenny asks EVE SSO for: the wallet, the character's orders, structure markets.
EVE_SSO_SCOPES = [WALLET_SCOPE, ORDERS_SCOPE, STRUCTURE_MARKETS_SCOPE]

__all__ = ["EVE_SSO_SCOPES", "ORDERS_SCOPE", "STRUCTURE_MARKETS_SCOPE", "WALLET_SCOPE"]
