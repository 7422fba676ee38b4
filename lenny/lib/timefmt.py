"""Durations in words, the two ways the pages say them.

- :func:`duration_text`: how old something is, coarsely ("3 min", "2 h 5 min", "3 days").
- :func:`duration_format`: how long a job ran, to the tenth of a second ("18.3 s", "2 min 5 s").
"""

from __future__ import annotations


def duration_text(seconds: float) -> str:
    """A short human duration: "under a minute", "3 min", "2 h 5 min", "3 days"."""
    minutes = int(max(seconds, 0) // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def duration_format(seconds: float | None) -> str:
    """``18.257075909`` -> ``18.3 s``; minutes past a minute (``2 min 5 s``); ``—`` for none."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"
