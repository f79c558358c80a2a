"""A declared SHA-256 on uploads: checked when processing, and the way to find what one already uploaded."""

import hashlib
import io

import pytest
import requests
from PIL import Image

from tests.integration.helpers import bearer, sign_up, wait_for


@pytest.fixture(scope="module")
def user(server, runner):
    return sign_up(server.url)


def png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40 + seed, 30), (seed * 7 % 256, 90, 200)).save(out, "PNG")
    return out.getvalue()


def upload(server, tokens, data: bytes, **extra) -> str:
    ticket = requests.post(f"{server.url}/uploads", headers=bearer(tokens), timeout=10, json={
        "filename": "shot.png", "content_type": "image/png", "size": len(data), **extra})
    assert ticket.status_code == 201, ticket.text
    ticket = ticket.json()
    posted = requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                           files={"file": ("shot.png", data, "image/png")}, timeout=30)
    assert posted.status_code in (200, 201, 204), posted.text
    return ticket["image_id"]


def settled(server, tokens, image_id):
    def view():
        answer = requests.get(f"{server.url}/images/{image_id}", headers=bearer(tokens), timeout=10).json()
        return answer if answer["status"] in ("done", "failed") else None
    found = wait_for(view, timeout=60)
    assert found, f"image {image_id} did not settle"
    return found


def find(server, tokens, **query):
    answer = requests.get(f"{server.url}/images", params=query, headers=bearer(tokens), timeout=10)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


def test_given_the_right_sha256_when_processed_then_done_and_found_by_it(server, user):
    data = png(1)
    digest = hashlib.sha256(data).hexdigest()
    image_id = upload(server, user, data, sha256=digest.upper())  # hex is case-insensitive, stored lower-case
    image = settled(server, user, image_id)
    assert image["status"] == "done" and image["sha256"] == digest
    assert find(server, user, sha256=digest) == [image_id]
    assert find(server, user, sha256=digest, status="failed") == []


def test_given_another_sha256_when_processed_then_failed_checksum_mismatch_with_a_sentence(server, user):
    data = png(2)
    declared = hashlib.sha256(b"some other file").hexdigest()
    image = settled(server, user, upload(server, user, data, sha256=declared))
    assert image["status"] == "failed"
    assert image["error"]["code"] == "checksum_mismatch"
    assert hashlib.sha256(data).hexdigest() in image["error"]["message"]
    assert image["variants"] == []


def test_given_no_sha256_when_processed_then_the_computed_one_is_recorded_and_findable(server, user):
    data = png(3)
    image_id = upload(server, user, data)
    assert settled(server, user, image_id)["sha256"] == hashlib.sha256(data).hexdigest()
    assert find(server, user, sha256=hashlib.sha256(data).hexdigest()) == [image_id]


def test_given_a_batch_file_with_sha256_then_it_is_findable_before_the_file_arrives(server, user):
    digest = hashlib.sha256(b"batch item").hexdigest()
    answer = requests.post(f"{server.url}/batches", headers=bearer(user), timeout=10, json={
        "files": [{"filename": "a.png", "content_type": "image/png", "size": 10, "sha256": digest}]})
    assert answer.status_code == 201, answer.text
    [item] = answer.json()["uploads"]
    assert find(server, user, sha256=digest, status="awaiting_upload") == [item["image_id"]]


def test_given_another_users_sha256_then_nothing_is_found(server, user):
    data = png(4)
    settled(server, user, upload(server, user, data))
    assert find(server, sign_up(server.url), sha256=hashlib.sha256(data).hexdigest()) == []


@pytest.mark.parametrize("path, body_or_query", [
    ("/images", {"sha256": "abc"}),
    ("/images", {"sha256": "g" * 64}),
    ("/uploads", {"filename": "a.png", "content_type": "image/png", "size": 5, "sha256": "0" * 63}),
    ("/batches", {"files": [{"filename": "a.png", "content_type": "image/png", "size": 5, "sha256": "x"}]}),
])
def test_given_a_malformed_sha256_then_4xx_naming_the_field(server, user, path, body_or_query):
    if path == "/images":
        answer = requests.get(server.url + path, params=body_or_query, headers=bearer(user), timeout=10)
    else:
        answer = requests.post(server.url + path, json=body_or_query, headers=bearer(user), timeout=10)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"].endswith("sha256")
