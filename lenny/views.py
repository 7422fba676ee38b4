import hmac
import logging
import sys

from django.conf import settings
from django.contrib.staticfiles import finders
from django.db import InterfaceError, OperationalError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from redis.exceptions import RedisError

from lenny.health import health_public, health_report


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


def _healthz_details_allowed(request: HttpRequest) -> bool:
    """Staff sessions and callers sending ``Authorization: Bearer <HEALTHZ_TOKEN>`` see the
    details (error text names hosts and ports; counts say how the instance is used)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    token = settings.HEALTHZ_TOKEN
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    return bool(
        token
        and scheme.lower() == "bearer"
        and hmac.compare_digest(offered.strip().encode(), token.encode())
    )


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, report = health_report()
    if not _healthz_details_allowed(request):
        report = health_public(report)
    return JsonResponse(report, status=200 if healthy else 503)


# --- Error pages ---------------------------------------------------------------------------------
# Rendered without the request's context processors (they read the database, which may be what
# failed) and from a frame that needs no static-files manifest.

logger = logging.getLogger(__name__)

# How long a visitor's browser waits before it asks again while a service is away (seconds).
RETRY_AFTER = 15


def _error_page(template: str, **context) -> HttpResponse:
    status = context["status"]
    try:
        body = loader.get_template(template).render(context)
    except Exception:  # the error page must answer even if its own template cannot
        logger.exception("the %s error page could not be rendered", status)
        body = f"<!doctype html><title>Lenny</title><h1>{context.get('title', status)}</h1>"
    return HttpResponse(body, status=status, content_type="text/html; charset=utf-8")


def service_unavailable(request: HttpRequest | None, *, title: str, service: str) -> HttpResponse:
    """A 503 that asks to be retried: a backing service is away, not a bug."""
    if request is not None and request.path.startswith("/api/"):
        # API clients get the API's error shape, not a page.
        response: HttpResponse = JsonResponse(
            {"error": title.lower(), "retry_after": RETRY_AFTER}, status=503
        )
    else:
        response = _error_page(
            "503.html",
            status=503,
            title=title,
            service=service,
            retry_after=RETRY_AFTER,
            refresh=RETRY_AFTER,
            accent="#b26a00",
        )
    response["Retry-After"] = str(RETRY_AFTER)
    response["Cache-Control"] = "no-store"
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a backing service that cannot be reached is a 503 to retry (the database, or
    Redis where a page needs the task queue), anything else a 500."""
    error = sys.exc_info()[1]
    if isinstance(error, OperationalError | InterfaceError):
        return service_unavailable(
            request, title="The database is unavailable, retrying", service="its database"
        )
    if isinstance(error, RedisError):
        return service_unavailable(
            request,
            title="The task queue is unavailable, retrying",
            service="Redis, which queues its background work",
        )
    return _error_page("500.html", status=500, title="Something went wrong")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_page("404.html", status=404, title="Page not found", request_path=request.path)


def method_not_allowed(request: HttpRequest, allowed: str) -> HttpResponse:
    """A visit to an address that only takes a form's submission (after a failed form left it
    in the address bar): a page that says so and leads back, not Django's empty 405."""
    back = request.META.get("HTTP_REFERER", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    response = _error_page(
        "405.html",
        status=405,
        title="Nothing to see at this address",
        request_path=request.path,
        allowed=allowed,
        back=back,
    )
    response["Allow"] = allowed
    return response


def favicon(request: HttpRequest) -> FileResponse:
    # Browsers ask for /favicon.ico whatever the page's <link rel=icon> says.
    path = finders.find("favicon.ico")
    if not path:
        raise Http404("favicon.ico")
    # FileResponse closes the file once it is sent.
    response = FileResponse(open(path, "rb"), content_type="image/x-icon")  # noqa: SIM115
    response["Cache-Control"] = "public, max-age=86400"
    return response
