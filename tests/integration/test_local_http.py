"""The local HTTP server's own limits, as API Gateway enforces them before a request reaches the app."""

import json
import socket
import threading
import urllib.parse

import pytest
import requests


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


class _SlowClients:
    """Connections that send their request headers a line at a time, never finishing them."""

    def __init__(self, url: str, count: int):
        address = urllib.parse.urlsplit(url)
        self.sockets = [socket.create_connection((address.hostname, address.port), timeout=5) for _ in range(count)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self):
        lines = iter([b"GET /health HTTP/1.1\r\n", *[b"X-Slow: 1\r\n"] * 10_000])
        while not self._stop.wait(0.2):
            line = next(lines)
            for connection in self.sockets:
                try:
                    connection.sendall(line)
                except OSError:
                    pass  # the server cut it off

    def close(self):
        self._stop.set()
        self._thread.join(5)
        for connection in self.sockets:
            connection.close()


@pytest.fixture
def own_server(app, monkeypatch):
    from functions.local import http

    monkeypatch.setattr(http, "READ_SECONDS", 1)  # a request's headers and body must arrive within 1 s
    local = http.LocalServer(app, "127.0.0.1", 0).start()
    yield local
    local.stop()


def test_given_every_worker_held_by_a_slowly_trickled_request_then_others_are_still_served(own_server):
    from functions.local.http import WORKERS

    slow = _SlowClients(own_server.url, WORKERS + 4)
    try:
        answer = requests.get(f"{own_server.url}/health", timeout=30)
        assert answer.status_code == 200
    finally:
        slow.close()


def test_given_slow_clients_holding_every_worker_when_stopping_then_the_server_stops(app):
    from functions.local.http import WORKERS, LocalServer

    local = LocalServer(app, "127.0.0.1", 0).start()  # the default read deadline: stop must not wait for it
    slow = _SlowClients(local.url, WORKERS + 4)
    try:
        stopper = threading.Thread(target=local.stop, daemon=True)
        stopper.start()
        stopper.join(30)
        assert not stopper.is_alive()
    finally:
        slow.close()
