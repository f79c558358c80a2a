"""The storage gate's checks on their own: policies and links made by boto3's presigner, judged by the gate."""

import base64
import datetime
import json
import threading
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config

from functions.adapters.disposition import attachment_disposition
from functions.local.gate import PostPolicy, Refused, check_presigned_query

SECRET = "run-secret"


def now():
    return datetime.datetime.now(datetime.UTC)


def _client(secret=SECRET):
    return boto3.client("s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:9999",
                        aws_access_key_id="testing", aws_secret_access_key=secret,
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


def _form(secret=SECRET, expires_in=300, key="originals/u1/i1"):
    post = _client(secret).generate_presigned_post(
        "bucket", key, Fields={"Content-Type": "image/png"},
        Conditions=[{"Content-Type": "image/png"}, ["content-length-range", 10, 10]], ExpiresIn=expires_in)
    return {name.lower(): value for name, value in post["fields"].items()}


def _judge(fields, size=10, bucket="bucket"):
    policy = PostPolicy(fields, SECRET, now())
    policy.check_conditions(policy.check_signature(), bucket, size)


def _code(fields, **kwargs):
    with pytest.raises(Refused) as refused:
        _judge(fields, **kwargs)
    return refused.value.code


def test_given_an_untouched_form_then_it_passes():
    _judge(_form())


def test_given_a_rewritten_policy_then_the_signature_does_not_match():
    fields = _form()
    policy = json.loads(base64.b64decode(fields["policy"]))
    policy["conditions"] = [c for c in policy["conditions"] if not (isinstance(c, dict) and "key" in c)]
    policy["conditions"].append({"key": "originals/victim/image"})
    fields.update(policy=base64.b64encode(json.dumps(policy).encode()).decode(), key="originals/victim/image")
    assert _code(fields) == "SignatureDoesNotMatch"


def test_given_a_form_signed_with_another_secret_then_refused():
    assert _code(_form(secret="testing")) == "SignatureDoesNotMatch"


@pytest.mark.parametrize("change", [{"key": "originals/victim/image"}, {"content-type": "text/html"},
                                    {"success_action_redirect": "https://example.com/"}])
def test_given_a_field_changed_or_added_then_refused(change):
    assert _code({**_form(), **change}) == "AccessDenied"


@pytest.mark.parametrize("size, code", [(11, "EntityTooLarge"), (9, "EntityTooSmall")])
def test_given_a_file_outside_the_range_then_refused_with_s3s_code(size, code):
    assert _code(_form(), size=size) == code


def test_given_another_bucket_or_an_expired_policy_then_refused():
    assert _code(_form(), bucket="other") == "AccessDenied"
    with pytest.raises(Refused, match="expired"):
        _judge(_form(expires_in=-1))


def _link(key="originals/u1/i1", secret=SECRET, **params):
    url = _client(secret).generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": key, **params},
                                                 ExpiresIn=60)
    parts = urlsplit(url)
    return parts.netloc, parts.path, parts.query


@pytest.mark.parametrize("name", ["a b.png", "100% done, (final).gif", "фото.jpg"])
def test_given_a_presigned_download_link_then_it_passes_for_its_method_and_host_only(name):
    # Percent signs inside an encoded value must be decoded once, as the signer did.
    host, path, query = _link(ResponseContentDisposition=attachment_disposition(name))
    check_presigned_query("GET", host, path, query, SECRET, now())
    for method, other_host in (("HEAD", host), ("GET", "127.0.0.1:1")):
        with pytest.raises(Refused):
            check_presigned_query(method, other_host, path, query, SECRET, now())


def test_given_a_link_pointed_at_another_key_or_signed_elsewhere_or_expired_then_refused():
    host, path, query = _link()
    with pytest.raises(Refused):
        check_presigned_query("GET", host, path.replace("u1", "u2"), query, SECRET, now())
    with pytest.raises(Refused):
        check_presigned_query("GET", host, path, query + "&response-content-type=text%2Fhtml", SECRET, now())
    with pytest.raises(Refused):
        check_presigned_query("GET", *_link(secret="testing"), SECRET, now())
    with pytest.raises(Refused, match="expired"):
        check_presigned_query("GET", host, path, query, SECRET, now() + datetime.timedelta(seconds=120))
    with pytest.raises(Refused):
        check_presigned_query("GET", host, path, "", SECRET, now())


@pytest.fixture(scope="module")
def gate():
    """A gate whose upstream does not exist: everything here must be refused before anything is forwarded."""
    from functions.local.gate import StorageGate
    from functions.local.stack import free_port

    running = StorageGate(f"http://127.0.0.1:{free_port()}", SECRET, max_upload_bytes=1000).start()
    yield running
    running.stop()


def _raw(gate, request: bytes) -> bytes:
    import socket

    host, port = gate.url.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_given_a_declared_body_over_the_limit_then_refused_without_reading_it(gate):
    answer = _raw(gate, b"POST /bucket HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                        b"Content-Length: 1000000000000\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 400") and b"<Code>EntityTooLarge</Code>" in answer


@pytest.mark.parametrize("body", [
    b'--b\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\nDATA\r\n'
    b'--b\r\nContent-Disposition: form-data; name="key"\r\n\r\nk\r\n--b--\r\n',          # a field after the file
    b'--b\r\nContent-Disposition: form-data; name="key"\r\n\r\nk\r\n'
    b'--b\r\nContent-Disposition: form-data; name="KEY"\r\n\r\nj\r\n--b--\r\n',          # a repeated field
    b'--b\r\nContent-Disposition: form-data; name="key"\r\n\r\nk\r\n--b--\r\n',          # no file
    b"not a form at all",
])
def test_given_a_form_that_two_parsers_could_read_differently_then_refused(gate, body):
    head = (f"POST /bucket HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    answer = _raw(gate, head + body)
    assert answer.startswith(b"HTTP/1.0 400"), answer[:200]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "GET"])
def test_given_an_unsigned_request_then_refused_in_s3s_shape(gate, method):
    import requests

    answer = requests.request(method, f"{gate.url}/bucket/originals/x", data=b"x" if method == "PUT" else None,
                              headers={"Origin": "http://127.0.0.1:1"}, timeout=10)
    assert answer.status_code == 403 and "<Code>AccessDenied</Code>" in answer.text
    # The page reads the code, so the refusal must be readable cross-origin.
    assert answer.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:1"


def test_given_an_absolute_form_target_then_refused(gate):
    answer = _raw(gate, b"GET http://elsewhere/bucket/key HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 400") and b"InvalidURI" in answer


def test_given_an_upload_slower_than_the_header_deadline_then_its_body_is_still_read_and_judged(gate, monkeypatch):
    import socket

    from functions.local import http

    monkeypatch.setattr(http, "READ_SECONDS", 0.3)  # the pool's deadline for a request's headers
    fields = _form(secret="not the gate's secret")
    body = b"".join(f'--b\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
                    for name, value in fields.items())
    body += b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\nContent-Type: image/jpeg\r\n\r\n'
    body += b"x" * 10 + b"\r\n--b--\r\n"
    host, port = gate.url.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /bucket HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        for start in range(0, len(body), len(body) // 4 + 1):  # the body trickles in over ~1 s
            threading.Event().wait(0.25)
            sock.sendall(body[start:start + len(body) // 4 + 1])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 403") and b"SignatureDoesNotMatch" in answer
