"""Webhooks end to end: a terminal image or batch -> one recorded event -> webhook-deliveries -> a signed POST.

The receiver is a web server on 127.0.0.1 on the allow list, doing what a real receiver does:
it verifies X-Pixelflow-Signature with the secret POST /auth/webhook-secret gave, and answers
2xx when it accepts an event. It can be told to fail first attempts, to see the retries.
"""

import dataclasses
import json
import threading
from collections import Counter

import pytest
import requests

from functions import webhooks, wiring
from functions.api import schemas
from functions.api.schema import validate
from tests.fakes.loopback import Answer, LoopbackServer
from tests.integration import images_corpus as corpus
from tests.integration.helpers import bearer, image, sign_up, wait_for, wait_until_handled
from tests.integration.images_corpus import PHOTO

# Where an event travels, in order: once all are empty, no further attempt can arrive.
EVENT_QUEUES = ("import-jobs", "image-events", "webhook-deliveries")


class Receiver:
    """Accepts signed events on /hooks; ``fail_attempts`` first attempts of each event answer 500."""

    def __init__(self, server: LoopbackServer):
        self.server = server
        self.secrets = {}            # user id -> the secret that user's events must verify with
        self.fail_attempts = 0
        self.accepted = []           # (event id, headers, parsed body, raw body) of each 2xx answer
        self.attempts = Counter()    # event id -> requests received
        self._lock = threading.Lock()
        server.routes["/hooks"] = self._receive

    def url(self, tag: str = "") -> str:
        return self.server.url("/hooks") + (f"?for={tag}" if tag else "")

    def _receive(self, request):
        event_id = request.headers.get("X-Pixelflow-Event-Id")
        body = json.loads(request.body)
        with self._lock:
            self.attempts[event_id] += 1
            if self.attempts[event_id] <= self.fail_attempts:
                return Answer(500, {"Content-Type": "text/plain"}, b"try again")
            if not any(webhooks.verify_signature(secret, request.headers.get("X-Pixelflow-Signature"), request.body)
                       for secret in self.secrets.values()):
                return Answer(401, {"Content-Type": "text/plain"}, b"bad signature")
            self.accepted.append((event_id, request.headers, body, request.body))
        return Answer(204)

    def events_for(self, subject_id):
        with self._lock:
            return [body for _, _, body, _ in self.accepted if body["id"] == subject_id]

    def wait_for_event(self, subject_id, timeout=60):
        found = wait_for(lambda: self.events_for(subject_id), timeout=timeout)
        assert found, f"no event for {subject_id}; attempts so far: {dict(self.attempts)}"
        return found


@pytest.fixture(scope="module")
def origin(origin):
    """One loopback server for both roles: image origin (/photo.jpg) and webhook receiver (/hooks)."""
    origin.routes["/photo.jpg"] = Answer(200, {"Content-Type": "image/jpeg"}, PHOTO)
    return origin


@pytest.fixture(scope="module")
def receiver(origin):
    return Receiver(origin)


@pytest.fixture(scope="module")
def user(user, server, receiver):
    """The module's account, with a webhook secret the receiver verifies its events with."""
    receiver.secrets[user["user"]["id"]] = new_secret(server, user)
    return user


@pytest.fixture(autouse=True)
def no_failures(receiver):
    receiver.fail_attempts = 0
    yield
    receiver.fail_attempts = 0


def new_secret(server, tokens):
    answer = requests.post(f"{server.url}/auth/webhook-secret", headers=bearer(tokens), timeout=10)
    assert answer.status_code == 201, answer.text
    validate(answer.json(), schemas.WEBHOOK_SECRET)
    return answer.json()["secret"]


def delivered(server, tokens, image_id, timeout=30):
    """The image once its webhook delivery has finished (delivered or failed)."""
    found = wait_for(lambda: (lambda item: item if (item["webhook"] or {}).get("status") in ("delivered", "failed")
                              else None)(image(server, tokens, image_id)), timeout=timeout)
    assert found, image(server, tokens, image_id)
    return found


def assert_no_links(value):
    text = json.dumps(value)
    assert "X-Amz-Signature" not in text and '"url"' not in text.replace('"url": null', "")


def test_given_an_upload_with_a_callback_when_done_then_exactly_one_signed_event_arrives(server, user, receiver):
    image_id = _upload_with_callback(server, user, receiver)
    [event] = receiver.wait_for_event(image_id)
    validate(event, schemas.WEBHOOK_EVENT)
    assert (event["type"], event["status"], event["id"]) == ("image.done", "done", image_id)
    assert event["links"] == {"self": f"/images/{image_id}"}
    assert event["image"]["status"] == "done" and event["image"]["width"] == 320
    assert {variant["name"] for variant in event["image"]["variants"]} == {"thumbnail", "webp"}
    assert_no_links(event["image"])
    [(event_id, headers, _, _)] = [item for item in receiver.accepted if item[2]["id"] == image_id]
    assert headers["Content-Type"] == "application/json" and headers["X-Pixelflow-Event"] == "image.done"
    item = delivered(server, user, image_id)
    assert item["webhook"]["event_id"] == event_id
    assert (item["webhook"]["status"], item["webhook"]["attempts"], item["webhook"]["last_status_code"]) == (
        "delivered", 1, 204)
    assert item["callback_url"] == receiver.url("upload")
    wait_until_handled(*EVENT_QUEUES)
    assert len(receiver.events_for(image_id)) == 1 and receiver.attempts[event_id] == 1


def _upload_with_callback(server, tokens, receiver, data=None, tag="upload"):
    data = data or corpus.photo(320, 240)
    body = {"filename": "hook.jpg", "content_type": "image/jpeg", "size": len(data), "callback_url": receiver.url(tag)}
    ticket = requests.post(f"{server.url}/uploads", json=body, headers=bearer(tokens), timeout=10)
    assert ticket.status_code == 201, ticket.text
    ticket = ticket.json()
    posted = requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                           files={"file": ("hook.jpg", data, "image/jpeg")}, timeout=30)
    assert posted.status_code in (200, 201, 204)
    return ticket["image_id"]


def test_given_a_receiver_that_fails_the_first_attempt_when_retried_then_it_accepts_exactly_one_delivery(
        server, user, receiver):
    receiver.fail_attempts = 1
    image_id = _upload_with_callback(server, user, receiver)
    [event] = receiver.wait_for_event(image_id, timeout=30)
    item = delivered(server, user, image_id)
    event_id = item["webhook"]["event_id"]
    assert receiver.attempts[event_id] == 2  # the failed one, then the accepted one, same event id
    assert (item["webhook"]["status"], item["webhook"]["attempts"], item["webhook"]["last_status_code"]) == (
        "delivered", 2, 204)
    assert item["webhook"]["last_error"] is None and item["webhook"]["delivered_at"]
    wait_until_handled(*EVENT_QUEUES)
    assert len(receiver.events_for(image_id)) == 1 and receiver.attempts[event_id] == 2


def test_given_a_done_image_when_its_events_and_delivery_messages_are_replayed_then_no_second_event(
        server, user, receiver):
    image_id = _upload_with_callback(server, user, receiver)
    receiver.wait_for_event(image_id)
    event_id = delivered(server, user, image_id)["webhook"]["event_id"]
    key = f"originals/{user['user']['id']}/{image_id}"
    queues = wiring.queues()
    for _ in range(3):
        queues.send("image-events", {"Records": [{"eventName": "ObjectCreated:Post", "s3": {
            "bucket": {"name": wiring.settings().bucket}, "object": {"key": key, "size": 1}}}]})
    for attempt in (1, 2):
        queues.send("webhook-deliveries", {"delivery_id": event_id, "attempt": attempt})
    wait_until_handled(*EVENT_QUEUES)
    assert len(receiver.events_for(image_id)) == 1 and receiver.attempts[event_id] == 1
    rows = wiring.database().rows("SELECT attempts, status FROM webhook_deliveries WHERE subject_id = :id",
                                  id=image_id)
    assert rows == [{"attempts": 1, "status": "delivered"}]


def test_given_a_refused_import_with_a_callback_when_it_fails_then_an_image_failed_event_carries_the_code(
        server, user, receiver):
    answer = requests.post(f"{server.url}/imports", json={"url": "http://169.254.169.254/latest/",
                                                          "callback_url": receiver.url("import")},
                           headers=bearer(user), timeout=10)
    assert answer.status_code == 202, answer.text
    image_id = answer.json()["image_id"]
    [event] = receiver.wait_for_event(image_id)
    validate(event, schemas.WEBHOOK_EVENT)
    assert (event["type"], event["status"]) == ("image.failed", "failed")
    assert event["image"]["error"]["code"] == "url_forbidden" and event["image"]["source"] == "import"


def test_given_an_import_with_a_callback_when_done_then_one_image_done_event(server, user, receiver, origin):
    answer = requests.post(f"{server.url}/imports", json={"url": origin.url("/photo.jpg"),
                                                          "callback_url": receiver.url("import-ok")},
                           headers=bearer(user), timeout=10)
    image_id = answer.json()["image_id"]
    [event] = receiver.wait_for_event(image_id)
    assert event["type"] == "image.done" and event["image"]["source_url"] == origin.url("/photo.jpg")


def test_given_a_generation_with_a_callback_when_done_then_one_image_done_event(server, user, receiver):
    answer = requests.post(f"{server.url}/generations", json={"prompt": "a kite", "width": 128, "height": 128,
                                                              "callback_url": receiver.url("generation")},
                           headers=bearer(user), timeout=10)
    assert answer.status_code == 202, answer.text
    image_id = answer.json()["image_id"]
    [event] = receiver.wait_for_event(image_id)
    assert event["type"] == "image.done" and event["image"]["generation"]["prompt"] == "a kite"


def test_given_a_batch_with_a_callback_when_every_item_settles_then_one_batch_complete_event_and_none_per_image(
        server, user, receiver, origin):
    answer = requests.post(f"{server.url}/batches", json={
        "urls": [origin.url("/photo.jpg"), origin.url("/photo.jpg?again"), "http://10.0.0.1/x.jpg"],
        "callback_url": receiver.url("batch")}, headers=bearer(user), timeout=10)
    assert answer.status_code == 201, answer.text
    ticket = answer.json()
    [event] = receiver.wait_for_event(ticket["batch_id"])
    validate(event, schemas.WEBHOOK_EVENT)
    assert (event["type"], event["status"]) == ("batch.complete", "complete")
    assert event["links"] == {"self": f"/batches/{ticket['batch_id']}"}
    batch = event["batch"]
    assert batch["complete"] is True and batch["percent"] == 100
    assert (batch["counts"]["done"], batch["counts"]["failed"]) == (2, 1)
    assert [item["status"] for item in batch["items"]] == ["done", "done", "failed"]
    for item in ticket["imports"]:
        assert receiver.events_for(item["image_id"]) == []
    wait_until_handled(*EVENT_QUEUES)
    assert len(receiver.events_for(ticket["batch_id"])) == 1
    view = requests.get(f"{server.url}/batches/{ticket['batch_id']}", headers=bearer(user), timeout=10).json()
    assert view["webhook"]["type"] == "batch.complete" and view["webhook"]["status"] == "delivered"


def test_given_a_rotated_secret_when_the_next_event_is_sent_then_only_the_new_secret_verifies_it(
        server, receiver, runner):
    tokens = sign_up(server.url)
    old = new_secret(server, tokens)
    new = new_secret(server, tokens)
    assert old != new and new.startswith("whsec_") and len(new) > 40
    receiver.secrets[tokens["user"]["id"]] = new
    image_id = _upload_with_callback(server, tokens, receiver, tag="rotated")
    [(_, headers, _, body)] = wait_for(lambda: [item for item in receiver.accepted if item[2]["id"] == image_id])
    assert webhooks.verify_signature(new, headers["X-Pixelflow-Signature"], body)
    assert not webhooks.verify_signature(old, headers["X-Pixelflow-Signature"], body)


def test_given_a_new_secret_when_stored_then_the_database_holds_only_a_nonce_that_signs_nothing_alone(
        server, receiver, runner):
    tokens = sign_up(server.url)
    secret = new_secret(server, tokens)
    rows = wiring.database().rows("SELECT * FROM webhook_secrets WHERE user_id = :user", user=tokens["user"]["id"])
    [row] = rows
    assert row["secret"] is None and row["nonce"]
    assert all(secret not in str(value) for value in row.values())
    # What the answer showed is the nonce under the service's key, and nothing stored alone gives it back.
    assert webhooks.derive_secret(wiring.webhook_signing_key(), tokens["user"]["id"], row["nonce"]) == secret


def test_given_a_secret_stored_before_derivation_when_events_are_sent_then_it_signs_them_until_rotated(
        server, receiver, runner):
    tokens = sign_up(server.url)
    user_id = tokens["user"]["id"]
    legacy = "whsec_" + "L" * 43
    wiring.database().execute("INSERT INTO webhook_secrets (user_id, secret) VALUES (:user, :secret)",
                              user=user_id, secret=legacy)
    receiver.secrets[user_id] = legacy
    image_id = _upload_with_callback(server, tokens, receiver, tag="legacy")
    [(_, headers, _, body)] = wait_for(lambda: [item for item in receiver.accepted if item[2]["id"] == image_id])
    assert webhooks.verify_signature(legacy, headers["X-Pixelflow-Signature"], body)

    rotated = new_secret(server, tokens)
    receiver.secrets[user_id] = rotated
    row = wiring.database().one("SELECT nonce, secret FROM webhook_secrets WHERE user_id = :user", user=user_id)
    assert row["secret"] is None and row["nonce"]
    image_id = _upload_with_callback(server, tokens, receiver, tag="legacy-rotated")
    [(_, headers, _, body)] = wait_for(lambda: [item for item in receiver.accepted if item[2]["id"] == image_id])
    assert webhooks.verify_signature(rotated, headers["X-Pixelflow-Signature"], body)
    assert not webhooks.verify_signature(legacy, headers["X-Pixelflow-Signature"], body)


def test_given_a_callback_to_a_forbidden_address_when_the_image_is_done_then_the_delivery_fails_at_once(
        server, user, receiver):
    with LoopbackServer() as canary:
        data = corpus.photo(100, 100)
        body = {"filename": "c.jpg", "content_type": "image/jpeg", "size": len(data),
                "callback_url": canary.url("/hooks")}
        ticket = requests.post(f"{server.url}/uploads", json=body, headers=bearer(user), timeout=10).json()
        requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                      files={"file": ("c.jpg", data, "image/jpeg")}, timeout=30)
        item = delivered(server, user, ticket["image_id"])
        assert canary.received() == []
    assert (item["webhook"]["status"], item["webhook"]["attempts"]) == ("failed", 1)
    assert "private or reserved" in item["webhook"]["last_error"]


def test_given_a_receiver_that_always_fails_when_attempts_run_out_then_the_delivery_is_recorded_failed(
        server, user, receiver):
    original = wiring.settings()
    wiring.configure(dataclasses.replace(original, webhook_max_attempts=3, webhook_retry_seconds=1))
    receiver.fail_attempts = 100
    try:
        image_id = _upload_with_callback(server, user, receiver, tag="always-failing")
        item = delivered(server, user, image_id, timeout=40)
    finally:
        wiring.configure(original)
    hook = item["webhook"]
    assert (hook["status"], hook["attempts"], hook["last_status_code"]) == ("failed", 3, 500)
    assert "HTTP 500" in hook["last_error"]
    assert receiver.attempts[hook["event_id"]] == 3 and receiver.events_for(image_id) == []


def test_given_a_receiver_that_redirects_when_delivering_then_it_is_not_followed_and_the_delivery_fails(
        server, user, receiver, origin):
    origin.routes["/moved"] = Answer(308, {"Location": receiver.url("moved")})
    data = corpus.photo(90, 90)
    body = {"filename": "m.jpg", "content_type": "image/jpeg", "size": len(data),
            "callback_url": origin.url("/moved")}
    ticket = requests.post(f"{server.url}/uploads", json=body, headers=bearer(user), timeout=10).json()
    requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                  files={"file": ("m.jpg", data, "image/jpeg")}, timeout=30)
    hook = delivered(server, user, ticket["image_id"])["webhook"]
    assert (hook["status"], hook["attempts"], hook["last_status_code"]) == ("failed", 1, 308)
    assert "redirect" in hook["last_error"]
    assert receiver.events_for(ticket["image_id"]) == []


def test_given_a_delivery_message_that_kept_failing_when_dead_lettered_then_the_delivery_is_recorded_failed(
        server, user):
    db = wiring.database()
    delivery_id = db.one(
        "INSERT INTO webhook_deliveries (id, owner_id, subject_id, event_type, url, body, attempts, enqueued_at,"
        " last_error) VALUES (gen_random_uuid(), :owner, gen_random_uuid(), 'image.done', 'http://hooks.example/',"
        " '{}', 2, now(), 'Queue webhook-deliveries is unavailable.') RETURNING id", owner=user["user"]["id"])["id"]
    wiring.queues().send("webhook-deliveries-dlq", {"delivery_id": str(delivery_id), "attempt": 3})
    row = wait_for(lambda: (lambda found: found if found["status"] == "failed" else None)(
        db.one("SELECT status, last_error FROM webhook_deliveries WHERE id = :id", id=delivery_id)), timeout=20)
    assert row and row["last_error"] == "Queue webhook-deliveries is unavailable."


@pytest.mark.parametrize("path, body", [
    ("/uploads", {"filename": "a.jpg", "content_type": "image/jpeg", "size": 10}),
    ("/imports", {"url": "https://photos.example/a.jpg"}),
    ("/generations", {"prompt": "a boat"}),
    ("/batches", {"urls": ["https://photos.example/a.jpg"]}),
])
def test_given_no_secret_yet_when_a_callback_url_is_given_then_422_asks_for_one_first(server, runner, path, body):
    tokens = sign_up(server.url)
    answer = requests.post(server.url + path, json={**body, "callback_url": "https://hooks.example/x"},
                           headers=bearer(tokens), timeout=10)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert (error["field"], error["code"]) == ("callback_url", "webhook_secret_required")
    assert "POST /auth/webhook-secret" in error["message"]


@pytest.mark.parametrize("callback_url", ["ftp://hooks.example/x", "hooks.example/x", "https://a:b@hooks.example/",
                                          "https://hooks.example/" + "x" * 2048])
def test_given_a_callback_url_that_is_not_http_when_posted_then_422_names_it(server, user, callback_url):
    answer = requests.post(f"{server.url}/imports", json={"url": "https://photos.example/a.jpg",
                                                          "callback_url": callback_url},
                           headers=bearer(user), timeout=10)
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "callback_url"


def test_given_no_token_when_asking_for_a_secret_then_401(server):
    assert requests.post(f"{server.url}/auth/webhook-secret", timeout=10).status_code == 401
