"""Paged results: the pages of one ``get_paged`` call on their way to the caller's sink."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from market.esi.counters import _Tally
from market.esi.limits import _LimitsView

# How a body is checked: parsed JSON, parsed JSON that must be a page's array, or (raw pages for
# a caller that parses them itself) only seen to be a whole array.
Parse = Literal["json", "array", "shallow"]


class PageSink(Protocol):
    """Takes the pages of :meth:`EsiClient.get_paged` while the later ones are still on their way,
    so a caller can store page 1 while page 400 is in flight.

    Both methods are called from the thread that called ``get_paged`` (a sink may use that
    thread's database connection). A page is handed over once it and every page before it have
    arrived with page 1's Last-Modified, so the pages come in page order, each once, and all from
    one snapshot. Everything handed over stays provisional until ``get_paged`` returns: it may
    still fail (a page that never comes, a snapshot that keeps changing), and it raises whatever
    the sink raised, after cancelling the pages not yet sent.
    """

    def page(self, number: int, data: Any) -> None:
        """Page ``number``: its body as bytes with ``raw``, else its items."""

    def restart(self) -> None:
        """The snapshot rolled over under page 1: forget every page handed over so far; they all
        come again, from page 1, from the new snapshot."""


class _PagesKept:
    """The sink of a plain ``get_paged``: keeps every page for ``data``."""

    def __init__(self) -> None:
        self.pages: dict[int, Any] = {}

    def page(self, number: int, data: Any) -> None:
        self.pages[number] = data

    def restart(self) -> None:
        self.pages.clear()


@dataclass
class _Page:
    status: int
    body: bytes
    data: Any
    etag: str | None
    expires: float | None
    last_modified: float | None
    pages: int


@dataclass
class _PagedCall:
    """One ``get_paged`` call: what every page request of it shares."""

    path: str
    params: dict
    token: str | None
    raw: bool
    sink: PageSink
    tally: _Tally
    view: _LimitsView
    fetch: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        # The keywords of EsiClient._fetch for a page.
        parse: Parse = "shallow" if self.raw else "array"
        self.fetch = {"parse": parse, "tally": self.tally, "view": self.view}

    def hand_over(self, number: int, page: _Page) -> None:
        self.sink.page(number, page.body if self.raw else page.data)
