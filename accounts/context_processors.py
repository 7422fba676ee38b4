from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.models import Character


def _relogin_characters(request: HttpRequest) -> list:
    if not request.user.is_authenticated:
        return []
    return list(Character.objects.owned_by(request.user).filter(needs_relogin=True))


def eve_characters(request: HttpRequest) -> dict[str, Any]:
    """``relogin_characters``: the user's characters whose EVE login stopped working.

    Lazy: pages that do not show the banner cost no query.
    """
    return {"relogin_characters": SimpleLazyObject(lambda: _relogin_characters(request))}
