"""The public fetch: redirects through the same checks, and what arrives at an allowed server."""

import pytest

from functions.fetcher import Fetched, FetchRefused, fetch
from tests.unit.fetcher.routes import IMAGE, allowing, redirect, reply

# --- Redirects -----------------------------------------------------------------------------------


def test_given_an_allowed_server_that_redirects_to_the_canary_when_fetched_then_refused(remote, canary, guard):
    remote.routes["/to-canary"] = redirect(f"http://127.0.0.1:{canary.port}/")

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/to-canary"), allowing(remote))

    assert refused.value.code == "url_forbidden"
    assert canary.hits == 0
    assert len(remote.seen) == 1
    assert {port for _, port in guard.connects} == {remote.port}


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:10.0.0.1]/",
        "file:///etc/passwd",
        "gopher://127.0.0.1/",
    ],
)
def test_given_a_redirect_to_a_forbidden_target_when_fetched_then_refused_without_connecting_there(
    location, remote, guard
):
    remote.routes["/bounce"] = redirect(location, status=301)

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/bounce"), allowing(remote))

    assert refused.value.code == "url_forbidden"
    assert guard.connects == [("127.0.0.1", remote.port)]


def test_given_a_redirect_loop_when_fetched_then_refused_after_max_redirects(remote):
    for hop in range(10):
        remote.routes[f"/loop/{hop}"] = redirect(f"/loop/{hop + 1}")

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/loop/0"), allowing(remote, max_redirects=3))

    assert refused.value.code == "url_forbidden"
    assert "redirected more than 3 times" in refused.value.message
    assert [s.path for s in remote.seen] == ["/loop/0", "/loop/1", "/loop/2", "/loop/3"]


def test_given_exactly_max_redirects_when_fetched_then_the_final_body_is_returned(remote):
    remote.routes["/hop/3"] = redirect("/hop/2", status=308)
    remote.routes["/hop/2"] = redirect("1", status=307)  # relative to /hop/
    remote.routes["/hop/1"] = redirect(remote.url("/hop/0"), status=303)
    remote.routes["/hop/0"] = reply(200, IMAGE)

    fetched = fetch(remote.url("/hop/3"), allowing(remote, max_redirects=3))

    assert fetched == Fetched(url=remote.url("/hop/0"), status=200, content_type="image/png", body=IMAGE)


def test_given_no_redirects_allowed_when_the_server_redirects_then_refused(remote):
    remote.routes["/moved"] = redirect("/here")

    with pytest.raises(FetchRefused) as refused:
        fetch(remote.url("/moved"), allowing(remote, max_redirects=0))

    assert refused.value.code == "url_forbidden"
    assert refused.value.status == 302


# --- Fetching from an allowed server -------------------------------------------------------------


def test_given_an_allowed_server_with_an_image_when_fetched_then_the_bytes_are_returned(remote):
    remote.routes["/cat.png"] = reply(200, IMAGE, "Image/PNG; charset=binary")

    fetched = fetch(remote.url("/cat.png"), allowing(remote), expect_image=True)

    assert fetched == Fetched(url=remote.url("/cat.png"), status=200, content_type="image/png", body=IMAGE)
    assert remote.seen[0].headers["Accept"] == "image/*"
    assert remote.seen[0].headers["Accept-Encoding"] == "identity"


def test_given_a_webhook_when_posted_then_the_body_and_headers_arrive_intact(remote):
    remote.routes["/hooks/ready"] = reply(204, b"", None)
    payload = b'{"event": "image.ready", "id": "img_123", "bytes": "\\u00e9"}'

    fetched = fetch(
        remote.url("/hooks/ready"),
        allowing(remote),
        method="POST",
        body=payload,
        headers={"Content-Type": "application/json", "X-Pixelflow-Signature": "sha256=abc", "user-agent": "hooks/2"},
    )

    assert fetched.status == 204 and fetched.body == b""
    seen = remote.seen[0]
    assert (seen.method, seen.body) == ("POST", payload)
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["X-Pixelflow-Signature"] == "sha256=abc"
    assert seen.headers.get_all("User-Agent") == ["hooks/2"]
    assert seen.headers["Content-Length"] == str(len(payload))


@pytest.mark.parametrize(
    ("status", "method_after", "body_after"),
    [(307, "POST", b"payload"), (308, "POST", b"payload"), (302, "GET", b""), (303, "GET", b"")],
)
def test_given_a_webhook_that_redirects_when_posted_then_method_and_body_follow_http_rules(
    status, method_after, body_after, remote
):
    remote.routes["/old"] = redirect("/new", status=status)
    remote.routes["/new"] = reply(200, b"ok", "text/plain")

    fetch(remote.url("/old"), allowing(remote), method="POST", body=b"payload")

    assert (remote.seen[1].method, remote.seen[1].body) == (method_after, body_after)


def test_given_a_redirect_to_another_origin_when_fetched_then_caller_headers_are_not_forwarded(remote, other_remote):
    remote.routes["/same"] = redirect("/cross")
    remote.routes["/cross"] = redirect(other_remote.url("/landing"))
    other_remote.routes["/landing"] = reply(200, b"ok", "text/plain")

    fetch(remote.url("/same"), allowing(remote, other_remote), headers={"Authorization": "Bearer t0ken"})

    assert [s.headers["Authorization"] for s in remote.seen] == ["Bearer t0ken", "Bearer t0ken"]
    assert other_remote.seen[0].headers["Authorization"] is None


def test_given_headers_the_fetcher_controls_when_passed_then_value_error_before_connecting(remote, guard):
    with pytest.raises(ValueError):
        fetch(remote.url("/"), allowing(remote), headers={"Host": "metadata.google.internal"})

    assert guard.connects == []
