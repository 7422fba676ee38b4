"""Accounts' line in /healthz: how many EVE logins Lenny holds and how many stopped working."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from accounts.models import Character


def report() -> dict[str, Any]:
    counts = Character.objects.aggregate(
        characters=Count("id"), needs_relogin=Count("id", filter=Q(needs_relogin=True))
    )
    return counts
