"""The "importing the card catalog…" notice, polled by the stores pages while it is empty."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from lenny.lib.htmx import refresh_page
from stores.templatetags.catalog_status import catalog_notice


@require_GET
@login_required
def catalog_status_view(request: HttpRequest) -> HttpResponse:
    """The notice again; once the catalog is there, an htmx reload so the page can use it."""
    context = catalog_notice({"request": request})
    if not context["show"]:
        return refresh_page()
    return render(request, "stores/_catalog_status.html", context)
