"""The "importing static data…" notice, polled by the market pages while the SDE is empty."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from lenny.lib.htmx import refresh_page
from market.templatetags.sde_status import sde_notice


@require_GET
def sde_status_view(request: HttpRequest) -> HttpResponse:
    """The notice again; once the SDE is there, an htmx reload so the page shows the data."""
    context = sde_notice({"request": request})
    if not context["show"]:
        return refresh_page()
    return render(request, "market/_sde_status.html", context)
