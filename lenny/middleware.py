"""Middleware that keeps pages answering while a backing service is away, the CSP header, and
htmx requests after the session ended."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect

from lenny.cache import cache_errors_tolerated
from lenny.views import method_not_allowed


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


class HtmxLoginRedirectMiddleware:
    """An htmx request whose session has ended is sent to the login page as a whole page.

    ``login_required`` answers a 302 to the login page; htmx would follow it and swap the login
    page into the element it meant to update (a table row, the add form). For an htmx request
    that redirect becomes ``HX-Redirect``, whose ``next`` is the page the user was on (the
    request's own URL may be a POST-only endpoint that a GET after the login would refuse).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        htmx = getattr(request, "htmx", None)
        if not htmx or response.status_code != 302:
            return response
        login = resolve_url(settings.LOGIN_URL)
        if urlsplit(response["Location"]).path != login:
            return response
        after = htmx.current_url_abs_path or "/"
        return HttpResponseClientRedirect(f"{login}?{urlencode({REDIRECT_FIELD_NAME: after})}")


class MethodNotAllowedPageMiddleware:
    """A browser's visit to a POST-only address gets a page with the site's way back.

    ``require_POST`` answers an empty 405; after a form's error left such an address in the
    address bar, pressing Enter there showed a blank page. htmx and API requests keep the bare
    answer.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 405
            and request.method in ("GET", "HEAD")
            and not getattr(request, "htmx", False)
            and not request.path.startswith("/api/")
            and not getattr(response, "content", b"x")
        ):
            return method_not_allowed(request, response.get("Allow", "POST"))
        return response
