"""Start-up reconciliation against the real stack: rows that storage no longer backs are repaired."""

import requests

from functions import wiring
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
