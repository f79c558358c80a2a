"""The internet-facing work outside the database's network: orders out, outcomes back.

The VPC handlers claim a record and send an order; the outside handlers (fetch_import,
send_webhook, call_provider) run here in a separate interpreter with no database settings and
with the database driver made unimportable, as on Lambda outside the VPC; their outcomes come
back through the outcomes queue and are recorded by the VPC handler. No event runner runs in
this module (except where a test starts one), so every message is taken from its queue by the
test and handed to the handler it is meant for.
"""

import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import requests

from functions import pipeline, store, webhooks, wiring
from functions.local.runner import EventRunner
from functions.messages import DeliveryOutcome, FetchOrder, GenerationOutcome, ImportOutcome, WebhookSend
from tests.fakes.fusionbrain_server import FakeFusionBrain
from tests.fakes.loopback import Answer, LoopbackServer
from tests.integration.helpers import bearer, finished, sign_up, wait_for
from tests.integration.images_corpus import PHOTO

INSIDE_ONLY = ("DATABASE_URL", "DATABASE_PASSWORD", "JWT_SECRET", "WEBHOOK_SIGNING_KEY")

# Runs the outside handlers the way Lambda would, in an interpreter that cannot reach the database:
# no database settings, and importing the driver or our database adapter fails loudly.
OUTSIDE = """
import json, sys

class NoDatabase:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "pg8000" or name == "functions.adapters.database":
            raise ImportError("an outside function tried to import " + name)

sys.meta_path.insert(0, NoDatabase())
import app
from functions.local.runner import LambdaContext, sqs_event

for handler, message in json.loads(sys.stdin.read()):
    result = app.app.handler_map[handler](sqs_event([message], "arn:aws:sqs:eu-west-1:000000000000:q", "eu-west-1"),
                                          LambdaContext(handler, 30))
    assert not (result or {}).get("batchItemFailures"), (handler, result)
assert "pg8000" not in sys.modules
print("ok")
"""


def run_outside(calls, *, allowed_hosts=""):
    """Run ``[(handler name, SQS message)]`` in a database-less interpreter; fails if any handler failed."""
    env = {key: value for key, value in os.environ.items() if key not in INSIDE_ONLY}
    env["IMPORT_ALLOWED_HOSTS"] = allowed_hosts
    ran = subprocess.run([sys.executable, "-c", OUTSIDE], input=json.dumps(calls), capture_output=True, text=True,
                         env=env, timeout=120)
    assert ran.returncode == 0 and ran.stdout.strip().endswith("ok"), ran.stderr[-3000:]


# Messages taken off a queue that the test was not waiting for yet, by queue; a later take() finds them here.
_ASIDE: dict[str, list[dict]] = {}


def take(queue, predicate, timeout=30.0):
    """The first message on ``queue`` whose JSON body satisfies ``predicate`` (each one is taken once)."""
    sqs, url = wiring.boto3_client("sqs"), wiring.queues().url(queue)
    aside = _ASIDE.setdefault(queue, [])

    def once():
        for message in aside:
            if predicate(json.loads(message["Body"])):
                aside.remove(message)
                return message
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in got.get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            aside.append({"MessageId": message["MessageId"], "ReceiptHandle": message["ReceiptHandle"],
                          "Body": message["Body"]})
        return None
    message = wait_for(once, timeout=timeout, interval=0.05)
    assert message, f"no matching message on {queue}"
    return message


def about(**fields):
    return lambda body: all(body.get(name) == value for name, value in fields.items())


def row(image_id):
    return wiring.database().one("SELECT status, claim_token, content_type, error_code, updated_at FROM images"
                                 " WHERE id = :id", id=image_id)


@pytest.fixture(scope="module")
def origin():
    with LoopbackServer() as web:
        web.routes["/photo.jpg"] = Answer(200, {"Content-Type": "image/jpeg"}, PHOTO)
        yield web


@pytest.fixture(scope="module")
def canary():
    """NOT on any allow list: a request reaching it would be the SSRF the guard prevents."""
    with LoopbackServer() as web:
        web.routes["/"] = Answer(200, {"Content-Type": "image/jpeg"}, PHOTO)
        yield web


@pytest.fixture(scope="module")
def account(server):
    return sign_up(server.url)


def start_import(server, account, url):
    answer = requests.post(f"{server.url}/imports", json={"url": url}, headers=bearer(account), timeout=10)
    assert answer.status_code == 202, answer.text
    image_id = answer.json()["image_id"]
    # The VPC side: the import-jobs message claims the image and sends the fetch order.
    pipeline.import_url(take("import-jobs", about(image_id=image_id))["Body"])
    return image_id, take("fetch-orders", about(image_id=image_id))


def test_given_an_import_when_fetched_outside_with_no_database_then_the_original_is_stored_and_recorded_once(
        server, account, origin):
    image_id, order = start_import(server, account, origin.url("/photo.jpg"))
    body = json.loads(order["Body"])
    assert set(body) == {"image_id", "token", "url", "key", "max_bytes"}  # nothing else leaves the VPC
    run_outside([("fetch_import", order)], allowed_hosts=origin.host)
    assert wiring.storage().head(body["key"])["bytes"] == len(PHOTO)
    outcome = take("outcomes", about(image_id=image_id))
    assert json.loads(outcome["Body"])["result"] == "stored"
    pipeline.record_outcome(outcome["Body"])
    recorded = row(image_id)
    assert (recorded["status"], recorded["claim_token"], recorded["content_type"]) == ("queued", None, "image/jpeg")
    # The same outcome replayed (SQS delivers at least once): it matches no claim and changes nothing.
    pipeline.record_outcome(outcome["Body"])
    assert row(image_id) == recorded
    assert len(origin.received("/photo.jpg")) == 1


def test_given_orders_for_private_addresses_when_the_outside_fetcher_runs_then_each_is_refused_and_nothing_stored(
        server, account, origin, canary):
    origin.routes["/to-canary"] = Answer(302, {"Location": canary.url("/")}, b"")
    targets = [canary.url("/"), canary.url("/", host="localhost"), "http://169.254.169.254/latest/meta-data/",
               "http://10.0.0.1/x.jpg", "http://[::1]:9/x.jpg", origin.url("/to-canary")]
    owner = account["user"]["id"]
    orders = []
    for url in targets:
        image_id = str(uuid.uuid4())
        order = FetchOrder(image_id, str(uuid.uuid4()), url, store.original_key(owner, image_id), 10**6)
        orders.append(order)
        orders_message = {"MessageId": image_id, "ReceiptHandle": image_id, "Body": json.dumps(order.to_body())}
        run_outside([("fetch_import", orders_message)], allowed_hosts=origin.host)
    for order in orders:
        outcome = json.loads(take("outcomes", about(image_id=order.image_id))["Body"])
        assert (outcome["result"], outcome["code"]) == ("failed", "url_forbidden"), (order.url, outcome)
        assert wiring.storage().head(order.key) is None
    assert canary.received() == []


def test_given_import_outcomes_that_are_forged_late_or_for_a_deleted_image_then_no_state_is_corrupted(
        server, account, origin):
    image_id, order = start_import(server, account, origin.url("/photo.jpg"))
    token = json.loads(order["Body"])["token"]
    before = row(image_id)
    # Forged: the right image, a made-up token (the body itself is well formed).
    forged = ImportOutcome(image_id, str(uuid.uuid4()), "failed", code="url_forbidden", message="forged")
    pipeline.record_outcome(json.dumps(forged.to_body()))
    assert row(image_id) == before
    # The real failure is recorded, then a late "stored" for the same claim changes nothing.
    pipeline.record_outcome(json.dumps(ImportOutcome(image_id, token, "failed", code="url_unreachable",
                                                     message="The server did not answer.").to_body()))
    failed = row(image_id)
    assert (failed["status"], failed["error_code"]) == ("failed", "url_unreachable")
    pipeline.record_outcome(json.dumps(ImportOutcome(image_id, token, "stored", content_type="image/jpeg").to_body()))
    assert row(image_id) == failed
    # Deleted while its fetch was out: the outcome finds nothing to record and brings nothing back.
    gone_id, gone_order = start_import(server, account, origin.url("/photo.jpg"))
    answer = requests.delete(f"{server.url}/images/{gone_id}", headers=bearer(account), timeout=10)
    assert answer.status_code in (200, 204), answer.text
    pipeline.record_outcome(json.dumps(ImportOutcome(gone_id, json.loads(gone_order["Body"])["token"], "stored",
                                                     content_type="image/jpeg").to_body()))
    assert row(gone_id) is None


def _generate(server, account):
    answer = requests.post(f"{server.url}/generations", json={"prompt": "a lighthouse", "width": 128, "height": 128},
                           headers=bearer(account), timeout=10)
    assert answer.status_code == 202, answer.text
    return answer.json()["image_id"]


def _step(image_id):
    return wiring.database().one("SELECT step, step_claimed_at IS NOT NULL AS held, job_id, provider_status"
                                 " FROM generations WHERE image_id = :id", id=image_id)


def test_given_generation_outcomes_replayed_and_out_of_order_then_each_step_is_taken_once(server, account):
    image_id = _generate(server, account)
    pipeline.generation_step(take("generation-jobs", about(image_id=image_id))["Body"])
    call = json.loads(take("provider-calls", about(image_id=image_id))["Body"])
    assert call["step"] == 1 and call["job_id"] is None and call["request"]["prompt"] == "a lighthouse"
    # A duplicate of step 2 arriving while step 1's outcome is still on its way does not run ahead of it.
    pipeline.generation_step(json.dumps({"image_id": image_id, "step": 2}))
    assert _step(image_id)["step"] == 1
    # A forged outcome (wrong token) is ignored.
    forged = GenerationOutcome(image_id, 1, str(uuid.uuid4()), "failed", code="generation_failed", message="no")
    pipeline.record_outcome(json.dumps(forged.to_body()))
    assert row(image_id)["status"] == "generating"
    started = json.dumps(GenerationOutcome(image_id, 1, call["token"], "started", job_id="job-1").to_body())
    pipeline.record_outcome(started)
    pipeline.record_outcome(started)  # replayed before step 2 is claimed: step 2 is queued again, nothing else
    assert (_step(image_id)["job_id"], _step(image_id)["held"]) == ("job-1", False)
    firsts = [take("generation-jobs", about(image_id=image_id, step=2)) for _ in range(2)]
    for message in firsts:
        pipeline.generation_step(message["Body"])
    poll = json.loads(take("provider-calls", about(image_id=image_id, step=2))["Body"])
    assert poll["job_id"] == "job-1"
    with pytest.raises(AssertionError):
        take("provider-calls", about(image_id=image_id), timeout=2)  # the duplicate step 2 ordered nothing
    # Late: step 1's outcome once more, after step 2 was taken. Nothing moves.
    pipeline.record_outcome(started)
    late_fail = GenerationOutcome(image_id, 1, call["token"], "failed", code="generation_failed", message="late")
    pipeline.record_outcome(json.dumps(late_fail.to_body()))
    assert _step(image_id)["step"] == 2 and row(image_id)["status"] == "generating"
    # Deleted while step 2 was out: its outcome records nothing and queues nothing.
    assert requests.delete(f"{server.url}/images/{image_id}", headers=bearer(account), timeout=10).ok
    pipeline.record_outcome(json.dumps(GenerationOutcome(image_id, 2, poll["token"], "pending",
                                                         provider_status="PROCESSING").to_body()))
    assert row(image_id) is None
    with pytest.raises(AssertionError):
        take("generation-jobs", about(image_id=image_id), timeout=2)


def test_given_a_generation_when_its_provider_is_called_outside_then_the_image_is_stored_with_no_database(
        server, account):
    image_id = _generate(server, account)
    results = []
    for step in range(1, 8):  # the kickoff, then polls until the local provider's job is done
        pipeline.generation_step(take("generation-jobs", about(image_id=image_id, step=step))["Body"])
        call = take("provider-calls", about(image_id=image_id, step=step))
        run_outside([("call_provider", call)])
        outcome = take("outcomes", about(image_id=image_id, step=step))
        results.append(json.loads(outcome["Body"])["result"])
        pipeline.record_outcome(outcome["Body"])
        if results[-1] == "done":
            break
    assert results[0] == "started" and results[-1] == "done", results
    # The outside function stored the image; the VPC side recorded it.
    assert wiring.storage().head(json.loads(call["Body"])["key"]) is not None
    assert (row(image_id)["status"], _step(image_id)["provider_status"]) == ("queued", "DONE")


def test_given_a_webhook_attempt_when_sent_outside_then_it_is_signed_and_its_outcomes_are_recorded_once(
        server, account):
    secret = requests.post(f"{server.url}/auth/webhook-secret", headers=bearer(account), timeout=10).json()["secret"]
    with LoopbackServer() as receiver:
        receiver.routes["/hook"] = Answer(500, {"Content-Type": "text/plain"}, b"try later")
        subject = str(uuid.uuid4())
        event = webhooks.Event(owner_id=account["user"]["id"], subject_id=subject, type="image.done", status="done",
                               url=receiver.url("/hook"), data={"image": {"id": subject}}, links={})
        delivery_id = webhooks.publish(wiring.database(), wiring.queues(), event)
        pipeline.deliver_webhook(take("webhook-deliveries", about(delivery_id=delivery_id))["Body"])
        send = take("webhook-sends", about(delivery_id=delivery_id))
        order = WebhookSend.from_body(send["Body"])
        assert "secret" not in send["Body"] and secret not in send["Body"]
        run_outside([("send_webhook", send)], allowed_hosts=receiver.host)
        [request] = receiver.received("/hook")
        assert webhooks.verify_signature(secret, request.headers["X-Pixelflow-Signature"], request.body)
        assert request.body == order.body.encode()
        outcome = take("outcomes", about(delivery_id=delivery_id))
        assert json.loads(outcome["Body"])["status_code"] == 500
        pipeline.record_outcome(outcome["Body"])
        pipeline.record_outcome(outcome["Body"])  # replayed: the next attempt is queued again, and taken once
        for message in [take("webhook-deliveries", about(delivery_id=delivery_id, attempt=2), timeout=60)
                        for _ in range(2)]:
            pipeline.deliver_webhook(message["Body"])
        second = take("webhook-sends", about(delivery_id=delivery_id, attempt=2))
        with pytest.raises(AssertionError):
            take("webhook-sends", about(delivery_id=delivery_id), timeout=2)
        # Attempt 1's outcome, late: attempt 2 is current, nothing moves.
        pipeline.record_outcome(outcome["Body"])
        receiver.routes["/hook"] = Answer(204)
        run_outside([("send_webhook", second)], allowed_hosts=receiver.host)
        pipeline.record_outcome(take("outcomes", about(delivery_id=delivery_id, attempt=2))["Body"])
    delivery = wiring.database().one("SELECT status, attempts, last_status_code FROM webhook_deliveries"
                                     " WHERE id = :id", id=delivery_id)
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("delivered", 2, 204)


def test_given_a_send_order_that_waited_past_its_signature_then_it_is_not_sent_stale(server, account):
    with LoopbackServer() as receiver:
        delivery_id = str(uuid.uuid4())
        stale = WebhookSend(delivery_id, 1, str(uuid.uuid4()), receiver.url("/hook"), "{}",
                            {"X-Pixelflow-Signature": "t=1,v1=00"}, signed_at=int(time.time()) - 600)
        run_outside([("send_webhook", {"MessageId": "m", "ReceiptHandle": "r", "Body": json.dumps(stale.to_body())})],
                    allowed_hosts=receiver.host)
        outcome = json.loads(take("outcomes", about(delivery_id=delivery_id))["Body"])
        assert (outcome["result"], outcome["code"]) == ("failed", "signature_stale")
        assert receiver.received() == []


def test_given_the_runner_killed_mid_fetch_when_it_comes_back_then_the_import_still_ends_done(
        server, app, account, origin):
    origin.routes["/slow.jpg"] = Answer(200, {"Content-Type": "image/jpeg"}, PHOTO, delay=2.0)
    env = dict(os.environ, IMPORT_ALLOWED_HOSTS=origin.host)
    worker = subprocess.Popen([sys.executable, "-m", "functions.local.runner"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        answer = requests.post(f"{server.url}/imports", json={"url": origin.url("/slow.jpg")},
                               headers=bearer(account), timeout=10)
        image_id = answer.json()["image_id"]
        assert wait_for(lambda: origin.received("/slow.jpg"), timeout=60, interval=0.02)
        worker.kill()
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert row(image_id)["status"] == "queued", "the fetch finished before the runner could be killed"
    settings = original = wiring.settings()
    wiring.configure(dataclasses.replace(original, import_allowed_hosts=frozenset({origin.host})))
    runner = EventRunner(app, wiring.boto3_client("sqs"), region=settings.region, wait_seconds=1,
                         timeout_seconds=settings.function_timeout, run_schedules=False,
                         settings_source=wiring.settings).start()
    try:
        # The fetch order comes back after its visibility timeout and is fetched again, from outside.
        item = finished(server, account, image_id, timeout=settings.visibility_timeout + 60)
    finally:
        runner.stop()
        wiring.configure(original)
    assert item["status"] == "done", item["error"]
    assert len(origin.received("/slow.jpg")) == 2
    counted = wiring.database().one("SELECT processing_attempts FROM images WHERE id = :id", id=image_id)
    assert counted["processing_attempts"] == 1


def _delivery(account, receiver):
    """A published delivery whose attempt 1 is claimed: (delivery id, its send order)."""
    subject = str(uuid.uuid4())
    event = webhooks.Event(owner_id=account["user"]["id"], subject_id=subject, type="image.done", status="done",
                           url=receiver.url("/hook"), data={"image": {"id": subject}}, links={})
    delivery_id = webhooks.publish(wiring.database(), wiring.queues(), event)
    pipeline.deliver_webhook(take("webhook-deliveries", about(delivery_id=delivery_id))["Body"])
    return delivery_id, WebhookSend.from_body(take("webhook-sends", about(delivery_id=delivery_id))["Body"])


def _delivery_row(delivery_id):
    return wiring.database().one("SELECT status, attempts, last_status_code, last_error, claimed_at IS NULL AS done"
                                 " FROM webhook_deliveries WHERE id = :id", id=delivery_id)


def test_given_a_failed_webhook_attempt_when_a_late_or_foreign_outcome_arrives_then_nothing_changes(
        server, account):
    requests.post(f"{server.url}/auth/webhook-secret", headers=bearer(account), timeout=10).raise_for_status()
    with LoopbackServer() as receiver:
        delivery_id, order = _delivery(account, receiver)
        assert order.token  # the attempt's claim travels with the order and comes back with the outcome
        # A forged outcome (a made-up token) moves nothing, not even while the attempt is held.
        forged = DeliveryOutcome(delivery_id, 1, str(uuid.uuid4()), "delivered", status_code=200)
        pipeline.record_outcome(json.dumps(forged.to_body()))
        assert _delivery_row(delivery_id)["done"] is False
        failed = DeliveryOutcome(delivery_id, 1, order.token, "failed", status_code=500, code="url_unreachable",
                                 message="HTTP 500 from the receiver.")
        pipeline.record_outcome(json.dumps(failed.to_body()))
        recorded = _delivery_row(delivery_id)
        assert (recorded["status"], recorded["last_status_code"], recorded["done"]) == ("pending", 500, True)
        take("webhook-deliveries", about(delivery_id=delivery_id, attempt=2), timeout=60)
        # The same send reported twice (the order ran twice): its late "delivered" does not re-finish attempt 1,
        # nor overwrite its error, nor queue anything.
        late = DeliveryOutcome(delivery_id, 1, order.token, "delivered", status_code=204)
        pipeline.record_outcome(json.dumps(late.to_body()))
        assert _delivery_row(delivery_id) == recorded
        with pytest.raises(AssertionError):
            take("webhook-deliveries", about(delivery_id=delivery_id), timeout=3)


def test_given_outcomes_dead_lettered_when_given_up_then_successes_are_recorded_and_only_failures_fail(
        server, account, origin):
    # An import whose original is stored: the dead-lettered "stored" is recorded, never turned into a failure.
    image_id, order = start_import(server, account, origin.url("/photo.jpg"))
    token = json.loads(order["Body"])["token"]
    stored = ImportOutcome(image_id, token, "stored", content_type="image/jpeg")
    pipeline.give_up_outcome(json.dumps(stored.to_body()))
    recorded = row(image_id)
    assert (recorded["status"], recorded["claim_token"], recorded["content_type"]) == ("queued", None, "image/jpeg")
    # A dead-lettered failure still fails the import.
    failing_id, failing_order = start_import(server, account, origin.url("/photo.jpg"))
    refused = ImportOutcome(failing_id, json.loads(failing_order["Body"])["token"], "failed",
                            code="url_unreachable", message="The server did not answer.")
    pipeline.give_up_outcome(json.dumps(refused.to_body()))
    assert row(failing_id)["status"] == "failed"
    # A generation's "started": its job is recorded and its first poll queued; the image keeps generating.
    generation_id = _generate(server, account)
    pipeline.generation_step(take("generation-jobs", about(image_id=generation_id))["Body"])
    call = json.loads(take("provider-calls", about(image_id=generation_id))["Body"])
    started = GenerationOutcome(generation_id, 1, call["token"], "started", job_id="job-dlq")
    pipeline.give_up_outcome(json.dumps(started.to_body()))
    assert (row(generation_id)["status"], _step(generation_id)["job_id"]) == ("generating", "job-dlq")
    take("generation-jobs", about(image_id=generation_id, step=2), timeout=60)
    # A delivered webhook: recorded delivered, not failed.
    requests.post(f"{server.url}/auth/webhook-secret", headers=bearer(account), timeout=10).raise_for_status()
    with LoopbackServer() as receiver:
        delivery_id, send = _delivery(account, receiver)
    delivered = DeliveryOutcome(delivery_id, 1, send.token, "delivered", status_code=204)
    pipeline.give_up_outcome(json.dumps(delivered.to_body()))
    assert (_delivery_row(delivery_id)["status"], _delivery_row(delivery_id)["last_status_code"]) == ("delivered", 204)


def test_given_a_kickoff_run_twice_when_both_started_outcomes_arrive_then_the_first_job_is_kept(server, account):
    image_id = _generate(server, account)
    pipeline.generation_step(take("generation-jobs", about(image_id=image_id))["Body"])
    call = json.loads(take("provider-calls", about(image_id=image_id))["Body"])
    pipeline.record_outcome(json.dumps(GenerationOutcome(image_id, 1, call["token"], "started",
                                                         job_id="job-first").to_body()))
    take("generation-jobs", about(image_id=image_id, step=2), timeout=60)
    # The provider-calls order was delivered twice: a second paid job started, and its outcome changes nothing.
    pipeline.record_outcome(json.dumps(GenerationOutcome(image_id, 1, call["token"], "started",
                                                         job_id="job-second").to_body()))
    assert (_step(image_id)["job_id"], _step(image_id)["provider_status"]) == ("job-first", "INITIAL")
    with pytest.raises(AssertionError):
        take("generation-jobs", about(image_id=image_id), timeout=3)


def test_given_a_remote_content_type_too_long_for_an_outcome_when_imported_then_the_outcome_is_still_recorded(
        server, account, origin):
    origin.routes["/long-type.jpg"] = Answer(200, {"Content-Type": "image/" + "x" * 300}, PHOTO)
    image_id, order = start_import(server, account, origin.url("/long-type.jpg"))
    run_outside([("fetch_import", order)], allowed_hosts=origin.host)
    outcome = take("outcomes", about(image_id=image_id))
    assert json.loads(outcome["Body"])["content_type"] is None  # not a media type of 200 characters at most
    pipeline.record_outcome(outcome["Body"])
    assert (row(image_id)["status"], row(image_id)["claim_token"]) == ("queued", None)


def test_given_a_provider_job_id_too_long_for_an_outcome_when_started_then_the_image_fails_with_a_code(
        server, account):
    original = wiring.settings()
    with FakeFusionBrain() as fake:
        fake.uuid_padding = "x" * 2100
        wiring.configure(dataclasses.replace(
            original, provider="fusionbrain", fusionbrain_url=fake.url, fusionbrain_styles_url=fake.styles_url,
            fusionbrain_api_key=fake.api_key, fusionbrain_secret_key=fake.secret_key))
        try:
            image_id = _generate(server, account)
            pipeline.generation_step(take("generation-jobs", about(image_id=image_id))["Body"])
            pipeline.call_provider(take("provider-calls", about(image_id=image_id))["Body"])
        finally:
            wiring.configure(original)
    outcome = take("outcomes", about(image_id=image_id))
    assert (json.loads(outcome["Body"])["result"], json.loads(outcome["Body"])["code"]) == (
        "failed", "provider_job_id_too_long")
    pipeline.record_outcome(outcome["Body"])
    assert (row(image_id)["status"], row(image_id)["error_code"]) == ("failed", "provider_job_id_too_long")


def test_given_an_unreadable_outcome_that_names_its_claim_then_its_import_fails_instead_of_waiting_forever(
        server, account, origin):
    image_id, order = start_import(server, account, origin.url("/photo.jpg"))
    token = json.loads(order["Body"])["token"]
    # A failure without its message: read_outcome refuses it; the claim it names is failed, not left held.
    pipeline.record_outcome(json.dumps({"kind": "import", "image_id": image_id, "token": token, "result": "failed",
                                        "code": "url_unreachable"}))
    assert (row(image_id)["status"], row(image_id)["error_code"]) == ("failed", "outcome_unreadable")
    # One naming a claim that is not held (forged) still changes nothing.
    other_id, _ = start_import(server, account, origin.url("/photo.jpg"))
    before = row(other_id)
    pipeline.record_outcome(json.dumps({"kind": "import", "image_id": other_id, "token": str(uuid.uuid4()),
                                        "result": "bogus"}))
    assert row(other_id) == before
