"""The pinned transport: time and size limits, broken servers, and TLS checked against the URL's host."""

import datetime
import socket
import ssl
import time

import pytest

from functions.fetcher import FetchPolicy, FetchRefused, fetch
from tests.fakes.loopback import Answer, LoopbackServer
from tests.unit.fetcher.routes import (
    IMAGE,
    allowing,
    endless,
    not_http,
    reply,
    stall_after_headers,
    trickle_body,
    trickle_headers,
)

# --- Failures ------------------------------------------------------------------------------------


def test_given_a_body_that_trickles_when_fetched_then_timeout_at_the_deadline(remote):
    remote.routes["/slow"] = trickle_body(interval=0.1)  # always faster than the read timeout
    started = time.monotonic()

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/slow"), allowing(remote, read_timeout=0.5, deadline_seconds=1.0))

    elapsed = time.monotonic() - started
    assert refused.value.code == "url_timeout"
    assert "deadline of 1 s" in refused.value.message
    assert 0.9 <= elapsed < 1.8


def test_given_headers_that_trickle_when_fetched_then_timeout_at_the_deadline(remote):
    remote.routes["/slow-headers"] = trickle_headers(interval=0.1)
    started = time.monotonic()

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/slow-headers"), allowing(remote, read_timeout=0.5, deadline_seconds=1.0))

    assert refused.value.code == "url_timeout"
    assert 0.9 <= time.monotonic() - started < 1.8


def test_given_a_server_that_stops_sending_when_fetched_then_timeout_at_the_read_timeout(remote):
    remote.routes["/stalled"] = stall_after_headers(1000, sent=b"x" * 10)
    started = time.monotonic()

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/stalled"), allowing(remote, read_timeout=0.3, deadline_seconds=5.0))

    assert refused.value.code == "url_timeout"
    assert "sent nothing for 0.3 s" in refused.value.message
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("chunked", [False, True], ids=["until-close", "chunked"])
def test_given_an_endless_body_when_fetched_then_too_large_after_the_cap(chunked, remote):
    remote.routes["/endless"] = endless(chunked)

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/endless"), allowing(remote, max_bytes=64 * 1024))

    assert refused.value.code == "url_too_large"
    assert "more than 65536 bytes" in refused.value.message


def test_given_a_content_length_over_the_cap_when_fetched_then_refused_without_reading_the_body(remote):
    remote.routes["/huge"] = stall_after_headers(10**9, sent=b"x" * 100)
    started = time.monotonic()

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/huge"), allowing(remote, max_bytes=1000, read_timeout=2.0))

    assert refused.value.code == "url_too_large"
    assert "announced 1000000000 bytes" in refused.value.message
    assert time.monotonic() - started < 0.5  # reading would have waited out the 2 s read timeout


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "until-close"])
def test_given_a_body_of_exactly_the_cap_when_fetched_then_accepted_and_one_more_byte_refused(announced, remote):
    def body_of(size):
        # Without Content-Length the body runs until the server closes the connection.
        framing = {"Content-Length": str(size)} if announced else {"Connection": "close"}
        return Answer(200, {"Content-Type": "image/png", **framing}, [b"x" * size])

    remote.routes["/fits"] = body_of(1000)
    remote.routes["/over"] = body_of(1001)
    policy = allowing(remote, max_bytes=1000)

    assert len(fetch(remote.url("/fits"), policy).body) == 1000
    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/over"), policy)
    assert refused.value.code == "url_too_large"


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/octet-stream", None])
def test_given_a_non_image_content_type_when_an_image_is_expected_then_not_image(content_type, remote):
    remote.routes["/page"] = reply(200, b"<html></html>", content_type)

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/page"), allowing(remote), expect_image=True)

    assert refused.value.code == "url_not_image"


def test_given_a_non_image_content_type_when_no_image_is_expected_then_fetched(remote):
    remote.routes["/page"] = reply(200, b"<html></html>", "text/html; charset=utf-8")

    assert fetch(remote.url("/page"), allowing(remote)).content_type == "text/html"


@pytest.mark.parametrize("status", [404, 500])
def test_given_an_error_status_when_fetched_then_unreachable_with_the_status(status, remote):
    remote.routes["/gone"] = reply(status, b"nope", "text/plain")

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/gone?token=hunter2"), allowing(remote))

    assert refused.value.code == "url_unreachable"
    assert refused.value.status == status
    assert f"HTTP {status}" in refused.value.message
    assert "hunter2" not in refused.value.message and "/gone" not in refused.value.message


def test_given_a_wider_accept_status_when_the_server_answers_404_then_fetched(remote):
    assert fetch(remote.url("/missing"), allowing(remote), accept_status=range(200, 500)).status == 404


def test_given_a_closed_port_when_fetched_then_unreachable():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]

    with pytest.raises(FetchRefused) as refused:
        fetch(f"http://127.0.0.1:{port}/", FetchPolicy(allowed_hosts=frozenset({f"127.0.0.1:{port}"})))

    assert refused.value.code == "url_unreachable"


def test_given_a_server_that_does_not_speak_http_when_fetched_then_unreachable(remote):
    remote.routes["/"] = not_http

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/"), allowing(remote))

    assert refused.value.code == "url_unreachable"
    assert "invalid HTTP response" in refused.value.message


def test_given_https_to_a_plain_http_server_when_fetched_then_unreachable(remote):
    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/", scheme="https"), allowing(remote))

    assert refused.value.code == "url_unreachable"
    assert "TLS" in refused.value.message


# --- TLS -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A private CA and a certificate it signed for images.test, written as PEM files."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def issue(subject, key, issuer, issuer_key, *, ca, names=()):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = issue("pixelflow test CA", ca_key, "pixelflow test CA", ca_key, ca=True)
    leaf_cert = issue("images.test", leaf_key, "pixelflow test CA", ca_key, ca=False, names=["images.test"])
    folder = tmp_path_factory.mktemp("tls")
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (folder / "leaf.pem").write_bytes(
        leaf_cert.public_bytes(serialization.Encoding.PEM)
        + leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return folder


@pytest.fixture
def tls_remote(tls_files):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files / "leaf.pem")
    server_names = []
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    with LoopbackServer(tls_context=context) as srv:
        srv.server_names = server_names
        yield srv


def test_given_https_with_a_trusted_certificate_when_fetched_then_sni_and_verification_use_the_url_host(
    tls_remote, tls_files, guard, monkeypatch
):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files / "ca.pem"))  # the test CA becomes the trust store
    guard.answer("images.test", "127.0.0.1")
    tls_remote.routes["/cat.png"] = reply(200, IMAGE)

    fetched = fetch(
        f"https://images.test:{tls_remote.port}/cat.png", allowing(allowed_hosts={f"images.test:{tls_remote.port}"})
    )

    assert fetched.body == IMAGE
    assert tls_remote.server_names == ["images.test"]
    assert guard.connects == [("127.0.0.1", tls_remote.port)]


def test_given_https_with_a_certificate_for_another_name_when_fetched_then_unreachable(
    tls_remote, tls_files, guard, monkeypatch
):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files / "ca.pem"))
    guard.answer("other.test", "127.0.0.1")

    with pytest.raises(FetchRefused) as refused:
        fetch(f"https://other.test:{tls_remote.port}/", allowing(allowed_hosts={f"other.test:{tls_remote.port}"}))

    assert refused.value.code == "url_unreachable"
    assert "certificate" in refused.value.message
    assert tls_remote.seen == []


def test_given_https_with_an_untrusted_certificate_when_fetched_then_unreachable(tls_remote, guard):
    guard.answer("images.test", "127.0.0.1")

    with pytest.raises(FetchRefused) as refused:
        fetch(f"https://images.test:{tls_remote.port}/", allowing(allowed_hosts={f"images.test:{tls_remote.port}"}))

    assert refused.value.code == "url_unreachable"
    assert "certificate" in refused.value.message
    assert tls_remote.seen == []
