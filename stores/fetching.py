"""Fetching a store's pages: redirects are followed only within the store's own site.

A store is added by an admin and its pages are fetched by the workers, inside the network Lenny
runs in. A store that redirects (or links) elsewhere could make Lenny fetch an internal address
and show its answer in the admin; so every URL fetched, and every redirect, must stay on the
store's origin (scheme, host and port), or the fetch fails with the reason.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import requests

# Stores move pages about (http → https is another origin, and refused like any other host).
MAX_REDIRECTS = 5
_DEFAULT_PORTS = {"http": 80, "https": 443}


class OffSiteRefused(Exception):
    """A URL or redirect off the store's own site; ``reason`` says where it pointed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def url_origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the default port filled in; ("", "", None) for no URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is not a number
        return ("", "", None)
    return (scheme, (parts.hostname or "").lower(), port)


def _shown(url: str) -> str:
    return url if len(url) <= 200 else url[:199] + "…"


def store_page_get(
    session: requests.Session, url: str, *, base_url: str, timeout: float
) -> requests.Response:
    """GET ``url`` from the store at ``base_url``, following redirects on its own site only.

    Raises OffSiteRefused for a URL or a redirect to another scheme, host or port, or for too
    many redirects; network errors are requests' own exceptions.
    """
    origin = url_origin(base_url)
    if url_origin(url) != origin:
        raise OffSiteRefused(f"refused a link to another host: {_shown(url)}")
    for _ in range(MAX_REDIRECTS + 1):
        response = session.get(url, timeout=timeout, allow_redirects=False)
        if not response.is_redirect:
            return response
        location = urljoin(url, response.headers.get("Location", ""))
        response.close()
        if url_origin(location) != origin:
            raise OffSiteRefused(f"redirected to another host: {_shown(location)}")
        url = location
    raise OffSiteRefused(f"more than {MAX_REDIRECTS} redirects (last to {_shown(url)})")
