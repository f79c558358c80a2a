"""Housekeeping through the embedded stack: the app's own scheduled handler, real rows, real objects.

"Long ago" is made by moving a row's timestamps back in PostgreSQL; nothing else is faked.
This module starts its event runner per test, so one test can lose a notification on purpose
while nothing consumes the queue.
"""

import time

import pytest
import requests

from functions import housekeeping, pipeline, wiring
from functions.local.runner import EventRunner, LambdaContext, scheduled_event
from functions.settings import IMAGE_EVENTS_QUEUE
from tests.integration import images_corpus as corpus
from tests.integration.helpers import PASSWORD, bearer, finished, image, sign_up

ABANDONED = housekeeping.UPLOAD_GRACE_SECONDS + 3600  # seconds past the link's expiry, well beyond the grace


@pytest.fixture
def events_later(app):
    """A runner the test starts itself, once it has done what must happen with nothing consuming."""
    settings = wiring.settings()
    local = EventRunner(app, wiring.boto3_client("sqs"), region=settings.region, wait_seconds=1,
                        timeout_seconds=settings.function_timeout, run_schedules=False)
    yield local
    local.stop()


@pytest.fixture
def events(events_later):
    """The app's queue handlers, running from the start, for the tests that need them."""
    return events_later.start()


@pytest.fixture
def user(server):
    return sign_up(server.url)


def run_housekeeping(app):
    """What EventBridge does every five minutes: call the scheduled function with a Scheduled Event."""
    return app.handler_map["housekeeping"](scheduled_event("housekeeping", wiring.settings().region),
                                           LambdaContext("housekeeping", 60))


def sweep_now():
    """One sweep, with its report: what the scheduled function runs."""
    return housekeeping.sweep(db=wiring.database(), storage=wiring.storage(), queues=wiring.queues(),
                              settings=wiring.settings(),
                              announce=lambda image_id: pipeline.announce(image_id=image_id))


def issue(server, tokens, filename="never.jpg", size=1000):
    answer = requests.post(f"{server.url}/uploads", headers=bearer(tokens), timeout=10,
                           json={"filename": filename, "content_type": "image/jpeg", "size": size})
    assert answer.status_code == 201, answer.text
    return answer.json()


def age_image(image_id, seconds_past_expiry):
    settings = wiring.settings()
    wiring.database().execute(
        "UPDATE images SET created_at = created_at - make_interval(secs => :age) WHERE id = :id",
        age=float(settings.upload_url_ttl + seconds_past_expiry), id=image_id)


def test_given_an_upload_that_never_arrived_when_its_link_is_long_expired_then_it_fails_and_fresh_ones_wait(
        app, server, user):
    abandoned, within_grace, fresh = (issue(server, user, name) for name in ("a.jpg", "b.jpg", "c.jpg"))
    age_image(abandoned["image_id"], ABANDONED)
    age_image(within_grace["image_id"], housekeeping.UPLOAD_GRACE_SECONDS - 120)

    summary = run_housekeeping(app)

    assert summary["expired_uploads"] >= 1
    gone = image(server, user, abandoned["image_id"])
    assert gone["status"] == "failed" and gone["processed_at"]
    assert gone["error"] == {"code": "upload_expired", "message": housekeeping.EXPIRED_MESSAGE}
    assert image(server, user, within_grace["image_id"])["status"] == "awaiting_upload"
    assert image(server, user, fresh["image_id"])["status"] == "awaiting_upload"
    # A second sweep finds nothing more to do for it: the update was conditional.
    report = sweep_now()
    assert abandoned["image_id"] not in report.expired_uploads + report.redriven_uploads


def _lose_notification(image_id, timeout=20.0):
    """Receive and delete the queued ObjectCreated event for the image's original, as if S3 never sent it."""
    sqs = wiring.boto3_client("sqs")
    url = sqs.get_queue_url(QueueName=IMAGE_EVENTS_QUEUE)["QueueUrl"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                           VisibilityTimeout=2).get("Messages", []):
            if image_id in message["Body"]:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                return
    raise AssertionError(f"the notification for image {image_id} never reached {IMAGE_EVENTS_QUEUE}")


def test_given_an_original_whose_notification_was_lost_when_swept_then_it_is_re_announced_and_processed_once(
        app, server, user, events_later):
    data = corpus.photo(640, 480)
    ticket = issue(server, user, "lost.jpg", len(data))
    posted = requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                           files={"file": ("lost.jpg", data, "image/jpeg")}, timeout=30)
    assert posted.status_code in (200, 201, 204), posted.text
    _lose_notification(ticket["image_id"])
    age_image(ticket["image_id"], ABANDONED)

    report = sweep_now()

    assert ticket["image_id"] in report.redriven_uploads and ticket["image_id"] not in report.expired_uploads
    assert image(server, user, ticket["image_id"])["status"] == "awaiting_upload"
    # Sent once: the next runs leave it to the processing queue for an hour.
    assert ticket["image_id"] not in sweep_now().redriven_uploads
    events_later.start()
    done = finished(server, user, ticket["image_id"])
    assert done["status"] == "done", done["error"]
    assert (done["width"], done["height"]) == (640, 480)
    assert {variant["name"] for variant in done["variants"]} == {"thumbnail", "webp"}


def test_given_a_batch_whose_second_file_never_arrives_when_swept_then_the_batch_completes(
        app, server, user, events):
    data = corpus.photo(320, 240)
    answer = requests.post(f"{server.url}/batches", headers=bearer(user), timeout=10, json={"files": [
        {"filename": "sent.jpg", "content_type": "image/jpeg", "size": len(data)},
        {"filename": "forgotten.jpg", "content_type": "image/jpeg", "size": len(data)}]})
    assert answer.status_code == 201, answer.text
    sent, forgotten = answer.json()["uploads"]
    batch_url = f"{server.url}/batches/{answer.json()['batch_id']}"
    requests.post(sent["upload"]["url"], data=sent["upload"]["fields"],
                  files={"file": ("sent.jpg", data, "image/jpeg")}, timeout=30).raise_for_status()
    assert finished(server, user, sent["image_id"])["status"] == "done"
    assert requests.get(batch_url, headers=bearer(user), timeout=10).json()["complete"] is False
    age_image(forgotten["image_id"], ABANDONED)

    run_housekeeping(app)

    view = requests.get(batch_url, headers=bearer(user), timeout=10).json()
    assert view["complete"] is True and view["completed_at"] and view["percent"] == 100
    assert (view["counts"]["done"], view["counts"]["failed"]) == (1, 1)
    assert [(item["status"], (item["error"] or {}).get("code")) for item in view["items"]] == [
        ("done", None), ("failed", "upload_expired")]


def test_given_stale_sign_in_rows_when_swept_then_only_those_are_forgotten_and_live_sessions_still_refresh(
        app, server):
    db = wiring.database()
    old_session, live_session = sign_up(server.url), sign_up(server.url)
    for email in (old_session["email"], live_session["email"]):
        wrong = requests.post(f"{server.url}/auth/login", json={"email": email, "password": PASSWORD + "!"},
                              timeout=10)
        assert wrong.status_code == 401
    db.execute("UPDATE login_failures SET last_failure_at = now() - interval '2 days' WHERE email_normalized = :e",
               e=old_session["email"])
    db.execute("UPDATE login_sources SET last_failure_at = now() - interval '2 days'")
    # Past their expiry by more than an access token's life (the authorizer reads revocations from them).
    db.execute("UPDATE refresh_tokens SET expires_at = now() - interval '1 day' WHERE user_id = :user",
               user=old_session["user"]["id"])

    summary = run_housekeeping(app)

    assert summary["login_failures_forgotten"] >= 1 and summary["refresh_tokens_forgotten"] >= 1
    failures = {row["email_normalized"] for row in db.rows(
        "SELECT email_normalized FROM login_failures WHERE email_normalized IN (:a, :b)",
        a=old_session["email"], b=live_session["email"])}
    assert failures == {live_session["email"]}
    assert db.rows("SELECT 1 FROM refresh_tokens WHERE user_id = :user", user=old_session["user"]["id"]) == []
    assert db.rows("SELECT 1 FROM login_sources WHERE last_failure_at < now() - interval '1 day'") == []
    refreshed = requests.post(f"{server.url}/auth/refresh", json={"refresh_token": live_session["refresh_token"]},
                              timeout=10)
    assert refreshed.status_code == 200, refreshed.text
    expired = requests.post(f"{server.url}/auth/refresh", json={"refresh_token": old_session["refresh_token"]},
                            timeout=10)
    assert expired.status_code == 401


def test_given_objects_stored_after_an_image_was_deleted_when_swept_then_they_go_once_nothing_can_write_there(
        app, server, user):
    storage, db, settings = wiring.storage(), wiring.database(), wiring.settings()
    owner = user["user"]["id"]
    old, recent = issue(server, user, "old.jpg"), issue(server, user, "recent.jpg")
    for ticket in (old, recent):
        deleted = requests.delete(f"{server.url}/images/{ticket['image_id']}", headers=bearer(user), timeout=10)
        assert deleted.status_code == 204, deleted.text
        # What a worker mid-way through processing, or a POST of a link issued before the delete, leaves behind.
        storage.put(f"variants/{owner}/{ticket['image_id']}/webp.webp", b"late", content_type="image/webp")
        storage.put(f"originals/{owner}/{ticket['image_id']}", b"late", content_type="image/jpeg")
    quiet_after = housekeeping.quiet_after_delete(settings)
    db.execute("UPDATE deleted_images SET deleted_at = now() - make_interval(secs => :age) WHERE image_id = :id",
               age=float(quiet_after + 60), id=old["image_id"])

    summary = run_housekeeping(app)

    assert summary["late_objects_removed"] >= 2

    def stored(image_id):
        return storage.list_keys(f"originals/{owner}/{image_id}") + storage.list_keys(f"variants/{owner}/{image_id}/")
    assert stored(old["image_id"]) == []
    assert db.rows("SELECT 1 FROM deleted_images WHERE image_id = :id", id=old["image_id"]) == []
    # Too recent: a link issued before the delete may still be used, so its prefixes are left for later.
    assert len(stored(recent["image_id"])) == 2
    assert db.rows("SELECT 1 FROM deleted_images WHERE image_id = :id", id=recent["image_id"]) != []
    assert requests.get(f"{server.url}/images/{old['image_id']}", headers=bearer(user), timeout=10).status_code == 404


def test_given_an_expired_upload_whose_announcement_was_lost_when_the_next_run_comes_then_its_batch_completes(
        app, server, user):
    answer = requests.post(f"{server.url}/batches", headers=bearer(user), timeout=10, json={"files": [
        {"filename": "only.jpg", "content_type": "image/jpeg", "size": 100}]})
    assert answer.status_code == 201, answer.text
    [only] = answer.json()["uploads"]
    # What a run that stopped between its UPDATE and the announcement leaves behind.
    wiring.database().execute(
        "UPDATE images SET status = 'failed', error_code = 'upload_expired', error_message = :message,"
        " processed_at = now() WHERE id = :id", message=housekeeping.EXPIRED_MESSAGE, id=only["image_id"])
    batch_url = f"{server.url}/batches/{answer.json()['batch_id']}"
    assert requests.get(batch_url, headers=bearer(user), timeout=10).json()["complete"] is False

    summary = run_housekeeping(app)

    assert summary["announced"] >= 1 and summary["failures"] == 0
    view = requests.get(batch_url, headers=bearer(user), timeout=10).json()
    assert view["complete"] is True and view["counts"]["failed"] == 1
    # Complete now, so the next run has nothing left to announce (no other test leaves one unannounced).
    assert sweep_now().announced == 0
