"""The htmx answers every page gives the same way.

- :func:`page_or_partial`: one view per page; when htmx asks to swap one element (``HX-Target``
  names a ``partialdef`` of the same template, or is mapped to one) only that partial is
  rendered.
- :func:`poll_unchanged` / :func:`no_change`: polling tables send the marker they were drawn
  from; while it is still current the answer is an empty 204, which htmx leaves alone.
- :func:`refresh_page`: a polled notice whose subject has arrived asks htmx to reload the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

POLL_PARAM = "since"


ANY_TARGET = "*"


def page_or_partial(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    partials: Iterable[str] | Mapping[str, str],
    status: int = 200,
    partial_status: int = 200,
) -> HttpResponse:
    """The whole page, or only the partial whose element htmx asked to swap.

    ``partials`` names the partials whose element id is their own name, or maps an element id
    (``HX-Target``) to the partial that draws it; the key :data:`ANY_TARGET` takes every htmx
    request (one whose target has no id, say). ``partial_status`` is the partial's status:
    htmx swaps nothing on a 4xx, so by default an error is shown in the swapped element.
    """
    chosen = partials if isinstance(partials, Mapping) else {name: name for name in partials}
    if request.htmx:
        partial = chosen.get(request.htmx.target) or chosen.get(ANY_TARGET)
        if partial is not None:
            return render(request, f"{template}#{partial}", context, status=partial_status)
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
