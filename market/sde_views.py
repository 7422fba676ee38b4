"""The "importing static data…" notice, polled by the market pages while the SDE is empty."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from market.templatetags.sde_status import SDE_NOTICE


@require_GET
def sde_status_view(request: HttpRequest) -> HttpResponse:
    """The notice again; once the SDE is there, an htmx reload so the page shows the data."""
    return SDE_NOTICE.view(request)
