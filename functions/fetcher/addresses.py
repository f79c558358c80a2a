"""Which addresses may be reached: the SSRF rules.

Every address a host resolves to must be public (embedded IPv4 in IPv6 forms checked too);
``localhost`` names are refused without a lookup; the policy's ``allowed_hosts`` exempt
test servers from the address check, never from the URL-form check. ``check_url`` resolves
a host once and returns the addresses the transport must connect to, so DNS rebinding
cannot swap them afterwards.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from urllib.parse import SplitResult

from functions.fetcher.policy import FetchPolicy, FetchRefused
from functions.fetcher.url_forms import host, normalise, origin, port

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

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
    parsed = normalise(url)
    host_name, port_number = host(parsed), port(parsed)
    allowed = _is_allowed(host_name, port_number, policy)
    literal = _ip_literal(host_name)
    if literal is not None:
        addresses = [literal]
    elif not allowed and _names_this_machine(host_name):
        raise FetchRefused(
            "url_forbidden", f"{origin(parsed)} names this machine; only public addresses can be fetched."
        )
    else:
        addresses = resolve(host_name, port_number, policy.connect_timeout if timeout is None else timeout, parsed)
    if not allowed and any(is_forbidden_address(ip) for ip in addresses):
        raise FetchRefused(
            "url_forbidden",
            f"{origin(parsed)} points to a private or reserved network address; "
            "only public addresses can be fetched.",
        )
    return parsed, addresses


def resolve(host: str, port: int, timeout: float, parsed: SplitResult) -> list[IPAddress]:
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
        raise FetchRefused("url_timeout", f"Looking up {origin(parsed)} took longer than {timeout:g} s.")
    error = outcome.get("error")
    if isinstance(error, (OSError, UnicodeError)):
        raise FetchRefused("url_unreachable", f"Could not resolve {origin(parsed)}.")
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
        raise FetchRefused("url_unreachable", f"Could not resolve {origin(parsed)}.")
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
