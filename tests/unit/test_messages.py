"""Queue message bodies: read once by from_body; a body no retry can fix is dropped, on each queue and its DLQ."""

import json
import logging

import pytest

from functions.local.runner import LambdaContext, sqs_event
from functions.messages import (
    DeliveryAttempt,
    DeliveryOutcome,
    FetchOrder,
    GenerationOutcome,
    GenerationStep,
    GoneConnections,
    ImportJob,
    ImportOutcome,
    LivePush,
    MalformedMessage,
    ProviderCall,
    WebhookSend,
    read_outcome,
    unreadable_outcome,
)
from functions.outbound import media_type

IMAGE_ID = "0b6f4c55-8d6a-4d8a-9a53-6f1d2b7c9e10"
TOKEN = "5d1b7a3e-2f7c-4a51-9a8e-0c3b2a1f4e6d"
KEY = f"originals/{TOKEN}/{IMAGE_ID}"
# Bodies no queue of ours carries (an S3 notification of the wrong shape among them).
MALFORMED = [
    "not json",
    "[]",
    "{}",
    json.dumps({"image_id": "../../etc/passwd", "step": 1, "delivery_id": "x", "attempt": 1}),
    json.dumps({"Records": "nothing"}),
    json.dumps({"Records": [1, None, {"eventName": "ObjectCreated:Put", "s3": "x"}]}),
]
# Bodies wrong only for one kind of message.
WRONG_FOR = {
    GenerationStep: [json.dumps({"image_id": IMAGE_ID, "step": "two"}), json.dumps({"image_id": IMAGE_ID, "step": 0}),
                     json.dumps({"image_id": IMAGE_ID, "step": True})],
    ImportJob: [json.dumps({"image_id": 12}), json.dumps({"image_id": None})],
    DeliveryAttempt: [json.dumps({"delivery_id": IMAGE_ID, "attempt": -1}),
                      json.dumps({"delivery_id": 12, "attempt": 1})],
    LivePush: [json.dumps({"connections": ["a="], "messages": "hello"}),
               json.dumps({"connections": [7], "messages": []}),
               json.dumps({"connections": ["x" * 129], "messages": []})],
    GoneConnections: [json.dumps({"connections": "a="}), json.dumps({"connections": [""]})],
    FetchOrder: [
        # A key that is not this image's original: an order may never write elsewhere in the bucket.
        json.dumps({"image_id": IMAGE_ID, "token": TOKEN, "url": "http://a/", "key": f"variants/x/{IMAGE_ID}",
                    "max_bytes": 10}),
        json.dumps({"image_id": IMAGE_ID, "token": TOKEN, "url": "http://a/", "key": f"originals/x/{TOKEN}",
                    "max_bytes": 10}),
        json.dumps({"image_id": IMAGE_ID, "token": "t", "url": "http://a/", "key": KEY, "max_bytes": 10}),
        json.dumps({"image_id": IMAGE_ID, "token": TOKEN, "url": "", "key": KEY, "max_bytes": 0})],
    WebhookSend: [
        json.dumps({"delivery_id": IMAGE_ID, "attempt": 1, "url": "http://a/", "body": "{}",
                    "headers": {"X": 1}, "signed_at": 1}),
        json.dumps({"delivery_id": IMAGE_ID, "attempt": 1, "url": "http://a/", "body": "x" * 300_000,
                    "headers": {}, "signed_at": 1})],
    ProviderCall: [
        json.dumps({"image_id": IMAGE_ID, "step": 1, "token": TOKEN, "key": KEY, "job_id": None,
                    "request": "draw"}),
        json.dumps({"image_id": IMAGE_ID, "step": 1, "token": TOKEN, "key": KEY, "job_id": None,
                    "request": {"prompt": "a", "width": 0, "height": 10}})],
    # Forged or broken outcomes: an unknown kind, an unknown result, a missing token, a failure without a code.
    "outcome": [
        json.dumps({"kind": "admin", "image_id": IMAGE_ID}),
        json.dumps({"kind": "import", "image_id": IMAGE_ID, "token": TOKEN, "result": "done"}),
        json.dumps({"kind": "import", "image_id": IMAGE_ID, "result": "stored"}),
        json.dumps({"kind": "import", "image_id": IMAGE_ID, "token": TOKEN, "result": "failed"}),
        json.dumps({"kind": "delivery", "delivery_id": IMAGE_ID, "attempt": 0, "result": "delivered"}),
        json.dumps({"kind": "generation", "image_id": IMAGE_ID, "step": 2, "token": TOKEN, "result": "started"}),
        json.dumps({"kind": "generation", "image_id": IMAGE_ID, "step": 2, "token": TOKEN, "result": "pending",
                    "retry_after": -5}),
        json.dumps({"kind": "generation", "image_id": IMAGE_ID, "step": 2, "token": TOKEN, "result": "done"})],
}


class Outcome:
    """The outcomes queue carries three kinds of body; read_outcome tells them apart."""

    from_body = staticmethod(read_outcome)


# Every SQS-triggered function of the app, by the name app.py gives it.
HANDLERS = ["process_image", "image_dead_letter", "run_generation_step", "generation_dead_letter",
            "import_url", "import_dead_letter", "deliver_webhook", "webhook_dead_letter", "push_live",
            "forget_gone_connections", "fetch_import", "fetch_dead_letter", "send_webhook", "send_dead_letter",
            "call_provider", "provider_dead_letter", "record_outcome", "outcome_dead_letter"]
KIND_OF = {"run_generation_step": GenerationStep, "generation_dead_letter": GenerationStep,
           "import_url": ImportJob, "import_dead_letter": ImportJob,
           "deliver_webhook": DeliveryAttempt, "webhook_dead_letter": DeliveryAttempt,
           "push_live": LivePush, "forget_gone_connections": GoneConnections,
           "fetch_import": FetchOrder, "fetch_dead_letter": FetchOrder, "send_webhook": WebhookSend,
           "send_dead_letter": WebhookSend, "call_provider": ProviderCall, "provider_dead_letter": ProviderCall,
           "record_outcome": "outcome", "outcome_dead_letter": "outcome"}


def test_given_every_sqs_handler_of_the_app_then_this_module_feeds_it_malformed_bodies():
    from chalice.app import SQSEventConfig

    import app

    consumers = {source.name for source in app.app.event_sources if isinstance(source, SQSEventConfig)}
    assert consumers == set(HANDLERS)


def test_given_orders_and_outcomes_when_written_then_they_read_back_the_same():
    orders = [FetchOrder(IMAGE_ID, TOKEN, "https://example.com/a.png", KEY, 1000),
              WebhookSend(IMAGE_ID, 2, TOKEN, "https://example.com/hook", '{"a":1}',
                          {"X-Pixelflow-Event": "image.done"}, 9),
              ProviderCall(IMAGE_ID, 1, TOKEN, KEY, None, {"prompt": "a fox", "width": 64, "height": 64})]
    for order in orders:
        assert type(order).from_body(json.dumps(order.to_body())) == order
    outcomes = [ImportOutcome(IMAGE_ID, TOKEN, "failed", code="url_forbidden", message="No."),
                DeliveryOutcome(IMAGE_ID, 3, TOKEN, "delivered", status_code=204),
                GenerationOutcome(IMAGE_ID, 2, TOKEN, "pending", provider_status="PROCESSING", retry_after=2.5)]
    for outcome in outcomes:
        assert read_outcome(json.dumps(outcome.to_body())) == outcome


def test_given_well_formed_bodies_when_read_then_the_fields_come_back_and_round_trip():
    step = GenerationStep.from_body(json.dumps({"image_id": IMAGE_ID.upper(), "step": "3"}))
    assert step == GenerationStep(IMAGE_ID, 3)
    assert GenerationStep.from_body(json.dumps(step.to_body())) == step
    assert ImportJob.from_body(json.dumps(ImportJob(IMAGE_ID).to_body())) == ImportJob(IMAGE_ID)
    attempt = DeliveryAttempt(IMAGE_ID, 2)
    assert DeliveryAttempt.from_body(json.dumps(attempt.to_body())) == attempt
    push = LivePush(("L0SM9cOFvHcCIhw=",), ({"message": {"type": "pong"}, "links": None},))
    assert LivePush.from_body(json.dumps(push.to_body())) == push
    gone = GoneConnections(("L0SM9cOFvHcCIhw=",))
    assert GoneConnections.from_body(json.dumps(gone.to_body())) == gone


@pytest.mark.parametrize("kind", list(WRONG_FOR))
def test_given_a_malformed_body_when_read_then_it_is_a_permanent_malformed_message(kind):
    reader = Outcome if kind == "outcome" else kind
    for body in MALFORMED + WRONG_FOR[kind]:
        with pytest.raises(MalformedMessage):
            reader.from_body(body)


@pytest.mark.parametrize("name", HANDLERS)
def test_given_a_malformed_body_when_its_queue_or_dlq_handler_runs_then_it_is_dropped_not_retried(name, caplog):
    import app

    bodies = MALFORMED + [body for kind in WRONG_FOR.values() for body in kind] if name.startswith(
        ("process_image", "image_")) else MALFORMED + WRONG_FOR[KIND_OF[name]]
    if KIND_OF.get(name) == "outcome":
        # One that names its claim fails that claim instead (tests/integration/test_outbound.py).
        bodies = [body for body in bodies if unreadable_outcome(body, "malformed") is None]
    messages = [{"MessageId": f"m{index}", "ReceiptHandle": f"r{index}", "Body": body}
                for index, body in enumerate(bodies)]
    handler = app.app.handler_map[name]
    with caplog.at_level(logging.INFO):
        for message in messages:
            result = handler(sqs_event([message], "arn:aws:sqs:eu-west-1:000000000000:q", "eu-west-1"),
                             LambdaContext(name, 60))
            # Reported as handled: the message is deleted, never received again nor dead-lettered.
            assert not (result or {}).get("batchItemFailures")
    dropped = [record for record in caplog.records if "malformed" in record.getMessage()]
    if name in ("process_image", "image_dead_letter"):
        assert dropped == []  # an S3 notification of the wrong shape announces nothing
    else:
        assert len(dropped) == len(bodies)  # once per message


def test_given_a_malformed_outcome_that_names_its_claim_then_it_reads_as_a_failure_of_that_claim():
    claimed = {"import": json.dumps({"kind": "import", "image_id": IMAGE_ID, "token": TOKEN, "result": "failed"}),
               "generation": json.dumps({"kind": "generation", "image_id": IMAGE_ID, "step": 2, "token": TOKEN,
                                         "result": "started", "job_id": "j" * 2001}),
               "delivery": json.dumps({"kind": "delivery", "delivery_id": IMAGE_ID, "attempt": 3, "token": TOKEN,
                                       "result": "failed"})}
    for kind, body in claimed.items():
        with pytest.raises(MalformedMessage):
            read_outcome(body)
        failed = unreadable_outcome(body, "job_id is not a text")
        assert (failed.kind, failed.result, failed.code) == (kind, "failed", "outcome_unreadable")
        assert failed.token == TOKEN and "could not be read: job_id is not a text" in failed.message
        assert read_outcome(json.dumps(failed.to_body())) == failed  # the failure itself is well formed
    assert unreadable_outcome(json.dumps({"kind": "import", "image_id": IMAGE_ID, "result": "stored"}), "x") is None
    assert unreadable_outcome("not json", "x") is None


def test_given_content_types_from_a_remote_server_then_only_a_bare_media_type_of_200_characters_at_most_is_kept():
    assert media_type("Image/JPEG; charset=binary") == "image/jpeg"
    assert media_type("image/svg+xml") == "image/svg+xml"
    long = "image/" + "x" * 300
    for refused in (long, "", "jpeg", "image/jpeg/x", "image/jp eg", "image/\u00e9", None):
        assert media_type(refused) is None, refused
    assert len(media_type("image/" + "x" * 99) or "") <= 200
