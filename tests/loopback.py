"""A real HTTP server on 127.0.0.1 for crawler tests, with a request log and fault injection.

Routes map a path to a function of the query that returns a `Reply`. `Faults` makes a
seeded share of requests fail the way real servers do (5xx, 429 with Retry-After, slow
answers past the client's timeout, bodies cut short, an HTML challenge page instead of
JSON), never more than `max_in_a_row` times in a row for one URL, so a crawl with
enough retries always completes.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CHALLENGE_HTML = (
    b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
    b"<body>Checking your browser before accessing the site.</body></html>"
)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


Query = dict[str, str]
Route = Callable[[Query], Reply]


@dataclass
class Faults:
    """Which requests fail, and how."""

    rate: float = 0.3
    kinds: tuple[str, ...] = ("500", "503", "429", "slow", "truncated")
    slow_s: float = 1.0
    max_in_a_row: int = 2
    seed: int = 0
    injected: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._streak: Counter = Counter()
        self._lock = threading.Lock()

    def pick(self, url: str) -> str | None:
        with self._lock:
            if self._streak[url] < self.max_in_a_row and self._rng.random() < self.rate:
                self._streak[url] += 1
                kind = self._rng.choice(self.kinds)
                self.injected[kind] += 1
                return kind
            self._streak[url] = 0
            return None


class LoopbackServer:
    """Serves `routes` on an ephemeral loopback port in a background thread."""

    def __init__(self, routes: dict[str, Route], faults: Faults | None = None) -> None:
        self.routes = routes
        self.faults = faults
        self.log: list[str] = []  # every request's path?query, in order
        self.headers: list[dict[str, str]] = []  # and its headers
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        # A short poll interval: shutting down waits for the next poll.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def hits(self, path: str) -> int:
        """How many requests went to `path` (any query)."""
        return sum(1 for entry in self.log if urlsplit(entry).path == path)

    def _reply(self, raw_path: str) -> tuple[Reply, str | None]:
        self.log.append(raw_path)
        parts = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        route = self.routes.get(parts.path)
        if route is None:
            return Reply(404, b"not found"), None
        fault = self.faults.pick(raw_path) if self.faults else None
        return route(query), fault

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.headers.append(dict(self.headers.items()))
                reply, fault = server._reply(self.path)
                if fault in ("500", "503"):
                    reply = Reply(int(fault), b"server error")
                elif fault == "429":
                    reply = Reply(429, b"slow down", headers={"Retry-After": "1"})
                elif fault == "challenge":
                    reply = Reply(200, CHALLENGE_HTML, "text/html; charset=utf-8")
                elif fault == "slow":
                    time.sleep(server.faults.slow_s)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                body = reply.body[: len(reply.body) // 2] if fault == "truncated" else reply.body
                # The client may have given up already (a timeout): nothing to do then.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)
                if fault == "truncated":
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output clean; `server.log` records requests

        return Handler
