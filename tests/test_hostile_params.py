"""Hostile query strings on every page and API endpoint: the answer may be a 4xx, never a 5xx.

The endpoints are discovered, not listed: every URL pattern of Lenny's own apps (the market desk,
its API, the ledger, stores, accounts, the project's pages) is walked from the URL resolver, and
each view's parameters are read off its source: the query forms it builds from ``request.GET``
(their fields are the URL's parameter names) and its direct ``request.GET`` reads. Parameters a
view reads through a helper are declared in ``INDIRECT``; a new endpoint needs nothing here.

The user is logged in with a linked character whose ledger was synced from the replay ESI, wants
two cards and looks at a small market, so the pages run their real code paths, not their empty
states. Two sweeps give every parameter each of the worst values (alone, then all at once), so a
failure names endpoint, parameter and value; Hypothesis then mixes hostile values, repeated
parameters, htmx partial requests and anonymous visitors.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.tests.factories import character_link_replay, upstreams_configure
from market.ledger.sync import character_sync
from market.ledger.tests.factories import sde_sample_load, trading_history_hand_made
from market.tests.factories import AMARR, JITA, book_store, order
from stores.catalog import catalog_import
from stores.models import Card
from stores.wants import wanted_card_merge

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
SCRYFALL = ROOT / "stores" / "replay" / "data" / "scryfall"
OWN_APPS = ("lenny.", "market.", "stores.", "accounts.")
TRITANIUM, PYERITE = 34, 35

# Parameters read by a helper the view calls rather than by the view itself.
INDIRECT = {
    "market:home": ["station_id", "days", "scope"],
    "market:type_search": ["station_id"],
    "market:market_group": ["station_id"],
    "ledger:orders": ["version", "character", "sort"],
    "ledger:orders_table": ["character", "sort"],
    "ledger:profit": ["period"],
    "stores:dashboard": ["q", "field"],
    "stores:card_suggest": ["q", "name", "card"],
}
# Every endpoint also gets these: the names any view might grow a read of.
COMMON = ["page", "sort", "q", "next", "since", "id", "format"]

# The values that broke pages before, and their relatives.
WORST = [
    "1e999999k",
    "1e999999",
    "-1e999999",
    "1e-999999",
    "9999-12-31",
    "0001-01-01",
    "²",
    "٣",
    "\uff11\uff12",  # fullwidth 12
    "-1",
    "NaN",
    "-inf",
    "9" * 40,
    "\x00",
    "' OR 1=1--",
    "<script>alert(1)</script>",
    "x" * 3000,
]
# The ones that broke a view after its form passed them, for the one-parameter sweep.
WORST_ALONE = ["1e999999k", "9999-12-31", "²", "-1", "9" * 40, "\x00", "NaN"]
HOSTILE = st.one_of(
    st.sampled_from(
        [
            *WORST,
            "",
            " ",
            "0",
            "-0",
            "inf",
            "1.5b",
            "5%",
            "1e308",
            "2147483648",
            "9223372036854775808",
            "-9223372036854775809",
            "99999-01-01",
            "2026-02-30",
            "true",
            "any",
            "-",
            "--price",
            "%",
            "../../etc/passwd",
            "https://evil.example/",
            "//evil.example",
            "a\x00b",
            "\u202e",
            "😀" * 50,
        ]
    ),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=40),
)
PARTIALS = [
    "trading-table",
    "hauling-table",
    "type-live",
    "type-history",
    "data-age",
    "ledger-transactions",
    "nowhere",
]


@dataclass(frozen=True)
class Endpoint:
    name: str
    route: str  # the pattern, with <converter:kwarg> parts
    own: tuple[str, ...]  # the parameters its view (or a helper of it) reads

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.own) | set(COMMON)))

    def path(self, **values: str) -> str:
        def fill(match: re.Match) -> str:
            return values.get(match.group(2), match.group(0))

        return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", fill, self.route)


def _view_source(callback) -> str:
    view = inspect.unwrap(callback)
    try:
        return inspect.getsource(view)
    except (OSError, TypeError):
        return ""


def _parameters(callback, name: str) -> tuple[str, ...]:
    source = _view_source(callback)
    module = inspect.getmodule(inspect.unwrap(callback))
    found = set(re.findall(r"request\.GET\.get\(\s*[\"'](\w+)[\"']", source))
    found |= set(re.findall(r"[\"'](\w+)[\"']\s+in\s+request\.GET", source))
    for form_name in re.findall(r"\b(\w+Form)\(\s*(?:request\.GET|params|_params\()", source):
        form = getattr(module, form_name, None)
        found |= set(getattr(form, "base_fields", {}))
    return tuple(sorted(found | set(INDIRECT.get(name, ()))))


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = ":".join(part for part in (namespace, pattern.namespace) if part)
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), namespace, pattern


def endpoints() -> list[Endpoint]:
    found = []
    for route, namespace, pattern in _walk(get_resolver().url_patterns):
        module = getattr(inspect.unwrap(pattern.callback), "__module__", "")
        if not module.startswith(OWN_APPS):
            continue
        name = f"{namespace}:{pattern.name}" if namespace else pattern.name
        found.append(Endpoint(name, route, _parameters(pattern.callback, name)))
    return found


ENDPOINTS = endpoints()


@pytest.fixture
def world(upstreams, settings, user):
    """A logged-in pilot with a synced ledger, two wanted cards and books at Jita and Amarr."""
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    eve = upstreams_configure(upstreams, settings)
    sde_sample_load()
    replay = eve.state["characters"]
    pilot = character_link_replay(eve, user)
    replay.set_history(pilot.character_id, trading_history_hand_made(replay.anchor))
    character_sync(character=pilot)
    for region_id, hub, price in ((JITA.region_id, JITA, "5"), (AMARR.region_id, AMARR, "9")):
        book_store(
            region_id,
            [
                order(TRITANIUM, price, 1000, buy=True, hub=hub),
                order(TRITANIUM, str(int(price) + 1), 800, hub=hub),
                order(PYERITE, "10", 50, hub=hub),
            ],
        )
    for name in ("cards-sample.jsonl", "power9.jsonl"):
        catalog_import(path=SCRYFALL / name, progress=False)
    wanted = []
    for card in Card.objects.order_by("name")[:2]:
        row, _ = wanted_card_merge(owner=user, card=card, amount=2, specs=[])
        wanted.append(row)
    kwargs = {
        "type_id": str(TRITANIUM),
        "group_id": "4",  # Ships, in the SDE sample
        "pk": str(wanted[0].pk),
        "character_id": str(pilot.character_id),
    }
    browser = Client(raise_request_exception=False)
    browser.force_login(user)
    return browser, kwargs


def _get(browser: Client, path: str, pairs: list[tuple[str, str]], headers=None):
    query = urlencode(pairs, quote_via=quote)
    return browser.get(f"{path}?{query}" if query else path, headers=headers or {})


def _failure(response, endpoint: Endpoint, detail: str) -> str:
    error = getattr(response, "exc_info", None)
    cause = f"{error[0].__name__}: {str(error[1])[:120]}" if error else ""
    return f"{endpoint.name} {detail} -> {response.status_code} {cause}".strip()


def test_every_endpoint_of_every_app_is_reached():
    names = {endpoint.name for endpoint in ENDPOINTS}
    assert {"market:station_trading", "market_api:hauling", "ledger:transactions"} <= names
    assert {"stores:dashboard", "accounts:profile", "home"} <= names
    trading = next(e for e in ENDPOINTS if e.name == "market_api:station_trading")
    assert {"min_volume", "budget"} & set(trading.params) == {"min_volume"}
    transactions = next(e for e in ENDPOINTS if e.name == "ledger:transactions")
    assert {"item", "until", "character"} <= set(transactions.params)


def _gettable(browser: Client, kwargs: dict[str, str]) -> list[Endpoint]:
    # POST-only views refuse a GET (405) before they read any parameter.
    return [e for e in ENDPOINTS if browser.get(e.path(**kwargs)).status_code != 405]


def test_each_parameter_alone_survives_the_worst_values(world):
    """One parameter at a time, the others at their defaults: a view uses its values only once
    the whole form is valid (``until=9999-12-31`` broke the date arithmetic after it)."""
    browser, kwargs = world
    failures = []
    for endpoint in _gettable(browser, kwargs):
        path = endpoint.path(**kwargs)
        for param in endpoint.own:
            for value in WORST_ALONE:
                response = _get(browser, path, [(param, value)])
                if response.status_code >= 500:
                    failures.append(_failure(response, endpoint, f"{param}={value[:40]!r}"))
    assert not failures, "\n".join(failures)


def test_every_parameter_at_once_survives_the_worst_values(world):
    """All of an endpoint's parameters, the common names included, take each worst value in one
    request: every field is cleaned, so a crash in any field's cleaning shows."""
    browser, kwargs = world
    failures = []
    for endpoint in _gettable(browser, kwargs):
        path = endpoint.path(**kwargs)
        for value in WORST:
            response = _get(browser, path, [(param, value) for param in endpoint.params])
            if response.status_code >= 500:
                failures.append(_failure(response, endpoint, f"all={value[:40]!r}"))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("value", ["0", "2147483648", "9223372036854775808", "9" * 40])
def test_ids_in_the_path_survive_any_size(world, value):
    browser, _ = world
    failures = []
    for endpoint in ENDPOINTS:
        if "<int:" not in endpoint.route:
            continue
        names = re.findall(r"<int:(\w+)>", endpoint.route)
        response = browser.get(endpoint.path(**dict.fromkeys(names, value)))
        if response.status_code >= 500:
            failures.append(_failure(response, endpoint, f"path {value[:40]}"))
    assert not failures, "\n".join(failures)


def test_undecodable_query_strings_are_no_error(world):
    browser, kwargs = world
    failures = []
    for endpoint in ENDPOINTS:
        path = endpoint.path(**kwargs)
        for raw in ("%FF%FE=%C0%80", "a=%ZZ&&&=&b", "page=1;page=2", "=" * 500):
            response = browser.get(f"{path}?{raw}")
            if response.status_code >= 500:
                failures.append(_failure(response, endpoint, f"raw query {raw[:40]!r}"))
    assert not failures, "\n".join(failures)


# Endpoints with parameters of their own come up more often than the ones with only COMMON.
WEIGHTED = [e for e in ENDPOINTS for _ in range(1 + len(set(e.params) - set(COMMON)))]


@st.composite
def hostile_requests(draw):
    endpoint = draw(st.sampled_from(WEIGHTED))
    params = st.sampled_from(endpoint.params)
    pairs = draw(st.lists(st.tuples(params, HOSTILE), min_size=1, max_size=5))
    if draw(st.booleans()):  # the same parameter twice, the second hostile
        name, _ = pairs[0]
        pairs.append((name, draw(HOSTILE)))
    headers = {}
    if draw(st.booleans()):
        headers = {"HX-Request": "true", "HX-Target": draw(st.sampled_from(PARTIALS))}
    return endpoint, pairs, headers, draw(st.booleans())


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=hostile_requests())
def test_hostile_queries_never_answer_5xx(world, request):
    browser, kwargs = world
    endpoint, pairs, headers, anonymous = request
    # Anonymous visitors take other paths (the default fees, no remembered hauling plan).
    visitor = Client(raise_request_exception=False) if anonymous else browser
    response = _get(visitor, endpoint.path(**kwargs), pairs, headers)
    assert response.status_code < 500, _failure(response, endpoint, repr(pairs)[:300])
