"""A declared SHA-256 on uploads: checked when processing, and the way to find what one already uploaded."""

import hashlib
import io

import pytest
import requests
from PIL import Image

from tests.integration.helpers import bearer, finished, sign_up, upload


def png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40 + seed, 30), (seed * 7 % 256, 90, 200)).save(out, "PNG")
    return out.getvalue()


def upload_png(server, tokens, data: bytes, **extra) -> str:
    return upload(server, tokens, data, filename="shot.png", content_type="image/png", **extra)


def find(server, tokens, **query):
    answer = requests.get(f"{server.url}/images", params=query, headers=bearer(tokens), timeout=10)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


def test_given_the_right_sha256_when_processed_then_done_and_found_by_it(server, user):
    data = png(1)
    digest = hashlib.sha256(data).hexdigest()
    image_id = upload_png(server, user, data, sha256=digest.upper())  # hex is case-insensitive, stored lower-case
    image = finished(server, user, image_id)
    assert image["status"] == "done" and image["sha256"] == digest
    assert find(server, user, sha256=digest) == [image_id]
    assert find(server, user, sha256=digest, status="failed") == []


def test_given_another_sha256_when_processed_then_failed_checksum_mismatch_with_a_sentence(server, user):
    data = png(2)
    declared = hashlib.sha256(b"some other file").hexdigest()
    image = finished(server, user, upload_png(server, user, data, sha256=declared))
    assert image["status"] == "failed"
    assert image["error"]["code"] == "checksum_mismatch"
    assert hashlib.sha256(data).hexdigest() in image["error"]["message"]
    assert image["variants"] == []


def test_given_no_sha256_when_processed_then_the_computed_one_is_recorded_and_findable(server, user):
    data = png(3)
    image_id = upload_png(server, user, data)
    assert finished(server, user, image_id)["sha256"] == hashlib.sha256(data).hexdigest()
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
    finished(server, user, upload_png(server, user, data))
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
