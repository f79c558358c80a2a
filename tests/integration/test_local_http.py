"""The local HTTP server's own limits, as API Gateway enforces them before a request reaches the app."""

import json
import socket
import urllib.parse

import pytest


def _raw_request(server, head: bytes) -> bytes:
    """Send ``head`` (request line and headers, no body) and read the whole answer."""
    address = urllib.parse.urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(head)
        chunks = []
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def _status_and_body(answer: bytes):
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def test_given_a_body_over_10_mb_when_posting_then_413_before_it_is_read(server):
    answer = _raw_request(server, b"POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                  b"Content-Length: %d\r\n\r\n" % (10 * 1024 * 1024 + 1))
    status, body = _status_and_body(answer)
    assert status == 413 and body["error"]["code"] == "body_too_large"


@pytest.mark.parametrize("length", [b"-1", b"lots"])
def test_given_a_content_length_that_is_not_a_size_when_posting_then_400(server, length):
    answer = _raw_request(server, b"POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Length: " + length
                          + b"\r\n\r\n")
    status, body = _status_and_body(answer)
    assert status == 400 and body["error"]["code"] == "bad_request"
