"""What a URL may look like: the forms the fetcher reads, and the stricter form API input must have.

Only the form is checked here; where a URL points is the address policy's question, asked
when it is fetched (DNS can change between the two).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any
from urllib.parse import SplitResult, quote, urlsplit

from functions.errors import InvalidInput
from functions.fetcher.policy import FetchRefused

DEFAULT_PORTS = {"http": 80, "https": 443}
# A URL a user hands us (callback_url, an import's url) is kept short; a redirect target may be longer.
MAX_INPUT_URL_LENGTH = 2048
MAX_URL_LENGTH = 8192

_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?")
# A last label like this makes the host an IPv4 address in inet_aton's loose syntax
# (2130706433, 0177.0.0.1, 0x7f.1), as browsers read it too; it must never go to DNS.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def validate_url(value: Any, field: str) -> str:
    """An absolute http(s) URL of at most 2048 characters, or InvalidInput naming ``field``.

    For URLs in requests (imports, callback_url); returns the URL as given, stripped.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must not be empty.", field=field)
    url = value.strip()
    if len(url) > MAX_INPUT_URL_LENGTH:
        raise InvalidInput(
            f"{field} must be at most {MAX_INPUT_URL_LENGTH} characters.", code="url_invalid", field=field
        )
    if "\\" in url or any(char.isspace() or not char.isprintable() for char in url):
        raise InvalidInput(
            f"{field} contains characters that are not allowed in a URL.", code="url_invalid", field=field
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number in range)
    except ValueError:
        raise InvalidInput(f"{field} is not a valid URL.", code="url_invalid", field=field) from None
    if parts.scheme.lower() not in DEFAULT_PORTS:
        raise InvalidInput(f"{field} must be an http or https URL.", code="url_forbidden", field=field)
    if "@" in parts.netloc:
        raise InvalidInput(f"{field} must not contain a user name or password.", code="url_forbidden", field=field)
    if not parts.hostname:
        raise InvalidInput(f"{field} has no host.", code="url_invalid", field=field)
    return url


def normalise(url: str) -> SplitResult:
    """Parse ``url`` strictly and return it with a canonical scheme, host, port and quoting."""
    if not isinstance(url, str):
        raise FetchRefused("url_invalid", "The URL must be text.")
    url = url.strip()
    if not url:
        raise FetchRefused("url_invalid", "The URL is empty.")
    if len(url) > MAX_URL_LENGTH:
        raise FetchRefused("url_invalid", f"The URL is longer than {MAX_URL_LENGTH} characters.")
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
    if scheme not in DEFAULT_PORTS:
        raise FetchRefused("url_forbidden", f"Only http and https URLs can be fetched, not {scheme}: URLs.")
    if "@" in parts.netloc:
        raise FetchRefused("url_forbidden", "URLs with a user name or password are not accepted.")
    if not parts.hostname:
        raise FetchRefused("url_invalid", "The URL has no host.")
    if explicit_port == 0:
        raise FetchRefused("url_invalid", "The URL's port must be between 1 and 65535.")
    host = _normalise_host(parts.hostname)
    netloc = f"[{host}]" if ":" in host else host
    if explicit_port is not None and explicit_port != DEFAULT_PORTS[scheme]:
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


def host(parsed: SplitResult) -> str:
    """The host of a normalised URL (``normalise`` refuses URLs without one)."""
    return parsed.hostname or ""


def port(parsed: SplitResult) -> int:
    """The port a normalised URL connects to."""
    return parsed.port or DEFAULT_PORTS[parsed.scheme]


def origin(parsed: SplitResult) -> str:
    """``scheme://host:port``: all a message may name, since paths and queries often carry tokens."""
    return f"{parsed.scheme}://{parsed.netloc}"
