"""Replay upstreams: a real HTTP server on loopback that stands in for ESI, EVE SSO, Scryfall and
the card stores, for the tests, the benchmarks and the offline demo.

Each app mounts its own upstream by defining ``register(server)`` in its ``replay`` module. The
framework gives them routing, a request log to assert traffic against, and fault injection
(latency, any status with any headers, hangs that make the client time out, truncated bodies).
Faults can be set in-process (tests) or over HTTP at ``/_replay/…`` (demo, benchmarks).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import import_module
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.apps import apps
from django.utils.module_loading import module_has_submodule

log = logging.getLogger("lenny.replay")

Handler = Callable[["ReplayRequest"], "ReplayResponse"]


@dataclass
class ReplayRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    params: dict[str, str]
    server: ReplayServer

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class ReplayResponse:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, data: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> ReplayResponse:
        body = json.dumps(data, separators=(",", ":")).encode()
        return cls(
            status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        )

    @classmethod
    def html(
        cls, text: str | bytes, status: int = 200, headers: dict[str, str] | None = None
    ) -> ReplayResponse:
        body = text.encode() if isinstance(text, str) else text
        return cls(status, body, {"Content-Type": "text/html; charset=utf-8", **(headers or {})})

    @classmethod
    def error(
        cls, status: int, message: str, headers: dict[str, str] | None = None
    ) -> ReplayResponse:
        return cls.json({"error": message}, status=status, headers=headers)


@dataclass
class Fault:
    """What to do instead of (or on top of) the normal answer, for requests matching ``pattern``.

    ``times`` counts the matching requests it applies to (None: until cleared). A fault with only
    ``latency`` delays the real answer; ``status`` replaces it; ``hang`` sleeps then drops the
    connection without answering; ``truncate`` sends the real headers and half the body.
    """

    pattern: str
    query: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    latency: float = 0.0
    hang: float | None = None
    truncate: bool = False
    times: int | None = 1
    hits: int = 0

    def matches(self, path: str, query: dict[str, list[str]]) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if not re.search(self.pattern, path):
            return False
        return all(query.get(k, [None])[0] == v for k, v in self.query.items())


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int
    at: float  # when the answer was ready
    arrived: float  # when the request came in: pacing is judged on these

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


class ReplayServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._reset_hooks: list[Callable[[], None]] = []
        # (path prefix, hook): an upstream dresses the faults under its prefix as its own answers.
        self._fault_hooks: list[tuple[str, Callable[[ReplayResponse], ReplayResponse]]] = []
        self.log: list[LoggedRequest] = []
        # Each upstream keeps its own mutable state here, under its own key.
        self.state: dict[str, Any] = {}
        self._httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- set-up -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str = "") -> str:
        return self.base_url + path

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def decorator(handler: Handler) -> Handler:
            self.add_route(method, pattern, handler)
            return handler

        return decorator

    def add_route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(f"^{pattern}$"), handler))

    def on_reset(self, hook: Callable[[], None]) -> None:
        self._reset_hooks.append(hook)

    def on_fault(self, prefix: str, hook: Callable[[ReplayResponse], ReplayResponse]) -> None:
        """Let the upstream under ``prefix`` finish an injected fault's answer as it would its own
        (ESI: count the error against its limit and add its limit headers)."""
        self._fault_hooks.append((prefix, hook))

    def _fault_finish(self, path: str, resp: ReplayResponse) -> ReplayResponse:
        for prefix, hook in self._fault_hooks:
            if path.startswith(prefix):
                return hook(resp)
        return resp

    def start(self) -> ReplayServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="replay", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- faults and traffic ---------------------------------------------------------------------
    def fault(self, pattern: str, **options: Any) -> Fault:
        fault = Fault(pattern=pattern, **options)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Forget faults and traffic and let each upstream reset its state."""
        with self._lock:
            self._faults.clear()
            self.log.clear()
        for hook in self._reset_hooks:
            hook()

    def requests(self, pattern: str = "", method: str | None = None) -> list[LoggedRequest]:
        with self._lock:
            return [
                r
                for r in self.log
                if re.search(pattern, r.path) and (method is None or r.method == method.upper())
            ]

    def count(self, pattern: str = "", method: str | None = None) -> int:
        return len(self.requests(pattern, method))

    # --- dispatch -------------------------------------------------------------------------------
    def _take_faults(self, path: str, query: dict[str, list[str]]) -> list[Fault]:
        with self._lock:
            taken = [f for f in self._faults if f.matches(path, query)]
            for f in taken:
                f.hits += 1
            return taken

    def _dispatch(self, req: ReplayRequest) -> ReplayResponse:
        allowed = []
        for method, regex, handler in self._routes:
            match = regex.match(req.path)
            if match:
                if method != req.method:
                    allowed.append(method)
                    continue
                req.params = match.groupdict()
                try:
                    return handler(req)
                except Exception as exc:  # the replay answers like a broken upstream would
                    log.exception("replay handler failed for %s", req.path)
                    return ReplayResponse.error(500, f"replay handler error: {exc}")
        if allowed:
            return ReplayResponse.error(405, "method not allowed", {"Allow": ", ".join(allowed)})
        return ReplayResponse.error(404, f"no replay route for {req.path}")

    def _control(self, req: ReplayRequest) -> ReplayResponse:
        if req.path == "/_replay/faults" and req.method == "POST":
            data = req.json()
            for options in data if isinstance(data, list) else [data]:
                self.fault(**options)
            return ReplayResponse.json({"faults": len(self._faults)})
        if req.path == "/_replay/reset" and req.method == "POST":
            self.reset()
            return ReplayResponse.json({"reset": True})
        if req.path == "/_replay/log":
            return ReplayResponse.json([asdict(r) for r in self.log[-1000:]])
        return ReplayResponse.error(404, "unknown control route")


def _make_handler(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "LennyReplay/1"
        # Headers and body go out as separate writes; with Nagle on, a keep-alive client's
        # delayed ACK would stall every answer after the first by ~40 ms.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("replay %s", format % args)

        def _handle(self) -> None:
            self.arrived = time.time()
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            req = ReplayRequest(self.command, parts.path, query, self.headers, body, {}, server)
            if parts.path.startswith("/_replay/"):
                self._send(server._control(req), truncate=False)
                return
            faults = server._take_faults(parts.path, query)
            delay = sum(f.latency for f in faults)
            if delay:
                time.sleep(delay)
            hang = next((f.hang for f in faults if f.hang), None)
            if hang:
                self._record(req, 0)
                time.sleep(hang)
                self.close_connection = True
                return
            replacing = next((f for f in faults if f.status is not None), None)
            if replacing is not None:
                resp = server._fault_finish(
                    parts.path,
                    ReplayResponse(
                        replacing.status,
                        replacing.body.encode(),
                        {"Content-Type": "application/json", **replacing.headers},
                    ),
                )
            else:
                resp = server._dispatch(req)
            self._record(req, resp.status)
            self._send(resp, truncate=any(f.truncate for f in faults))

        def _record(self, req: ReplayRequest, status: int) -> None:
            entry = LoggedRequest(
                req.method,
                req.path,
                req.query,
                dict(req.headers.items()),
                status,
                at=time.time(),
                arrived=self.arrived,
            )
            with server._lock:
                server.log.append(entry)

        def _send(self, resp: ReplayResponse, *, truncate: bool) -> None:
            self.send_response(resp.status)
            for name, value in resp.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            if self.command == "HEAD":
                return
            if truncate:
                self.wfile.write(resp.body[: len(resp.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(resp.body)

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            except (BrokenPipeError, ConnectionResetError) as exc:
                # The client gave up waiting (its timeout) or went away: what an upstream
                # notes in passing, not a traceback in the log of whoever runs the replay.
                log.info("replay: the client left before its answer was sent (%s)", exc)
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    return _Handler


def replay_server_build(host: str = "127.0.0.1", port: int = 0) -> ReplayServer:
    """A server with every app's upstream mounted (each app's ``replay.register``)."""
    server = ReplayServer(host, port)
    for app in apps.get_app_configs():
        if app.name != "lenny" and module_has_submodule(app.module, "replay"):
            module = import_module(f"{app.name}.replay")
            if hasattr(module, "register"):
                module.register(server)
    return server


def upstream_settings(base_url: str) -> dict[str, str]:
    """The settings that point Lenny at a replay server at ``base_url``."""
    return {
        "ESI_BASE_URL": f"{base_url}/esi",
        "EVE_SSO_BASE_URL": f"{base_url}/sso",
        "EVE_IMAGE_BASE_URL": f"{base_url}/images",
        "SCRYFALL_BASE_URL": f"{base_url}/scryfall",
        "LENNY_SDE_URL": f"{base_url}/sde",
    }
