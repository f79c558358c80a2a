"""What the integration tests share besides fixtures: accounts, authenticated calls, uploads, and waiting.

Waiting is always on a condition (``wait_for``, ``wait_until_handled``), never a fixed sleep.
"""

import contextlib
import dataclasses
import os
import time
import uuid

import requests

from functions import wiring

PASSWORD = "correct horse battery staple"


# --- accounts ------------------------------------------------------------------------------------

def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


def sign_up(base_url: str, email: str = None, password: str = PASSWORD) -> dict:
    """Register and log in a fresh user; return the login answer plus the email."""
    email = email or new_email()
    registered = requests.post(f"{base_url}/auth/register", json={"email": email, "password": password}, timeout=10)
    assert registered.status_code == 201, registered.text
    tokens = requests.post(f"{base_url}/auth/login", json={"email": email, "password": password}, timeout=10)
    assert tokens.status_code == 200, tokens.text
    return {**tokens.json(), "email": email, "user": registered.json()["user"]}


def bearer(tokens: dict) -> dict:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


# --- images --------------------------------------------------------------------------------------

def upload(server, tokens, data: bytes, *, filename="photo.jpg", content_type="image/jpeg", variants=None,
           with_ticket=False, sha256=None):
    """Ask for a presigned POST and post the file to storage as a browser form would."""
    body = {"filename": filename, "content_type": content_type, "size": len(data) or 1}
    if variants is not None:
        body["variants"] = variants
    if sha256 is not None:
        body["sha256"] = sha256
    ticket = requests.post(f"{server.url}/uploads", json=body, headers=bearer(tokens), timeout=10)
    assert ticket.status_code == 201, ticket.text
    ticket = ticket.json()
    post_again(ticket, data, filename=filename, content_type=content_type)
    return (ticket["image_id"], ticket) if with_ticket else ticket["image_id"]


def post_again(ticket, data: bytes, *, filename="photo.jpg", content_type="image/jpeg"):
    posted = requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                           files={"file": (filename, data, content_type)}, timeout=30)
    assert posted.status_code in (200, 201, 204), posted.text


def image(server, tokens, image_id):
    answer = requests.get(f"{server.url}/images/{image_id}", headers=bearer(tokens), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def finished(server, tokens, image_id, timeout=60):
    """The image once it is done or failed."""
    found = wait_for(lambda: (lambda item: item if item["status"] in ("done", "failed") else None)(
        image(server, tokens, image_id)), timeout=timeout)
    assert found, f"image {image_id} did not finish: {image(server, tokens, image_id)}"
    return found


def fetch_variant(item, name):
    [variant] = [variant for variant in item["variants"] if variant["name"] == name]
    answer = requests.get(variant["url"], timeout=10)
    assert answer.status_code == 200
    return variant, answer.content


# --- settings and queues -------------------------------------------------------------------------

def allow(*hosts):
    """Swap in settings whose import allow list names ``hosts``; return the settings to restore."""
    original = wiring.settings()
    wiring.configure(dataclasses.replace(original, import_allowed_hosts=frozenset(hosts)))
    return original


def queues_drained(*names) -> bool:
    """Whether every queue named holds no message: none waiting, in flight, or delayed.

    Give the queues in the order messages flow through them: a handler sends its follow-up
    message before its own is deleted, so checked in that order a message is always seen somewhere.
    """
    sqs, queues = wiring.boto3_client("sqs"), wiring.queues()
    for name in names:
        counts = sqs.get_queue_attributes(QueueUrl=queues.url(name), AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        if any(int(value) for value in counts.values()):
            return False
    return True


def wait_until_handled(*names, timeout: float = 30.0) -> None:
    """Wait until the runner has handled every message in the queues named (see ``queues_drained``)."""
    assert wait_for(lambda: queues_drained(*names), timeout=timeout), f"messages left in {names}"


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2):
    """Poll ``predicate`` until it returns something truthy; return that value (or the last falsy one)."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


@contextlib.contextmanager
def live_gateway(app):
    """The local WebSocket gateway (functions/local/live.py) named in the settings, as make run does;
    the settings are put back afterwards."""
    from functions.local.live import LocalWebsocketGateway

    local = LocalWebsocketGateway(app).start()
    saved = {key: os.environ.get(key) for key in ("LIVE_SOCKET_URL", "LIVE_ENDPOINT_URL")}
    os.environ.update(LIVE_SOCKET_URL=local.url, LIVE_ENDPOINT_URL=local.management_url)
    wiring.configure()
    try:
        yield local
    finally:
        local.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        wiring.configure()
