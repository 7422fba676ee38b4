"""The one interface every store platform's adapter offers, and the listings it returns.

An adapter is a pure parser plus a fetch plan: it says which URL to ask for a card
(`search_url`), turns the page into listings (`parse_search`), and, where a page holds too little,
names the detail documents to fetch next (`SearchPage.detail_urls`, read by `parse_detail`).
`stores.adapters.search.listings_fetch` walks that plan with an injected
``fetch(url) -> (status, text)``, so politeness, retries and caching stay with whoever calls it.

A page an adapter cannot understand raises `ParseFailure`; it never passes for "out of stock".
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from typing import Any
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from stores.listings import CONDITIONS, FINISHES

# The keys `probe_store --json` prints, in this order.
PUBLIC_FIELDS: tuple[str, ...] = (
    "name",
    "set_name",
    "set_code",
    "collector_number",
    "finish",
    "condition",
    "language",
    "price",
    "currency",
    "quantity",
    "url",
)

Fetch = Callable[[str], tuple[int, str]]


@dataclass(frozen=True)
class Listing:
    """One variant of one product a store lists: a card in one finish, condition and language."""

    name: str  # as the store lists it, minus the set and a bare finish suffix
    set_name: str
    set_code: str  # lower case, as Scryfall writes it; "" unless the page or the catalog says
    collector_number: str  # "" when the store does not say
    finish: str  # nonfoil, foil or etched
    condition: str | None  # NM, LP, MP, HP, DMG; None when the store does not say
    language: str  # Scryfall's code ("en", "ja", ...) or "foreign"
    price: Decimal
    currency: str  # ISO 4217; "" when the page does not say
    quantity: int | None  # 0 when sold out; None when in stock but the store does not say how many
    url: str
    in_stock: bool
    variant: str = ""  # the variant's own title or description, as written, for debugging

    def __post_init__(self) -> None:
        if self.finish not in FINISHES:
            raise ValueError(f"finish {self.finish!r} is not one of {FINISHES}")
        if self.condition is not None and self.condition not in CONDITIONS:
            raise ValueError(f"condition {self.condition!r} is not one of {CONDITIONS}")
        if not isinstance(self.price, Decimal) or self.price < 0:
            raise ValueError(f"price {self.price!r} is not a non-negative Decimal")
        if self.quantity is not None and self.quantity < 0:
            raise ValueError(f"quantity {self.quantity!r} is negative")
        if self.quantity is not None and (self.quantity > 0) != self.in_stock:
            raise ValueError(f"quantity {self.quantity} contradicts in_stock={self.in_stock}")

    def as_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (price as a decimal string)."""
        data = asdict(self)
        data["price"] = str(self.price)
        return data

    def public_dict(self) -> dict[str, Any]:
        """The fields a curator sees in `probe_store --json`."""
        data = self.as_dict()
        return {key: data[key] for key in PUBLIC_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Listing:
        known = _LISTING_FIELDS
        values = {k: v for k, v in data.items() if k in known}
        values["price"] = Decimal(str(values["price"]))
        return cls(**values)


# Read once: the dashboard decodes thousands of stored listings a view.
_LISTING_FIELDS = frozenset(f.name for f in fields(Listing))


class ParseFailure(Exception):
    """A page the adapter cannot read as search results.

    ``kind`` tells the caller what to do about it: "layout" (the page changed; a curator must
    look), "rate_limited" (a "too many searches" page; back off), "captcha" (the store blocks
    robots) or "truncated" (the download was cut off; retry). ``snippet`` is a short piece of the page's text to show the curator.
    """

    def __init__(self, reason: str, snippet: str = "", *, kind: str = "layout") -> None:
        super().__init__(reason)
        self.reason = reason
        self.snippet = snippet
        self.kind = kind

    def __str__(self) -> str:
        return f"{self.reason} (page says: {self.snippet!r})" if self.snippet else self.reason


class UpstreamError(Exception):
    """The store answered with an HTTP error; the caller decides whether to retry."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"{url} answered HTTP {status}")
        self.url = url
        self.status = status


@dataclass
class SearchPage:
    listings: list[Listing]
    next_page_url: str | None = None
    # Documents to fetch for products whose variants the page itself does not show.
    detail_urls: list[str] = field(default_factory=list)
    # The currency the page prices in, for detail documents that do not say.
    currency: str = ""


class StoreAdapter(ABC):
    platform: str
    label: str

    @abstractmethod
    def search_url(self, base_url: str, card_name: str, page: int = 1) -> str:
        """The URL of page ``page`` of the store's search results for ``card_name``."""

    @abstractmethod
    def parse_search(self, html: str, *, base_url: str) -> SearchPage:
        """Every listing on a search page; ParseFailure when the page is not one."""

    def parse_detail(
        self, text: str, *, url: str, base_url: str, currency: str = ""
    ) -> list[Listing]:
        """Listings from a detail document named in `SearchPage.detail_urls`."""
        raise ParseFailure(f"{self.label} pages never ask for detail documents (got {url})")


# --- helpers shared by the adapters -----------------------------------------------------------

# Pages that stand between Lenny and the results.
_RATE_LIMIT_RE = re.compile(
    r"too many (?:searches|requests)|rate limit|slow down|try again (?:later|in a)", re.I
)
_CAPTCHA_RE = re.compile(
    r"captcha|are you (?:a )?human|verify (?:that )?you are|attention required|just a moment",
    re.I,
)


_HTML_END_RE = re.compile(r"</html\s*>", re.I)


def page_complete_check(html: str) -> None:
    """A page cut off in transfer would pass for one with fewer products: refuse it."""
    if not _HTML_END_RE.search(html):
        raise ParseFailure(
            "the page ends early (no closing </html>): the download was cut off",
            " ".join(html[-200:].split()),
            kind="truncated",
        )


def html_tree(html: str | bytes) -> LexborHTMLParser:
    if isinstance(html, str):
        # Lone surrogates (from a bad decode upstream) cannot be encoded; the parser needs UTF-8.
        html = html.encode("utf-8", errors="replace")
    return LexborHTMLParser(html)


def node_text(node: LexborNode | None) -> str:
    if node is None:
        return ""
    return " ".join((node.text(deep=True, separator=" ") or "").split())


def page_text(tree: LexborHTMLParser) -> str:
    """The page's visible text. Drops scripts and styles from ``tree``: call it last."""
    body = tree.body
    if body is None:
        return ""
    for node in body.css("script, style, noscript, template, svg"):
        node.decompose()
    return node_text(body)


def page_snippet(tree: LexborHTMLParser, limit: int = 300) -> str:
    """The start of the page's own content: what a curator needs to see what went wrong."""
    title = node_text(tree.css_first("title"))
    text = page_text(tree)
    # Skip the header and navigation when the page marks where its content starts.
    content = tree.css_first("main, [role=main], section.main, #content")
    if content is not None and node_text(content):
        text = node_text(content)
    joined = f"{title} | {text}" if title and text else title or text
    return joined[:limit]


def blocked_page_check(tree: LexborHTMLParser) -> None:
    """Raise the right ParseFailure when a page without products is a rate limit or a captcha.

    Only for pages that show no products: many healthy pages carry a captcha for their
    newsletter form.
    """
    text = f"{node_text(tree.css_first('title'))} {page_text(tree)}"
    if _RATE_LIMIT_RE.search(text):
        raise ParseFailure(
            "the store refused the search: too many searches",
            page_snippet(tree),
            kind="rate_limited",
        )
    if _CAPTCHA_RE.search(text) or tree.css_first(
        ".g-recaptcha, .h-captcha, #challenge-form, #cf-challenge-running, [data-sitekey]"
    ):
        raise ParseFailure(
            "the store asks for a captcha instead of showing results",
            page_snippet(tree),
            kind="captcha",
        )


def same_origin(url: str, base_url: str) -> bool:
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower())


def site_url(base_url: str, href: str) -> str:
    """``href`` from a store page made absolute against the store's base URL.

    A root-relative link ("/catalog/...") is taken relative to the base URL's own path, so a
    store served under a path prefix (a replay at ``/stores/<slug>``) keeps working.
    """
    href = href.strip()
    if href.startswith("/") and not href.startswith("//"):
        return base_url.rstrip("/") + href
    return urljoin(base_url.rstrip("/") + "/", href)


def linked_url(tree: LexborHTMLParser, base_url: str, selector: str) -> str | None:
    """The absolute URL of the first link ``selector`` finds (a "next page" link), or None."""
    link = tree.css_first(selector)
    if link is None:
        return None
    return site_url(base_url, link.attributes.get("href") or "")


def base_url_clean(base_url: str) -> str:
    base_url = base_url.strip().rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"store base URL {base_url!r} is not an http(s) URL")
    return base_url
