"""Replay upstreams for the stores app: Scryfall under ``/scryfall`` and card stores under
``/stores/<slug>/``, over real sockets (lenny's replay framework mounts ``register``; ``lenny demo``
calls ``demo_load``).

- `scryfall`: the Scryfall API and bulk files, serving the captured cards in ``data/scryfall``;
- `sites`: what each replay store carries (stock by epoch, or set exactly by a test), its faults,
  and the real captured search pages (``data/pages``) cut around their product lists;
- `crystalcommerce`, `shopify`: each platform's search pages (and Shopify's product documents).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model

from lenny.replay import ReplayRequest, ReplayResponse, ReplayServer
from stores.catalog import catalog_refresh
from stores.checks import checks_queue_for_owner
from stores.models import Card, PreferredStore, Store
from stores.replay.crystalcommerce import cc_search_page
from stores.replay.scryfall import sample_cards, scryfall_register
from stores.replay.shopify import shopify_product_js, shopify_search_page
from stores.replay.sites import (
    SITES,
    STATE_KEY,
    Offer,
    Site,
    blocked_page,
    fault_take,
    product_page,
    site_epoch,
    site_fault,
    site_offers,
    site_product_find,
    site_stock_set,
    sites_fresh_state,
    sites_state,
)
from stores.wants import wanted_card_merge

__all__ = [
    "SITES",
    "Offer",
    "Site",
    "demo_load",
    "register",
    "sample_cards",
    "site_epoch",
    "site_fault",
    "site_offers",
    "site_stock_set",
]


def register(server: ReplayServer) -> None:
    scryfall_register(server)
    sites_register(server)


def demo_load(*, base_url: str, stdout: Any) -> None:
    """Import the catalog from the replay Scryfall (settings point at it already), then the
    demo stores and their demo user."""
    summary = catalog_refresh(force=True, progress=False)
    stdout.write(f"  {summary}")
    sites_demo_load(base_url=base_url, stdout=stdout)


# --- store-site routes -------------------------------------------------------------------------------------
def sites_register(server: ReplayServer) -> None:
    server.state[STATE_KEY] = sites_fresh_state()
    server.on_reset(lambda: server.state.__setitem__(STATE_KEY, sites_fresh_state()))

    def site_of(req: ReplayRequest, platform: str) -> Site | None:
        site = SITES.get(req.params["slug"])
        return site if site and site.platform == platform else None

    def page_number(req: ReplayRequest) -> int:
        try:
            return int(req.arg("page") or 1)
        except ValueError:
            return 1

    def not_found() -> ReplayResponse:
        return ReplayResponse.html("<html><body><h1>404 Not Found</h1></body></html>", status=404)

    def search(req: ReplayRequest, platform: str, page_build: Callable[..., str]) -> ReplayResponse:
        """A search at one site: counted, then its fault (if one is set) or its results page."""
        site = site_of(req, platform)
        if site is None:
            return not_found()
        counts = sites_state(server)["searches"]
        counts[site.slug] = counts.get(site.slug, 0) + 1
        fault = fault_take(server, site.slug)
        if fault in ("too_many_searches", "captcha"):
            return ReplayResponse.html(blocked_page(site, fault))
        return ReplayResponse.html(
            page_build(server, site, req.arg("q") or "", page_number(req), fault)
        )

    @server.route("GET", r"/stores/(?P<slug>[\w-]+)/products/search")
    def cc_search(req: ReplayRequest) -> ReplayResponse:
        return search(req, "crystalcommerce", cc_search_page)

    @server.route("GET", r"/stores/(?P<slug>[\w-]+)/search")
    def shopify_search(req: ReplayRequest) -> ReplayResponse:
        return search(req, "shopify", shopify_search_page)

    @server.route("GET", r"/stores/(?P<slug>[\w-]+)/products/(?P<handle>[\w%-]+)\.js")
    def shopify_product(req: ReplayRequest) -> ReplayResponse:
        site = site_of(req, "shopify")
        product = shopify_product_js(server, site, req.params["handle"]) if site else None
        if product is None:
            return not_found()
        return ReplayResponse.json(product)

    @server.route("GET", r"/stores/(?P<slug>[\w-]+)/products/(?P<handle>[\w%-]+)")
    def shopify_product_page(req: ReplayRequest) -> ReplayResponse:
        site = site_of(req, "shopify")
        handle = req.params["handle"]
        product = site and site_product_find(server, site, lambda p: p.handle == handle)
        return ReplayResponse.html(product_page(site, product)) if product else not_found()

    @server.route("GET", r"/stores/(?P<slug>[\w-]+)/catalog/[\w-]+/[\w-]+/(?P<id>\d+)")
    def cc_product_page(req: ReplayRequest) -> ReplayResponse:
        site = site_of(req, "crystalcommerce")
        wanted = int(req.params["id"])
        product = site and site_product_find(server, site, lambda p: p.id == wanted)
        return ReplayResponse.html(product_page(site, product)) if product else not_found()

    @server.route("POST", r"/stores/_control/(?P<slug>[\w-]+)")
    def control(req: ReplayRequest) -> ReplayResponse:
        """Faults, stock and cards for a replay in another process (the demo, benchmarks)."""
        data = req.json() or {}
        slug = req.params["slug"]
        try:
            if slug == "_all":
                state = sites_state(server)
                if "period" in data:
                    state["period"] = float(data["period"])
                if "epoch" in data:
                    state["epoch"] = data["epoch"]
                if "extra_cards" in data:
                    state["extra_cards"] = list(data["extra_cards"])
                return ReplayResponse.json({"ok": True, "epoch": site_epoch(server)})
            if data.get("fault"):
                site_fault(
                    server,
                    slug,
                    data["fault"],
                    times=data.get("times"),
                    seconds=float(data.get("seconds", 2)),
                    to=str(data.get("to", "")),
                )
            if data.get("clear"):
                sites_state(server)["faults"].pop(slug, None)
            if "stock" in data:
                site_stock_set(server, slug, data["card"], data["stock"])
            if "inline_variants" in data:
                sites_state(server)["inline_variants"][slug] = bool(data["inline_variants"])
        except (KeyError, ValueError, TypeError) as exc:
            return ReplayResponse.error(400, str(exc))
        return ReplayResponse.json({"ok": True})


# --- demo ---------------------------------------------------------------------------------------
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "lenny-demo"
DEMO_WANTS = [
    ("Mox Sapphire", 1),
    ("Ancestral Vision", 4),
    ("Mystic Snake", 2),
    ("Cloudstone Curio", 1),
    ("Driven // Despair", 3),
    ("Turntimber Symbiosis // Turntimber, Serpentine Wood", 2),
    ("Arlinn, the Pack's Hope // Arlinn, the Moon's Fury", 1),
    ("Ferris Wheel", 4),
]


def sites_demo_load(*, base_url: str, stdout: Any) -> None:
    """Demo stores at the replay sites, and a demo user who wants a few cards from them."""
    stores = []
    for site in SITES.values():
        store, _ = Store.objects.update_or_create(
            name=site.name,
            defaults={
                "platform": site.platform,
                "base_url": f"{base_url}/stores/{site.slug}",
                "currency": "GBP",
                "city": "Replay",
                "active": True,
                "max_requests_per_minute": 60,
                "max_in_flight": 2,
            },
        )
        stores.append(store)
    user_model = get_user_model()
    user = user_model.objects.filter(username=DEMO_USERNAME).first()
    if user is None:
        user = user_model.objects.create_user(DEMO_USERNAME, "demo@localhost", DEMO_PASSWORD)
    for store in stores:
        PreferredStore.objects.get_or_create(user=user, store=store)
    for name, amount in DEMO_WANTS:
        card = Card.objects.filter(name=name).first()
        if card is not None:
            wanted_card_merge(owner=user, card=card, amount=amount, mode="max")
    queued = checks_queue_for_owner(owner=user)
    stdout.write(
        f"  {len(stores)} replay stores under {base_url}/stores/; log in as "
        f"{DEMO_USERNAME!r} / {DEMO_PASSWORD!r} to see their stock ({queued} checks queued)"
    )
