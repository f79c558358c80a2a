"""Live updates over WebSocket on the embedded stack: the app's own handlers behind the local gateway,
pushes through the runner's pusher and the gateway's management endpoint (functions/local/live.py)."""

import json
import queue
import socket
import threading
import uuid

import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from functions import wiring
from functions.live import connections
from tests.integration import images_corpus as corpus
from tests.integration.helpers import bearer, finished, live_gateway, sign_up, upload, wait_for


@pytest.fixture(scope="module")
def gateway(app, runner):
    """The local WebSocket gateway, named in the settings the app and the runner's workers read."""
    with live_gateway(app) as local:
        yield local


class Client:
    """A WebSocket client whose messages a background thread collects (as a browser's would)."""

    def __init__(self, url: str):
        self.socket = connect(url, open_timeout=10).__enter__()  # closed by close()
        self.messages: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            while True:
                self.messages.put(json.loads(self.socket.recv()))
        except ConnectionClosed:
            pass
        self.messages.put(None)

    def send(self, **message):
        self.socket.send(json.dumps(message))

    def until(self, predicate, timeout: float = 90.0) -> dict:
        """The first message (from now on) that ``predicate`` accepts; every one before it stays in ``seen``."""
        while True:
            message = self.messages.get(timeout=timeout)  # long enough for one killed attempt and its retry
            assert message is not None, "the connection closed"
            self.seen.append(message)
            if predicate(message):
                return message

    def close(self):
        self.socket.close()


def ticket(server, user) -> dict:
    answer = requests.post(f"{server.url}/live/tickets", headers=bearer(user), timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()


def open_client(server, user) -> Client:
    client = Client(ticket(server, user)["url"])
    client.send(action="ping", id="ready")
    client.until(lambda m: m["type"] == "pong")  # recorded and answered: pushes reach it from now on
    return client


def refused(url: str) -> int:
    with pytest.raises(InvalidStatus) as caught:
        with connect(url, open_timeout=10):
            pass
    return caught.value.response.status_code


def of_image(image_id):
    return lambda message: message.get("image", {}).get("id") == image_id


def test_given_a_ticket_when_used_twice_then_the_second_connection_is_refused(server, user, gateway):
    issued = ticket(server, user)
    assert issued["expires_in"] == 30 and "ticket=" in issued["url"]
    first = Client(issued["url"])
    try:
        assert refused(issued["url"]) == 403
    finally:
        first.close()


def test_given_a_forged_missing_or_expired_ticket_then_the_connection_is_refused(server, user, gateway):
    assert refused(f"{gateway.url}/?ticket=forged-{uuid.uuid4().hex}") == 403
    assert refused(f"{gateway.url}/") == 403
    assert refused(f"{gateway.url}/?ticket={'x' * 5000}") == 403
    issued = ticket(server, user)
    # Time passing, as the database sees it: the ticket's expiry is behind us.
    wiring.database().execute("UPDATE live_tickets SET expires_at = now() - interval '1 second'")
    assert refused(issued["url"]) == 403


def test_given_no_bearer_token_then_no_ticket(server, gateway):
    answer = requests.post(f"{server.url}/live/tickets", timeout=10)
    assert answer.status_code == 401


def test_given_an_upload_then_its_events_arrive_in_order_and_another_user_hears_nothing(server, user, gateway):
    other = sign_up(server.url)
    mine, theirs = open_client(server, user), open_client(server, other)
    try:
        image_id = upload(server, user, corpus.photo(1600, 1200))
        done = mine.until(lambda m: of_image(image_id)(m) and m["type"] in ("image.done", "image.failed"))
        assert done["type"] == "image.done"
        assert {v["name"] for v in done["image"]["variants"]} >= {"thumbnail"}
        assert requests.get(done["image"]["variants"][0]["url"], timeout=10).status_code == 200
        for kind in ("image.processing", "image.thumbnail"):  # one overtaken by "done" is still on its way
            if not any(of_image(image_id)(m) and m["type"] == kind for m in mine.seen):
                mine.until(lambda m, kind=kind: of_image(image_id)(m) and m["type"] == kind)
        events = [m for m in mine.seen if of_image(image_id)(m)]
        # SQS may let one push overtake another; ordered by version (what clients do), they tell the story.
        versions = [m["version"] for m in events]
        assert len(set(versions)) == len(versions)
        kinds = [m["type"] for m in sorted(events, key=lambda m: m["version"])]
        assert kinds[0] == "image.processing" and kinds[-1] == "image.done", kinds
        assert kinds.index("image.processing") < kinds.index("image.thumbnail") < kinds.index("image.done")
        assert done["version"] == max(versions)
        # The other user's next message is the answer to its own ping: nothing of ours reached it.
        theirs.send(action="ping", id="after")
        theirs.until(lambda m: m["type"] == "pong" and m["id"] == "after")
        assert [m["type"] for m in theirs.seen] == ["pong", "pong"]
    finally:
        mine.close()
        theirs.close()


def test_given_a_settled_batch_when_subscribing_then_the_current_state_comes_at_once(server, user, gateway):
    files = [{"filename": f"p{n}.jpg", "content_type": "image/jpeg", "size": len(corpus.photo(64 + n, 64))}
             for n in range(2)]
    made = requests.post(f"{server.url}/batches", json={"files": files}, headers=bearer(user), timeout=10)
    assert made.status_code == 201, made.text
    batch = made.json()
    for n, item in enumerate(batch["uploads"]):
        requests.post(item["upload"]["url"], data=item["upload"]["fields"],
                      files={"file": (f"p{n}.jpg", corpus.photo(64 + n, 64), "image/jpeg")}, timeout=30)
    ids = [item["image_id"] for item in batch["uploads"]]
    for image_id in ids:
        finished(server, user, image_id)
    someone_elses = upload(server, sign_up(server.url), corpus.photo(32, 32))
    client = open_client(server, user)
    try:
        client.send(action="subscribe", image_ids=ids + [someone_elses], batch_id=batch["batch_id"])
        summary = client.until(lambda m: m["type"] == "subscribed")
        assert summary["image_ids"] == ids and summary["batch_id"] == batch["batch_id"]
        assert summary["not_found"] == [someone_elses]
        states = {m["image"]["id"]: m["type"] for m in client.seen if "image" in m}
        assert states == {image_id: "image.done" for image_id in ids}
        [progress] = [m for m in client.seen if m["type"] == "batch.progress"]
        assert progress["batch"]["percent"] == 100 and progress["batch"]["counts"]["done"] == 2
    finally:
        client.close()


def test_given_a_batch_under_way_then_progress_is_pushed_as_items_settle(server, user, gateway):
    client = open_client(server, user)
    try:
        files = [{"filename": f"q{n}.jpg", "content_type": "image/jpeg", "size": len(corpus.photo(80 + n, 60))}
                 for n in range(3)]
        batch = requests.post(f"{server.url}/batches", json={"files": files}, headers=bearer(user),
                              timeout=10).json()
        for n, item in enumerate(batch["uploads"]):
            requests.post(item["upload"]["url"], data=item["upload"]["fields"],
                          files={"file": (f"q{n}.jpg", corpus.photo(80 + n, 60), "image/jpeg")}, timeout=30)
        last = client.until(lambda m: m["type"] == "batch.progress" and m["batch"]["id"] == batch["batch_id"]
                            and m["batch"]["complete"])
        assert last["batch"]["counts"]["done"] == 3
    finally:
        client.close()


def test_given_bad_frames_then_errors_come_back_and_the_connection_stays_usable(server, user, gateway):
    client = open_client(server, user)
    try:
        for frame in ("not json", "[1,2]", json.dumps({"action": "dance"}),
                      json.dumps({"action": "subscribe", "image_ids": ["nope"]}),
                      json.dumps({"action": "subscribe", "image_ids": [str(uuid.uuid4())] * 101}),
                      json.dumps({"action": "subscribe", "batch_id": 7})):
            client.socket.send(frame)
            assert client.until(lambda m: m["type"] in ("error", "subscribed"))["type"] == "error"
        client.socket.send(b"\x00\xff binary")
        assert client.until(lambda m: m["type"] == "error")["error"]["code"] == "invalid_json"
        client.send(action="ping", id=1)
        assert client.until(lambda m: m["type"] == "pong")["id"] == 1
    finally:
        client.close()


def test_given_a_huge_frame_then_only_that_connection_is_closed(server, user, gateway):
    client, bystander = open_client(server, user), open_client(server, user)
    try:
        client.socket.send("x" * (64 * 1024))
        assert wait_for(lambda: client.socket.close_code is not None, timeout=10)
        assert client.socket.close_code == 1009  # message too big
        bystander.send(action="ping", id="still")
        assert bystander.until(lambda m: m["type"] == "pong")["id"] == "still"
    finally:
        client.close()
        bystander.close()


def test_given_a_closed_connection_then_its_row_is_removed(server, user, gateway):
    client = open_client(server, user)
    user_id = user["user"]["id"]
    assert wait_for(lambda: connections.of_user(wiring.database(), user_id))
    before = set(connections.of_user(wiring.database(), user_id))
    client.close()
    assert wait_for(lambda: len(set(connections.of_user(wiring.database(), user_id))) == len(before) - 1)


def test_given_a_connection_the_gateway_no_longer_knows_then_the_410_removes_it(server, gateway):
    owner = sign_up(server.url)
    connections.record(wiring.database(), "gone-connection=", owner["user"]["id"])
    image_id = upload(server, owner, corpus.photo(48, 48))
    finished(server, owner, image_id)
    assert wait_for(lambda: "gone-connection=" not in connections.of_user(wiring.database(), owner["user"]["id"]))


def _never_reading_connection(url: str) -> socket.socket:
    """A WebSocket handshake by hand on a socket with a tiny receive buffer, which then never reads."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect((parts.hostname, parts.port))
    raw.sendall((f"GET /?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += raw.recv(1)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return raw


def _masked_text(text: str) -> bytes:
    payload = text.encode()
    mask = b"\x01\x02\x03\x04"
    header = b"\x81" + (bytes([0x80 | len(payload)]) if len(payload) < 126
                        else bytes([0x80 | 126]) + len(payload).to_bytes(2, "big"))
    return header + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


def test_given_a_client_that_never_reads_then_processing_and_other_clients_go_on(server, gateway):
    owner = sign_up(server.url)
    ids = [upload(server, owner, corpus.photo(40 + n, 40)) for n in range(5)]
    for image_id in ids:
        finished(server, owner, image_id)
    stuck = _never_reading_connection(ticket(server, owner)["url"])
    watcher = open_client(server, owner)
    try:
        # Ask for far more than the stuck socket's buffers hold; it never reads a byte of it.
        for _ in range(60):
            stuck.sendall(_masked_text(json.dumps({"action": "subscribe", "image_ids": ids})))
        image_id = upload(server, owner, corpus.photo(90, 60))
        assert watcher.until(lambda m: of_image(image_id)(m) and m["type"] == "image.done", timeout=60)
        # The gateway gave up on the stuck connection, and its 410 removed the row.
        assert wait_for(lambda: len(connections.of_user(wiring.database(), owner["user"]["id"])) == 1, timeout=60)
    finally:
        stuck.close()
        watcher.close()


def test_given_200_connections_then_each_is_let_in_and_answered(server, user, gateway):
    clients = []
    try:
        for _ in range(200):
            clients.append(Client(ticket(server, user)["url"]))
        for n, client in enumerate(clients):
            client.send(action="ping", id=n)
        for n, client in enumerate(clients):
            assert client.until(lambda m: m["type"] == "pong", timeout=60)["id"] == n
        assert requests.get(f"{server.url}/health", timeout=10).status_code == 200
    finally:
        for client in clients:
            client.close()
    assert wait_for(lambda: len(connections.of_user(wiring.database(), user["user"]["id"])) == 0, timeout=60)


def test_given_connections_past_the_2_hour_limit_when_housekeeping_runs_then_their_rows_go(server, gateway):
    from functions import housekeeping

    owner = sign_up(server.url)
    db = wiring.database()
    connections.record(db, "old-connection=", owner["user"]["id"])
    connections.record(db, "young-connection=", owner["user"]["id"])
    db.execute("UPDATE live_connections SET connected_at = now() - interval '2 hours 1 minute'"
               " WHERE id = 'old-connection='")
    assert housekeeping.forget_live_connections(db) >= 1
    remaining = db.rows("SELECT id FROM live_connections WHERE user_id = :user", user=owner["user"]["id"])
    assert [row["id"] for row in remaining] == ["young-connection="]
