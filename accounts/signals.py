"""What ``accounts`` announces about EVE characters. It only announces: apps that keep data or
jobs per character (the ledger's sync schedules) listen and act on their own rows.

Every signal is sent with ``sender=Character`` and ``character=<the Character>``:

- ``character_linked``: a login through EVE SSO linked the character or linked it again; its
  tokens are fresh and usable (``needs_relogin`` is false). Sent inside the linking transaction,
  after the row is saved.
- ``character_unusable``: its tokens stopped working for Lenny (``reason="relogin"``: SSO
  refused its refresh token, or none was stored). The row stays; a new login sends
  ``character_linked`` again.
- ``character_unlinked``: the character is being removed (``reason="unlinked"``: its owner
  removed it, or another user's login dropped an unproven import; ``"transferred"``: it was sold
  to another EVE account). Sent inside the removing transaction, before the row is deleted.
"""

from __future__ import annotations

from django.dispatch import Signal

character_linked = Signal()
character_unusable = Signal()
character_unlinked = Signal()

__all__ = ["character_linked", "character_unlinked", "character_unusable"]
