"""Server-side tables: the query string as state, sortable header links, a pager.

Filters, sort and page live in the URL, so every table view is a link that can be shared and
reloaded; sorting starts again at page 1, and a page beyond the last shows the last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, QueryDict

from lenny.lib.htmx import POLL_PARAM

PAGE_SIZE = 50


def rows_page(rows: Sequence[Any], *, page: int, per_page: int) -> tuple[list[Any], int]:
    """One page of ``rows`` and the number of pages (at least 1)."""
    pages = max(1, -(-len(rows) // per_page))
    start = (page - 1) * per_page
    return list(rows[start : start + per_page]), pages


def query_params(request: HttpRequest, **defaults: Any) -> QueryDict:
    """The query string without the poll marker, with defaults for absent parameters."""
    params = request.GET.copy()
    params.pop(POLL_PARAM, None)
    for name, value in defaults.items():
        if not params.get(name, "").strip():
            params[name] = str(value)
    return params


def query_url(request: HttpRequest, params: QueryDict, **changes: Any) -> str:
    """This page's URL with some parameters changed (``None`` removes one)."""
    query = params.copy()
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = str(value)
    encoded = query.urlencode()
    return f"{request.path}?{encoded}" if encoded else request.path


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    numeric: bool = True
    # Where it is shown, so the columns a trader decides on (the item, its profit, the column the
    # table is sorted by) stay on screen without scrolling the table: "always"; "desk" from a
    # tablet's width up (768 px); "wide" only on a wide screen (1600 px), for the details that
    # make up a profit. Sorted by, it always shows (static/css/lenny.css: .col-desk, .col-wide).
    shown: str = "always"

    def hidden_class(self, *, sort: str) -> str:
        """The CSS class that hides this column on narrower screens; none when sorted by it."""
        if self.shown == "always" or sort.removeprefix("-") == self.key:
            return ""
        return f"col-{self.shown}"


@dataclass(frozen=True)
class HeaderCell:
    label: str
    url: str
    sort: str | None  # "ascending", "descending" or None
    numeric: bool
    hidden_class: str = ""


def table_headers(
    request: HttpRequest,
    params: QueryDict,
    columns: Sequence[Column],
    *,
    current: str,
    sort_param: str = "sort",
    page_param: str = "page",
) -> list[HeaderCell]:
    """Header links that sort by their column (again: the other way); sorting starts at page 1.
    Numbers sort largest first on the first click, text A to Z."""
    cells = []
    for column in columns:
        state = None
        if current.removeprefix("-") == column.key:
            state = "descending" if current.startswith("-") else "ascending"
        if state == "descending":
            target = column.key
        elif state == "ascending":
            target = f"-{column.key}"
        else:
            target = f"-{column.key}" if column.numeric else column.key
        url = query_url(request, params, **{sort_param: target, page_param: None})
        cells.append(
            HeaderCell(column.label, url, state, column.numeric, column.hidden_class(sort=current))
        )
    return cells


@dataclass(frozen=True)
class Pager:
    page: int
    pages: int
    count: int
    first_url: str | None
    previous_url: str | None
    next_url: str | None
    last_url: str | None


def table_pager(
    request: HttpRequest, params: QueryDict, *, page: int, pages: int, count: int, param: str
) -> Pager:
    def to(number: int) -> str:
        return query_url(request, params, **{param: number})

    return Pager(
        page=page,
        pages=pages,
        count=count,
        first_url=to(1) if page > 2 else None,
        previous_url=to(page - 1) if page > 1 else None,
        next_url=to(page + 1) if page < pages else None,
        last_url=to(pages) if page < pages - 1 else None,
    )


def table_page(
    request: HttpRequest,
    params: QueryDict,
    rows: Sequence[Any],
    *,
    columns: Sequence[Column],
    sort: str,
    page: int,
    per_page: int = PAGE_SIZE,
) -> tuple[list[Any], dict[str, Any]]:
    """The requested page of a sorted table (the last one when it asks beyond) and what the
    table's template needs around it: the header links and the pager."""
    pages = rows_page(rows, page=1, per_page=per_page)[1]
    page = min(page, pages)
    return rows_page(rows, page=page, per_page=per_page)[0], {
        "headers": table_headers(request, params, columns, current=sort),
        "pager": table_pager(
            request, params, page=page, pages=pages, count=len(rows), param="page"
        ),
        # The body's cells hide with their header: {column key: class}.
        "hide": {column.key: column.hidden_class(sort=sort) for column in columns},
    }
