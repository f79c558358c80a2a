"""Webhook signatures: X-Pixelflow-Signature is t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>."""

import hashlib
import hmac

import pytest

from functions.webhooks import derive_secret, signature_header, verify_signature

SECRET = "whsec_test-secret"
BODY = b'{"type":"image.done","id":"7d1c7f5e-0000-4000-8000-000000000000","status":"done"}'
NOW = 1_790_000_000


def test_given_a_secret_time_and_body_when_signed_then_the_header_is_the_documented_hmac():
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature_header(SECRET, NOW, BODY) == f"t={NOW},v1={expected}"


def test_given_a_known_vector_when_signed_then_the_digest_never_changes():
    # Fixed input and output, so a change in how the signed string is built cannot go unnoticed.
    assert signature_header("whsec_abc", 1700000000, b"{}") == (
        "t=1700000000,v1=" + hmac.new(b"whsec_abc", b"1700000000.{}", hashlib.sha256).hexdigest())


def test_given_a_signed_body_when_verified_with_the_same_secret_then_it_is_accepted():
    header = signature_header(SECRET, NOW, BODY)
    assert verify_signature(SECRET, header, BODY, now=NOW + 5)


@pytest.mark.parametrize("secret, body", [
    ("whsec_other", BODY),                                   # rotated or wrong secret
    (SECRET, BODY.replace(b"done", b"fail")),                # body changed in transit
    (SECRET, BODY + b" "),                                   # even by one byte
])
def test_given_a_different_secret_or_body_when_verified_then_it_is_refused(secret, body):
    assert not verify_signature(secret, signature_header(SECRET, NOW, BODY), body, now=NOW)


def test_given_a_replayed_request_when_the_timestamp_is_old_then_it_is_refused():
    header = signature_header(SECRET, NOW, BODY)
    assert verify_signature(SECRET, header, BODY, now=NOW + 299)
    assert not verify_signature(SECRET, header, BODY, now=NOW + 301)
    assert not verify_signature(SECRET, header, BODY, now=NOW - 301)


def test_given_a_timestamp_moved_by_an_attacker_when_verified_then_the_signature_no_longer_matches():
    digest = signature_header(SECRET, NOW, BODY).split("v1=")[1]
    assert not verify_signature(SECRET, f"t={NOW + 100},v1={digest}", BODY, now=NOW + 100)


@pytest.mark.parametrize("header", [None, "", "v1=abc", "t=soon,v1=abc", f"t={NOW}", f"t={NOW},v1=", "garbage"])
def test_given_a_missing_or_malformed_header_when_verified_then_it_is_refused(header):
    assert not verify_signature(SECRET, header, BODY, now=NOW)


def test_given_several_v1_values_when_one_matches_then_it_is_accepted():
    # Room for signing with two secrets during a rotation, as other providers do.
    good = signature_header(SECRET, NOW, BODY).split("v1=")[1]
    assert verify_signature(SECRET, f"t={NOW},v1={'0' * 64},v1={good}", BODY, now=NOW)


def test_given_a_key_user_and_nonce_when_deriving_then_the_secret_is_stable_and_changes_with_each_of_them():
    key, user, nonce = "k" * 48, "2f0c8f9e-6a43-4c57-9a8e-3c1d2b0a9f11", "n0nce"
    secret = derive_secret(key, user, nonce)
    assert secret == derive_secret(key, user, nonce)
    assert secret.startswith("whsec_") and len(secret) == len("whsec_") + 43
    others = {derive_secret("j" * 48, user, nonce), derive_secret(key, user.replace("2", "3"), nonce),
              derive_secret(key, user, nonce + "x")}
    assert secret not in others and len(others) == 3
