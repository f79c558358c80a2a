"""Leases on claimed work: renewed while the job lives, taken over only once its worker is dead.

Regression: a slow job was processed twice. Its claim lasted one function timeout with no
renewal, and the local runner never ended an invocation at its timeout, so a duplicate event
delivered after that long took the image over and threw the first worker's work away.
"""

import json
import uuid

import pytest

from functions import leases, processing, store, wiring
from functions.local.runner import EventRunner
from tests.integration import images_corpus as corpus
from tests.integration.helpers import finished, sign_up, upload, wait_for

# Big enough that processing takes seconds on one core (a 24 MP photo, its full-size WebP and one more).
SLOW_VARIANTS = [{"name": "large", "width": 6000, "height": 4000, "fit": "contain", "format": "webp"}]


@pytest.fixture(scope="module")
def tokens(server):
    return sign_up(server.url)


def _row(image_id):
    return wiring.database().one(
        "SELECT status, claim_token, claimed_at, processing_attempts, now() AS db_now FROM images WHERE id = :id",
        id=image_id)


def _older_than(claimed_at, seconds):
    return wiring.database().one("SELECT now() - CAST(:at AS timestamptz) > make_interval(secs => :s) AS old",
                                 at=claimed_at, s=float(seconds))["old"]


def _s3_event(key):
    event = json.loads(open("tests/events/s3_object_created.json").read())
    event["Records"][0]["s3"]["object"]["key"] = key
    return event


def _runner(app, **options):
    settings = wiring.settings()
    return EventRunner(app, wiring.boto3_client("sqs"), region=settings.region, concurrency=2, wait_seconds=1,
                       run_schedules=False, **options).start()


def test_given_a_claim_when_its_heartbeat_runs_then_it_renews_until_another_worker_takes_the_claim(tokens):
    db = wiring.database()
    image_id, token = str(uuid.uuid4()), str(uuid.uuid4())
    store.insert_image(db, image_id=image_id, owner=tokens["user"]["id"], source="upload", name="a.jpg",
                        status="processing", variants=())
    claimed_at = db.one("UPDATE images SET claim_token = :token, claimed_at = now() WHERE id = :id"
                        " RETURNING claimed_at", id=image_id, token=token)["claimed_at"]
    renew = "UPDATE images SET claimed_at = now() WHERE id = :id AND claim_token = :token AND status = 'processing'"
    with leases.heartbeat(db, renew, seconds=1, name="test", id=image_id, token=token) as lease:
        assert wait_for(lambda: lease.renewals >= 2, timeout=10, interval=0.05)
        assert _row(image_id)["claimed_at"] > claimed_at
        assert not lease.lost
        lease.check()
        db.execute("UPDATE images SET claim_token = :other WHERE id = :id", id=image_id, other=str(uuid.uuid4()))
        assert wait_for(lambda: lease.lost, timeout=10, interval=0.05)
        with pytest.raises(leases.LeaseLost):
            lease.check()
    assert not lease._thread.is_alive(), "the heartbeat ends with its job"


def test_given_a_slow_job_when_a_duplicate_event_arrives_after_its_lease_length_then_it_is_processed_once(
        server, app, tokens):
    # Workers hold 1 s leases (renewed every 1/3 s); the runner lets an invocation run 60 s.
    runner = _runner(app, timeout_seconds=60, worker_env={"FUNCTION_TIMEOUT_SECONDS": "1"})
    try:
        image_id = upload(server, tokens, corpus.photo(6000, 4000, quality=70), variants=SLOW_VARIANTS)
        assert wait_for(lambda: _row(image_id)["status"] != "awaiting_upload", timeout=60, interval=0.02)
        first = _row(image_id)
        assert first["status"] == "processing", first
        # Once the first claim is older than its lease, a duplicate used to take the image over.
        assert wait_for(lambda: _older_than(first["claimed_at"], 1.2) or _row(image_id)["status"] != "processing",
                        timeout=30, interval=0.02)
        assert _row(image_id)["status"] == "processing", "the job finished too soon to test anything"
        handled = runner.handled
        wiring.queues().send("image-events", _s3_event(f"originals/{tokens['user']['id']}/{image_id}"))
        assert wait_for(lambda: runner.handled > handled or _row(image_id)["status"] != "processing",
                        timeout=60, interval=0.02)
        assert _row(image_id)["status"] == "processing", "the duplicate was handled while the first job still ran"
        item = finished(server, tokens, image_id, timeout=120)
    finally:
        runner.stop()
    assert item["status"] == "done", item.get("error")
    assert _row(image_id)["processing_attempts"] == 1, "the duplicate took over a live job"


def test_given_a_worker_killed_at_its_timeout_when_its_lease_runs_out_then_a_duplicate_takes_the_image_over(
        server, app, tokens):
    settings = wiring.settings()
    # A job of many seconds on any machine (six 2000-px AVIF variants of a 24 MP photo) against a 3 s limit:
    # long enough for a fresh worker to import the imaging code and claim the image, short of the job, so
    # the worker is killed mid-processing, never before its claim.
    runner = _runner(app, timeout_seconds=3)
    slow = [{"name": f"big{index}", "width": 2000, "format": "avif"} for index in range(6)]
    try:
        image_id = upload(server, tokens, corpus.photo(6000, 4000, quality=70), variants=slow)
        assert wait_for(lambda: runner.timed_out >= 1, timeout=60, interval=0.02), runner.timed_out
    finally:
        runner.stop()
    held = _row(image_id)
    assert held["status"] == "processing" and held["processing_attempts"] == 1, held
    key = f"originals/{tokens['user']['id']}/{image_id}"
    db, storage = wiring.database(), wiring.storage()
    if not _older_than(held["claimed_at"], settings.function_timeout):
        # Within its lease, even a dead worker's claim stands.
        assert processing.process_original(key, db=db, storage=storage, settings=settings).status == "skipped"
    # Nothing renews a killed worker's claim: it runs out one lease after it was last renewed.
    assert wait_for(lambda: _older_than(held["claimed_at"], settings.function_timeout), timeout=30, interval=0.05)
    assert _row(image_id)["claimed_at"] == held["claimed_at"]
    outcome = processing.process_original(key, db=db, storage=storage, settings=settings)
    assert outcome.status == "done", outcome
    row = _row(image_id)
    assert row["status"] == "done" and row["processing_attempts"] == 2


@pytest.mark.parametrize("kind", ["processing", "import", "generation step"])
def test_given_each_kind_of_claim_when_renewed_then_only_its_holder_renews_it(tokens, kind):

    db = wiring.database()
    image_id, token = str(uuid.uuid4()), str(uuid.uuid4())
    status = {"processing": "processing", "import": "queued", "generation step": "generating"}[kind]
    store.insert_image(db, image_id=image_id, owner=tokens["user"]["id"], source="upload", name="a.jpg",
                        status=status, variants=())
    if kind == "generation step":
        db.execute("INSERT INTO generations (image_id, provider, prompt, width, height, deadline_at, step,"
                   " step_claimed_at, step_claim_token) VALUES (:id, 'local', 'p', 64, 64, now(), 1, now(), :token)",
                   id=image_id, token=token)
        sql, params = store.RENEW_STEP, {"id": image_id, "step": 1}
    else:
        db.execute("UPDATE images SET claim_token = :token, claimed_at = now() WHERE id = :id",
                   id=image_id, token=token)
        sql, params = (store.RENEW_PROCESSING if kind == "processing" else store.RENEW_IMPORT), {"id": image_id}
    assert leases.Lease(db, sql, {**params, "token": token}, seconds=60, name=kind).renew()
    other = leases.Lease(db, sql, {**params, "token": str(uuid.uuid4())}, seconds=60, name=kind)
    assert not other.renew() and other.lost
