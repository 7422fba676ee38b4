"""The people the page benchmarks log in as, set up through the replay upstreams as a real user
gets there: the demo pilot linked through EVE SSO and its wallet synced (ledger pages, load),
wanted cards checked at the replay stores (store dashboard, load). Call them inside
``override_settings(**upstream_settings(server.base_url))``."""

from __future__ import annotations

import time

DEMO_PILOT = 2112625428  # the replay's demo pilot (market/ledger/replay)
PILOT_SCOPES = [
    "esi-wallet.read_character_wallet.v1",
    "esi-markets.read_character_orders.v1",
    "esi-markets.structure_markets.v1",
]


def pilot_link_and_sync(server, user, *, label: str) -> None:
    """Link the replay's demo pilot to ``user`` as the SSO callback does, and sync its ledger."""
    from accounts.characters import character_link
    from accounts.replay import DEMO_CLIENT_ID, sso_tokens_issue
    from accounts.sso import access_token_claims
    from market.ledger.sync import character_sync

    answer = sso_tokens_issue(
        server, character_id=DEMO_PILOT, name="Lenny Demo Pilot", scopes=PILOT_SCOPES
    )
    claims = access_token_claims(answer["access_token"], client_id=DEMO_CLIENT_ID)
    pilot = character_link(
        user=user,
        claims=claims,
        access_token=answer["access_token"],
        refresh_token=answer["refresh_token"],
    )
    outcomes = character_sync(character=pilot)
    print(f"{label}: " + "; ".join(o.summary() for o in outcomes), flush=True)


def cards_want_and_check(user, stores: list, *, cards: int, label: str) -> None:
    """``user`` wants ``cards`` of the benchmark's cards (two each), each checked at ``stores``."""
    from stores.checks import check_run
    from stores.models import Card, CheckResult, WantedCard

    wanted = list(Card.objects.filter(printings__set__code__startswith="bm").distinct())
    for card in wanted[:cards]:
        WantedCard.objects.get_or_create(owner=user, card=card, defaults={"amount": 2})
    started = time.monotonic()
    for store in stores:
        for card in wanted[:cards]:
            result, _ = CheckResult.objects.get_or_create(store=store, card=card)
            check_run(result_id=result.pk, refresh=True)
    print(
        f"{label}: {len(wanted[:cards])} cards checked at {len(stores)} replay stores "
        f"in {time.monotonic() - started:.0f} s",
        flush=True,
    )
