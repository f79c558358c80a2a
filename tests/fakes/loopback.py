"""A web server on 127.0.0.1 with scripted answers per path, for every test that fetches from one.

It stands in for the public sites pixelflow fetches from (an image origin, a webhook receiver),
which a test cannot reach. ``routes[path]`` (the path without its query) is one of:

- an ``Answer``: status, headers and a body (bytes, or an iterable of chunks streamed as they come);
- a callable taking the ``Received`` request and returning an ``Answer``;
- a ``Raw`` writer, for what no well-behaved server sends (a trickle, a stall, not HTTP at all).

Unknown paths answer 404. Every request is recorded in ``seen`` (``received(path)`` filters it by
the full path, query included), and ``hits`` counts accepted connections, request or not. Long
answers wait on ``stopping``, so stopping the server never waits for them.
"""

from __future__ import annotations

import dataclasses
import http.server
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterable
from email.message import Message
from typing import BinaryIO


@dataclasses.dataclass
class Answer:
    """What a route answers: status, headers, body (bytes or chunks), after ``delay`` seconds."""

    status: int = 200
    headers: dict = dataclasses.field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    delay: float = 0.0


@dataclasses.dataclass(frozen=True)
class Raw:
    """A route that writes the response bytes itself: ``write(out, stopping)``."""

    write: Callable[[BinaryIO, threading.Event], None]


@dataclasses.dataclass(frozen=True)
class Received:
    """One request as the server read it; ``headers`` answers None for a header that was not sent."""

    method: str
    path: str
    headers: Message
    body: bytes


Route = Answer | Raw | Callable[[Received], Answer]
NOT_FOUND = Answer(404, {"Content-Type": "text/plain"}, b"not found")


class LoopbackServer:
    """An HTTP (or, given a TLS context, HTTPS) server on an ephemeral port of 127.0.0.1.

    Use it as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(self, tls_context: ssl.SSLContext | None = None):
        self.routes: dict[str, Route] = {}
        self.seen: list[Received] = []
        self.hits = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        if tls_context is not None:
            self._httpd.socket = tls_context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/", scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def received(self, path: str | None = None) -> list[Received]:
        """The requests so far, or those for exactly ``path`` (query included)."""
        with self._lock:
            return [item for item in self.seen if path is None or item.path == path]

    def start(self) -> LoopbackServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"loopback-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _record(self, request: Received) -> Route:
        with self._lock:
            self.seen.append(request)
            return self.routes.get(request.path.split("?", 1)[0], NOT_FOUND)

    def _count_connection(self) -> None:
        with self._lock:
            self.hits += 1


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: LoopbackServer

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)  # skips HTTPServer's reverse DNS lookup
        self.server_name, self.server_port = self.server_address[:2]

    def verify_request(self, request, client_address) -> bool:
        self.owner._count_connection()
        return True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args):
        pass

    def do_GET(self):
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        request = Received(self.command, self.path, self.headers, self.rfile.read(length) if length else b"")
        route = owner._record(request)
        try:
            if isinstance(route, Raw):
                route.write(self.wfile, owner.stopping)
            else:
                self._answer(route(request) if callable(route) else route, owner.stopping)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up, as a capped or timed-out fetch does
        self.close_connection = True

    do_POST = do_HEAD = do_PUT = do_GET

    def _answer(self, answer: Answer, stopping: threading.Event) -> None:
        if answer.delay and stopping.wait(answer.delay):
            return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if isinstance(answer.body, bytes) and not any(name.lower() == "content-length" for name in answer.headers):
            self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        for chunk in [answer.body] if isinstance(answer.body, bytes) else answer.body:
            self.wfile.write(chunk)
