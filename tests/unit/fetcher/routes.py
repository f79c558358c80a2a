"""What the loopback servers of the fetcher tests answer, and a policy that lets them through."""

from functions.fetcher import FetchPolicy
from tests.fakes.loopback import Answer, Raw

IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # the fetcher only moves bytes; sniffing comes later


def allowing(*servers, **limits) -> FetchPolicy:
    """A policy that lets the given loopback servers through, with limits small enough for tests."""
    limits = {"connect_timeout": 1.0, "read_timeout": 1.0, "deadline_seconds": 5.0, **limits}
    hosts = limits.pop("allowed_hosts", frozenset(s.host for s in servers))
    return FetchPolicy(allowed_hosts=frozenset(hosts), **limits)


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
