"""The character routes' replay state and views (see the package docstring)."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import uuid
from email.utils import formatdate
from typing import Any

from accounts.scopes import ORDERS_SCOPE, WALLET_SCOPE
from lenny.replay import ReplayRequest, ReplayResponse, ReplayServer
from market.ledger.replay.history import (
    CACHE_SECONDS,
    DAY,
    DEFAULTS,
    FUTURE_DAYS,
    JITA_REGION,
    JOURNAL_DAYS,
    ORDER_HISTORY_DAYS,
    PAST_DAYS,
    TradingHistory,
    iso_utc,
    trading_history_generate,
)

# --- the routes --------------------------------------------------------------------------------


class CharacterReplay:
    """State of the character routes: the clock, the knobs and each character's history."""

    def __init__(self, server: ReplayServer) -> None:
        self.server = server
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            for name, value in DEFAULTS.items():
                setattr(self, name, value)
            # The replay's history is laid out around the moment it (re)started.
            self.anchor = int(time.time()) // 60 * 60
            self._histories: dict[int, TradingHistory] = {}
            self._custom: dict[int, TradingHistory] = {}

    def configure(self, **knobs: Any) -> CharacterReplay:
        unknown = set(knobs) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown character replay knobs: {', '.join(sorted(unknown))}")
        for name, value in knobs.items():
            value = int(value)
            if value < (0 if name == "clock_offset" else 1):
                raise ValueError(f"{name} cannot be {value!r}")
            setattr(self, name, value)
        return self

    def advance(self, *, days: float = 0, seconds: float = 0) -> int:
        """Move the replay's clock forward; returns the new offset in seconds."""
        with self._lock:
            self.clock_offset += int(days * DAY + seconds)
            return self.clock_offset

    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def as_of(self, route: str) -> int:
        """The start of the route's current cache period, on the replay's clock."""
        period = CACHE_SECONDS[route]
        return self.anchor + max(0, (self.now() - self.anchor) // period) * period

    def set_history(self, character_id: int, history: TradingHistory) -> None:
        with self._lock:
            self._custom[character_id] = history

    def history(self, character_id: int) -> TradingHistory:
        with self._lock:
            if character_id in self._custom:
                return self._custom[character_id]
            history = self._histories.get(character_id)
            if history is None:
                history = self._histories[character_id] = trading_history_generate(
                    character_id=character_id,
                    start=self.anchor - PAST_DAYS * DAY,
                    end=self.anchor + FUTURE_DAYS * DAY,
                    prices=self._prices(),
                )
            return history

    def _prices(self) -> dict[int, tuple[float, float]]:
        esi = self.server.state.get("esi")
        if esi is None:
            return {}
        try:
            trading = esi.archive().trading(JITA_REGION)
        except (OSError, ValueError):
            return {}
        return {t.type_id: (t.price, t.half_spread) for t in trading}

    # --- answers -------------------------------------------------------------------------------

    def _limit_headers(self, status: int) -> dict[str, str]:
        # One error limit for every ESI route, as ESI counts them: shared with the market replay.
        esi = self.server.state.get("esi")
        return esi._limit_headers(status) if esi is not None else {}

    def _error(self, status: int, message: str, **extra: Any) -> ReplayResponse:
        headers = {"X-Esi-Request-Id": str(uuid.uuid4()), **self._limit_headers(status)}
        body = json.dumps({"error": message, **extra}, separators=(",", ":")).encode()
        return ReplayResponse(status, body, {"Content-Type": "application/json", **headers})

    def _answer(
        self, req: ReplayRequest, data: Any, *, route: str, pages: int | None = None
    ) -> ReplayResponse:
        body = json.dumps(data, separators=(",", ":")).encode()
        etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
        status = 304 if req.headers.get("If-None-Match") == etag else 200
        as_of = self.as_of(route)
        # Expires is real time: a client's cache must not be fooled by the replay's clock.
        expires = as_of + CACHE_SECONDS[route] - self.clock_offset
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "Cache-Control": "private",
            "ETag": etag,
            "Expires": formatdate(expires, usegmt=True),
            "Last-Modified": formatdate(as_of, usegmt=True),
            "X-Esi-Request-Id": str(uuid.uuid4()),
            **self._limit_headers(status),
        }
        if pages is not None:
            headers["X-Pages"] = str(pages)
        return ReplayResponse(status, b"" if status == 304 else body, headers)

    def _authorized(self, req: ReplayRequest, scope: str) -> int | ReplayResponse:
        """The path's character id when the request's token may read it, else ESI's refusal."""
        character_id = int(req.params["character_id"])
        scheme, _, token = (req.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self._error(401, "authorization not provided")
        issued = self.server.state.get("sso", {}).get("access_tokens", {}).get(token.strip())
        if issued is None:
            return self._error(401, "authentication failure", sso_status=401)
        if issued["expires_at"] < time.time():
            return self._error(401, "token is expired", sso_status=401)
        if issued["character_id"] != character_id:
            return self._error(403, "token not valid for this character")
        if scope not in issued["scopes"]:
            return self._error(403, "token not valid for scope")
        return character_id

    def _page(self, req: ReplayRequest, rows: list, size: int) -> tuple[list, int] | ReplayResponse:
        pages = max(1, math.ceil(len(rows) / size))
        text = req.arg("page") or "1"
        if not text.isdigit() or int(text) < 1:
            return self._error(400, f"page must be a positive integer, not {text!r}")
        page = int(text)
        if page > pages:
            return self._error(404, "Requested page does not exist!")
        return rows[(page - 1) * size : page * size], pages

    def wallet_view(self, req: ReplayRequest) -> ReplayResponse:
        character_id = self._authorized(req, WALLET_SCOPE)
        if isinstance(character_id, ReplayResponse):
            return character_id
        balance = self.history(character_id).balance_at(self.as_of("wallet"))
        return self._answer(req, balance, route="wallet")

    def journal_view(self, req: ReplayRequest) -> ReplayResponse:
        character_id = self._authorized(req, WALLET_SCOPE)
        if isinstance(character_id, ReplayResponse):
            return character_id
        window = self.history(character_id).journal_window(self.as_of("journal"), JOURNAL_DAYS)
        rows = [_public(row) for row in reversed(window)]
        paged = self._page(req, rows, int(self.journal_page_size))
        if isinstance(paged, ReplayResponse):
            return paged
        return self._answer(req, paged[0], route="journal", pages=paged[1])

    def transactions_view(self, req: ReplayRequest) -> ReplayResponse:
        character_id = self._authorized(req, WALLET_SCOPE)
        if isinstance(character_id, ReplayResponse):
            return character_id
        text = req.arg("from_id")
        if text is not None and not text.isdigit():
            return self._error(400, f"from_id must be an integer, not {text!r}")
        history = self.history(character_id)
        window = history.transactions_window(self.as_of("transactions"), JOURNAL_DAYS)
        rows = [
            _public(row)
            for row in reversed(window)
            if text is None or row["transaction_id"] <= int(text)
        ]
        return self._answer(req, rows[: int(self.transactions_limit)], route="transactions")

    def orders_view(self, req: ReplayRequest) -> ReplayResponse:
        character_id = self._authorized(req, ORDERS_SCOPE)
        if isinstance(character_id, ReplayResponse):
            return character_id
        moment = self.as_of("orders")
        rows = [
            order.as_of(moment)
            for order in self.history(character_id).orders
            if order.placed_at <= moment and (order.closed_at is None or order.closed_at > moment)
        ]
        return self._answer(req, rows, route="orders")

    def order_history_view(self, req: ReplayRequest) -> ReplayResponse:
        character_id = self._authorized(req, ORDERS_SCOPE)
        if isinstance(character_id, ReplayResponse):
            return character_id
        moment = self.as_of("order_history")
        closed = [
            order
            for order in self.history(character_id).orders
            if order.closed_at is not None
            and moment - ORDER_HISTORY_DAYS * DAY < order.closed_at <= moment
        ]
        closed.sort(key=lambda order: (order.closed_at, order.order_id), reverse=True)
        rows = [order.as_of(moment) for order in closed]
        paged = self._page(req, rows, int(self.history_page_size))
        if isinstance(paged, ReplayResponse):
            return paged
        return self._answer(req, paged[0], route="order_history", pages=paged[1])

    def state_view(self, req: ReplayRequest) -> ReplayResponse:
        if req.method == "POST":
            data = dict(req.json() or {})
            days = data.pop("advance_days", 0)
            try:
                self.configure(**data)
                self.advance(days=float(days))
            except (TypeError, ValueError) as exc:
                return ReplayResponse.error(400, str(exc))
        return ReplayResponse.json(
            {
                "knobs": {name: getattr(self, name) for name in DEFAULTS},
                "anchor": self.anchor,
                "now": self.now(),
            }
        )


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as ESI sends it: its moment as ``date``, internal keys left out."""
    return {"date": iso_utc(row["_at"]), **{k: v for k, v in row.items() if not k.startswith("_")}}
