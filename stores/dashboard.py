"""The want list's rows and its "where to buy", each rendered once per change and cached.

A row (a want and its stock cell at each of the user's stores) was ~3 ms of template work and
a page has one per wanted card; the stock behind it changes when a check lands, a few times a
day. So each row's HTML is cached under a key made of everything the row shows: the user, the
want (amount, card, specs, last change), the stores (name, city, currency), each store's check
of the card (status, when, pending, error). Anything else changes the key, never the cached
HTML: a key either names the row as it is, or is never asked for again (and expires).

The cached HTML carries marks where each answer puts its own words: the CSRF token, and when a
store was checked ("checked 5 minutes ago" must not stay "5 minutes" in a cache).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache as memoized
from itertools import chain
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.template.loader import get_template
from django.utils import translation
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from stores.availability import BuyPlan, Purchase, buy_plan_choose, purchase_options
from stores.forms import WantAddForm
from stores.models import Store, WantedCard
from stores.stock import TimeAgo, stock_attach, stores_preferred

ROW_TEMPLATE = "stores/dashboard.html#want_row"
SUMMARY_TEMPLATE = "stores/dashboard.html#where_to_buy"
WANT_FORM_TEMPLATE = "stores/dashboard.html#want_form"
# Bump when what a row shows changes in Python (the template's own text is in the key), or
# the form of what is kept.
VERSION = 2
# Long enough to outlive a day of rechecks; a row nobody asks for goes.
ROW_TTL = 24 * 3600
# The csrf_token tag's output for this mark: the input is matched whole, and user text in a
# row is escaped (its quotes would read &quot;), so only the tag can produce it.
CSRF_MARK = "csrf-token-of-the-answer"
CSRF_INPUT = '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'


# "checked ⟦ago 1733150000123456⟧": microseconds since the epoch, whole (no float rounding).
AGO_MARK = re.compile(r"\u27e6ago (\d+)\u27e7")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def _ago_mark(value: datetime | None) -> str:
    return "" if value is None else f"\u27e6ago {(value - EPOCH) // MICROSECOND}\u27e7"


# Either mark, found in one pass: the CSRF input whole (group 1) or a time (group 2).
MARKS = re.compile(f"({re.escape(CSRF_INPUT.format(CSRF_MARK))})|{AGO_MARK.pattern}")


@dataclass(frozen=True)
class Marked:
    """HTML cut at its marks, once per change of the rows: ``texts[0]``, mark 0, ``texts[1]``,
    …, ``texts[-1]``, where mark n is ``marks[n]``: 0 for the CSRF input, k for the k-th
    distinct time (``times[k - 1]``, microseconds since the epoch). Filling it is a join of
    C iterators, not a pass over ~600 marks in Python."""

    texts: tuple[str, ...]
    marks: tuple[int, ...]
    times: tuple[int, ...]


def _marks_split(html: str) -> Marked:
    """``html``'s marks, numbered. A time mark in a store's own text (a listing's name) reads
    as a time too: plain words, never markup."""
    texts, marks, times = [], [], {}
    start = 0
    for match in MARKS.finditer(html):
        texts.append(html[start : match.start()])
        marks.append(0 if match.group(1) else times.setdefault(int(match.group(2)), len(times) + 1))
        start = match.end()
    texts.append(html[start:])
    return Marked(texts=tuple(texts), marks=tuple(marks), times=tuple(times))


def _marks_fill(marked: Marked, request: HttpRequest, ago: TimeAgo) -> str:
    """The HTML with this answer's words at the marks: its CSRF token, and each time as
    naturaltime says it now."""
    if marked.texts == ("",):
        return ""
    words = [
        format_html(CSRF_INPUT, get_token(request)),
        *(ago(EPOCH + time * MICROSECOND) for time in marked.times),
    ]
    between = zip(marked.texts, map(words.__getitem__, marked.marks), strict=False)
    return "".join(chain(chain.from_iterable(between), marked.texts[-1:]))


def _template_digest() -> str:
    """The dashboard template's text, hashed: a deploy that changes it renders rows anew (and
    so does an edit while developing, when templates are read again on every page)."""
    if settings.DEBUG:
        return _template_digest_now()
    return _template_digest_once()


def _template_digest_now() -> str:
    origin = get_template("stores/dashboard.html").origin.name
    return hashlib.sha1(Path(origin).read_bytes()).hexdigest()[:12]


_template_digest_once = memoized(_template_digest_now)


@memoized
def _want_form_blank(digest: str) -> str:
    return get_template(WANT_FORM_TEMPLATE).render({"form": WantAddForm(), "csrf_token": CSRF_MARK})


def want_form_blank(request: HttpRequest) -> SafeString:
    """The empty "add a card" form: the same on every page, so made once per process (and
    template text), with this answer's CSRF token put in."""
    html = _want_form_blank(_template_digest())
    return mark_safe(_csrf_fill(html, request))


def _csrf_fill(html: str, request: HttpRequest) -> str:
    if not html:
        return html
    return html.replace(CSRF_INPUT.format(CSRF_MARK), format_html(CSRF_INPUT, get_token(request)))


@dataclass(frozen=True)
class WantLine:
    """What a want's key and "where to buy" need of it (no model: a page reads a hundred)."""

    pk: int
    amount: int
    updated_at: str  # as the database writes it: only compared
    card_id: int
    card_name: str  # its front face, which matching reads too, is part of the name


@dataclass
class Rows:
    """The want list's rows as cache keys; their HTML and "where to buy" read when asked."""

    owner_id: int
    wants: list[WantLine]
    stores: list[Store]
    keys: list[str]
    pending: list[bool]  # per row: a check of its card is running at one of the stores
    ago: TimeAgo
    whole: bool  # every want of the owner, not one row
    _entries: list[dict[str, Any]] | None = None

    @property
    def stock_pending(self) -> bool:
        return any(self.pending)

    def entries(self) -> list[dict[str, Any]]:
        """Each row's cached entry (its HTML, what its card costs at each store), the rows
        that changed rendered anew."""
        if self._entries is not None:
            return self._entries
        found = cache.get_many(self.keys)
        missing = [(k, w) for k, w in zip(self.keys, self.wants, strict=True) if k not in found]
        if missing:
            wants = list(
                WantedCard.objects.for_owner(self.owner_id).filter(
                    pk__in=[w.pk for _, w in missing]
                )
            )
            by_pk = {wanted.pk: wanted for wanted in wants}
            stock_attach(owner=self.owner_id, wants=wants, stores=self.stores, ago=_ago_mark)
            template = get_template(ROW_TEMPLATE)
            fresh = {}
            for key, line in missing:
                wanted = by_pk.get(line.pk)
                if wanted is None:
                    # Deleted since its key was read: the page shows it no more (not cached).
                    found[key] = {"html": "", "options": []}
                    continue
                by_store = {store.pk: cell.offers for store, cell in wanted.stock}
                currencies = {store.pk: store.currency for store in self.stores}
                options = purchase_options(
                    wanted.pk, wanted.card.name, wanted.amount, by_store, currencies=currencies
                )
                fresh[key] = {
                    "html": template.render({"wanted": wanted, "csrf_token": CSRF_MARK}),
                    # What "where to buy" needs of the row: a few numbers, not its listings.
                    "options": [(p.store, p.total, p.currency, p.copies) for p in options],
                }
            if fresh:
                cache.set_many(fresh, ROW_TTL)
            found.update(fresh)
        self._entries = [found[key] for key in self.keys]
        return self._entries

    def html(self, request: HttpRequest) -> SafeString:
        """The rows' HTML, with this answer's CSRF token in each form.

        The whole list is also kept joined and cut at its marks, in one entry per user (so
        one user's page costs one entry however often it changes), under the digest of its
        rows' keys: a page that changed nothing reads one entry instead of a hundred."""
        marked = None
        if self.whole:
            digest = hashlib.sha1("\n".join(self.keys).encode()).hexdigest()
            # Plain values, not the dataclass: what is kept does not depend on a class's pickle.
            list_key = f"stores:want-list:{VERSION}:{self.owner_id}"
            kept = cache.get(list_key)
            if kept is not None and kept[0] == digest:
                marked = Marked(*kept[1:])
        if marked is None:
            entries = self.entries()
            marked = _marks_split("".join(entry["html"] for entry in entries))
            # A row deleted since its key was read has no HTML: its key must not name a list.
            if self.whole and all(entry["html"] for entry in entries):
                cache.set(list_key, (digest, marked.texts, marked.marks, marked.times), ROW_TTL)
        # Rendered by the template from escaped values; the token is Django's own.
        return mark_safe(_marks_fill(marked, request, self.ago))

    def plan(self) -> BuyPlan:
        by_pk = {store.pk: store for store in self.stores}
        return buy_plan_choose(
            [
                (
                    w.pk,
                    w.card_name,
                    w.amount,
                    [
                        Purchase(w.pk, w.card_name, w.amount, by_pk[s], total, currency, copies)
                        for s, total, currency, copies in entry["options"]
                    ],
                )
                for w, entry in zip(self.wants, self.entries(), strict=True)
            ]
        )


def _row_key(
    *,
    shared: str,
    owner_id: int,
    wanted: WantLine,
    specs: Sequence[tuple],
    checks: list[tuple | None],
) -> str:
    """``shared``: the parts every row of the page has in common (`_rows_shared`), made once;
    ``checks``: the row's card's check at each of the stores, in their order."""
    parts = [
        wanted.pk,
        wanted.amount,
        wanted.updated_at,
        wanted.card_id,
        wanted.card_name,
        specs,
        checks,
    ]
    digest = hashlib.sha1((shared + repr(parts)).encode()).hexdigest()
    return f"stores:want-row:{owner_id}:{wanted.pk}:{digest}"


def _rows_shared(*, owner_id: int, stores: Sequence[tuple]) -> str:
    return repr(
        [
            VERSION,
            _template_digest(),
            translation.get_language(),
            settings.STORE_POLL_SECONDS,
            owner_id,
            stores,
        ]
    )


# What the rows' keys are made of, read with three plain statements: as ORM querysets they
# cost ~3 ms of Python to build and compile on every page, for ~1 ms of reading. Times are
# read as text (PostgreSQL writes text faster than Python reads timestamps; they are only
# compared); a check's listings (most of its bytes) are not read at all.
_WANTS_SQL = """
    SELECT w.id, w.amount, CAST(w.updated_at AS TEXT), w.card_id, c.name
    FROM stores_wantedcard w JOIN stores_card c ON c.id = w.card_id
    WHERE w.owner_id = %s {and_want} ORDER BY c.name
"""
# A numbered spec matches a store that lists no numbers when its set has no other printing of
# the card (`WantSpec.criteria`): the set's count of them is part of the row.
_SPECS_SQL = """
    SELECT s.wanted_id, s.id, st.code, s.collector_number, s.finish, s.worst_condition,
           s.language, s.max_price,
           CASE WHEN s.collector_number <> '' THEN (
               SELECT COUNT(DISTINCT p.collector_number) FROM stores_printing p
               WHERE p.card_id = w.card_id AND p.set_id = s.set_id AND NOT p.digital
           ) END
    FROM stores_wantspec s JOIN stores_wantedcard w ON w.id = s.wanted_id
    LEFT JOIN stores_set st ON st.id = s.set_id
    WHERE w.owner_id = %s {and_want} ORDER BY s.id
"""
# A check queued and not given up for lost shows as "checking…" or "rechecking…"
# (`stores.availability.stock_cell`): the row polls for its answer.
_CHECKS_SQL = """
    SELECT r.store_id, r.card_id, r.id, r.status, CAST(r.checked_at AS TEXT),
           CAST(r.attempted_at AS TEXT), r.queued_at > %s, r.error
    FROM stores_checkresult r JOIN stores_wantedcard w ON w.card_id = r.card_id
    WHERE w.owner_id = %s {and_want} AND r.store_id IN ({stores})
"""


def rows_read(*, owner: Any, want_id: int | None = None) -> Rows:
    """``owner``'s wants (or the one ``want_id``) as the want list's rows: the key of each,
    from what it shows (its cached HTML is read by `Rows.entries`)."""
    stores = stores_preferred(owner=owner)
    ago = TimeAgo()
    lost = ago.now - timedelta(seconds=settings.STORE_CHECK_LOST_AFTER)
    and_want, want_params = ("AND w.id = %s", [want_id]) if want_id is not None else ("", [])
    owned = [owner.pk, *want_params]
    with connection.cursor() as cursor:
        cursor.execute(_WANTS_SQL.format(and_want=and_want), owned)
        wants = [WantLine(*row) for row in cursor.fetchall()]
        specs: dict[int, list[tuple]] = {}
        cursor.execute(_SPECS_SQL.format(and_want=and_want), owned)
        for spec in cursor.fetchall():
            specs.setdefault(spec[0], []).append(spec)
        checks: dict[tuple[int, int], tuple] = {}
        if stores and wants:
            cursor.execute(
                _CHECKS_SQL.format(and_want=and_want, stores=", ".join(["%s"] * len(stores))),
                [
                    connection.ops.adapt_datetimefield_value(lost),
                    *owned,
                    *(store.pk for store in stores),
                ],
            )
            checks = {(row[0], row[1]): row[2:] for row in cursor.fetchall()}
    shared = _rows_shared(
        owner_id=owner.pk, stores=[(s.pk, s.name, s.city, s.currency) for s in stores]
    )
    store_ids = [s.pk for s in stores]
    keys, pending = [], []
    for w in wants:
        row_checks = [checks.get((store_id, w.card_id)) for store_id in store_ids]
        pending.append(any(check is not None and check[4] for check in row_checks))
        keys.append(
            _row_key(
                shared=shared,
                owner_id=owner.pk,
                wanted=w,
                specs=specs.get(w.pk, ()),
                checks=row_checks,
            )
        )
    return Rows(
        owner_id=owner.pk,
        wants=wants,
        stores=stores,
        keys=keys,
        pending=pending,
        ago=ago,
        whole=want_id is None,
    )


def summary_render(*, rows: Rows) -> SafeString:
    """ "Where to buy" for ``rows``: cached under the rows' keys (it shows nothing else), so
    its poll reads no row while nothing changed."""
    parts = [VERSION, _template_digest(), settings.STORE_POLL_SECONDS, rows.keys]
    parts.append([(s.pk, s.name, s.city, s.currency) for s in rows.stores])
    key = f"stores:where-to-buy:{rows.owner_id}:{hashlib.sha1(repr(parts).encode()).hexdigest()}"
    html = cache.get(key)
    if html is None:
        html = get_template(SUMMARY_TEMPLATE).render(
            {
                "stores": rows.stores,
                "plan": rows.plan(),
                "stock_pending": rows.stock_pending,
                "poll_seconds": settings.STORE_POLL_SECONDS,
            }
        )
        cache.set(key, html, ROW_TTL)
    return mark_safe(html)
