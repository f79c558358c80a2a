"""Pinned transport: one HTTP/1.1 exchange with a checked address, bounded in time and size.

The connection goes to an address the address policy already checked (no second DNS lookup),
speaking HTTP/1.1 through http.client with the URL's own Host header and, for https, SNI and
certificate checks against the URL's host name. Every send and receive stops at the read
timeout or the fetch's overall deadline; socket, TLS and HTTP errors become ``FetchRefused``.
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import time
from collections.abc import Container
from urllib.parse import SplitResult

from functions.fetcher.addresses import IPAddress
from functions.fetcher.policy import Fetched, FetchPolicy, FetchRefused, deadline_message
from functions.fetcher.url_forms import host, origin, port

_READ_CHUNK = 64 * 1024


class Exchange:
    """One request and response on a connection pinned to checked addresses."""

    def __init__(self, parsed: SplitResult, addresses: list[IPAddress], policy: FetchPolicy, clock: Clock):
        self._parsed = parsed
        self._origin = origin(parsed)
        self._policy = policy
        self._clock = clock
        opener = _SocketOpener(addresses, port(parsed), policy, clock, self._origin)
        pinned = _PinnedHTTPSConnection if parsed.scheme == "https" else _PinnedHTTPConnection
        self._connection: http.client.HTTPConnection = pinned(host(parsed), port(parsed), opener=opener)
        self._response: http.client.HTTPResponse | None = None

    def __enter__(self) -> Exchange:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._response is not None:
            self._response.close()
        self._connection.close()

    def send(self, method: str, body: bytes | None, headers: dict[str, str]) -> http.client.HTTPResponse:
        target = self._parsed.path + (f"?{self._parsed.query}" if self._parsed.query else "")
        with self._failures():
            self._connection.request(method, target, body=body, headers=headers)
            self._response = self._connection.getresponse()
        return self._response

    def finish(self, accept_status: Container[int], expect_image: bool) -> Fetched:
        response = self._response
        if response is None:
            raise RuntimeError("finish() comes after send()")
        if response.status not in accept_status:
            raise FetchRefused(
                "url_unreachable", f"{self._origin} answered with HTTP {response.status}.", status=response.status
            )
        content_type = _media_type(response.getheader("Content-Type"))
        if expect_image and not (content_type or "").startswith("image/"):
            raise FetchRefused(
                "url_not_image", f"{self._origin} sent {content_type or 'no content type'}, not an image."
            )
        limit = self._policy.max_bytes
        if response.length is not None and response.length > limit:
            raise FetchRefused(
                "url_too_large", f"{self._origin} announced {response.length} bytes; the limit is {limit}."
            )
        with self._failures():
            body = self._read_body(response, limit)
        return Fetched(url=self._parsed.geturl(), status=response.status, content_type=content_type, body=body)

    def _read_body(self, response: http.client.HTTPResponse, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            # Ask for one byte past the cap so an oversized body is noticed, never more.
            chunk = response.read(min(_READ_CHUNK, limit + 1 - size))
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > limit:
                raise FetchRefused("url_too_large", f"{self._origin} sent more than {limit} bytes.")
            chunks.append(chunk)

    def _failures(self) -> _FailureTranslation:
        return _FailureTranslation(self._origin, self._policy, self._clock)


class _FailureTranslation:
    """Turn socket, TLS and HTTP errors raised inside the block into FetchRefused."""

    def __init__(self, origin: str, policy: FetchPolicy, clock: Clock):
        self._origin, self._policy, self._clock = origin, policy, clock

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> None:
        if error is None or isinstance(error, FetchRefused):
            return
        origin = self._origin
        if isinstance(error, DeadlineExceeded) or (isinstance(error, TimeoutError) and self._clock.expired()):
            raise FetchRefused("url_timeout", deadline_message(origin, self._policy)) from None
        if isinstance(error, TimeoutError):
            raise FetchRefused("url_timeout", f"{origin} sent nothing for {self._policy.read_timeout:g} s.") from None
        if isinstance(error, ssl.SSLCertVerificationError):
            raise FetchRefused(
                "url_unreachable", f"The TLS certificate of {origin} is not valid: {error.verify_message}."
            ) from None
        if isinstance(error, ssl.SSLError):
            raise FetchRefused("url_unreachable", f"The TLS handshake with {origin} failed.") from None
        if isinstance(error, http.client.HTTPException):
            raise FetchRefused("url_unreachable", f"{origin} sent an invalid HTTP response.") from None
        if isinstance(error, OSError):
            raise FetchRefused("url_unreachable", f"The connection to {origin} failed.") from None


class Clock:
    """The overall deadline of one fetch, shared by every hop."""

    def __init__(self, deadline: float):
        self._deadline = deadline

    def expired(self) -> bool:
        return time.monotonic() >= self._deadline

    def budget(self, cap: float) -> float:
        """Seconds the next operation may take: ``cap``, or less if the deadline is nearer."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded()
        return min(cap, remaining)


class DeadlineExceeded(Exception):
    """Raised inside socket operations once the overall deadline has passed."""


class _SocketOpener:
    """Connects to the first reachable checked address; never resolves anything itself."""

    def __init__(self, addresses: list[IPAddress], port: int, policy: FetchPolicy, clock: Clock, origin: str):
        self._addresses, self._port = addresses, port
        self._policy, self._clock, self._origin = policy, clock, origin

    def open(self) -> socket.socket:
        timed_out = False
        for ip in self._addresses:
            family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(self._clock.budget(self._policy.connect_timeout))
                sock.connect((str(ip), self._port))
                return sock
            except OSError as error:
                sock.close()
                timed_out = timed_out or isinstance(error, TimeoutError)
            except BaseException:
                sock.close()
                raise
        if timed_out:
            raise FetchRefused("url_timeout", f"Connecting to {self._origin} timed out.")
        raise FetchRefused("url_unreachable", f"Could not connect to {self._origin}.")

    def bounded(self, sock: socket.socket) -> _BoundedSocket:
        return _BoundedSocket(sock, self._clock, self._policy.read_timeout)

    def handshake_budget(self) -> float:
        return self._clock.budget(self._policy.connect_timeout)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a socket to a checked address; Host still names the URL's host."""

    def __init__(self, host: str, port: int, *, opener: _SocketOpener):
        super().__init__(host, port)
        self._opener = opener

    def connect(self) -> None:
        self.sock = self._opener.bounded(self._opener.open())


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS over a socket to a checked address, verifying the certificate for the URL's host."""

    def __init__(self, host: str, port: int, *, opener: _SocketOpener):
        self._tls = ssl.create_default_context()
        super().__init__(host, port, context=self._tls)
        self._opener = opener

    def connect(self) -> None:
        raw = self._opener.open()
        try:
            raw.settimeout(self._opener.handshake_budget())  # bounds the whole handshake
            tls = self._tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise
        self.sock = self._opener.bounded(tls)


class _BoundedSocket:
    """A connected socket whose every send and receive stops at the read timeout or the deadline."""

    def __init__(self, sock: socket.socket, clock: Clock, op_timeout: float):
        self._sock, self._clock, self._op_timeout = sock, clock, op_timeout

    def sendall(self, data) -> None:
        self._sock.settimeout(self._clock.budget(self._op_timeout))
        self._sock.sendall(data)

    def makefile(self, mode: str = "r", *args, **kwargs) -> io.BufferedReader:
        if mode != "rb":
            raise ValueError("only binary reading is bounded")  # all http.client asks for
        # The socket's own file keeps the descriptor open after http.client closes the
        # connection object, which it does as soon as it sees "Connection: close".
        raw = self._sock.makefile("rb", buffering=0)
        return io.BufferedReader(_BoundedReader(raw, self._sock, self._clock, self._op_timeout))

    def close(self) -> None:
        self._sock.close()

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _BoundedReader(io.RawIOBase):
    """Raw reads that re-check the deadline before every receive, so a trickle cannot outlast it."""

    def __init__(self, raw: io.RawIOBase, sock: socket.socket, clock: Clock, op_timeout: float):
        super().__init__()
        self._raw, self._sock, self._clock, self._op_timeout = raw, sock, clock, op_timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self._sock.settimeout(self._clock.budget(self._op_timeout))
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


def _media_type(header: str | None) -> str | None:
    media_type = (header or "").split(";", 1)[0].strip().lower()
    return media_type or None
