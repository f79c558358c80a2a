"""The presigned POST's policy, as each emulator treats it.

LocalStack (the default) enforces it as S3 does: another key, another content type or a body
over the size range is refused before anything is stored. moto enforces none of it, so there
the processing function's own checks are what stands (and the stack is for a single user).
"""

import pytest
import requests

from functions import wiring
from tests.integration import images_corpus as corpus
from tests.integration.helpers import bearer, finished, image, sign_up


@pytest.fixture(scope="module")
def users(server, runner):
    return sign_up(server.url), sign_up(server.url)


def _ticket(server, tokens, data, content_type="image/png"):
    answer = requests.post(f"{server.url}/uploads", headers=bearer(tokens), timeout=10,
                           json={"filename": "x.png", "content_type": content_type, "size": len(data)})
    assert answer.status_code == 201, answer.text
    return answer.json()


def _post(ticket, data, *, fields=None, content_type="image/png"):
    fields = {**ticket["upload"]["fields"], **(fields or {})}
    return requests.post(ticket["upload"]["url"], data=fields, files={"file": ("x.png", data, content_type)},
                         timeout=60)


def _enforcing(stack):
    return stack.kind == "localstack"


def test_given_a_ticket_whose_key_is_edited_to_another_users_prefix_when_posted_then_localstack_refuses_it(
        stack, server, users):
    if not _enforcing(stack):
        pytest.skip("moto does not enforce the POST policy: on moto the embedded stack is for a single user")
    mallory, victim = users
    data = corpus.noisy_png(64, 64)
    theirs = _ticket(server, victim, data)
    _post(theirs, data).raise_for_status()
    target = theirs["upload"]["fields"]["key"]
    forged = corpus.noisy_png(32, 32)
    for key in (target, target.replace("originals/", "variants/", 1) + "/thumbnail.webp"):
        answer = _post(_ticket(server, mallory, forged), forged, fields={"key": key})
        assert answer.status_code == 403, (key, answer.status_code, answer.text[:300])
    assert wiring.storage().get(target) == data
    # The victim's own processing may have written its thumbnail since; never the forged bytes.
    for key in wiring.storage().list_keys(target.replace("originals/", "variants/", 1) + "/"):
        assert wiring.storage().get(key) != forged, key


def test_given_a_body_over_the_size_range_when_posted_then_refused_by_localstack_or_failed_by_processing(
        stack, server, users):
    tokens, _ = users
    limit = wiring.settings().max_upload_bytes
    ticket = _ticket(server, tokens, b"\0" * 1000)
    answer = _post(ticket, b"\0" * (limit + 1))
    if _enforcing(stack):
        assert answer.status_code == 400 and "EntityTooLarge" in answer.text, answer.text[:300]
        assert wiring.storage().head(ticket["upload"]["fields"]["key"]) is None
        assert image(server, tokens, ticket["image_id"])["status"] == "awaiting_upload"
    else:
        assert answer.status_code in (200, 201, 204), answer.text[:300]
        item = finished(server, tokens, ticket["image_id"])
        assert (item["status"], item["error"]["code"]) == ("failed", "too_large")


def test_given_a_file_sent_as_another_content_type_when_posted_then_refused_by_localstack_or_judged_by_content(
        stack, server, users):
    tokens, _ = users
    data = corpus.noisy_png(80, 60)
    ticket = _ticket(server, tokens, data)
    answer = _post(ticket, data, fields={"Content-Type": "text/html"}, content_type="text/html")
    if _enforcing(stack):
        assert answer.status_code == 403, answer.text[:300]
        assert wiring.storage().head(ticket["upload"]["fields"]["key"]) is None
    else:
        # Stored as text/html, but processing reads the bytes, not the declared type.
        assert answer.status_code in (200, 201, 204), answer.text[:300]
        item = finished(server, tokens, ticket["image_id"])
        assert (item["status"], item["format"]) == ("done", "png"), item


def test_given_an_untouched_ticket_when_posted_then_every_emulator_accepts_it(stack, server, users):
    tokens, _ = users
    data = corpus.noisy_png(48, 48)
    ticket = _ticket(server, tokens, data)
    assert _post(ticket, data).status_code in (200, 201, 204)
    assert finished(server, tokens, ticket["image_id"])["status"] == "done"
