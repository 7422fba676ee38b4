"""The offline demo's market data (``manage.py demo``): fetched from the ESI and SDE replays by the
market data engine's own services, as a fresh install gets it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

import requests
from django.test.utils import override_settings

from market.esi import EsiClient
from market.hubs import HUBS
from market.ingest import history_fetch, snapshot_fetch
from market.ingest.sqlite import sqlite_yields_off
from market.replay.esi import DEFAULTS, PREFIX
from market.sde_source import sde_source_refresh
from market.universe import types_resolve_due
from market.warmup import history_landed_warm

# While the demo loads, the history of every type at the hubs (~35k requests with the full
# archive) is fetched as fast as the replay answers: at ESI's 300 a minute the desk would open
# two hours later. The demo's workers then keep ESI's limit.
DEMO_LOAD_HISTORY_RATE = "1000000/1m"
# … and the ESI client keeps its response validators and limits in memory meanwhile: nothing else
# runs yet, and the embedded default's file cache (a file per entry, a directory listing per
# write) would spend ~50 ms on each of those requests.
DEMO_LOAD_CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "demo"}
}
# The desk shows what trades at each station once an hour of consecutive snapshots was compared
# (market.queries.liquidity), so every hub's book is loaded as a short series over the past
# hour: DEMO_SNAPSHOTS snapshots, DEMO_STEP replay snapshots (of five minutes) apart, the last
# one current. Half an hour apart rather than five minutes: a sixth of the books to build and
# store, and each pair is still compared (pairs up to an hour apart are), with what traded in
# the replay's six five-minute steps between them.
DEMO_SNAPSHOTS = 3
DEMO_STEP = 6
REPLAY_SNAPSHOT_SECONDS = 300
DEMO_SERIES_SECONDS = (DEMO_SNAPSHOTS - 1) * DEMO_STEP * REPLAY_SNAPSHOT_SECONDS


def demo_load(*, base_url: str, stdout) -> None:
    """``manage.py demo``: the market's demo data, fetched from this replay (the settings already
    point at it) by the market data engine's own services."""
    state = f"{base_url}{PREFIX}/_replay/state"
    # The hubs' books are built before they are asked for: The Forge's takes long enough that
    # its page 1 could time out and be fetched again. The first of each series is an hour old.
    warm = [hub.region_id for hub in HUBS]
    requests.post(
        state,
        json={
            "history_rate": DEMO_LOAD_HISTORY_RATE,
            "expiry_seconds": REPLAY_SNAPSHOT_SECONDS,
            "backdate": {str(region): DEMO_SERIES_SECONDS for region in warm},
            "warm": warm,
        },
        timeout=600,
    ).raise_for_status()

    def next_snapshots() -> None:
        requests.post(
            state,
            json={"advance": {str(region): DEMO_STEP for region in warm}, "warm": warm},
            timeout=600,
        ).raise_for_status()

    try:
        with (
            override_settings(ESI_HISTORY_RATE=DEMO_LOAD_HISTORY_RATE, CACHES=DEMO_LOAD_CACHES),
            sqlite_yields_off(),  # nothing else writes yet
        ):
            demo_data_load(stdout=stdout, snapshots=DEMO_SNAPSHOTS, between=next_snapshots)
    finally:
        requests.post(state, json={"history_rate": DEFAULTS["history_rate"]}, timeout=10)
    # What the load shared went to memory: share the books, with their history, for real now.
    for hub in HUBS:
        history_landed_warm(sender=None, region_id=hub.region_id)
    structure_demo_load(base_url=base_url, stdout=stdout)


# The demo's player structure, tracked with the demo pilot (the replay SSO's default character).
DEMO_STRUCTURE_USER = "demo-pilot"


def structure_demo_load(*, base_url: str, stdout) -> None:
    """Track Perimeter's trading tower with the demo pilot, as a user does from the structures
    page: the pilot logs in through the replay SSO (authorize, then the code for tokens, over
    HTTP like a browser), is linked to a ``demo-pilot`` user, and the tower's book is fetched
    once. Logging in as the demo pilot later moves the character, and the fetching, to you."""
    from urllib.parse import parse_qs, urlsplit

    from django.contrib.auth import get_user_model

    from accounts.characters import character_link
    from accounts.replay.sso import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
    from accounts.scopes import EVE_SSO_SCOPES, STRUCTURE_SCOPES
    from accounts.sso import access_token_claims
    from market.replay.structures import PERIMETER_TTT
    from market.structures.fetch import structure_fetch
    from market.structures.services import StructureTrackError, structure_track

    callback = f"{base_url}/demo/callback"
    authorize = requests.get(
        f"{base_url}/sso/v2/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": DEMO_CLIENT_ID,
            "redirect_uri": callback,
            "state": "demo",
            "scope": " ".join([*EVE_SSO_SCOPES, *STRUCTURE_SCOPES]),
        },
        allow_redirects=False,
        timeout=10,
    )
    code = parse_qs(urlsplit(authorize.headers["Location"]).query)["code"][0]
    tokens = requests.post(
        f"{base_url}/sso/v2/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": callback},
        auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
        timeout=10,
    )
    tokens.raise_for_status()
    answer = tokens.json()
    user, created = get_user_model().objects.get_or_create(username=DEMO_STRUCTURE_USER)
    if created:
        user.set_unusable_password()
        user.save()
    character = character_link(
        user=user,
        claims=access_token_claims(answer["access_token"], client_id=DEMO_CLIENT_ID),
        access_token=answer["access_token"],
        refresh_token=answer["refresh_token"],
    )
    try:
        structure = structure_track(
            structure_id=PERIMETER_TTT.structure_id, character=character, user=user
        )
    except StructureTrackError as exc:
        stdout.write(f"  structure: not tracked ({exc})\n")
        return
    outcome = structure_fetch(structure=structure, force=True)
    stdout.write(f"  structure: {structure} tracked with {character.name}: {outcome.message}\n")


def demo_data_load(
    *, stdout: TextIO, snapshots: int = 1, between: Callable[[], None] | None = None
) -> None:
    """The offline demo's market data, from the upstreams the settings point at (the replay).

    The SDE (downloaded from LENNY_SDE_URL, the replay's dump, as a fresh install gets it: the
    shared export when it is there, else the repo's small slice), every hub's order book
    (``snapshots`` of them in a row, ``between`` moving the upstream on to the next, so the
    ingest has compared them and the desk opens with each station's traded volume), and the
    history of every type on the market at each hub, so the desk opens with the daily volumes
    it prices by (``market.replay.demo_load`` lifts the history rate limit of the replay and
    the client for this).
    """
    stdout.write(f"  {sde_source_refresh().summary()}\n")
    client = EsiClient()
    for number in range(snapshots):
        if number and between is not None:
            between()
        for hub in HUBS:
            outcome = snapshot_fetch(region_id=hub.region_id, client=client)
            stdout.write(f"  {outcome.summary()}\n")
    # The types the books sell that the SDE lacks, named from ESI now (a running install does it
    # in a task after each snapshot), so the desk opens with a real name for every type.
    stdout.write(f"  types: {types_resolve_due().summary()}\n")
    for hub in HUBS:
        # Without a type list: every type on the market at the hub that has no fresh history.
        outcome = history_fetch(region_id=hub.region_id, client=client)
        stdout.write(f"  history: {outcome.summary()}\n")
