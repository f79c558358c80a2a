"""Imports end to end: POST /imports -> import-jobs -> SSRF-safe fetch -> original -> the standard pipeline.

Images are served by a small web server on 127.0.0.1 that the settings' allow list names (as a
test must: loopback is otherwise refused). A second loopback server, the canary, is NOT on the
allow list: every forbidden URL points at it where it can, and it must never see a request.
"""

import json

import pytest
import requests

from functions import wiring
from tests.fakes.loopback import Answer, LoopbackServer, Raw
from tests.integration import images_corpus as corpus
from tests.integration.helpers import (
    allow,
    bearer,
    fetch_variant,
    finished,
    image,
    sign_up,
    wait_for,
    wait_until_handled,
)
from tests.integration.images_corpus import PHOTO


@pytest.fixture(scope="module")
def origin(origin):
    """The allowed image server, with a few routes every test can use."""
    origin.routes.update({
        "/photos/beach.jpg": Answer(200, {"Content-Type": "image/jpeg"}, PHOTO),
        "/page.html": Answer(200, {"Content-Type": "text/html"}, b"<!doctype html><p>not an image</p>"),
        "/missing.jpg": Answer(404, {"Content-Type": "text/plain"}, b"gone"),
    })
    return origin


@pytest.fixture(scope="module")
def canary():
    """A loopback server that is NOT allowed: reaching it at all would be the SSRF the guard prevents."""
    with LoopbackServer() as server:
        server.routes["/"] = Answer(200, {"Content-Type": "image/png"}, corpus.photo(10, 10, "PNG"))
        yield server


def start_import(server, tokens, url, **body):
    answer = requests.post(f"{server.url}/imports", json={"url": url, **body}, headers=bearer(tokens), timeout=10)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued"
    return answer.json()["image_id"]


def test_given_an_allowed_image_url_when_imported_then_it_is_fetched_once_and_processed_like_an_upload(
        server, user, origin):
    before = len(origin.received("/photos/beach.jpg"))
    image_id = start_import(server, user, origin.url("/photos/beach.jpg?size=large"),
                            variants=[{"name": "small", "width": 320, "format": "png"}])
    first = image(server, user, image_id)
    assert first["source"] == "import" and first["original_name"] == "beach.jpg"
    assert first["source_url"] == origin.url("/photos/beach.jpg?size=large")
    item = finished(server, user, image_id)
    assert item["status"] == "done", item["error"]
    assert (item["width"], item["height"], item["format"]) == (640, 480, "jpeg")
    assert {variant["name"] for variant in item["variants"]} == {"thumbnail", "webp", "small"}
    variant, _ = fetch_variant(item, "small")
    assert (variant["width"], variant["height"]) == (320, 240)
    assert requests.get(item["original"]["url"], timeout=10).content == PHOTO
    [request] = origin.received("/photos/beach.jpg?size=large")
    assert request.headers["Accept"] == "image/*" and "pixelflow" in request.headers["User-Agent"]
    assert len(origin.received("/photos/beach.jpg")) == before


def test_given_a_duplicated_import_message_when_both_are_handled_then_the_url_is_fetched_once(server, user, origin):
    origin.routes["/slowish.jpg"] = Answer(200, {"Content-Type": "image/jpeg"}, PHOTO, delay=0.5)
    image_id = start_import(server, user, origin.url("/slowish.jpg"))
    queues = wiring.queues()
    for _ in range(2):
        queues.send("import-jobs", {"image_id": image_id})
    item = finished(server, user, image_id)
    assert item["status"] == "done", item["error"]
    queues.send("import-jobs", {"image_id": image_id})  # long after: the image is no longer queued
    wait_until_handled("import-jobs")
    assert len(origin.received("/slowish.jpg")) == 1
    row = wiring.database().one("SELECT processing_attempts FROM images WHERE id = :id", id=image_id)
    assert row["processing_attempts"] == 1


def test_given_a_stored_original_when_a_late_import_message_claims_it_then_nothing_is_fetched_again(
        server, user, origin):
    # As if a worker stored the original and died before recording it: the claim lease has run out.
    origin.routes["/late.jpg"] = Answer(200, {"Content-Type": "image/jpeg"}, PHOTO)
    image_id = start_import(server, user, origin.url("/late.jpg"))
    assert finished(server, user, image_id)["status"] == "done"
    db = wiring.database()
    db.execute("UPDATE images SET status = 'queued', claim_token = NULL WHERE id = :id", id=image_id)
    from functions import outbound, store
    from functions.messages import FetchOrder
    claim = store.claim_import(db, image_id, lease_seconds=60)
    order = FetchOrder(image_id, str(claim["claim_token"]), origin.url("/late.jpg"), claim["storage_key"], 10**7)
    # The outside function finds the original and reports it stored, without fetching it again.
    assert outbound.fetch_import(order, wiring.outbound()).result == "stored"
    assert len(origin.received("/late.jpg")) == 1


def _trickle(seconds: float):
    """Headers at once, then a kilobyte every 0.2 s for ``seconds``: never silent long enough for a read timeout."""
    def write(out, stopping):
        out.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nConnection: close\r\n\r\n")
        for _ in range(int(seconds / 0.2)):
            out.write(b"\xff" * 1024)
            if stopping.wait(0.2):
                return
    return Raw(write)


FAILURES = {
    # name: (route answer on the allowed server, expected code)
    "html page": (Answer(200, {"Content-Type": "text/html"}, b"<p>hi</p>"), "url_not_image"),
    "not found": (Answer(404, {"Content-Type": "text/plain"}, b"nope"), "url_unreachable"),
    "server error": (Answer(503, {"Content-Type": "text/plain"}, b"busy"), "url_unreachable"),
    "announced too large": (Answer(200, {"Content-Type": "image/jpeg", "Content-Length": str(50 * 1024 * 1024)},
                                   [b"\xff" * 1024]), "url_too_large"),
    "streamed too large": (Answer(200, {"Content-Type": "image/jpeg"},
                                  (b"\xff" * 65536 for _ in range(200))), "url_too_large"),
    "silent server": (Answer(200, {"Content-Type": "image/jpeg"}, PHOTO, delay=15), "url_timeout"),
    "trickling body": (_trickle(15), "url_timeout"),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_given_a_url_that_cannot_be_imported_when_fetched_then_failed_with_the_right_code_and_a_sentence(
        server, user, origin, case):
    answer, code = FAILURES[case]
    path = f"/failure/{case.replace(' ', '-')}"
    origin.routes[path] = answer
    item = finished(server, user, start_import(server, user, origin.url(path)), timeout=30)
    assert (item["status"], item["error"]["code"]) == ("failed", code), item["error"]
    assert item["error"]["message"] and "/failure" not in item["error"]["message"]  # the origin only
    assert item["original"] is not None and item["variants"] == []


def test_given_a_closed_port_on_the_allow_list_when_imported_then_url_unreachable(server, user):
    with LoopbackServer() as gone:
        url, host = gone.url("/x.jpg"), gone.host
    original = allow(*wiring.settings().import_allowed_hosts, host)
    try:
        item = finished(server, user, start_import(server, user, url), timeout=30)
    finally:
        wiring.configure(original)
    assert (item["status"], item["error"]["code"]) == ("failed", "url_unreachable")


def ssrf_catalogue(origin, canary):
    """URLs every import must refuse (url_forbidden) without sending the canary a single packet."""
    port = canary.port
    origin.routes.update({
        "/to-canary": Answer(302, {"Location": canary.url("/")}),
        "/to-canary-mapped": Answer(301, {"Location": f"http://[::ffff:127.0.0.1]:{port}/"}),
        "/to-metadata": Answer(307, {"Location": "http://169.254.169.254/latest/meta-data/"}),
        "/to-localhost": Answer(303, {"Location": f"http://localhost:{port}/"}),
        "/loop": Answer(302, {"Location": "/loop"}),
    })
    return [
        canary.url("/"),                                        # loopback, not on the allow list
        f"http://localhost:{port}/",                            # names this machine
        f"http://2130706433:{port}/",                           # 127.0.0.1 as one decimal number
        f"http://0177.0.0.1:{port}/",                           # octal
        f"http://0x7f.0.0.1:{port}/",                           # hex
        f"http://0x7f000001:{port}/",                           # one hex number
        f"http://127.1:{port}/",                                # short form
        f"http://[::ffff:127.0.0.1]:{port}/",                   # IPv4-mapped IPv6
        f"http://[::ffff:7f00:1]:{port}/",                      # the same, in hex groups
        f"http://[::1]:{port}/",                                # IPv6 loopback
        f"http://0.0.0.0:{port}/",                              # unspecified: reaches this machine on Linux
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",        # NAT64 form of the metadata address
        "http://169.254.169.254/latest/meta-data/iam/",         # cloud metadata
        "http://100.64.0.1/",                                   # carrier-grade NAT
        "http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.1.1/",  # private
        "http://224.0.0.1/",                                    # multicast
        "http://240.0.0.1/",                                    # reserved
        "http://[fe80::1]/",                                    # IPv6 link-local
        "http://[fc00::1]/",                                    # IPv6 unique local
        origin.url("/to-canary"),                               # an allowed server redirecting to loopback
        origin.url("/to-canary-mapped"),                        # ... to mapped loopback
        origin.url("/to-metadata"),                             # ... to the metadata address
        origin.url("/to-localhost"),                            # ... to localhost by name
        origin.url("/loop"),                                    # more than 3 redirects
    ]


def test_given_the_ssrf_catalogue_when_each_url_is_imported_then_each_fails_forbidden_and_the_canary_hears_nothing(
        server, user, origin, canary):
    catalogue = ssrf_catalogue(origin, canary)
    assert len(catalogue) >= 25
    ids = {start_import(server, user, url): url for url in catalogue}

    def settled():
        items = {image_id: image(server, user, image_id) for image_id in ids}
        return items if all(item["status"] in ("done", "failed") for item in items.values()) else None
    items = wait_for(settled, timeout=60)
    assert items, "not every import finished"
    wrong = {ids[image_id]: (item["status"], (item["error"] or {}).get("code"))
             for image_id, item in items.items() if (item["error"] or {}).get("code") != "url_forbidden"}
    assert wrong == {}
    assert canary.received() == []
    assert len(origin.received("/loop")) == 4  # the first request and three redirects, then refused
    for image_id, item in items.items():
        assert "meta-data" not in item["error"]["message"]  # messages name the origin, never the path


@pytest.mark.parametrize("url, field", [
    ("ftp://files.example/a.jpg", "url"),
    ("file:///etc/passwd", "url"),
    ("gopher://127.0.0.1:70/", "url"),
    ("javascript:alert(1)", "url"),
    ("not a url", "url"),
    ("http://", "url"),
    ("https://user:secret@photos.example/a.jpg", "url"),
    ("https://photos.example/" + "a" * 2048, "url"),
    ("https://photos.example:99999/a.jpg", "url"),
])
def test_given_a_url_that_is_not_http_when_posted_then_422_names_url_and_nothing_is_stored(server, user, url, field):
    before = wiring.database().one("SELECT count(*) AS n FROM images")["n"]
    answer = requests.post(f"{server.url}/imports", json={"url": url}, headers=bearer(user), timeout=10)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field
    assert wiring.database().one("SELECT count(*) AS n FROM images")["n"] == before


def test_given_an_import_message_that_kept_failing_when_dead_lettered_then_the_image_ends_import_failed(
        server, user, origin):
    # Stop the real job from finishing it: the origin stalls past the fetch deadline, and the row is held
    # by a worker whose lease has not run out (whether the real job claimed it first or not).
    origin.routes["/stalled.jpg"] = Answer(200, {"Content-Type": "image/jpeg"}, PHOTO, delay=6.0)
    image_id = start_import(server, user, origin.url("/stalled.jpg"))
    db = wiring.database()
    db.execute("UPDATE images SET claim_token = gen_random_uuid(), claimed_at = now() + interval '1 hour',"
               " last_error = 'Storage is unavailable: SlowDown' WHERE id = :id", id=image_id)
    wiring.queues().send("import-jobs-dlq", {"image_id": image_id})
    item = finished(server, user, image_id, timeout=30)
    assert (item["status"], item["error"]["code"]) == ("failed", "import_failed")
    assert "SlowDown" in item["error"]["message"]


def test_given_another_users_import_when_asked_for_then_404(server, user, origin):
    image_id = start_import(server, user, origin.url("/photos/beach.jpg?mine"))
    stranger = sign_up(server.url)
    answer = requests.get(f"{server.url}/images/{image_id}", headers=bearer(stranger), timeout=10)
    assert answer.status_code == 404
    finished(server, user, image_id)


def test_given_a_url_with_a_path_when_imported_then_the_name_is_its_last_segment_or_import(server, user, origin):
    named = start_import(server, user, origin.url("/photos/My%20Holiday.jpg"))
    bare = start_import(server, user, origin.url("/"))
    assert image(server, user, named)["original_name"] == "My Holiday.jpg"
    assert image(server, user, bare)["original_name"] == "import"
    assert json.dumps(finished(server, user, bare)["error"])  # the root answers 404: failed, with a reason
