"""Card search and exact resolution of names against the catalog.

Search ranks prefix, substring, all-words and fuzzy matches (pg_trgm on PostgreSQL, difflib
elsewhere) over ``CardName.search_key`` (`stores.catalog.names.name_normalise`). Tokens and art
cards have no names, so they are never found.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from django.contrib.postgres.lookups import TrigramSimilar
from django.contrib.postgres.search import TrigramSimilarity
from django.db import connection
from django.db.models import Q
from django.db.models.functions import Length

from stores.catalog.names import name_normalise
from stores.models import Card, CardName

# The trigram lookup (``%`` operator, served by the GIN index) without installing
# django.contrib.postgres as an app: only this column needs it.
CardName._meta.get_field("search_key").register_lookup(TrigramSimilar)


def card_search(query: str, *, limit: int = 10) -> list[Card]:
    """Playable cards whose name (or a face's name) matches ``query``, best first: prefix
    matches (shortest names first), then substring matches, then names holding every word of
    the query in any order, then fuzzy matches (pg_trgm similarity on PostgreSQL, a difflib
    ranking of candidates elsewhere). Tokens and art cards are never suggested.
    """
    key = name_normalise(query)
    if not key.replace("//", "").strip():
        return []
    found: dict[int, None] = {}
    for stage in (_prefixed, _containing, _all_words, _fuzzy):
        for card_id in stage(key, exclude=list(found), limit=limit * 2):
            found.setdefault(card_id, None)
        if len(found) >= limit:
            break
    return _cards_in_order(list(found)[:limit])


def card_suggestions(query: str, *, limit: int = 3) -> list[Card]:
    """The closest cards to a name that matched nothing exactly ("did you mean")."""
    key = name_normalise(query)
    if not key:
        return []
    found = dict.fromkeys(_fuzzy(key, exclude=[], limit=limit * 2))
    if len(found) < limit:
        found.update(dict.fromkeys(card.pk for card in card_search(query, limit=limit)))
    return _cards_in_order(list(found)[:limit])


def _cards_in_order(ids: list[int]) -> list[Card]:
    cards = Card.objects.in_bulk(ids)
    return [cards[i] for i in ids if i in cards]


def _first_ids(names, exclude: list[int], limit: int) -> list[int]:
    if exclude:
        names = names.exclude(card_id__in=exclude)
    return list(names.values_list("card_id", flat=True)[:limit])


def _prefixed(key: str, *, exclude: list[int], limit: int) -> list[int]:
    names = CardName.objects.filter(search_key__startswith=key)
    return _first_ids(names.order_by(Length("search_key"), "search_key"), exclude, limit)


def _containing(key: str, *, exclude: list[int], limit: int) -> list[int]:
    names = CardName.objects.filter(search_key__contains=key)
    return _first_ids(names.order_by(Length("search_key"), "search_key"), exclude, limit)


def _all_words(key: str, *, exclude: list[int], limit: int) -> list[int]:
    words = [w for w in key.split() if w != "//"]
    if len(words) < 2 or all(len(w) < 3 for w in words):
        return []
    names = CardName.objects.all()
    for word in words:
        names = names.filter(search_key__contains=word)
    return _first_ids(names.order_by(Length("search_key"), "search_key"), exclude, limit)


def _fuzzy(key: str, *, exclude: list[int], limit: int) -> list[int]:
    if len(key) < 3:
        return []
    if connection.vendor == "postgresql":
        names = CardName.objects.filter(search_key__trigram_similar=key)
        ranked = names.annotate(similarity=TrigramSimilarity("search_key", key))
        return _first_ids(ranked.order_by("-similarity", Length("search_key")), exclude, limit)
    # Without pg_trgm: names sharing a three-letter piece of a word, ranked by difflib.
    pieces = {
        w[i : i + 3] for w in key.split() if len(w) >= 3 for i in (0, len(w) // 2, len(w) - 3)
    }
    match = Q()
    for piece in pieces:
        match |= Q(search_key__contains=piece)
    candidates = CardName.objects.filter(match).exclude(card_id__in=exclude)
    scored = [
        (difflib.SequenceMatcher(None, key, search_key).ratio(), len(search_key), card_id)
        for card_id, search_key in candidates.values_list("card_id", "search_key")[:5000]
    ]
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [card_id for ratio, _, card_id in scored[:limit] if ratio >= 0.6]


def cards_resolve(names: Iterable[str]) -> dict[str, Card]:
    """Exact resolution of names to playable cards by search key: a full name or any face's
    name ("Driven" finds "Driven // Despair"); full-name matches win over face matches.
    Returns the cards found, by search key."""
    keys = {name_normalise(n) for n in names} - {""}
    rows = (
        CardName.objects.filter(search_key__in=keys)
        .select_related("card")
        .order_by("is_face", "card__name")
    )
    resolved: dict[str, Card] = {}
    for row in rows:
        resolved.setdefault(row.search_key, row.card)
    return resolved


def card_resolve(name: str) -> Card | None:
    return cards_resolve([name]).get(name_normalise(name))
