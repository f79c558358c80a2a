"""The local WebSocket gateway's addresses: what this machine puts in a URL for the host it binds."""

import pytest

from functions.local.live import url_host


@pytest.mark.parametrize("host, expected", [
    ("0.0.0.0", "127.0.0.1"),   # bound everywhere: reached on loopback, never at 0.0.0.0
    ("", "127.0.0.1"),
    ("::", "[::1]"),
    ("127.0.0.1", "127.0.0.1"),
    ("192.0.2.7", "192.0.2.7"),
    ("::1", "[::1]"),
    ("localhost", "localhost"),
])
def test_given_a_bind_host_then_urls_name_an_address_a_client_can_open(host, expected):
    assert url_host(host) == expected
