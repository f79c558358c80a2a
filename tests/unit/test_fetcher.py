"""The SSRF-safe fetcher, against real HTTP servers on 127.0.0.1.

Nothing here may leave this machine. Every URL is an IP literal, ``localhost`` or a
``.test`` name, and an autouse guard fails the test on any connection to a non-loopback
address and on any name lookup other than ``localhost``. The one fake is a stand-in
resolver for ``.test`` names, because checking what a name resolves to needs answers no
real resolver on this machine can give without asking the internet.
"""

import datetime
import ipaddress
import socket
import ssl
import time

import pytest

from functions.fetcher import Fetched, FetchPolicy, FetchRefused, fetch
from functions.fetcher.addresses import check_url, is_forbidden_address
from tests.fakes.loopback import Answer, LoopbackServer, Raw

IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # the fetcher only moves bytes; sniffing comes later


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
            return [_addrinfo(address, port) for address in addresses]

        self.fake_names[name] = resolve


def _addrinfo(address: str, port: int) -> tuple:
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


def allowing(*servers, **limits) -> FetchPolicy:
    """A policy that lets the given loopback servers through, with limits small enough for tests."""
    limits = {"connect_timeout": 1.0, "read_timeout": 1.0, "deadline_seconds": 5.0, **limits}
    hosts = limits.pop("allowed_hosts", frozenset(s.host for s in servers))
    return FetchPolicy(allowed_hosts=frozenset(hosts), **limits)


# --- Routes --------------------------------------------------------------------------------------


def reply(status=200, body=b"", content_type="image/png", headers=()):
    return Answer(status, {**({"Content-Type": content_type} if content_type else {}), **dict(headers)}, body)


def redirect(location, status=302):
    return reply(status, b"", None, headers=[("Location", location)])


def _head(content_length=None, extra=b""):
    length = b"" if content_length is None else b"Content-Length: %d\r\n" % content_length
    return b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n" + length + extra + b"\r\n"


def trickle_body(interval):
    def write(out, stopping):
        out.write(_head(100000))
        for _ in range(int(5 / interval)):  # bounded, so a fetcher that ignores the deadline fails instead of hanging
            if stopping.wait(interval):
                return
            out.write(b"x")

    return Raw(write)


def trickle_headers(interval):
    def write(out, stopping):
        out.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        for _ in range(int(5 / interval)):
            if stopping.wait(interval):
                return
            out.write(b"a")

    return Raw(write)


def stall_after_headers(content_length, sent=b""):
    def write(out, stopping):
        out.write(_head(content_length) + sent)
        stopping.wait(10)

    return Raw(write)


def endless(chunked):
    def write(out, stopping):
        out.write(_head(extra=b"Transfer-Encoding: chunked\r\n" if chunked else b"Connection: close\r\n"))
        piece = b"x" * 16384
        for _ in range(4096):  # 64 MiB, far past any cap in these tests, so never truly endless
            out.write(b"4000\r\n" + piece + b"\r\n" if chunked else piece)

    return Raw(write)


not_http = Raw(lambda out, stopping: out.write(b"HELLO THIS IS NOT HTTP\r\n\r\n"))


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


def test_given_an_allowed_server_that_redirects_to_the_canary_when_fetched_then_refused(remote, canary, guard):
    remote.routes["/to-canary"] = redirect(f"http://127.0.0.1:{canary.port}/")

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/to-canary"), allowing(remote))

    assert refused.value.code == "url_forbidden"
    assert canary.hits == 0
    assert len(remote.seen) == 1
    assert {port for _, port in guard.connects} == {remote.port}


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:10.0.0.1]/",
        "file:///etc/passwd",
        "gopher://127.0.0.1/",
    ],
)
def test_given_a_redirect_to_a_forbidden_target_when_fetched_then_refused_without_connecting_there(
    location, remote, guard
):
    remote.routes["/bounce"] = redirect(location, status=301)

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/bounce"), allowing(remote))

    assert refused.value.code == "url_forbidden"
    assert guard.connects == [("127.0.0.1", remote.port)]


def test_given_a_redirect_loop_when_fetched_then_refused_after_max_redirects(remote):
    for hop in range(10):
        remote.routes[f"/loop/{hop}"] = redirect(f"/loop/{hop + 1}")

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/loop/0"), allowing(remote, max_redirects=3))

    assert refused.value.code == "url_forbidden"
    assert "redirected more than 3 times" in refused.value.message
    assert [s.path for s in remote.seen] == ["/loop/0", "/loop/1", "/loop/2", "/loop/3"]


def test_given_exactly_max_redirects_when_fetched_then_the_final_body_is_returned(remote):
    remote.routes["/hop/3"] = redirect("/hop/2", status=308)
    remote.routes["/hop/2"] = redirect("1", status=307)  # relative to /hop/
    remote.routes["/hop/1"] = redirect(remote.url("/hop/0"), status=303)
    remote.routes["/hop/0"] = reply(200, IMAGE)

    fetched = fetch(remote.url("/hop/3"), allowing(remote, max_redirects=3))

    assert fetched == Fetched(url=remote.url("/hop/0"), status=200, content_type="image/png", body=IMAGE)


def test_given_no_redirects_allowed_when_the_server_redirects_then_refused(remote):
    remote.routes["/moved"] = redirect("/here")

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/moved"), allowing(remote, max_redirects=0))

    assert refused.value.code == "url_forbidden"
    assert refused.value.status == 302


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
        return [_addrinfo("8.8.8.8", port)]

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


# --- Fetching from an allowed server -------------------------------------------------------------


def test_given_an_allowed_server_with_an_image_when_fetched_then_the_bytes_are_returned(remote):
    remote.routes["/cat.png"] = reply(200, IMAGE, "Image/PNG; charset=binary")

    fetched = fetch(remote.url("/cat.png"), allowing(remote), expect_image=True)

    assert fetched == Fetched(url=remote.url("/cat.png"), status=200, content_type="image/png", body=IMAGE)
    assert remote.seen[0].headers["Accept"] == "image/*"
    assert remote.seen[0].headers["Accept-Encoding"] == "identity"


def test_given_a_webhook_when_posted_then_the_body_and_headers_arrive_intact(remote):
    remote.routes["/hooks/ready"] = reply(204, b"", None)
    payload = b'{"event": "image.ready", "id": "img_123", "bytes": "\\u00e9"}'

    fetched = fetch(
        remote.url("/hooks/ready"),
        allowing(remote),
        method="POST",
        body=payload,
        headers={"Content-Type": "application/json", "X-Pixelflow-Signature": "sha256=abc", "user-agent": "hooks/2"},
    )

    assert fetched.status == 204 and fetched.body == b""
    seen = remote.seen[0]
    assert (seen.method, seen.body) == ("POST", payload)
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["X-Pixelflow-Signature"] == "sha256=abc"
    assert seen.headers.get_all("User-Agent") == ["hooks/2"]
    assert seen.headers["Content-Length"] == str(len(payload))


@pytest.mark.parametrize(
    ("status", "method_after", "body_after"),
    [(307, "POST", b"payload"), (308, "POST", b"payload"), (302, "GET", b""), (303, "GET", b"")],
)
def test_given_a_webhook_that_redirects_when_posted_then_method_and_body_follow_http_rules(
    status, method_after, body_after, remote
):
    remote.routes["/old"] = redirect("/new", status=status)
    remote.routes["/new"] = reply(200, b"ok", "text/plain")

    fetch(remote.url("/old"), allowing(remote), method="POST", body=b"payload")

    assert (remote.seen[1].method, remote.seen[1].body) == (method_after, body_after)


def test_given_a_redirect_to_another_origin_when_fetched_then_caller_headers_are_not_forwarded(remote, other_remote):
    remote.routes["/same"] = redirect("/cross")
    remote.routes["/cross"] = redirect(other_remote.url("/landing"))
    other_remote.routes["/landing"] = reply(200, b"ok", "text/plain")

    fetch(remote.url("/same"), allowing(remote, other_remote), headers={"Authorization": "Bearer t0ken"})

    assert [s.headers["Authorization"] for s in remote.seen] == ["Bearer t0ken", "Bearer t0ken"]
    assert other_remote.seen[0].headers["Authorization"] is None


def test_given_headers_the_fetcher_controls_when_passed_then_value_error_before_connecting(remote, guard):
    with pytest.raises(ValueError):
        fetch(remote.url("/"), allowing(remote), headers={"Host": "metadata.google.internal"})

    assert guard.connects == []


# --- Failures ------------------------------------------------------------------------------------


def test_given_a_body_that_trickles_when_fetched_then_timeout_at_the_deadline(remote):
    remote.routes["/slow"] = trickle_body(interval=0.1)  # always faster than the read timeout
    started = time.monotonic()

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/slow"), allowing(remote, read_timeout=0.5, deadline_seconds=1.0))

    elapsed = time.monotonic() - started
    assert refused.value.code == "url_timeout"
    assert "deadline of 1 s" in refused.value.message
    assert 0.9 <= elapsed < 1.8


def test_given_headers_that_trickle_when_fetched_then_timeout_at_the_deadline(remote):
    remote.routes["/slow-headers"] = trickle_headers(interval=0.1)
    started = time.monotonic()

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/slow-headers"), allowing(remote, read_timeout=0.5, deadline_seconds=1.0))

    assert refused.value.code == "url_timeout"
    assert 0.9 <= time.monotonic() - started < 1.8


def test_given_a_server_that_stops_sending_when_fetched_then_timeout_at_the_read_timeout(remote):
    remote.routes["/stalled"] = stall_after_headers(1000, sent=b"x" * 10)
    started = time.monotonic()

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/stalled"), allowing(remote, read_timeout=0.3, deadline_seconds=5.0))

    assert refused.value.code == "url_timeout"
    assert "sent nothing for 0.3 s" in refused.value.message
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("chunked", [False, True], ids=["until-close", "chunked"])
def test_given_an_endless_body_when_fetched_then_too_large_after_the_cap(chunked, remote):
    remote.routes["/endless"] = endless(chunked)

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/endless"), allowing(remote, max_bytes=64 * 1024))

    assert refused.value.code == "url_too_large"
    assert "more than 65536 bytes" in refused.value.message


def test_given_a_content_length_over_the_cap_when_fetched_then_refused_without_reading_the_body(remote):
    remote.routes["/huge"] = stall_after_headers(10**9, sent=b"x" * 100)
    started = time.monotonic()

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/huge"), allowing(remote, max_bytes=1000, read_timeout=2.0))

    assert refused.value.code == "url_too_large"
    assert "announced 1000000000 bytes" in refused.value.message
    assert time.monotonic() - started < 0.5  # reading would have waited out the 2 s read timeout


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "until-close"])
def test_given_a_body_of_exactly_the_cap_when_fetched_then_accepted_and_one_more_byte_refused(announced, remote):
    def body_of(size):
        # Without Content-Length the body runs until the server closes the connection.
        framing = {"Content-Length": str(size)} if announced else {"Connection": "close"}
        return Answer(200, {"Content-Type": "image/png", **framing}, [b"x" * size])

    remote.routes["/fits"] = body_of(1000)
    remote.routes["/over"] = body_of(1001)
    policy = allowing(remote, max_bytes=1000)

    assert len(fetch(remote.url("/fits"), policy).body) == 1000
    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/over"), policy)
    assert refused.value.code == "url_too_large"


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/octet-stream", None])
def test_given_a_non_image_content_type_when_an_image_is_expected_then_not_image(content_type, remote):
    remote.routes["/page"] = reply(200, b"<html></html>", content_type)

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/page"), allowing(remote), expect_image=True)

    assert refused.value.code == "url_not_image"


def test_given_a_non_image_content_type_when_no_image_is_expected_then_fetched(remote):
    remote.routes["/page"] = reply(200, b"<html></html>", "text/html; charset=utf-8")

    assert fetch(remote.url("/page"), allowing(remote)).content_type == "text/html"


@pytest.mark.parametrize("status", [404, 500])
def test_given_an_error_status_when_fetched_then_unreachable_with_the_status(status, remote):
    remote.routes["/gone"] = reply(status, b"nope", "text/plain")

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/gone?token=hunter2"), allowing(remote))

    assert refused.value.code == "url_unreachable"
    assert refused.value.status == status
    assert f"HTTP {status}" in refused.value.message
    assert "hunter2" not in refused.value.message and "/gone" not in refused.value.message


def test_given_a_wider_accept_status_when_the_server_answers_404_then_fetched(remote):
    assert fetch(remote.url("/missing"), allowing(remote), accept_status=range(200, 500)).status == 404


def test_given_a_closed_port_when_fetched_then_unreachable():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]

    with pytest.raises(FetchRefused) as refused:
        fetch(f"http://127.0.0.1:{port}/", FetchPolicy(allowed_hosts=frozenset({f"127.0.0.1:{port}"})))

    assert refused.value.code == "url_unreachable"


def test_given_a_server_that_does_not_speak_http_when_fetched_then_unreachable(remote):
    remote.routes["/"] = not_http

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/"), allowing(remote))

    assert refused.value.code == "url_unreachable"
    assert "invalid HTTP response" in refused.value.message


def test_given_https_to_a_plain_http_server_when_fetched_then_unreachable(remote):
    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/", scheme="https"), allowing(remote))

    assert refused.value.code == "url_unreachable"
    assert "TLS" in refused.value.message


# --- TLS -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A private CA and a certificate it signed for images.test, written as PEM files."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def issue(subject, key, issuer, issuer_key, *, ca, names=()):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = issue("pixelflow test CA", ca_key, "pixelflow test CA", ca_key, ca=True)
    leaf_cert = issue("images.test", leaf_key, "pixelflow test CA", ca_key, ca=False, names=["images.test"])
    folder = tmp_path_factory.mktemp("tls")
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (folder / "leaf.pem").write_bytes(
        leaf_cert.public_bytes(serialization.Encoding.PEM)
        + leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return folder


@pytest.fixture
def tls_remote(tls_files):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files / "leaf.pem")
    server_names = []
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    with LoopbackServer(tls_context=context) as srv:
        srv.server_names = server_names
        yield srv


def test_given_https_with_a_trusted_certificate_when_fetched_then_sni_and_verification_use_the_url_host(
    tls_remote, tls_files, guard, monkeypatch
):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files / "ca.pem"))  # the test CA becomes the trust store
    guard.answer("images.test", "127.0.0.1")
    tls_remote.routes["/cat.png"] = reply(200, IMAGE)

    fetched = fetch(
        f"https://images.test:{tls_remote.port}/cat.png", allowing(allowed_hosts={f"images.test:{tls_remote.port}"})
    )

    assert fetched.body == IMAGE
    assert tls_remote.server_names == ["images.test"]
    assert guard.connects == [("127.0.0.1", tls_remote.port)]


def test_given_https_with_a_certificate_for_another_name_when_fetched_then_unreachable(
    tls_remote, tls_files, guard, monkeypatch
):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files / "ca.pem"))
    guard.answer("other.test", "127.0.0.1")

    with pytest.raises(FetchRefused) as refused:
        fetch(f"https://other.test:{tls_remote.port}/", allowing(allowed_hosts={f"other.test:{tls_remote.port}"}))

    assert refused.value.code == "url_unreachable"
    assert "certificate" in refused.value.message
    assert tls_remote.seen == []


def test_given_https_with_an_untrusted_certificate_when_fetched_then_unreachable(tls_remote, guard):
    guard.answer("images.test", "127.0.0.1")

    with pytest.raises(FetchRefused) as refused:
        fetch(f"https://images.test:{tls_remote.port}/", allowing(allowed_hosts={f"images.test:{tls_remote.port}"}))

    assert refused.value.code == "url_unreachable"
    assert "certificate" in refused.value.message
    assert tls_remote.seen == []
