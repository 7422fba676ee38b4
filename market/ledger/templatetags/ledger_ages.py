"""How long ago something happened on the ledger pages: "just now", "12 s ago", "3 min ago".

``{% age moment %}`` renders a ``<time data-ago>`` that static/js/ledger.js keeps counting, so
an age stays true on a page left open and in a table htmx leaves alone while nothing changed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html

from lenny.lib.timefmt import duration_text

register = template.Library()

# Under this many seconds an age reads "just now": a figure refreshed a moment ago.
JUST_NOW_SECONDS = 10


def age_text(seconds: float) -> str:
    """ "just now", "12 s ago", then ``duration_text`` ("3 min", "2 h 5 min", "3 days") + "ago".

    static/js/ledger.js mirrors it for the ages it keeps counting.
    """
    seconds = int(max(seconds, 0))
    if seconds < JUST_NOW_SECONDS:
        return "just now"
    if seconds < 60:
        return f"{seconds} s ago"
    return f"{duration_text(seconds)} ago"


@register.simple_tag
def age(moment: datetime | None) -> str:
    if moment is None:
        return ""
    seconds = (timezone.now() - moment).total_seconds()
    return format_html(
        '<time datetime="{}" data-ago title="{} UTC">{}</time>',
        moment.isoformat(),
        moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        age_text(seconds),
    )
