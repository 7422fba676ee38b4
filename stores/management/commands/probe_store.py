"""Show what an adapter reads from a store: how a curator checks a new store before adding it.

manage.py probe_store --platform crystalcommerce --url https://www.example-games.com --card Tarmogoyf
manage.py probe_store --platform shopify --file saved-search.html --card "Steam Vents" --json
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from stores.adapters import (
    PLATFORMS,
    Fetch,
    Listing,
    ParseFailure,
    UpstreamError,
    adapter_for,
    set_codes_fill,
)
from stores.adapters.base import html_tree
from stores.adapters.search import MAX_SEARCH_PAGES, listings_fetch
from stores.fetching import OffSiteRefused, store_page_get
from stores.listings import set_codes_by_name
from stores.matching import name_matches
from stores.models import Set

_GZIP_MAGIC = b"\x1f\x8b"


class Command(BaseCommand):
    help = "Print the listings a store adapter extracts from a store's search page."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--platform", required=True, choices=sorted(PLATFORMS))
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--file", help="a saved search page (HTML, may be gzipped)")
        source.add_argument("--url", help="the store's base URL, e.g. https://www.example.com")
        parser.add_argument("--card", required=True, help="the card to search for")
        parser.add_argument(
            "--base-url",
            default="",
            help="with --file: the store's base URL, to make product links absolute "
            "(default: the page's canonical URL when it has one)",
        )
        parser.add_argument("--json", action="store_true", help="print a JSON list")
        parser.add_argument("--in-stock", action="store_true", help="only listings in stock")
        parser.add_argument("--max-pages", type=int, default=MAX_SEARCH_PAGES)

    def handle(self, *args: Any, **options: Any) -> None:
        adapter = adapter_for(options["platform"])
        card = options["card"].strip()
        if not card:
            raise CommandError("--card must name a card")
        try:
            if options["file"]:
                html = _read_page(Path(options["file"]))
                base_url = options["base_url"].rstrip("/") or _canonical_origin(html)
                page = adapter.parse_search(html, base_url=base_url)
                listings = page.listings
                source = options["file"]
                if page.detail_urls:
                    self.stderr.write(
                        f"{len(page.detail_urls)} products show no variants on this page; their "
                        "details are only fetched with --url: " + ", ".join(page.detail_urls)
                    )
            else:
                listings = listings_fetch(
                    adapter=adapter,
                    base_url=options["url"],
                    card_name=card,
                    fetch=_requests_fetch(options["url"]),
                    max_pages=max(1, options["max_pages"]),
                )
                source = options["url"]
        except ParseFailure as exc:
            raise CommandError(
                f"{adapter.label} could not read the page ({exc.kind}): {exc.reason}\n"
                f"  page says: {exc.snippet}"
            ) from None
        except UpstreamError as exc:
            raise CommandError(str(exc)) from None
        except requests.RequestException as exc:
            raise CommandError(f"could not reach the store: {exc}") from None
        except OffSiteRefused as exc:
            raise CommandError(f"the store's site sent Lenny elsewhere: {exc.reason}") from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None

        listings = set_codes_fill(listings, codes=_catalog_set_codes())
        if options["in_stock"]:
            listings = [listing for listing in listings if listing.in_stock]
        if options["json"]:
            data = [listing.public_dict() for listing in listings]
            self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False))
            return
        self.stdout.write(_table(listings, card))
        in_stock = sum(1 for listing in listings if listing.in_stock)
        of_card = sum(
            1 for listing in listings if listing.in_stock and name_matches(listing.name, card)
        )
        self.stdout.write(
            f"{len(listings)} listings from {source}: {in_stock} in stock, "
            f"{of_card} of them {card} (marked *)"
        )


def _catalog_set_codes() -> dict[str, str]:
    """The catalog's set codes by set name; none before the catalog is imported or migrated."""
    try:
        return set_codes_by_name(Set.objects.filter(digital=False).values_list("name", "code"))
    except DatabaseError:
        return {}


def _read_page(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    if data.startswith(_GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise CommandError(f"{path} is a damaged gzip file: {exc}") from None
    return data.decode("utf-8", errors="replace")


def _canonical_origin(html: str) -> str:
    tree = html_tree(html)
    node = tree.css_first('link[rel=canonical][href], meta[property="og:url"][content]')
    href = (node.attributes.get("href") or node.attributes.get("content") or "") if node else ""
    parts = urlsplit(href)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else ""


def _requests_fetch(base_url: str) -> Fetch:
    session = requests.Session()
    session.headers["User-Agent"] = settings.LENNY_USER_AGENT

    def fetch(url: str) -> tuple[int, str]:
        response = store_page_get(
            session, url, base_url=base_url, timeout=settings.UPSTREAM_TIMEOUT
        )
        # Without a charset requests assumes ISO-8859-1 for HTML; store pages are UTF-8.
        if "charset" in response.headers.get("Content-Type", "").lower():
            return response.status_code, response.text
        return response.status_code, response.content.decode("utf-8", errors="replace")

    return fetch


def _table(listings: list[Listing], card: str) -> str:
    header = ("", "name", "set", "code", "#", "finish", "cond", "lang", "price", "qty", "url")
    rows = [header]
    for listing in listings:
        quantity = "?" if listing.quantity is None else str(listing.quantity)
        rows.append(
            (
                "*" if listing.in_stock and name_matches(listing.name, card) else "",
                listing.name,
                listing.set_name,
                listing.set_code,
                listing.collector_number,
                listing.finish,
                listing.condition or "?",
                listing.language,
                f"{listing.price} {listing.currency}".strip(),
                quantity,
                listing.url,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
        + "  "
        + row[-1]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)
