"""Middleware that keeps pages answering while a backing service is away, and the CSP header."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from lenny.cache import cache_errors_tolerated


class ServiceOutageMiddleware:
    """Serve each request with cache errors read as misses (see lenny/cache.py).

    The database's outage is handled by `handler500` (lenny.views.server_error), which sees every
    uncaught error, including those raised in other middleware, and answers a styled 503.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with cache_errors_tolerated():
            return self.get_response(request)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's header (CONTENT_SECURITY_POLICY), plus the origin of EVE's image server.

    The portraits' origin is read from EVE_IMAGE_BASE_URL for each response rather than copied
    into the policy once, so the policy follows the setting (the replay image server in tests).
    """

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only:
            images = urlsplit(settings.EVE_IMAGE_BASE_URL)
            update = dict(parts.update or {})
            update["img-src"] = [*update.get("img-src", []), f"{images.scheme}://{images.netloc}"]
            parts.update = update
        return parts
