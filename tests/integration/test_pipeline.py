"""Direct uploads and the image pipeline, end to end through the embedded stack.

The browser's part is played by requests: a multipart POST of the presigned form to moto.
Then moto's ObjectCreated notification -> SQS -> the local runner -> process_image.
"""

import base64
import hashlib
import io
import json

import pytest
import requests
from PIL import Image

from functions import processing, store, wiring
from functions.imaging import jpeg
from tests.integration import images_corpus as corpus
from tests.integration.helpers import bearer, fetch_variant, finished, image, post_again, sign_up, upload, wait_for
from tests.unit import imaging_corpus


def test_given_a_browser_style_upload_when_processed_then_variants_decode_to_the_promised_sizes(server, user):
    data = corpus.photo(1600, 1200)
    image_id = upload(server, user, data, variants=[
        {"name": "card", "width": 600, "height": 400, "fit": "cover", "format": "jpeg", "quality": 85},
        {"name": "small", "width": 320, "format": "png"},
    ])
    item = finished(server, user, image_id)
    assert item["status"] == "done", item["error"]
    assert (item["width"], item["height"], item["format"]) == (1600, 1200, "jpeg")
    assert item["bytes"] == len(data)
    expected = {"thumbnail": ((128, 128), "WEBP"), "webp": ((1600, 1200), "WEBP"),
                "card": ((600, 400), "JPEG"), "small": ((320, 240), "PNG")}
    assert {variant["name"] for variant in item["variants"]} == set(expected)
    for name, (size, fmt) in expected.items():
        variant, content = fetch_variant(item, name)
        decoded = Image.open(io.BytesIO(content))
        assert (decoded.size, decoded.format) == (size, fmt), name
        assert (variant["width"], variant["height"]) == size and variant["bytes"] == len(content)
    original = requests.get(item["original"]["url"], timeout=10)
    assert original.content == data


def test_given_exif_orientation_6_when_processed_then_variants_are_upright(server, user):
    item = finished(server, user, upload(server, user, corpus.jpeg_with_orientation_6(300, 200)))
    assert item["status"] == "done"
    assert (item["width"], item["height"]) == (200, 300)
    _, content = fetch_variant(item, "webp")
    upright = Image.open(io.BytesIO(content)).convert("RGB")
    assert upright.size == (200, 300)
    # The red corner was top-left as stored; rotated 90° clockwise it is top-right.
    red, green, blue = upright.getpixel((190, 10))
    assert red > 200 and blue < 60


def test_given_gps_exif_when_processed_then_no_variant_carries_any_exif(server, user):
    item = finished(server, user, upload(server, user, corpus.jpeg_with_gps()))
    assert item["status"] == "done"
    for variant in item["variants"]:
        _, content = fetch_variant(item, variant["name"])
        decoded = Image.open(io.BytesIO(content))
        exif = decoded.getexif()
        assert 0x8825 not in exif and not exif.get_ifd(0x8825), variant["name"]
        assert b"GPS" not in content and b"TestCam" not in content, variant["name"]


BAD_INPUTS = {
    # name: (bytes, filename, declared type, expected status, expected code or output check)
    "decompression bomb": (corpus.png_bomb, "bomb.png", "image/png", "failed", "too_many_pixels"),
    "truncated jpeg": (lambda: corpus.half(corpus.photo(800, 600)), "cut.jpg", "image/jpeg", "failed", "corrupt_image"),
    "truncated png": (lambda: corpus.half(corpus.noisy_png(400, 300)), "cut.png", "image/png", "failed",
                      "corrupt_image"),
    "html named .jpg": (lambda: b"<!doctype html><html><body>hi</body></html>", "page.jpg", "image/jpeg",
                        "failed", "unsupported_type"),
    "svg": (lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>', "v.svg",
            "image/png", "failed", "unsupported_type"),
    "cmyk jpeg": (corpus.cmyk_jpeg, "cmyk.jpg", "image/jpeg", "done", (160, 120)),
    "16-bit png": (corpus.png_16bit, "deep.png", "image/png", "done", (256, 128)),
    "palette png with transparency": (corpus.palette_png_with_transparency, "pal.png", "image/png", "done",
                                      (100, 80)),
    "animated gif": (corpus.animated_gif, "anim.gif", "image/gif", "done", (90, 60)),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_given_a_hostile_or_unusual_file_when_processed_then_it_ends_with_the_right_outcome(server, user, case):
    make, filename, content_type, status, expected = BAD_INPUTS[case]
    item = finished(server, user, upload(server, user, make(), filename=filename, content_type=content_type))
    assert item["status"] == status, item
    if status == "failed":
        assert item["error"]["code"] == expected and item["error"]["message"]
    else:
        assert (item["width"], item["height"]) == expected
        _, content = fetch_variant(item, "thumbnail")
        assert Image.open(io.BytesIO(content)).size == (128, 128)


def test_given_variants_that_would_enlarge_past_the_output_budget_when_processed_then_failed_with_the_reason(
        server, user):
    # One-sided sizes follow the image, so only processing knows they come to 3 x 8192x6144 here.
    enlarged = [{"name": f"w{n}", "width": 8192, "fit": "cover"} for n in range(3)]
    item = finished(server, user, upload(server, user, corpus.photo(640, 480), variants=enlarged))
    assert item["status"] == "failed" and item["error"]["code"] == "variants_too_large", item
    assert "640x480" in item["error"]["message"] and item["variants"] == []


def _ticket(server, tokens, size=10):
    answer = requests.post(f"{server.url}/uploads", json={"filename": "x.png", "content_type": "image/png",
                                                           "size": size}, headers=bearer(tokens), timeout=10)
    assert answer.status_code == 201
    return answer.json()


def test_given_an_empty_object_put_straight_into_the_bucket_when_processed_then_failed_empty(server, user):
    ticket = _ticket(server, user)
    key = ticket["upload"]["fields"]["key"]
    wiring.storage().put(key, b"", content_type="image/png")
    item = finished(server, user, ticket["image_id"])
    assert (item["status"], item["error"]["code"]) == ("failed", "empty")


def test_given_an_object_over_the_limit_put_straight_into_the_bucket_when_processed_then_failed_too_large(
        server, user):
    ticket = _ticket(server, user)
    limit = wiring.settings().max_upload_bytes
    wiring.storage().put(ticket["upload"]["fields"]["key"], b"\0" * (limit + 1), content_type="image/png")
    item = finished(server, user, ticket["image_id"])
    assert (item["status"], item["error"]["code"]) == ("failed", "too_large")


def test_given_a_bad_file_when_the_next_good_one_arrives_then_the_worker_still_serves_it(server, user):
    bad = upload(server, user, b"garbage" * 10, filename="bad.jpg")
    good = upload(server, user, corpus.photo(300, 300))
    assert finished(server, user, bad)["status"] == "failed"
    assert finished(server, user, good)["status"] == "done"


def _row(image_id):
    return wiring.database().one(
        "SELECT status, updated_at, processed_at, processing_attempts, variants FROM images WHERE id = :id",
        id=image_id)


def test_given_a_done_image_when_its_s3_event_is_delivered_three_more_times_then_nothing_changes(server, user):
    image_id = upload(server, user, corpus.photo(400, 300))
    assert finished(server, user, image_id)["status"] == "done"
    before = _row(image_id)
    key = f"originals/{user['user']['id']}/{image_id}"
    event = json.loads(open("tests/events/s3_object_created.json").read())
    event["Records"][0]["s3"]["object"]["key"] = key
    queues = wiring.queues()
    for _ in range(3):
        queues.send("image-events", event)
    # Wait until the queue is drained, then compare.
    sqs = wiring.boto3_client("sqs")

    def drained():
        attributes = sqs.get_queue_attributes(QueueUrl=queues.url("image-events"), AttributeNames=["All"])
        counts = attributes["Attributes"]
        return counts["ApproximateNumberOfMessages"] == "0" and counts["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert wait_for(drained, timeout=30)
    after = _row(image_id)
    assert after == before
    assert after["processing_attempts"] == 1
    keys = wiring.storage().list_keys(f"variants/{user['user']['id']}/{image_id}/")
    assert len(keys) == len(after["variants"]) == 2


def test_given_two_users_when_one_asks_for_the_others_image_on_any_route_then_404(server, user):
    image_id = upload(server, user, corpus.photo(200, 200))
    finished(server, user, image_id)
    stranger = sign_up(server.url)
    for method, path in [("GET", f"/images/{image_id}"), ("GET", f"/images/{image_id}/download"),
                         ("GET", f"/images/{image_id}/download?variant=thumbnail"),
                         ("DELETE", f"/images/{image_id}")]:
        answer = requests.request(method, server.url + path, headers=bearer(stranger), timeout=10,
                                  allow_redirects=False)
        assert answer.status_code == 404, (method, path, answer.status_code)
        assert answer.json()["error"]["code"] == "image_not_found"
    mine = requests.get(f"{server.url}/images", headers=bearer(stranger), timeout=10).json()
    assert mine["items"] == []
    latest = requests.get(f"{server.url}/images/latest", headers=bearer(stranger), timeout=10)
    assert latest.status_code == 404
    assert image(server, user, image_id)["status"] == "done"


def test_given_several_images_when_listing_then_pages_are_newest_first_and_complete(server, runner):
    tokens = sign_up(server.url)
    ids = [_ticket(server, tokens)["image_id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{server.url}/images", params=params, headers=bearer(tokens), timeout=10).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    latest = requests.get(f"{server.url}/images/latest", headers=bearer(tokens), timeout=10).json()
    assert latest["id"] == ids[-1]
    bad = requests.get(f"{server.url}/images", params={"cursor": "nonsense"}, headers=bearer(tokens), timeout=10)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "cursor"


def test_given_a_done_image_when_downloading_then_302_to_a_working_link_and_delete_removes_everything(
        server, user):
    image_id = upload(server, user, corpus.photo(500, 400), filename="holiday.jpg")
    finished(server, user, image_id)
    answer = requests.get(f"{server.url}/images/{image_id}/download", params={"variant": "webp"},
                          headers=bearer(user), allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    fetched = requests.get(answer.headers["Location"], timeout=10)
    assert Image.open(io.BytesIO(fetched.content)).format == "WEBP"
    assert "holiday-webp.webp" in fetched.headers.get("Content-Disposition", "")
    missing = requests.get(f"{server.url}/images/{image_id}/download", params={"variant": "poster"},
                           headers=bearer(user), allow_redirects=False, timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "variant_not_found"
    deleted = requests.delete(f"{server.url}/images/{image_id}", headers=bearer(user), timeout=10)
    assert deleted.status_code == 204
    storage = wiring.storage()
    assert storage.list_keys(f"variants/{user['user']['id']}/{image_id}/") == []
    assert storage.head(f"originals/{user['user']['id']}/{image_id}") is None
    gone = requests.get(f"{server.url}/images/{image_id}", headers=bearer(user), timeout=10)
    assert gone.status_code == 404


@pytest.mark.parametrize("body, field, code", [
    ({"filename": "a.bmp", "content_type": "image/bmp", "size": 10}, "content_type", "unsupported_type"),
    ({"filename": "a.jpg", "content_type": "image/jpeg", "size": 10 ** 9}, "size", "too_large"),
    ({"filename": "a.jpg", "content_type": "image/jpeg", "size": 0}, "size", "invalid_input"),
    ({"filename": "a.jpg", "content_type": "image/jpeg"}, "size", "invalid_input"),
    ({"filename": "a.jpg", "content_type": "image/jpeg", "size": 10,
      "variants": [{"name": "x", "width": 0}]}, "variants[0].width", "invalid_input"),
    ({"filename": "a.jpg", "content_type": "image/jpeg", "size": 10,
      "variants": [{"name": "x", "fit": "cover"}]}, "variants[0]", "invalid_input"),
    ({"filename": "a.jpg", "content_type": "image/jpeg", "size": 10,
      "variants": [{"name": "thumbnail", "width": 10}]}, "variants[0].name", "invalid_input"),
    ({"filename": "a.jpg", "content_type": "image/jpeg", "size": 10,
      "variants": [{"name": "x", "width": 10, "quality": 101}]}, "variants[0].quality", "invalid_input"),
    ({"filename": "/", "content_type": "image/jpeg", "size": 10}, "filename", "invalid_input"),
    ({"filename": "a.jpg", "content_type": "image/jpeg", "size": 10,
      "variants": [{"name": f"v{n}", "width": 8192, "height": 8192, "fit": "fill"} for n in range(2)]},
     "variants", "variants_too_large"),
])
def test_given_an_upload_that_cannot_succeed_when_asked_then_422_names_the_field_and_nothing_is_stored(
        server, user, body, field, code):
    before = wiring.database().one("SELECT count(*) AS n FROM images")["n"]
    answer = requests.post(f"{server.url}/uploads", json=body, headers=bearer(user), timeout=10)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"].startswith(field) and error["code"] == code, error
    assert wiring.database().one("SELECT count(*) AS n FROM images")["n"] == before


# --- bounded work per image -----------------------------------------------------------------------


def test_given_two_jpegs_with_thousands_of_scans_when_a_normal_image_follows_then_they_are_refused_and_it_is_done(
        server, user):
    hostile = [upload(server, user, imaging_corpus.jpeg_with_many_scans(3000), filename=f"slow{n}.jpg")
               for n in range(2)]
    normal = upload(server, user, corpus.photo(640, 480))
    for image_id in hostile:
        item = finished(server, user, image_id)
        assert (item["status"], item["error"]["code"]) == ("failed", "too_many_scans"), item
        assert str(jpeg.MAX_SCANS) in item["error"]["message"] and item["variants"] == []
    assert finished(server, user, normal)["status"] == "done"


def _claim_and_die(key):
    """What a worker killed at its timeout leaves: a claim, nothing recorded, a lease that has run out."""
    db, settings = wiring.database(), wiring.settings()
    claim = store.claim_for_processing(db, key, lease_seconds=settings.function_timeout)
    assert claim is not None
    # Its heartbeat renewed claimed_at until it was killed one timeout in; a lease later it is taken over.
    db.execute("UPDATE images SET claimed_at = claimed_at - make_interval(secs => :age),"
               " attempt_started_at = attempt_started_at - make_interval(secs => :age + :timeout) WHERE id = :id",
               age=float(settings.function_timeout + 1), timeout=float(settings.function_timeout), id=claim["id"])
    return claim


def _claim_and_stop_early(key):
    """What an attempt cut short by a database outage leaves: a claim never renewed, no error note
    (note_error could not write either), a lease that has run out."""
    db, settings = wiring.database(), wiring.settings()
    claim = store.claim_for_processing(db, key, lease_seconds=settings.function_timeout)
    assert claim is not None
    db.execute("UPDATE images SET claimed_at = claimed_at - make_interval(secs => :age) WHERE id = :id",
               age=float(settings.function_timeout + 1), id=claim["id"])
    return claim


def test_given_attempts_killed_at_the_time_limit_when_the_event_comes_back_then_the_image_ends_too_slow(
        server, user):
    ticket = _ticket(server, user)
    key = ticket["upload"]["fields"]["key"]
    for _ in range(processing.MAX_STALLED_ATTEMPTS):
        _claim_and_die(key)
    outcome = processing.process_original(key, db=wiring.database(), storage=wiring.storage(),
                                          settings=wiring.settings())
    assert (outcome.status, outcome.code) == ("failed", "too_slow")
    item = image(server, user, ticket["image_id"])
    assert item["error"]["code"] == "too_slow" and "time limit 2 times" in item["error"]["message"]
    row = wiring.database().one("SELECT processing_attempts, stalled_attempts FROM images WHERE id = :id",
                                id=ticket["image_id"])
    assert (row["processing_attempts"], row["stalled_attempts"]) == (3, 2)


def test_given_attempts_that_recorded_their_error_when_the_event_comes_back_then_they_are_not_counted_as_kills(
        server, user):
    ticket = _ticket(server, user)
    key = ticket["upload"]["fields"]["key"]
    for _ in range(processing.MAX_STALLED_ATTEMPTS + 1):
        claim = _claim_and_die(key)
        store.note_error(wiring.database(), str(claim["id"]), str(claim["claim_token"]), "Storage is unavailable.")
    outcome = processing.process_original(key, db=wiring.database(), storage=wiring.storage(),
                                          settings=wiring.settings())
    assert (outcome.status, outcome.code) == ("failed", "missing_original")  # no file was ever posted


def test_given_attempts_cut_short_without_an_error_note_when_the_event_comes_back_then_they_are_not_stalls(
        server, user):
    # Regression: a database outage mid-image kept note_error from writing, so each takeover counted as
    # a worker killed at its time limit, and two outages ended the image failed too_slow.
    ticket = _ticket(server, user)
    key = ticket["upload"]["fields"]["key"]
    for _ in range(processing.MAX_STALLED_ATTEMPTS + 1):
        _claim_and_stop_early(key)
    outcome = processing.process_original(key, db=wiring.database(), storage=wiring.storage(),
                                          settings=wiring.settings())
    assert (outcome.status, outcome.code) == ("failed", "missing_original")  # no file was ever posted
    row = wiring.database().one("SELECT processing_attempts, stalled_attempts FROM images WHERE id = :id",
                                id=ticket["image_id"])
    assert (row["processing_attempts"], row["stalled_attempts"]) == (processing.MAX_STALLED_ATTEMPTS + 2, 0)


# --- rows, originals and variants agree -----------------------------------------------------------


def _policy(upload_ticket):
    return json.loads(base64.b64decode(upload_ticket["fields"]["policy"]))


def test_given_an_upload_or_a_batch_when_issued_then_the_post_policy_pins_exactly_the_declared_size(server, user):
    ticket = _ticket(server, user, size=12345)
    assert ["content-length-range", 12345, 12345] in _policy(ticket["upload"])["conditions"]
    answer = requests.post(f"{server.url}/batches", headers=bearer(user), timeout=10, json={"files": [
        {"filename": "a.jpg", "content_type": "image/jpeg", "size": 100},
        {"filename": "b.jpg", "content_type": "image/jpeg", "size": 2000}]})
    assert answer.status_code == 201, answer.text
    ranges = [[c for c in _policy(item["upload"])["conditions"]
               if isinstance(c, list) and c[0] == "content-length-range"]
              for item in answer.json()["uploads"]]
    assert ranges == [[["content-length-range", 100, 100]], [["content-length-range", 2000, 2000]]]


def test_given_a_file_of_another_size_than_declared_when_processed_then_failed_size_mismatch(server, user):
    # Put straight into the bucket: S3 and LocalStack refuse such a POST (EntityTooLarge), moto lets it through.
    data = corpus.photo(320, 240)
    ticket = _ticket(server, user, size=len(data) - 7)
    wiring.storage().put(ticket["upload"]["fields"]["key"], data, content_type="image/jpeg")
    item = finished(server, user, ticket["image_id"])
    assert (item["status"], item["error"]["code"]) == ("failed", "size_mismatch"), item
    assert f"{len(data):,} bytes" in item["error"]["message"] and item["variants"] == []


def _same_length(first: bytes, second: bytes) -> bytes:
    """``second`` padded after its end-of-image marker to the length of ``first`` (decoders ignore the tail)."""
    assert len(second) < len(first)
    return second + b"\0" * (len(first) - len(second))


def _recorded(image_id):
    return wiring.database().one(
        "SELECT status, width, height, bytes, original_etag, processing_attempts, variants FROM images"
        " WHERE id = :id", id=image_id)


def test_given_a_done_upload_when_its_presigned_post_is_used_again_then_the_image_is_remade_from_the_new_file(
        server, user):
    first = corpus.photo(640, 480)
    image_id, ticket = upload(server, user, first, with_ticket=True, variants=[{"name": "w200", "width": 200}])
    assert finished(server, user, image_id)["status"] == "done"
    before = _recorded(image_id)
    second = _same_length(first, corpus.photo(300, 200, quality=60))

    post_again(ticket, second)

    item = wait_for(lambda: (lambda it: it if (it["status"], it["width"]) == ("done", 300) else None)(
        image(server, user, image_id)), timeout=60)
    assert item, image(server, user, image_id)
    assert (item["width"], item["height"], item["bytes"]) == (300, 200, len(second))
    stored = wiring.storage().head(f"originals/{user['user']['id']}/{image_id}")
    after = _recorded(image_id)
    assert after["original_etag"] == stored["etag"] != before["original_etag"]
    assert after["processing_attempts"] == 2
    assert requests.get(item["original"]["url"], timeout=10).content == second
    assert item["sha256"] == hashlib.sha256(second).hexdigest()  # computed anew for the new content
    sizes = {}
    for variant in item["variants"]:
        _, content = fetch_variant(item, variant["name"])
        sizes[variant["name"]] = Image.open(io.BytesIO(content)).size
    assert sizes == {"thumbnail": (128, 128), "webp": (300, 200), "w200": (200, 133)}
    keys = wiring.storage().list_keys(f"variants/{user['user']['id']}/{image_id}/")
    assert sorted(key.rsplit("/", 1)[-1] for key in keys) == ["thumbnail.webp", "w200.webp", "webp.webp"]


def test_given_a_declared_sha256_when_the_post_is_used_again_with_other_content_then_checksum_mismatch(
        server, user):
    first = corpus.photo(640, 480)
    image_id, ticket = upload(server, user, first, with_ticket=True, sha256=hashlib.sha256(first).hexdigest())
    assert finished(server, user, image_id)["status"] == "done"

    post_again(ticket, _same_length(first, corpus.photo(300, 200, quality=60)))

    item = wait_for(lambda: (lambda it: it if it["status"] == "failed" else None)(image(server, user, image_id)),
                    timeout=60)
    assert item and item["error"]["code"] == "checksum_mismatch", image(server, user, image_id)
    assert item["sha256"] == hashlib.sha256(first).hexdigest()  # the declared promise is kept


def test_given_a_done_image_when_an_event_for_the_same_content_arrives_again_then_nothing_changes(server, user):
    image_id = upload(server, user, corpus.photo(400, 300))
    assert finished(server, user, image_id)["status"] == "done"
    before = _recorded(image_id)
    key = f"originals/{user['user']['id']}/{image_id}"
    stored = wiring.storage().head(key)
    assert before["original_etag"] == stored["etag"] and before["bytes"] == stored["bytes"]
    event = {"Records": [{"eventName": "ObjectCreated:Post", "s3": {
        "bucket": {"name": wiring.settings().bucket},
        "object": {"key": key, "size": stored["bytes"], "eTag": stored["etag"]}}}]}
    for _ in range(3):
        processing.process_original(key, db=wiring.database(), storage=wiring.storage(), settings=wiring.settings(),
                                    etag=stored["etag"])
        wiring.queues().send("image-events", event)
    sqs, queues = wiring.boto3_client("sqs"), wiring.queues()

    def drained():
        counts = sqs.get_queue_attributes(QueueUrl=queues.url("image-events"), AttributeNames=["All"])["Attributes"]
        return counts["ApproximateNumberOfMessages"] == "0" and counts["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert wait_for(drained, timeout=30)
    assert _recorded(image_id) == before


def test_given_a_done_upload_when_its_post_is_used_again_with_a_broken_file_then_failed_and_no_old_variant_is_offered(
        server, user):
    first = corpus.photo(400, 300)
    image_id, ticket = upload(server, user, first, with_ticket=True)
    assert finished(server, user, image_id)["status"] == "done"
    post_again(ticket, _same_length(first, b"\xff\xd8\xff\xe0 not really a jpeg"))
    item = wait_for(lambda: (lambda it: it if it["status"] == "failed" else None)(image(server, user, image_id)),
                    timeout=60)
    assert item and item["error"]["code"] == "corrupt_image", image(server, user, image_id)
    assert item["variants"] == [] and item["width"] is None and item["bytes"] == len(first)
    answer = requests.get(f"{server.url}/images/{image_id}/download", params={"variant": "thumbnail"},
                          headers=bearer(user), allow_redirects=False, timeout=10)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "variant_not_found"


def test_given_an_image_being_processed_when_other_content_lands_on_its_key_then_the_event_waits_and_is_not_lost(
        server, user):
    ticket = _ticket(server, user, size=len(corpus.photo(200, 150)))
    key = ticket["upload"]["fields"]["key"]
    db, settings = wiring.database(), wiring.settings()
    # A worker holds a live claim on the image (it has not read the original yet).
    assert store.claim_for_processing(db, key, lease_seconds=settings.function_timeout) is not None
    wiring.storage().put(key, corpus.photo(200, 150), content_type="image/jpeg")
    etag = wiring.storage().head(key)["etag"]
    with pytest.raises(processing.ReplacementPending):
        processing.process_original(key, db=db, storage=wiring.storage(), settings=settings, etag=etag)
    # The runner's copy of the event failed the same way and comes back after the visibility timeout,
    # when the claim above has expired like a dead worker's: the new content is processed.
    item = finished(server, user, ticket["image_id"], timeout=settings.visibility_timeout + 60)
    assert (item["status"], item["width"]) == ("done", 200), item
