"""The Scryfall replay under /scryfall, serving the real card objects captured in
``stores/replay/data/scryfall``:

- ``/scryfall/bulk-data`` and ``/scryfall/bulk-data/<type>``: the bulk-data objects;
- ``/scryfall/bulk-data/<type>/<file>``: the bulk file, as gzipped JSON Lines (what Scryfall is
  moving to) or as one JSON array (``server.state["scryfall"]["format"] = "json"``), with
  ``Range`` support so interrupted downloads can resume;
- ``/scryfall/sets`` and ``/scryfall/cards/named?fuzzy=|exact=``.

Like Scryfall it refuses requests without a ``User-Agent`` and an ``Accept`` header. Tests
swap the served cards with ``server.state["scryfall"]["cards"]`` and inject 429s with
``server.fault(r"^/scryfall/", status=429)``.
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import json
import re
import uuid
from functools import cache
from pathlib import Path
from typing import Any

from lenny.replay import ReplayRequest, ReplayResponse, ReplayServer
from stores.catalog import name_normalise

SAMPLES = Path(__file__).resolve().parent / "data" / "scryfall"
BULK_TYPES = {
    "default_cards": (
        "Default Cards",
        "Every card object on Scryfall in English or the only language it was printed in.",
    ),
    "oracle_cards": ("Oracle Cards", "One Scryfall card object for each Oracle ID."),
}
UPDATED_AT = "2025-01-15T10:05:12.417+00:00"
# The real parents of the sample's child sets (Scryfall's parent_set_code).
PARENT_SETS = {"sunf": "unf", "tc15": "c15", "ltc": "ltr", "ybro": "bro"}
SCRYFALL_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Cache-Control": "public, max-age=3600",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
    "Vary": "Accept-Encoding",
    "X-Robots-Tag": "noindex, nofollow",
}


@cache
def sample_cards() -> tuple[dict[str, Any], ...]:
    cards = []
    for path in sorted(SAMPLES.glob("*.jsonl")):
        cards.extend(json.loads(line) for line in path.read_text("utf-8").splitlines() if line)
    return tuple(cards)


def _state(server: ReplayServer) -> dict[str, Any]:
    return server.state.setdefault("scryfall", _fresh_state())


def _fresh_state() -> dict[str, Any]:
    # "cards": None serves the samples; "format": "jsonl.gz" or "json".
    return {"cards": None, "format": "jsonl.gz", "updated_at": UPDATED_AT}


def _cards(server: ReplayServer) -> list[dict[str, Any]]:
    cards = _state(server)["cards"]
    return list(sample_cards() if cards is None else cards)


def _json(data: Any, status: int = 200) -> ReplayResponse:
    return ReplayResponse.json(data, status=status, headers=SCRYFALL_HEADERS)


def _error(status: int, code: str, details: str, kind: str | None = None) -> ReplayResponse:
    error = {"object": "error", "code": code, "status": status, "details": details}
    if kind:
        error["type"] = kind
    return _json(error, status)


def _refused(req: ReplayRequest) -> ReplayResponse | None:
    if not req.headers.get("User-Agent") or not req.headers.get("Accept"):
        return _error(
            400,
            "bad_request",
            "Requests to the API must include a User-Agent and an Accept header.",
        )
    return None


def _base(req: ReplayRequest) -> str:
    return f"http://{req.headers.get('Host', '127.0.0.1')}/scryfall"


def _bulk_body(server: ReplayServer, bulk_type: str) -> tuple[bytes, str]:
    cards = _cards(server)
    if bulk_type == "oracle_cards":
        seen: dict[str, dict[str, Any]] = {}
        for card in cards:
            seen.setdefault(_identity(card), card)
        cards = list(seen.values())
    state = _state(server)
    if state["format"] == "json":
        # Scryfall's array layout: one object per line between the brackets.
        body = (
            "[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in cards) + "\n]"
        ).encode()
        return body, "json"
    lines = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cards).encode()
    return gzip.compress(lines, mtime=0), "jsonl.gz"


def _bulk_object(server: ReplayServer, req: ReplayRequest, bulk_type: str) -> dict[str, Any]:
    name, description = BULK_TYPES[bulk_type]
    body, suffix = _bulk_body(server, bulk_type)
    updated_at = _state(server)["updated_at"]
    stamp = re.sub(r"\D", "", updated_at)[:14]
    slug = bulk_type.replace("_", "-")
    ident = uuid.UUID(hashlib.md5(bulk_type.encode()).hexdigest())
    return {
        "object": "bulk_data",
        "id": str(ident),
        "type": bulk_type,
        "updated_at": updated_at,
        "uri": f"{_base(req)}/bulk-data/{ident}",
        "name": name,
        "description": description,
        "size": len(body),
        "download_uri": f"{_base(req)}/bulk-data/{bulk_type}/{slug}-{stamp}.{suffix}",
        "content_type": "application/json",
        "content_encoding": "gzip" if suffix.endswith("gz") else "identity",
    }


def _sets(server: ReplayServer) -> list[dict[str, Any]]:
    sets: dict[str, dict[str, Any]] = {}
    for card in _cards(server):
        code = card["set"]
        entry = sets.setdefault(
            code,
            {
                "object": "set",
                "id": card.get("set_id"),
                "code": code,
                "name": card.get("set_name", code),
                "set_type": card.get("set_type", ""),
                "released_at": card.get("released_at"),
                "card_count": 0,
                "digital": bool(card.get("digital")),
                "foil_only": False,
                "nonfoil_only": False,
            },
        )
        entry["card_count"] += 1
        if card.get("released_at") and card["released_at"] < (entry["released_at"] or "9999"):
            entry["released_at"] = card["released_at"]
        if code in PARENT_SETS:
            entry["parent_set_code"] = PARENT_SETS[code]
    return sorted(sets.values(), key=lambda s: s["released_at"] or "", reverse=True)


def _identity(card: dict[str, Any]) -> str:
    return card.get("oracle_id") or card["id"]


def scryfall_register(server: ReplayServer) -> None:
    server.on_reset(lambda: server.state.__setitem__("scryfall", _fresh_state()))

    @server.route("GET", r"/scryfall/bulk-data")
    def bulk_data(req: ReplayRequest) -> ReplayResponse:
        if refused := _refused(req):
            return refused
        items = [_bulk_object(server, req, t) for t in BULK_TYPES]
        return _json({"object": "list", "has_more": False, "data": items})

    @server.route("GET", r"/scryfall/bulk-data/(?P<bulk_type>[a-z_-]+)")
    def bulk_data_one(req: ReplayRequest) -> ReplayResponse:
        if refused := _refused(req):
            return refused
        bulk_type = req.params["bulk_type"].replace("-", "_")
        if bulk_type not in BULK_TYPES:
            return _error(404, "not_found", f"No bulk data of type {bulk_type}.")
        return _json(_bulk_object(server, req, bulk_type))

    @server.route("GET", r"/scryfall/bulk-data/(?P<bulk_type>[a-z_]+)/(?P<file>[\w.-]+)")
    def bulk_file(req: ReplayRequest) -> ReplayResponse:
        if req.params["bulk_type"] not in BULK_TYPES:
            return ReplayResponse(404, b"Not Found", {"Content-Type": "text/plain"})
        body, suffix = _bulk_body(server, req.params["bulk_type"])
        headers = {
            "Content-Type": "application/json",
            "Accept-Ranges": "bytes",
            "ETag": '"' + hashlib.md5(body).hexdigest() + '"',
            "Last-Modified": "Wed, 15 Jan 2025 10:05:12 GMT",
        }
        if suffix.endswith("gz"):
            headers["Content-Encoding"] = "gzip"
        ranged = re.fullmatch(r"bytes=(\d+)-", (req.headers.get("Range") or "").strip())
        if ranged:
            start = int(ranged.group(1))
            if start >= len(body):
                return ReplayResponse(
                    416, b"", {**headers, "Content-Range": f"bytes */{len(body)}"}
                )
            content_range = f"bytes {start}-{len(body) - 1}/{len(body)}"
            return ReplayResponse(206, body[start:], {**headers, "Content-Range": content_range})
        return ReplayResponse(200, body, headers)

    @server.route("GET", r"/scryfall/sets")
    def sets(req: ReplayRequest) -> ReplayResponse:
        if refused := _refused(req):
            return refused
        return _json({"object": "list", "has_more": False, "data": _sets(server)})

    @server.route("GET", r"/scryfall/cards/named")
    def named(req: ReplayRequest) -> ReplayResponse:
        if refused := _refused(req):
            return refused
        exact, fuzzy = req.arg("exact"), req.arg("fuzzy")
        if not (exact or fuzzy):
            return _error(400, "bad_request", "You must provide an exact or fuzzy parameter.")
        wanted = name_normalise(exact or fuzzy or "")
        by_name: dict[str, dict[str, Any]] = {}
        for card in sorted(_cards(server), key=lambda c: c.get("released_at") or "", reverse=True):
            keys = [card["name"], *(f.get("name", "") for f in card.get("card_faces", []))]
            for key in keys:
                by_name.setdefault(name_normalise(key), card)
        if wanted in by_name:
            return _json(by_name[wanted])
        if fuzzy:
            partial = {_identity(by_name[k]): by_name[k] for k in by_name if wanted in k}
            if len(partial) == 1:
                return _json(next(iter(partial.values())))
            if len(partial) > 1:
                return _error(
                    404,
                    "not_found",
                    f"Too many cards match ambiguous name “{fuzzy}”. Add more words to refine your "
                    "search.",
                    "ambiguous",
                )
            close = difflib.get_close_matches(wanted, list(by_name), n=1, cutoff=0.75)
            if close:
                return _json(by_name[close[0]])
        return _error(404, "not_found", f"No cards found matching “{exact or fuzzy}”")
