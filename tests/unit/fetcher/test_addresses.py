"""The address policy: which addresses may be reached, checked before any packet is sent (see conftest's guard)."""

import ipaddress
import socket
import time

import pytest

from functions.fetcher import FetchPolicy, FetchRefused, fetch
from functions.fetcher.addresses import check_url, is_forbidden_address
from tests.unit.fetcher.routes import IMAGE, allowing, reply

# --- SSRF catalogue ------------------------------------------------------------------------------

SSRF_CATALOGUE = [
    ("http://127.0.0.1:{canary}/", "url_forbidden"),
    ("http://localhost:{canary}/", "url_forbidden"),
    ("http://foo.localhost:{canary}/", "url_forbidden"),
    ("http://2130706433:{canary}/", "url_forbidden"),
    ("http://0177.0.0.1:{canary}/", "url_forbidden"),
    ("http://0x7f.0.0.1:{canary}/", "url_forbidden"),
    ("http://0x7f000001:{canary}/", "url_forbidden"),
    ("http://017700000001:{canary}/", "url_forbidden"),
    ("http://127.1:{canary}/", "url_forbidden"),
    ("http://127.0.0.1.:{canary}/", "url_forbidden"),
    ("HTTP://127.0.0.1:{canary}/", "url_forbidden"),
    ("http://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11:{canary}/", "url_forbidden"),  # full-width digits
    ("http://[::1]:{canary}/", "url_forbidden"),
    ("http://[::]:{canary}/", "url_forbidden"),
    ("http://[::ffff:127.0.0.1]:{canary}/", "url_forbidden"),
    ("http://[::ffff:7f00:1]:{canary}/", "url_forbidden"),
    ("http://[::127.0.0.1]:{canary}/", "url_forbidden"),  # IPv4-compatible
    ("http://[64:ff9b::7f00:1]:{canary}/", "url_forbidden"),  # NAT64 of loopback
    ("http://0.0.0.0:{canary}/", "url_forbidden"),
    ("http://0:{canary}/", "url_forbidden"),
    ("http://169.254.169.254/latest/meta-data/", "url_forbidden"),
    ("http://[64:ff9b::a9fe:a9fe]/", "url_forbidden"),  # NAT64 of the metadata address
    ("http://[64:ff9b:1::a9fe:a9fe]/", "url_forbidden"),  # local-use NAT64
    ("http://[::ffff:169.254.169.254]/", "url_forbidden"),
    ("http://[::ffff:a9fe:a9fe]/", "url_forbidden"),
    ("http://100.64.0.1/", "url_forbidden"),
    ("http://10.0.0.1/", "url_forbidden"),
    ("http://172.16.0.1/", "url_forbidden"),
    ("http://192.168.1.1/", "url_forbidden"),
    ("http://192.0.0.170/", "url_forbidden"),
    ("http://198.18.0.1/", "url_forbidden"),
    ("http://203.0.113.7/", "url_forbidden"),
    ("http://[fd00::1]/", "url_forbidden"),
    ("http://[fe80::1]/", "url_forbidden"),
    ("http://[fec0::1]/", "url_forbidden"),
    ("http://[2001:db8::1]/", "url_forbidden"),
    ("http://[2001::1]/", "url_forbidden"),  # Teredo
    ("http://224.0.0.1/", "url_forbidden"),
    ("http://[ff02::1]/", "url_forbidden"),
    ("http://255.255.255.255/", "url_forbidden"),
    ("http://[2002:7f00:1::]/", "url_forbidden"),  # 6to4 of loopback
    ("file:///etc/passwd", "url_forbidden"),
    ("gopher://127.0.0.1:{canary}/", "url_forbidden"),
    ("ftp://example.com/x", "url_forbidden"),
    ("data:image/png;base64,iVBORw0KGgo=", "url_forbidden"),
    ("javascript:alert(1)", "url_forbidden"),
    ("http://user@127.0.0.1:{canary}/", "url_forbidden"),
    ("http://user:secret@127.0.0.1:{canary}/", "url_forbidden"),
    ("http://8.8.8.8:secret@127.0.0.1:{canary}/", "url_forbidden"),
    ("http://1.1.1.1\\@127.0.0.1:{canary}/", "url_invalid"),
    ("http://%31%32%37.0.0.1:{canary}/", "url_invalid"),
    ("http://127.0.0.1:{canary}/\r\nX-Injected: 1", "url_invalid"),
    ("http://[fe80::1%25eth0]/", "url_invalid"),
    ("http://1.2.3.999/", "url_invalid"),
    ("//127.0.0.1:{canary}/", "url_invalid"),
    ("127.0.0.1:{canary}/", "url_invalid"),
    ("http:///etc/passwd", "url_invalid"),
    ("", "url_invalid"),
]


@pytest.mark.parametrize(("template", "code"), SSRF_CATALOGUE, ids=[t for t, _ in SSRF_CATALOGUE])
def test_given_an_ssrf_url_when_fetched_then_refused_before_any_packet_is_sent(template, code, canary, guard):
    url = template.format(canary=canary.port)

    with pytest.raises(FetchRefused) as refused:
        fetch(url, FetchPolicy(connect_timeout=1, read_timeout=1, deadline_seconds=3))

    assert refused.value.code == code, refused.value.message
    assert "secret" not in refused.value.message
    assert guard.connects == []
    assert guard.lookups == []
    assert canary.hits == 0


# --- Address check -------------------------------------------------------------------------------

FORBIDDEN_ADDRESSES = [
    "127.0.0.1", "127.255.255.254", "10.1.2.3", "172.31.255.255", "192.168.0.1", "169.254.169.254",
    "100.64.0.1", "100.127.255.254", "0.0.0.0", "0.1.2.3", "255.255.255.255", "224.0.0.251",
    "239.255.255.250", "240.0.0.1", "192.0.0.8", "192.0.2.5", "192.88.99.1", "198.18.0.1", "198.19.255.255",
    "198.51.100.7", "203.0.113.9",
    "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "fec0::1", "ff02::1", "100::1",
    "2001::1", "2001:db8::1", "3fff::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:a9fe:a9fe",
    "::127.0.0.1", "::a9fe:a9fe", "2002:a9fe:a9fe::1", "2002:7f00:1::", "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe", "64:ff9b::a00:1", "64:ff9b:1::808:808",
]
PUBLIC_ADDRESSES = [
    "8.8.8.8", "1.1.1.1", "93.184.215.14", "172.32.0.1", "100.128.0.1", "192.169.0.1", "11.0.0.1",
    "2606:4700:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
]


@pytest.mark.parametrize("address", FORBIDDEN_ADDRESSES)
def test_given_a_non_public_address_when_checked_then_forbidden(address):
    assert is_forbidden_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_given_a_public_address_when_checked_then_not_forbidden(address):
    assert not is_forbidden_address(ipaddress.ip_address(address))


# --- Resolution and pinning ----------------------------------------------------------------------


@pytest.mark.parametrize("answers", [("8.8.8.8", "127.0.0.1"), ("10.0.0.1", "8.8.8.8"), ("2001:4860::1", "fd00::1")])
def test_given_a_name_with_one_private_address_among_public_ones_when_fetched_then_refused(answers, guard):
    guard.answer("mixed.test", *answers)

    with pytest.raises(FetchRefused) as refused:
        fetch("http://mixed.test/image.png", FetchPolicy())

    assert refused.value.code == "url_forbidden"
    assert "10.0.0.1" not in refused.value.message and "127.0.0.1" not in refused.value.message
    assert guard.connects == []


def test_given_a_name_with_public_addresses_when_checked_then_all_are_returned_without_connecting(guard):
    guard.answer("public.test", "8.8.8.8", "2001:4860:4860::8888", "8.8.8.8")

    parsed, addresses = check_url("https://Public.TEST/a/b.png?size=2", FetchPolicy())

    assert parsed.geturl() == "https://public.test/a/b.png?size=2"
    assert addresses == [ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("2001:4860:4860::8888")]
    assert guard.connects == []


def test_given_a_name_that_rebinds_after_the_check_when_fetched_then_the_checked_address_is_used(remote, guard):
    def rebound(port):
        raise AssertionError("a second lookup would let DNS rebinding swap the address")

    guard.answer("images.test", "127.0.0.1", then=rebound)
    remote.routes["/cat.png"] = reply(200, IMAGE)

    fetched = fetch(f"http://images.test:{remote.port}/cat.png", allowing(allowed_hosts={f"images.test:{remote.port}"}))

    assert fetched.body == IMAGE
    assert guard.lookups == ["images.test"]
    assert guard.connects == [("127.0.0.1", remote.port)]
    assert remote.seen[0].headers["Host"] == f"images.test:{remote.port}"


def test_given_a_name_that_does_not_resolve_when_fetched_then_unreachable(guard):
    def nxdomain(port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    guard.fake_names["missing.test"] = nxdomain

    with pytest.raises(FetchRefused) as refused:
        fetch("http://missing.test/", FetchPolicy())

    assert refused.value.code == "url_unreachable"


def test_given_a_resolver_that_hangs_when_fetched_then_timeout_at_the_connect_timeout(guard):
    def slow(port):
        time.sleep(2)
        return [guard.addrinfo("8.8.8.8", port)]

    guard.fake_names["slow-dns.test"] = slow
    started = time.monotonic()

    with pytest.raises(FetchRefused) as refused:
        fetch("http://slow-dns.test/", FetchPolicy(connect_timeout=0.3))

    assert refused.value.code == "url_timeout"
    assert time.monotonic() - started < 1.0


def test_given_localhost_on_the_allow_list_when_fetched_then_host_header_keeps_the_name(remote, guard):
    remote.routes["/cat.png"] = reply(200, IMAGE)

    fetched = fetch(remote.url("/cat.png", host="localhost"), allowing(allowed_hosts={f"localhost:{remote.port}"}))

    assert fetched.body == IMAGE
    assert remote.seen[0].headers["Host"] == f"localhost:{remote.port}"
    assert all(ipaddress.ip_address(host).is_loopback for host, _ in guard.connects)


def test_given_an_allowed_host_and_port_when_another_port_is_asked_then_the_address_check_applies(remote, canary):
    with pytest.raises(FetchRefused) as refused:
        fetch(f"http://127.0.0.1:{canary.port}/", allowing(remote))

    assert refused.value.code == "url_forbidden"
    assert canary.hits == 0


def test_given_an_allowed_host_when_the_scheme_is_not_http_then_still_refused(remote):
    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/", scheme="gopher"), allowing(remote))

    assert refused.value.code == "url_forbidden"
    assert remote.seen == []


def test_given_an_odd_spelling_of_an_allowed_address_when_checked_then_it_is_normalised(remote):
    parsed, addresses = check_url(f"HTTP://0x7f.1:{remote.port}/a b/\u00e9.png?q=\u00e9#frag", allowing(remote))

    assert parsed.geturl() == f"http://127.0.0.1:{remote.port}/a%20b/%C3%A9.png?q=%C3%A9"
    assert addresses == [ipaddress.ip_address("127.0.0.1")]
