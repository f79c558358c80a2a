"""Fetch a URL from the public internet without letting it reach into our own network.

Used to import images from user-supplied URLs and to deliver webhooks. The contract, one
module per layer, each depending only on the ones above it:

- ``policy``: ``FetchPolicy`` (limits and the test allow list), ``Fetched`` (the result) and
  ``FetchRefused`` (every expected failure, with a code).
- ``url_forms``: what a URL may look like: http or https, no credentials, a readable host;
  ``normalise`` gives the canonical form the fetcher uses, ``validate_url`` the stricter form
  a URL in a request must have.
- ``addresses``: which addresses may be reached (the SSRF rules); ``check_url`` resolves a
  host once and returns only checked addresses.
- ``transport``: one HTTP/1.1 exchange pinned to a checked address, bounded in time and size.
- ``client``: the public ``fetch``, following redirects through the same checks.

``FetchRefused`` codes:

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


from typing import TYPE_CHECKING, Any

from functions.fetcher.policy import REDIRECT_STATUSES, Fetched, FetchPolicy, FetchRefused

if TYPE_CHECKING:
    from functions.fetcher.client import fetch

__all__ = ["REDIRECT_STATUSES", "FetchPolicy", "FetchRefused", "Fetched", "fetch"]


def __getattr__(name: str) -> Any:
    # ``fetch`` loads the transport (http.client, ssl) on first use: HTTP functions only check URL forms.
    if name == "fetch":
        from functions.fetcher.client import fetch

        return fetch
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
