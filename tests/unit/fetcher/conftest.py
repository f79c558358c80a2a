"""The SSRF-safe fetcher, against real HTTP servers on 127.0.0.1.

Nothing here may leave this machine. Every URL is an IP literal, ``localhost`` or a
``.test`` name, and an autouse guard fails the test on any connection to a non-loopback
address and on any name lookup other than ``localhost``. The one fake is a stand-in
resolver for ``.test`` names, because checking what a name resolves to needs answers no
real resolver on this machine can give without asking the internet.
"""

import ipaddress
import socket

import pytest

from tests.fakes.loopback import Answer, LoopbackServer

# --- Guard: nothing leaves the machine -----------------------------------------------------------


class NetworkGuard:
    """Records lookups and connections; anything that could leave the machine fails the test."""

    def __init__(self):
        self.lookups: list[str] = []
        self.connects: list[tuple] = []
        self.fake_names: dict = {}  # name -> callable(port) returning getaddrinfo tuples

    def answer(self, name: str, *addresses: str, then=None) -> None:
        """Make ``name`` resolve to ``addresses``; ``then`` replaces the answer after the first lookup."""
        calls = []

        def resolve(port):
            calls.append(port)
            if then is not None and len(calls) > 1:
                return then(port)
            return [self.addrinfo(address, port) for address in addresses]

        self.fake_names[name] = resolve

    @staticmethod
    def addrinfo(address: str, port: int) -> tuple:
        """One getaddrinfo answer for ``address``."""
        ip = ipaddress.ip_address(address)
        if ip.version == 6:
            return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0))
        return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))


@pytest.fixture(autouse=True)
def guard(monkeypatch):
    net = NetworkGuard()
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def guarded_getaddrinfo(host, port, *args, **kwargs):
        net.lookups.append(host)
        if host in net.fake_names:
            return net.fake_names[host](port)
        if host == "localhost":
            return real_getaddrinfo(host, port, *args, **kwargs)
        raise AssertionError(f"the test tried to resolve {host!r}")

    def guarded_connect(sock, address):
        net.connects.append(address[:2])
        if not ipaddress.ip_address(address[0]).is_loopback:
            raise AssertionError(f"the test tried to connect to {address[0]}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    return net


# --- Local servers -------------------------------------------------------------------------------


@pytest.fixture
def remote():
    """The site being fetched from (named so as not to shadow the app's ``server`` fixture)."""
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def other_remote():
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def canary():
    """A loopback server never put on the allow list: every connection it accepts is a leak."""
    with LoopbackServer() as trap:
        trap.routes["/"] = Answer(200, {"Content-Type": "image/png"}, b"canary")
        yield trap
