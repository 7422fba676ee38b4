"""The htmx answers every page gives the same way.

- :func:`page_or_partial`: one view per page; when htmx asks to swap one element (``HX-Target``
  names a ``partialdef`` of the same template) only that partial is rendered.
- :func:`poll_unchanged` / :func:`no_change`: polling tables send the marker they were drawn
  from; while it is still current the answer is an empty 204, which htmx leaves alone.
- :func:`refresh_page`: a polled notice whose subject has arrived asks htmx to reload the page.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

POLL_PARAM = "since"


def page_or_partial(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    partials: Iterable[str],
    status: int = 200,
) -> HttpResponse:
    """The whole page, or only the partial whose element htmx asked to swap."""
    target = request.htmx.target if request.htmx else None
    if target in set(partials):
        # htmx swaps nothing on a 4xx: an error is shown in the swapped element instead.
        return render(request, f"{template}#{target}", context)
    return render(request, template, context, status=status)


def poll_unchanged(request: HttpRequest, marker: str, *, param: str = POLL_PARAM) -> bool:
    """A poll from an element drawn from data that is still current."""
    return bool(request.htmx) and request.GET.get(param) == marker


def no_change() -> HttpResponse:
    """htmx swaps nothing on a 204: the polled element stays as it is."""
    return HttpResponse(status=204)


def refresh_page(response: HttpResponse | None = None) -> HttpResponse:
    """Ask htmx to reload the whole page (an empty 204 unless a response is given)."""
    response = response if response is not None else HttpResponse(status=204)
    response["HX-Refresh"] = "true"
    return response
