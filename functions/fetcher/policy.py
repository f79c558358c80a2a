"""What a fetch may do and what it gives back: the policy, the result, and the expected failure."""

from __future__ import annotations

from dataclasses import dataclass

from functions.errors import PixelflowError

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


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


def deadline_message(origin: str, policy: FetchPolicy) -> str:
    return f"{origin} did not finish within the deadline of {policy.deadline_seconds:g} s."
