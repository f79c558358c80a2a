"""Start-up reconciliation against the real stack: rows that storage no longer backs are repaired."""

import requests

from functions import processing, store, wiring
from functions.adapters.storage import Storage
from functions.reconcile import reconcile
from tests.integration import images_corpus as corpus
from tests.integration.helpers import finished, upload


def _row(image_id):
    return wiring.database().one("SELECT status, error_code, error_message, processing_attempts, variants"
                                 " FROM images WHERE id = :id", id=image_id)


def _reconcile(**kwargs):
    return reconcile(wiring.database(), wiring.storage(), wiring.queues(), wiring.settings(), **kwargs)


def _downloadable(item):
    links = [item["original"]["url"]] + [variant["url"] for variant in item["variants"]]
    return all(requests.get(link, timeout=10).status_code == 200 for link in links)


def test_given_done_images_whose_objects_are_gone_when_reconciled_then_reprocessed_or_failed_as_original_lost(
        server, user):
    storage = wiring.storage()
    lost_variants, lost_original, intact = (upload(server, user, corpus.photo(320, 240)) for _ in range(3))
    for image_id in (lost_variants, lost_original, intact):
        assert finished(server, user, image_id)["status"] == "done"
    owner = user["user"]["id"]
    storage.delete(storage.list_keys(f"variants/{owner}/{lost_variants}/"))
    storage.delete([f"originals/{owner}/{lost_original}"])

    announced = []
    report = _reconcile(announce=announced.append)

    assert announced == [lost_original]
    assert lost_variants in report.reprocessed and lost_original in report.lost
    assert intact not in report.reprocessed + report.lost and not report.failures
    failed = _row(lost_original)
    assert (failed["status"], failed["error_code"]) == ("failed", "original_lost") and failed["error_message"]
    again = finished(server, user, lost_variants)
    assert again["status"] == "done" and _downloadable(again)
    assert _row(lost_variants)["processing_attempts"] == 2
    assert _row(intact)["processing_attempts"] == 1
    # Nothing is left to repair: a second run changes nothing.
    second = _reconcile()
    assert not (set(second.reprocessed) | set(second.lost)) & {lost_variants, lost_original, intact}


def test_given_an_unfinished_image_whose_event_was_lost_with_the_queues_when_reconciled_then_it_is_processed(
        server, user):
    image_id = upload(server, user, corpus.photo(200, 150))
    assert finished(server, user, image_id)["status"] == "done"
    owner = user["user"]["id"]
    wiring.storage().delete(wiring.storage().list_keys(f"variants/{owner}/{image_id}/"))
    # As a worker killed along with the emulator leaves it: processing, lease run out, no message anywhere.
    wiring.database().execute(
        "UPDATE images SET status = 'processing', variants = '[]'::jsonb, claim_token = NULL,"
        " claimed_at = now() - interval '1 hour' WHERE id = :id", id=image_id)

    assert image_id not in _reconcile().requeued   # the queues still hold their messages: nothing to do
    report = _reconcile(messages_lost=True)

    assert image_id in report.requeued
    item = finished(server, user, image_id, timeout=60)
    assert item["status"] == "done" and _downloadable(item)


class _StoredDuringTheListing(Storage):
    """The real adapter; right after the originals are listed, a late upload lands (as a worker racing the start)."""

    def __init__(self, storage, late_key, data):
        super().__init__(storage._s3, storage.bucket)
        self.late_key, self.data = late_key, data

    def list_keys(self, prefix):
        keys = super().list_keys(prefix)
        if prefix == "originals/":
            self.put(self.late_key, self.data, content_type="image/jpeg")
        return keys


def test_given_an_original_stored_after_the_listing_when_reconciled_then_its_image_is_not_failed(server, user):
    storage = wiring.storage()
    image_id = upload(server, user, corpus.photo(240, 180))
    assert finished(server, user, image_id)["status"] == "done"
    key = f"originals/{user['user']['id']}/{image_id}"
    data = storage.get(key)
    storage.delete([key])

    report = reconcile(wiring.database(), _StoredDuringTheListing(storage, key, data), wiring.queues(),
                       wiring.settings())

    assert image_id not in report.lost + report.reprocessed and not report.failures
    assert _row(image_id)["status"] == "done"


def test_given_a_run_that_ended_twice_mid_processing_when_started_again_then_the_image_is_not_failed_too_slow(
        server, user):
    db, storage, settings = wiring.database(), wiring.storage(), wiring.settings()
    image_id = upload(server, user, corpus.photo(220, 160))
    assert finished(server, user, image_id)["status"] == "done"
    key = f"originals/{user['user']['id']}/{image_id}"
    db.execute("UPDATE images SET status = 'queued', variants = '[]'::jsonb WHERE id = :id", id=image_id)
    for _ in range(processing.MAX_STALLED_ATTEMPTS):
        # A worker claims it, then `make run` is killed (no error recorded) long enough for its lease to run out.
        assert store.claim_for_processing(db, key, lease_seconds=settings.function_timeout)["id"]
        db.execute("UPDATE images SET claimed_at = now() - interval '1 hour' WHERE id = :id", id=image_id)
        report = _reconcile(previous_run_ended=True)
        assert report.interrupted >= 1

    outcome = processing.process_original(key, db=db, storage=storage, settings=settings)

    assert outcome.status == "done", outcome
    assert db.one("SELECT stalled_attempts FROM images WHERE id = :id", id=image_id)["stalled_attempts"] == 0
