"""Batches end to end: files and URLs in one request, each through its own path, followed as one."""

import dataclasses

import pytest
import requests

from functions import wiring
from tests.fakes.loopback import Answer
from tests.integration import images_corpus as corpus
from tests.integration.helpers import bearer, fetch_variant, image, sign_up, wait_for, wait_until_handled
from tests.integration.images_corpus import PHOTO

VARIANTS = [{"name": "card", "width": 300, "height": 200, "fit": "cover", "format": "jpeg"}]


@pytest.fixture(scope="module")
def origin(origin):
    origin.routes["/harbour.jpg"] = Answer(200, {"Content-Type": "image/jpeg"}, PHOTO)
    return origin


def create(server, tokens, **body):
    answer = requests.post(f"{server.url}/batches", json=body, headers=bearer(tokens), timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()


def batch(server, tokens, batch_id):
    answer = requests.get(f"{server.url}/batches/{batch_id}", headers=bearer(tokens), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def post_file(ticket_item, data, content_type):
    posted = requests.post(ticket_item["upload"]["url"], data=ticket_item["upload"]["fields"],
                           files={"file": (ticket_item["filename"], data, content_type)}, timeout=30)
    assert posted.status_code in (200, 201, 204), posted.text


def completed(server, tokens, batch_id, timeout=60):
    found = wait_for(lambda: (lambda view: view if view["complete"] else None)(batch(server, tokens, batch_id)),
                     timeout=timeout)
    assert found, f"batch {batch_id} did not complete: {batch(server, tokens, batch_id)}"
    return found


NOT_A_PNG = b"this is not a png at all"


def test_given_files_and_urls_with_one_bad_of_each_when_the_batch_runs_then_it_completes_with_each_items_state(
        server, user, origin):
    ticket = create(server, user, variants=VARIANTS,
                    files=[{"filename": "good.jpg", "content_type": "image/jpeg", "size": len(PHOTO)},
                           {"filename": "bad.png", "content_type": "image/png", "size": len(NOT_A_PNG)}],
                    urls=[origin.url("/harbour.jpg"), "http://169.254.169.254/latest/meta-data/"])
    assert [item["filename"] for item in ticket["uploads"]] == ["good.jpg", "bad.png"]
    assert [item["url"] for item in ticket["imports"]] == [origin.url("/harbour.jpg"),
                                                            "http://169.254.169.254/latest/meta-data/"]
    # Before the files arrive the batch cannot be complete, whatever the imports do.
    early = batch(server, user, ticket["batch_id"])
    assert early["complete"] is False and early["completed_at"] is None and early["item_count"] == 4
    assert early["counts"]["awaiting_upload"] == 2
    post_file(ticket["uploads"][0], PHOTO, "image/jpeg")
    post_file(ticket["uploads"][1], NOT_A_PNG, "image/png")

    view = completed(server, user, ticket["batch_id"])
    assert view["percent"] == 100 and view["completed_at"]
    assert view["counts"] == {"awaiting_upload": 0, "generating": 0, "queued": 0, "processing": 0,
                              "done": 2, "failed": 2}
    states = [(item["kind"], item["original_name"], item["status"], (item["error"] or {}).get("code"))
              for item in view["items"]]
    assert states == [
        ("upload", "good.jpg", "done", None),
        ("upload", "bad.png", "failed", "unsupported_type"),
        ("import", "harbour.jpg", "done", None),
        ("import", "meta-data", "failed", "url_forbidden"),
    ]
    assert [item["url"] for item in view["items"]][2:] == [origin.url("/harbour.jpg"),
                                                          "http://169.254.169.254/latest/meta-data/"]
    # One set of variant options for every item.
    for item in view["items"]:
        if item["status"] == "done":
            full = image(server, user, item["image_id"])
            assert full["batch_id"] == ticket["batch_id"]
            variant, _ = fetch_variant(full, "card")
            assert (variant["width"], variant["height"]) == (300, 200)


def test_given_a_batch_in_progress_when_read_then_percent_and_counts_follow_the_items(server, user, origin):
    ticket = create(server, user, files=[{"filename": f"{n}.jpg", "content_type": "image/jpeg", "size": 10}
                                         for n in range(3)], urls=[origin.url("/harbour.jpg")])
    view = wait_for(lambda: (lambda v: v if v["counts"]["done"] == 1 else None)(
        batch(server, user, ticket["batch_id"])), timeout=30)
    assert view and view["percent"] == 25 and view["complete"] is False
    assert view["counts"]["awaiting_upload"] == 3


def test_given_a_duplicated_terminal_event_when_the_batch_is_complete_then_completed_at_does_not_move(
        server, user, origin):
    ticket = create(server, user, urls=[origin.url("/harbour.jpg")])
    first = completed(server, user, ticket["batch_id"])
    [item] = first["items"]
    key = f"originals/{user['user']['id']}/{item['image_id']}"
    wiring.queues().send("image-events", {"Records": [{"eventName": "ObjectCreated:Put", "s3": {
        "bucket": {"name": wiring.settings().bucket}, "object": {"key": key, "size": 1}}}]})
    wiring.queues().send("import-jobs", {"image_id": item["image_id"]})
    wait_until_handled("import-jobs", "image-events")
    assert batch(server, user, ticket["batch_id"])["completed_at"] == first["completed_at"]


def test_given_more_urls_than_one_sqs_request_holds_when_the_batch_runs_then_every_import_job_arrives(
        server, user, origin):
    # 23 URLs go out as three SendMessageBatch calls (10 + 10 + 3); each item settles only through its own job.
    urls = [origin.url(f"/harbour.jpg?copy={n}") for n in range(3)]
    urls += [f"http://10.0.{n}.1/private.jpg" for n in range(20)]
    ticket = create(server, user, urls=urls)
    view = completed(server, user, ticket["batch_id"], timeout=90)
    assert (view["counts"]["done"], view["counts"]["failed"]) == (3, 20)
    assert {(item["error"] or {}).get("code") for item in view["items"][3:]} == {"url_forbidden"}


def test_given_several_batches_when_listing_then_the_callers_own_newest_first_in_pages(server, user, origin):
    tokens = sign_up(server.url)
    ids = [create(server, tokens, files=[{"filename": "a.jpg", "content_type": "image/jpeg", "size": 5}])["batch_id"]
           for _ in range(3)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{server.url}/batches", params=params, headers=bearer(tokens), timeout=10).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [item["id"] for item in seen] == list(reversed(ids))
    assert all(item["counts"]["awaiting_upload"] == 1 and item["percent"] == 0 for item in seen)
    assert "items" not in seen[0]
    bad = requests.get(f"{server.url}/batches", params={"cursor": "nonsense"}, headers=bearer(tokens), timeout=10)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "cursor"


def test_given_another_users_batch_when_asked_for_then_404_and_it_is_not_listed(server, user):
    ticket = create(server, user, files=[{"filename": "a.jpg", "content_type": "image/jpeg", "size": 5}])
    stranger = sign_up(server.url)
    for batch_id in (ticket["batch_id"], "not-a-uuid", "00000000-0000-4000-8000-000000000000"):
        answer = requests.get(f"{server.url}/batches/{batch_id}", headers=bearer(stranger), timeout=10)
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "batch_not_found"
    listed = requests.get(f"{server.url}/batches", headers=bearer(stranger), timeout=10).json()
    assert listed == {"items": [], "next_cursor": None}
    upload = requests.get(f"{server.url}/images/{ticket['uploads'][0]['image_id']}", headers=bearer(stranger),
                          timeout=10)
    assert upload.status_code == 404


@pytest.fixture
def three_items_at_most():
    original = wiring.settings()
    wiring.configure(dataclasses.replace(original, max_batch_items=3))
    yield
    wiring.configure(original)


FILE = {"filename": "a.jpg", "content_type": "image/jpeg", "size": 10}


@pytest.mark.parametrize("body, field, code", [
    ({}, "files", "empty_batch"),
    ({"files": [], "urls": []}, "files", "empty_batch"),
    ({"files": [FILE, FILE], "urls": ["https://photos.example/a.jpg"] * 2}, "urls", "too_many_items"),
    ({"files": [FILE] * 4}, "files", "too_many_items"),
    ({"files": [FILE, {**FILE, "content_type": "image/bmp"}]}, "files[1].content_type", "unsupported_type"),
    ({"files": [{**FILE, "size": 10 ** 9}]}, "files[0].size", "too_large"),
    ({"files": [{**FILE, "filename": "/"}]}, "files[0].filename", "invalid_input"),
    ({"files": [{"filename": "a.jpg", "size": 1}]}, "files[0].content_type", "invalid_input"),
    ({"urls": ["https://photos.example/a.jpg", "ftp://photos.example/b.jpg"]}, "urls[1]", "invalid_input"),
    ({"urls": ["https://user:pw@photos.example/a.jpg"]}, "urls[0]", "url_forbidden"),
    ({"files": [FILE], "variants": [{"name": "x"}]}, "variants[0].width", "invalid_input"),
    ({"files": [FILE], "callback_url": "https://hooks.example/x"}, "callback_url", "webhook_secret_required"),
    ({"files": [FILE], "surprise": 1}, "surprise", "invalid_input"),
])
def test_given_a_batch_that_cannot_be_accepted_when_posted_then_422_names_the_field_and_nothing_is_stored(
        server, user, three_items_at_most, body, field, code):
    db = wiring.database()
    before = db.one("SELECT (SELECT count(*) FROM images) AS images, (SELECT count(*) FROM batches) AS batches")
    answer = requests.post(f"{server.url}/batches", json=body, headers=bearer(user), timeout=10)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert (error["field"], error["code"]) == (field, code), error
    assert db.one("SELECT (SELECT count(*) FROM images) AS images, (SELECT count(*) FROM batches) AS batches") \
        == before


def test_given_the_default_limit_when_a_batch_has_exactly_that_many_items_then_it_is_accepted(server, user):
    limit = wiring.settings().max_batch_items
    assert limit == 100
    data = corpus.photo(64, 48)  # declared at its real size: the upload policy pins it
    ticket = create(server, user, files=[{**FILE, "filename": f"{n}.jpg", "size": len(data)} for n in range(limit)])
    assert len(ticket["uploads"]) == limit and ticket["imports"] == []
    assert len({item["image_id"] for item in ticket["uploads"]}) == limit
    too_many = requests.post(f"{server.url}/batches", json={"files": [FILE] * (limit + 1)}, headers=bearer(user),
                             timeout=10)
    assert too_many.status_code == 422 and too_many.json()["error"]["code"] == "too_many_items"
    first = ticket["uploads"][0]
    posted = requests.post(first["upload"]["url"], data=first["upload"]["fields"],
                           files={"file": ("0.jpg", data, "image/jpeg")}, timeout=30)
    assert posted.status_code in (200, 201, 204)
