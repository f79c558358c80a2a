"""A worker process killed in the middle of processing: the event comes back and the image still ends done."""

import os
import subprocess
import sys
import time

from functions import wiring
from functions.local.runner import EventRunner
from tests.integration import images_corpus as corpus
from tests.integration.helpers import finished, sign_up, upload, wait_for


def _status(image_id):
    row = wiring.database().one("SELECT status, processing_attempts FROM images WHERE id = :id", id=image_id)
    return row and row["status"]


def test_given_a_worker_killed_mid_processing_when_the_message_returns_then_the_image_ends_done_once(server, app):
    tokens = sign_up(server.url)
    worker = subprocess.Popen([sys.executable, "-m", "functions.local.runner"], env=dict(os.environ),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Big enough that encoding takes a while, small enough for the upload limit.
        image_id = upload(server, tokens, corpus.photo(6000, 4000, quality=70))
        assert wait_for(lambda: _status(image_id) == "processing", timeout=60, interval=0.02), _status(image_id)
        worker.kill()
        worker.wait(10)
        assert _status(image_id) == "processing", "the worker finished before it could be killed"
    finally:
        if worker.poll() is None:
            worker.kill()
    settings = wiring.settings()
    started = time.monotonic()
    # The runner ends an invocation at its timeout; give this 24 MP job room on a loaded machine
    # (its lease stays 5 s, renewed while it runs).
    runner = EventRunner(app, wiring.boto3_client("sqs"), region=settings.region, wait_seconds=1,
                         timeout_seconds=60, run_schedules=False).start()
    try:
        item = finished(server, tokens, image_id, timeout=settings.visibility_timeout + 60)
    finally:
        runner.stop()
    assert item["status"] == "done", item["error"]
    assert time.monotonic() - started < settings.visibility_timeout + 60
    row = wiring.database().one("SELECT processing_attempts FROM images WHERE id = :id", id=image_id)
    assert row["processing_attempts"] == 2
    keys = wiring.storage().list_keys(f"variants/{tokens['user']['id']}/{image_id}/")
    assert sorted(key.rsplit("/", 1)[-1] for key in keys) == ["thumbnail.webp", "webp.webp"]
