"""The public ``fetch``: each hop checked by the address policy, sent over the pinned transport.

Redirects go through the same checks as the first URL; caller headers never follow a redirect
to another origin.
"""

from __future__ import annotations

import time
from collections.abc import Container
from urllib.parse import SplitResult, urljoin

from functions.fetcher.addresses import IPAddress, check_url
from functions.fetcher.policy import REDIRECT_STATUSES, Fetched, FetchPolicy, FetchRefused
from functions.fetcher.transport import Clock, DeadlineExceeded, Exchange
from functions.fetcher.url_forms import normalise, origin

USER_AGENT = "pixelflow-fetcher/1.0"
# Headers the fetcher must control itself: framing and the host it actually connects to.
_CONTROLLED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


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
    clock = Clock(time.monotonic() + policy.deadline_seconds)
    redirects = 0
    while True:
        parsed, addresses = _checked(url, policy, clock)
        request_headers = _request_headers(caller_headers, expect_image)
        with Exchange(parsed, addresses, policy, clock) as exchange:
            response = exchange.send(method, body, request_headers)
            location = response.getheader("Location")
            if response.status in REDIRECT_STATUSES and location:
                if redirects >= policy.max_redirects:
                    raise FetchRefused(
                        "url_forbidden",
                        f"{origin(parsed)} redirected more than {policy.max_redirects} times.",
                        status=response.status,
                    )
                redirects += 1
                next_url = _redirect_target(parsed, location)
                method, body = _method_after_redirect(response.status, method, body)
                if origin(normalise(next_url)) != origin(parsed):
                    caller_headers = {}  # never hand Authorization or signatures to another origin
                url = next_url
                continue
            return exchange.finish(accept_status, expect_image)


def _checked(url: str, policy: FetchPolicy, clock: Clock) -> tuple[SplitResult, list[IPAddress]]:
    try:
        timeout = clock.budget(policy.connect_timeout)
    except DeadlineExceeded:
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
        raise FetchRefused("url_invalid", f"{origin(parsed)} redirected to an invalid URL.") from None
