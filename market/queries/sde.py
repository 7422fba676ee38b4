"""What the desk reads from the imported SDE: type search (typos too), the market-group tree and
the stargate graph (gate jumps between two stations). Kept per process for SDE_TTL_SECONDS: the
SDE changes a few times a year.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from django.contrib.postgres.lookups import TrigramSimilar
from django.contrib.postgres.search import TrigramSimilarity
from django.db import connection
from django.db.models import Case, Model, Q, QuerySet, When
from django.db.models.functions import Length, Upper

from market.models import MarketGroup, SolarSystem, SystemJump, Type
from market.queries.caches import _sde
from market.queries.stations import StationRef
from market.routes import JumpGraph


def sde_rows(model: type[Model]) -> int:
    """How many rows an SDE table holds: part of the key its memo is kept under (an import of
    another size is read again). Plain SQL: desk requests ask on every answer, and building
    the ORM's query costs more than PostgreSQL's count."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(model._meta.db_table)}")
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class TypeHit:
    type_id: int
    name: str
    group_name: str
    # Found as the closest name to a misspelt query, not by the text itself.
    alike: bool = False


def type_search(query: str, *, limit: int = 10) -> list[TypeHit]:
    """Published types whose name starts with ``query``, then those containing it; shorter names
    first, so "trit" offers Tritanium before Tritan's Forked Key. (Not only types with a market
    group: an older SDE's types may point at groups a newer one dropped.) When neither finds
    anything the text is taken for a typo: the closest names ("tritanum" finds Tritanium)."""
    text = " ".join(query.split())[:100]
    if not text:
        return []
    sql, params = _type_search_sql(connection.alias, limit)
    like = connection.ops.prep_for_like_query(text)
    with connection.cursor() as cursor:
        cursor.execute(sql, [_text_put(param, like) for param in params])
        rows = cursor.fetchall()
    hits = [TypeHit(type_id, name, group_name or "") for type_id, name, group_name in rows]
    if not hits:
        hits = _types_alike(text, types=Type.objects.filter(published=True), limit=limit)
    return hits


# Stands for the searched text while the search's SQL is compiled (no name holds it).
_TEXT = "\x00searched\x00"


@lru_cache(maxsize=8)
def _type_search_sql(alias: str, limit: int) -> tuple[str, tuple]:
    """The search's SQL and parameters, compiled once from the ORM's query: the autocomplete
    asks on every key press, and building this query took 70 % of its CPU (1.3 ms of 1.9).
    One query, the names starting with the text ranked first. ``_text_put`` puts the text in."""
    rows = (
        Type.objects.filter(published=True, name__icontains=_TEXT)
        .alias(starts=Case(When(name__istartswith=_TEXT, then=0), default=1))
        .order_by("starts", Length("name"), "name")
        .values_list("id", "name", "group__name")[:limit]
    )
    return rows.query.get_compiler(using=alias).as_sql()


def _text_put(param: object, like: str) -> object:
    # The lookups' LIKE patterns hold the text as Django escapes it (prep_for_like_query).
    return param.replace(_TEXT, like) if isinstance(param, str) else param


# Below this, difflib's likeness of two names is chance, not a typo (pg_trgm has its own 0.3).
TYPO_LIKENESS = 0.6
TYPO_CANDIDATES = 5000
# The trigram lookup (``%``, served by market/migrations/0002's GIN index on UPPER(name))
# without installing django.contrib.postgres as an app: only this column needs it.
Type._meta.get_field("name").register_lookup(TrigramSimilar)


def _trigram_index_ready() -> bool:
    # The migration skips the index where pg_trgm is not available; the operator needs it.
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        return cursor.fetchone() is not None


def _types_alike(text: str, *, types: QuerySet, limit: int) -> list[TypeHit]:
    """The names closest to a misspelt ``text``, best first: pg_trgm similarity on PostgreSQL
    (the GIN index answers it), elsewhere a difflib ranking of the names sharing a
    three-letter piece with it."""
    key = text.upper()
    if len(key) < 3:
        return []
    if _trigram_index_ready():
        rows = (
            types.alias(upper_name=Upper("name"))
            .filter(upper_name__trigram_similar=key)
            .annotate(similarity=TrigramSimilarity(Upper("name"), key))
            .order_by("-similarity", Length("name"), "name")
            .values_list("id", "name", "group__name")[:limit]
        )
        return [TypeHit(type_id, name, group or "", alike=True) for type_id, name, group in rows]
    pieces = {
        word[i : i + 3]
        for word in key.split()
        if len(word) >= 3
        for i in (0, len(word) // 2, len(word) - 3)
    }
    match = Q()
    for piece in pieces:
        match |= Q(name__icontains=piece)
    candidates = types.filter(match).values_list("id", "name", "group__name")
    scored = [
        (
            difflib.SequenceMatcher(None, key, name.upper()).ratio(),
            TypeHit(type_id, name, group or "", alike=True),
        )
        for type_id, name, group in candidates[:TYPO_CANDIDATES]
    ]
    scored.sort(key=lambda item: (-item[0], len(item[1].name), item[1].name))
    return [hit for likeness, hit in scored[:limit] if likeness >= TYPO_LIKENESS]


@dataclass(frozen=True)
class MarketGroupTree:
    names: dict[int, str]
    parents: dict[int, int | None]
    children: dict[int | None, tuple[int, ...]]

    def subtree(self, group_id: int) -> frozenset[int]:
        found, stack = {group_id}, [group_id]
        while stack:
            for child in self.children.get(stack.pop(), ()):
                if child not in found:
                    found.add(child)
                    stack.append(child)
        return frozenset(found)

    def path(self, group_id: int | None) -> list[tuple[int, str]]:
        """The chain from the top of the tree down to ``group_id``."""
        chain: list[tuple[int, str]] = []
        seen: set[int] = set()
        while group_id is not None and group_id in self.names and group_id not in seen:
            seen.add(group_id)
            chain.append((group_id, self.names[group_id]))
            group_id = self.parents.get(group_id)
        return chain[::-1]

    def choices(self) -> list[tuple[str, list[tuple[int, str]]]]:
        """Top-level groups with their children, for a select's optgroups."""

        def by_name(ids: Iterable[int]) -> list[int]:
            return sorted(ids, key=lambda group_id: self.names[group_id])

        return [
            (
                self.names[top],
                [(top, f"All {self.names[top]}")]
                + [(child, self.names[child]) for child in by_name(self.children.get(top, ()))],
            )
            for top in by_name(self.children.get(None, ()))
        ]


def market_group_tree() -> MarketGroupTree:
    def build() -> MarketGroupTree:
        names: dict[int, str] = {}
        parents: dict[int, int | None] = {}
        children: dict[int | None, list[int]] = {}
        for group_id, name, parent_id in MarketGroup.objects.values_list("id", "name", "parent_id"):
            names[group_id] = name
            parents[group_id] = parent_id
            children.setdefault(parent_id, []).append(group_id)
        return MarketGroupTree(names, parents, {k: tuple(v) for k, v in children.items()})

    return _sde.get(("market-groups", sde_rows(MarketGroup)), build)


@dataclass(frozen=True)
class MarketGroupNode:
    group_id: int
    name: str
    has_children: bool


def market_group_children(parent_id: int | None) -> tuple[list[MarketGroupNode], list[TypeHit]]:
    """One level of the market browser: the subgroups of ``parent_id`` and its own types."""
    tree = market_group_tree()
    groups = sorted(
        (
            MarketGroupNode(child, tree.names[child], bool(tree.children.get(child)))
            for child in tree.children.get(parent_id, ())
        ),
        key=lambda node: node.name,
    )
    types: list[TypeHit] = []
    if parent_id is not None:
        types = [
            TypeHit(type_id, name, "")
            for type_id, name in Type.objects.filter(market_group_id=parent_id, published=True)
            .order_by("name")
            .values_list("id", "name")
        ]
    return groups, types


def jump_graph() -> JumpGraph:
    """The stargate graph of the imported SDE (empty without one)."""

    def build() -> JumpGraph:
        return JumpGraph(
            pairs=SystemJump.objects.values_list("from_system_id", "to_system_id").iterator(),
            security=dict(SolarSystem.objects.values_list("id", "security")),
        )

    return _sde.get(("jumps", sde_rows(SystemJump)), build)


def jumps_between(
    origin: StationRef, destination: StationRef, route: str, *, graph: JumpGraph | None = None
) -> int | None:
    """Gate jumps between two stations' systems; None when there is no such route (or no SDE)."""
    graph = jump_graph() if graph is None else graph
    if origin.system_id not in graph or destination.system_id not in graph:
        return None
    return graph.jumps(origin.system_id, destination.system_id, route)
