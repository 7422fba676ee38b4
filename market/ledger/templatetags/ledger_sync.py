"""The ledger page's notice of data gone stale because its syncs keep failing.

The view of every ledger page need not pass it: the notice asks for the signed-in user's
failing syncs itself (``market.ledger.schedules.ledger_sync_stale`` does the work).
"""

from __future__ import annotations

from typing import Any

from django import template

from market.ledger.schedules import SyncFailing, ledger_sync_stale

register = template.Library()


@register.simple_tag
def ledger_syncs_stale(user: Any, characters: Any = None) -> list[SyncFailing]:
    """``{% ledger_syncs_stale request.user as stale %}``: nothing for an anonymous user.
    ``characters``: the user's with their ``ledger_syncs`` prefetched, when the view has them
    (a view without them leaves the variable unset: read here)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    if not isinstance(characters, list):
        characters = None
    return ledger_sync_stale(user=user, characters=characters)
