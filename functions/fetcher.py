"""Fetch a URL from the public internet without letting it reach into our own network.

Used to import images from user-supplied URLs and to deliver webhooks. Before any packet
is sent, each hop is checked: http or https only, no credentials in the URL, and every
address the host resolves to must be public. The connection then goes to that checked
address (no second DNS lookup, so DNS rebinding cannot swap it), speaking HTTP/1.1 through
http.client with the original Host header and, for https, SNI and certificate checks
against the original host name. Redirects go through the same check.

Expected failures raise ``FetchRefused`` with one of these codes:

- ``url_invalid``: the URL cannot be read (no scheme, no host, bad port, bad characters).
- ``url_forbidden``: not http(s), credentials in the URL, a non-public address, or more
  than ``max_redirects`` redirects.
- ``url_unreachable``: DNS failure, connection refused, TLS failure, a broken HTTP reply,
  or a status outside ``accept_status`` (then ``status`` is set).
- ``url_timeout``: connect or read timeout, or the overall deadline passed.
- ``url_too_large``: the body (announced or actually sent) is over ``max_bytes``.
- ``url_not_image``: ``expect_image=True`` and the Content-Type is not ``image/*``.

Messages name only the origin (``scheme://host:port``), never the path, query or
credentials, since those often carry tokens.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Container
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, urljoin, urlsplit

from functions.errors import PixelflowError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "pixelflow-fetcher/1.0"

_DEFAULT_PORTS = {"http": 80, "https": 443}
_READ_CHUNK = 64 * 1024
_MAX_URL_LENGTH = 8192
# Headers the fetcher must control itself: framing and the host it actually connects to.
_CONTROLLED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})

_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?")
# A last label like this makes the host an IPv4 address in inet_aton's loose syntax
# (2130706433, 0177.0.0.1, 0x7f.1), as browsers read it too; it must never go to DNS.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"

_FORBIDDEN_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network", includes the unspecified address
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, includes the cloud metadata endpoint
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes broadcast 255.255.255.255
    )
)
# Only 2000::/3 is global unicast; everything else (::, ::1, fc00::/7, fe80::/10,
# fec0::/10, ff00::/8, ...) is refused by that rule alone.
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_FORBIDDEN_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "2001::/23",  # IETF protocol assignments, includes Teredo 2001::/32
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
    )
)
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
# Local-use NAT64 prefixes only ever translate inside an operator's own network.
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for one fetch; the defaults suit importing an image from a public URL."""

    max_bytes: int = 25 * 1024 * 1024  # body cap, enforced while streaming
    connect_timeout: float = 5.0  # DNS lookup, TCP connect and TLS handshake, each
    read_timeout: float = 10.0  # longest silence on any single send or receive
    deadline_seconds: float = 30.0  # whole fetch, including redirects and slow bodies
    max_redirects: int = 3
    # "host" or "host:port" entries that skip the address check (never the scheme check),
    # so tests can serve from loopback. Matched against the URL's normalised host.
    allowed_hosts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Fetched:
    """A successful response: the final URL after redirects and the whole body."""

    url: str
    status: int
    content_type: str | None  # media type only, lower case, without parameters
    body: bytes


class FetchRefused(PixelflowError):
    """An expected fetch failure; ``code`` says which, ``message`` says it to a person."""

    def __init__(self, code: str, message: str, *, status: int | None = None):
        super().__init__(message, code=code)
        self.status = status  # the HTTP status when the server answered with one


def is_forbidden_address(ip: IPAddress) -> bool:
    """Whether ``ip`` is anything but a public internet address (embedded IPv4 checked too)."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return is_forbidden_address(embedded)
    if ip.version == 4:
        return any(ip in net for net in _FORBIDDEN_V4) or not ip.is_global
    return (
        ip not in _GLOBAL_UNICAST_V6
        or ip in _NAT64_LOCAL_USE
        or any(ip in net for net in _FORBIDDEN_V6)
        or not ip.is_global
    )


def check_url(
    url: str, policy: FetchPolicy, *, timeout: float | None = None
) -> tuple[SplitResult, list[IPAddress]]:
    """Validate ``url`` and resolve its host once; return the normalised URL and its checked addresses.

    ``timeout`` bounds the DNS lookup (default ``policy.connect_timeout``).
    """
    parsed = _normalise(url)
    host, port = parsed.hostname, _port(parsed)
    allowed = _is_allowed(host, port, policy)
    literal = _ip_literal(host)
    if literal is not None:
        addresses = [literal]
    elif not allowed and _names_this_machine(host):
        raise FetchRefused(
            "url_forbidden", f"{_origin(parsed)} names this machine; only public addresses can be fetched."
        )
    else:
        addresses = _resolve(host, port, policy.connect_timeout if timeout is None else timeout, parsed)
    if not allowed and any(is_forbidden_address(ip) for ip in addresses):
        raise FetchRefused(
            "url_forbidden",
            f"{_origin(parsed)} points to a private or reserved network address; "
            "only public addresses can be fetched.",
        )
    return parsed, addresses


def fetch(
    url: str,
    policy: FetchPolicy,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    accept_status: Container[int] = range(200, 300),
    expect_image: bool = False,
) -> Fetched:
    """Fetch ``url`` within ``policy``, following up to ``max_redirects`` redirects through the same checks.

    Raises ``FetchRefused`` for every expected failure, and ``ValueError`` for a caller bug:
    ``headers`` setting Host, Content-Length, Transfer-Encoding or Connection, or holding CR/LF.
    """
    caller_headers = dict(headers or {})
    for name in caller_headers:
        if name.lower() in _CONTROLLED_HEADERS:
            raise ValueError(f"fetch() sets the {name} header itself")
    clock = _Clock(time.monotonic() + policy.deadline_seconds)
    redirects = 0
    while True:
        parsed, addresses = _checked(url, policy, clock)
        request_headers = _request_headers(caller_headers, expect_image)
        with _Exchange(parsed, addresses, policy, clock) as exchange:
            response = exchange.send(method, body, request_headers)
            location = response.getheader("Location")
            if response.status in REDIRECT_STATUSES and location:
                if redirects >= policy.max_redirects:
                    raise FetchRefused(
                        "url_forbidden",
                        f"{_origin(parsed)} redirected more than {policy.max_redirects} times.",
                        status=response.status,
                    )
                redirects += 1
                next_url = _redirect_target(parsed, location)
                method, body = _method_after_redirect(response.status, method, body)
                if _origin(_normalise(next_url)) != _origin(parsed):
                    caller_headers = {}  # never hand Authorization or signatures to another origin
                url = next_url
                continue
            return exchange.finish(accept_status, expect_image)


def _checked(url: str, policy: FetchPolicy, clock: _Clock) -> tuple[SplitResult, list[IPAddress]]:
    try:
        timeout = clock.budget(policy.connect_timeout)
    except _DeadlineExceeded:
        raise FetchRefused(
            "url_timeout", f"The fetch did not finish within the deadline of {policy.deadline_seconds:g} s."
        ) from None
    return check_url(url, policy, timeout=timeout)


def _method_after_redirect(status: int, method: str, body: bytes | None) -> tuple[str, bytes | None]:
    """303 always becomes GET; 301 and 302 turn POST into GET as every client does; 307 and 308 repeat."""
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        return "GET", None
    return method, body


def _request_headers(caller_headers: dict[str, str], expect_image: bool) -> dict[str, str]:
    merged = {
        "User-Agent": USER_AGENT,
        "Accept": "image/*" if expect_image else "*/*",
        "Accept-Encoding": "identity",  # the cap is on the bytes we keep, so no decompression
        "Connection": "close",
    }
    for name, value in caller_headers.items():
        for default in [d for d in merged if d.lower() == name.lower()]:
            del merged[default]
        merged[name] = value
    return merged


def _redirect_target(parsed: SplitResult, location: str) -> str:
    try:
        # http.client decodes headers as latin-1; servers that send raw UTF-8 mean UTF-8.
        location = location.strip().encode("latin-1").decode("utf-8")
    except UnicodeError:
        pass
    try:
        return urljoin(parsed.geturl(), location)
    except ValueError:
        raise FetchRefused("url_invalid", f"{_origin(parsed)} redirected to an invalid URL.") from None


class _Exchange:
    """One request and response on a connection pinned to checked addresses."""

    def __init__(self, parsed: SplitResult, addresses: list[IPAddress], policy: FetchPolicy, clock: _Clock):
        self._parsed = parsed
        self._origin = _origin(parsed)
        self._policy = policy
        self._clock = clock
        opener = _SocketOpener(addresses, _port(parsed), policy, clock, self._origin)
        if parsed.scheme == "https":
            self._connection = _PinnedHTTPSConnection(parsed.hostname, _port(parsed), opener=opener)
        else:
            self._connection = _PinnedHTTPConnection(parsed.hostname, _port(parsed), opener=opener)
        self._response: http.client.HTTPResponse | None = None

    def __enter__(self) -> _Exchange:
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
        chunks, size = [], 0
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

    def __init__(self, origin: str, policy: FetchPolicy, clock: _Clock):
        self._origin, self._policy, self._clock = origin, policy, clock

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if error is None or isinstance(error, FetchRefused):
            return False
        origin = self._origin
        if isinstance(error, _DeadlineExceeded) or (isinstance(error, TimeoutError) and self._clock.expired()):
            raise FetchRefused("url_timeout", _deadline_message(origin, self._policy)) from None
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
        return False


class _Clock:
    """The overall deadline of one fetch, shared by every hop."""

    def __init__(self, deadline: float):
        self._deadline = deadline

    def expired(self) -> bool:
        return time.monotonic() >= self._deadline

    def budget(self, cap: float) -> float:
        """Seconds the next operation may take: ``cap``, or less if the deadline is nearer."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise _DeadlineExceeded()
        return min(cap, remaining)


class _DeadlineExceeded(Exception):
    """Raised inside socket operations once the overall deadline has passed."""


class _SocketOpener:
    """Connects to the first reachable checked address; never resolves anything itself."""

    def __init__(self, addresses: list[IPAddress], port: int, policy: FetchPolicy, clock: _Clock, origin: str):
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
        super().__init__(host, port, context=ssl.create_default_context())
        self._opener = opener

    def connect(self) -> None:
        raw = self._opener.open()
        try:
            raw.settimeout(self._opener.handshake_budget())  # bounds the whole handshake
            tls = self._context.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise
        self.sock = self._opener.bounded(tls)


class _BoundedSocket:
    """A connected socket whose every send and receive stops at the read timeout or the deadline."""

    def __init__(self, sock: socket.socket, clock: _Clock, op_timeout: float):
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

    def __init__(self, raw: io.RawIOBase, sock: socket.socket, clock: _Clock, op_timeout: float):
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


def _normalise(url: str) -> SplitResult:
    """Parse ``url`` strictly and return it with a canonical scheme, host, port and quoting."""
    if not isinstance(url, str):
        raise FetchRefused("url_invalid", "The URL must be text.")
    url = url.strip()
    if not url:
        raise FetchRefused("url_invalid", "The URL is empty.")
    if len(url) > _MAX_URL_LENGTH:
        raise FetchRefused("url_invalid", f"The URL is longer than {_MAX_URL_LENGTH} characters.")
    # Browsers read a backslash as a slash, so it could move the host; control characters could split the request.
    if "\\" in url or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise FetchRefused("url_invalid", "The URL contains characters that are not allowed.")
    try:
        parts = urlsplit(url)
        explicit_port = parts.port
    except ValueError:
        raise FetchRefused("url_invalid", "The URL is not valid.") from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise FetchRefused("url_invalid", "The URL must start with http:// or https://.")
    if scheme not in _DEFAULT_PORTS:
        raise FetchRefused("url_forbidden", f"Only http and https URLs can be fetched, not {scheme}: URLs.")
    if "@" in parts.netloc:
        raise FetchRefused("url_forbidden", "URLs with a user name or password are not accepted.")
    if not parts.hostname:
        raise FetchRefused("url_invalid", "The URL has no host.")
    if explicit_port == 0:
        raise FetchRefused("url_invalid", "The URL's port must be between 1 and 65535.")
    host = _normalise_host(parts.hostname)
    netloc = f"[{host}]" if ":" in host else host
    if explicit_port is not None and explicit_port != _DEFAULT_PORTS[scheme]:
        netloc += f":{explicit_port}"
    path = quote(parts.path, safe=_PATH_SAFE) or "/"
    return SplitResult(scheme, netloc, path, quote(parts.query, safe=_QUERY_SAFE), "")


def _normalise_host(host: str) -> str:
    if ":" in host:  # it was in brackets, so it must be an IPv6 literal
        try:
            if "%" in host:
                raise ValueError("zone identifiers only make sense on this machine's own links")
            return str(ipaddress.IPv6Address(host))
        except ValueError:
            raise FetchRefused("url_invalid", "The URL's host is not a valid IPv6 address.") from None
    try:
        # IDNA also folds full-width digits and dots, so this comes before the numeric check.
        name = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise FetchRefused("url_invalid", "The URL's host name is not valid.") from None
    if len(name) > 253 or not _HOST_NAME.fullmatch(name):
        raise FetchRefused("url_invalid", "The URL's host name is not valid.")
    bare = name.rstrip(".")
    if _NUMERIC_LABEL.fullmatch(bare.rsplit(".", 1)[-1]):
        try:
            return str(ipaddress.IPv4Address(socket.inet_aton(bare)))
        except OSError:
            raise FetchRefused("url_invalid", "The URL's host is not a valid IPv4 address.") from None
    return name


def _resolve(host: str, port: int, timeout: float, parsed: SplitResult) -> list[IPAddress]:
    """Every address ``host`` resolves to, looked up once, within ``timeout`` seconds."""
    outcome: dict = {}

    def lookup() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        except BaseException as error:  # handed to the waiting thread below
            outcome["error"] = error

    # getaddrinfo has no timeout of its own; a daemon thread lets the deadline win.
    worker = threading.Thread(target=lookup, name="fetcher-dns", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise FetchRefused("url_timeout", f"Looking up {_origin(parsed)} took longer than {timeout:g} s.")
    error = outcome.get("error")
    if isinstance(error, (OSError, UnicodeError)):
        raise FetchRefused("url_unreachable", f"Could not resolve {_origin(parsed)}.")
    if error is not None:
        raise error
    addresses: list[IPAddress] = []
    for family, _type, _proto, _canonname, sockaddr in outcome["infos"]:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = ipaddress.ip_address(sockaddr[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise FetchRefused("url_unreachable", f"Could not resolve {_origin(parsed)}.")
    return addresses


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, compatible, 6to4, NAT64), if any."""
    if ip.version == 4:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64_WELL_KNOWN or ip in _IPV4_COMPATIBLE:  # :: and ::1 map into 0.0.0.0/8
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _names_this_machine(host: str) -> bool:
    # RFC 6761: localhost and its subdomains are this machine, so they need no lookup to refuse.
    name = host.rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_allowed(host: str, port: int, policy: FetchPolicy) -> bool:
    if not policy.allowed_hosts:
        return False
    bracketed = f"[{host}]" if ":" in host else host
    entries = {entry.lower() for entry in policy.allowed_hosts}
    return not entries.isdisjoint({host, bracketed, f"{bracketed}:{port}"})


def _port(parsed: SplitResult) -> int:
    return parsed.port or _DEFAULT_PORTS[parsed.scheme]


def _origin(parsed: SplitResult) -> str:
    return f"{parsed.scheme}://{parsed.netloc}"


def _deadline_message(origin: str, policy: FetchPolicy) -> str:
    return f"{origin} did not finish within the deadline of {policy.deadline_seconds:g} s."


def _media_type(header: str | None) -> str | None:
    media_type = (header or "").split(";", 1)[0].strip().lower()
    return media_type or None
