"""The presigned POST's policy and the presigned links, as the storage gate enforces them on both emulators.

Browsers reach storage through the gate (functions/local/gate.py), which checks the policy's
signature and conditions itself: LocalStack checks no signature and moto checks nothing.
"""

import base64
import json

import boto3
import pytest
import requests
from botocore.config import Config

from functions import wiring
from functions.local.stack import LOCAL_CREDENTIALS
from tests.integration import images_corpus as corpus
from tests.integration.helpers import bearer, finished, image, sign_up


@pytest.fixture(scope="module")
def users(server, runner):
    return sign_up(server.url), sign_up(server.url)


@pytest.fixture(scope="module")
def victims_image(server, users):
    """The victim's finished upload: (ticket, bytes)."""
    _, victim = users
    data = corpus.noisy_png(64, 64)
    ticket = _ticket(server, victim, data)
    _post(ticket, data).raise_for_status()
    assert finished(server, victim, ticket["image_id"])["status"] == "done"
    return ticket, data


def _ticket(server, tokens, data, content_type="image/png"):
    answer = requests.post(f"{server.url}/uploads", headers=bearer(tokens), timeout=10,
                           json={"filename": "x.png", "content_type": content_type, "size": len(data)})
    assert answer.status_code == 201, answer.text
    return answer.json()


def _post(ticket, data, *, fields=None, content_type="image/png"):
    fields = {**ticket["upload"]["fields"], **(fields or {})}
    return requests.post(ticket["upload"]["url"], data=fields, files={"file": ("x.png", data, content_type)},
                         timeout=60)


def _error_code(answer):
    return answer.text.split("<Code>", 1)[-1].split("</Code>", 1)[0]


def _untouched(ticket, data):
    assert wiring.storage().get(ticket["upload"]["fields"]["key"]) == data


def test_given_the_embedded_stack_then_browsers_are_sent_to_the_gate_not_the_emulator(stack):
    assert stack.gate is not None
    ticket_url = wiring.storage().presigned_post("originals/x", max_bytes=1, content_type="image/png",
                                                 expires_in=60)["url"]
    assert ticket_url.startswith(stack.gate.url) and not ticket_url.startswith(stack.emulator.url)


def test_given_her_own_ticket_whose_policy_is_rewritten_to_the_victims_key_when_posted_then_refused(
        server, users, victims_image):
    mallory, _ = users
    theirs, original = victims_image
    target = theirs["upload"]["fields"]["key"]
    forged = corpus.noisy_png(64, 64)
    ticket = _ticket(server, mallory, forged)
    policy = json.loads(base64.b64decode(ticket["upload"]["fields"]["policy"]))
    policy["conditions"] = [c for c in policy["conditions"] if not (isinstance(c, dict) and "key" in c)]
    policy["conditions"].append({"key": target})
    rewritten = base64.b64encode(json.dumps(policy).encode()).decode()
    answer = _post(ticket, forged, fields={"policy": rewritten, "key": target})
    assert answer.status_code == 403 and _error_code(answer) == "SignatureDoesNotMatch", answer.text[:300]
    _untouched(theirs, original)


def test_given_a_policy_signed_with_the_emulators_well_known_key_when_posted_then_refused(
        server, users, victims_image):
    theirs, original = victims_image
    # What anyone can compute: the emulator's credentials are in this repository.
    gate = theirs["upload"]["url"].rsplit("/", 1)[0]
    s3 = boto3.client("s3", region_name=wiring.settings().region, endpoint_url=gate,
                      aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                      config=Config(s3={"addressing_style": "path"}))
    key = theirs["upload"]["fields"]["key"]
    forged = s3.generate_presigned_post(wiring.settings().bucket, key, ExpiresIn=300)
    answer = requests.post(forged["url"], data=forged["fields"], files={"file": ("x.png", b"forged", "image/png")},
                           timeout=60)
    assert answer.status_code == 403, answer.text[:300]
    _untouched(theirs, original)


def test_given_a_ticket_whose_key_is_edited_to_another_users_prefix_when_posted_then_refused(
        server, users, victims_image):
    mallory, _ = users
    theirs, original = victims_image
    target = theirs["upload"]["fields"]["key"]
    forged = b"\x89PNG forged"
    for key in (target, target.replace("originals/", "variants/", 1) + "/thumbnail.webp"):
        answer = _post(_ticket(server, mallory, forged), forged, fields={"key": key})
        assert answer.status_code == 403, (key, answer.status_code, answer.text[:300])
    _untouched(theirs, original)


def test_given_a_field_the_policy_does_not_cover_when_posted_then_refused(server, users):
    tokens, _ = users
    data = corpus.noisy_png(40, 40)
    ticket = _ticket(server, tokens, data)
    answer = _post(ticket, data, fields={"success_action_redirect": "https://example.com/"})
    assert answer.status_code == 403 and "Extra input fields" in answer.text, answer.text[:300]
    assert wiring.storage().head(ticket["upload"]["fields"]["key"]) is None


@pytest.mark.parametrize("size_change, code", [(+1, "EntityTooLarge"), (-1, "EntityTooSmall")])
def test_given_a_body_of_another_size_than_declared_when_posted_then_refused(server, users, size_change, code):
    tokens, _ = users
    data = corpus.noisy_png(50, 50)
    ticket = _ticket(server, tokens, data)
    answer = _post(ticket, data + b"\0" if size_change > 0 else data[:-1])
    assert answer.status_code == 400 and _error_code(answer) == code, answer.text[:300]
    assert wiring.storage().head(ticket["upload"]["fields"]["key"]) is None
    assert image(server, tokens, ticket["image_id"])["status"] == "awaiting_upload"


def test_given_a_body_over_the_upload_limit_when_posted_then_refused_before_it_is_stored(server, users):
    tokens, _ = users
    limit = wiring.settings().max_upload_bytes
    ticket = _ticket(server, tokens, b"\0" * 1000)
    answer = _post(ticket, b"\0" * (limit + 1))
    assert answer.status_code == 400 and _error_code(answer) == "EntityTooLarge", answer.text[:300]
    assert wiring.storage().head(ticket["upload"]["fields"]["key"]) is None
    assert image(server, tokens, ticket["image_id"])["status"] == "awaiting_upload"


def test_given_a_file_sent_as_another_content_type_when_posted_then_refused(server, users):
    tokens, _ = users
    data = corpus.noisy_png(80, 60)
    ticket = _ticket(server, tokens, data)
    answer = _post(ticket, data, fields={"Content-Type": "text/html"}, content_type="text/html")
    assert answer.status_code == 403, answer.text[:300]
    assert wiring.storage().head(ticket["upload"]["fields"]["key"]) is None


def test_given_an_expired_policy_when_posted_then_refused_as_expired(server, users):
    tokens, _ = users
    data = corpus.noisy_png(30, 30)
    ticket = _ticket(server, tokens, data)
    key = ticket["upload"]["fields"]["key"]
    # Signed with the run's own secret, like every ticket, but its expiration has passed.
    expired = wiring.storage().presigned_post(key, min_bytes=len(data), max_bytes=len(data),
                                              content_type="image/png", expires_in=-60)
    answer = requests.post(expired["url"], data=expired["fields"], files={"file": ("x.png", data, "image/png")},
                           timeout=60)
    assert answer.status_code == 403 and "expired" in answer.text, answer.text[:300]
    assert wiring.storage().head(key) is None


def test_given_a_signed_link_pointed_at_another_users_key_when_fetched_then_refused(server, users, victims_image):
    mallory, _ = users
    theirs, original = victims_image
    data = corpus.noisy_png(20, 20)
    mine = _ticket(server, mallory, data)
    _post(mine, data).raise_for_status()
    link = finished(server, mallory, mine["image_id"])["original"]["url"]
    assert requests.get(link, timeout=10).content == data
    forged = link.replace(mine["upload"]["fields"]["key"], theirs["upload"]["fields"]["key"])
    assert forged != link
    answer = requests.get(forged, timeout=10)
    assert answer.status_code == 403 and _error_code(answer) == "SignatureDoesNotMatch", answer.text[:300]
    assert original not in answer.content


def test_given_requests_that_are_not_presigned_when_sent_to_the_gate_then_refused(stack, victims_image):
    theirs, _ = victims_image
    bucket_url = theirs["upload"]["url"].rstrip("/")
    key = theirs["upload"]["fields"]["key"]
    for method, url in (("GET", f"{bucket_url}/{key}"), ("GET", bucket_url), ("GET", f"{bucket_url}?list-type=2"),
                        ("PUT", f"{bucket_url}/{key}"), ("DELETE", f"{bucket_url}/{key}"),
                        ("HEAD", f"{bucket_url}/{key}")):
        answer = requests.request(method, url, data=b"x" if method == "PUT" else None, timeout=10)
        assert answer.status_code == 403, (method, url, answer.status_code)
    answer = requests.post(bucket_url, data=b"<Delete/>", headers={"Content-Type": "application/xml"}, timeout=10)
    assert answer.status_code == 403


def test_given_a_cors_preflight_when_sent_to_the_gate_then_the_buckets_rule_answers(server, victims_image):
    theirs, _ = victims_image
    answer = requests.options(theirs["upload"]["url"], timeout=10, headers={
        "Origin": server.url, "Access-Control-Request-Method": "POST"})
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers.get("Access-Control-Allow-Origin") == server.url


def test_given_an_untouched_ticket_when_posted_then_stored_processed_and_downloadable(server, users):
    tokens, _ = users
    data = corpus.noisy_png(48, 48)
    ticket = _ticket(server, tokens, data)
    assert _post(ticket, data).status_code in (200, 201, 204)
    item = finished(server, tokens, ticket["image_id"])
    assert item["status"] == "done"
    assert requests.get(item["original"]["url"], timeout=10).content == data
