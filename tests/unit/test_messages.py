"""Queue message bodies: read once by from_body; a body no retry can fix is dropped, on each queue and its DLQ."""

import json
import logging

import pytest

from functions.local.runner import LambdaContext, sqs_event
from functions.messages import DeliveryAttempt, GenerationStep, GoneConnections, ImportJob, LivePush, MalformedMessage

IMAGE_ID = "0b6f4c55-8d6a-4d8a-9a53-6f1d2b7c9e10"
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
}
# Every SQS-triggered function of the app, by the name app.py gives it.
HANDLERS = ["process_image", "image_dead_letter", "run_generation_step", "generation_dead_letter",
            "import_url", "import_dead_letter", "deliver_webhook", "webhook_dead_letter", "push_live",
            "forget_gone_connections"]
KIND_OF = {"run_generation_step": GenerationStep, "generation_dead_letter": GenerationStep,
           "import_url": ImportJob, "import_dead_letter": ImportJob,
           "deliver_webhook": DeliveryAttempt, "webhook_dead_letter": DeliveryAttempt,
           "push_live": LivePush, "forget_gone_connections": GoneConnections}


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


@pytest.mark.parametrize("kind", [GenerationStep, ImportJob, DeliveryAttempt, LivePush, GoneConnections])
def test_given_a_malformed_body_when_read_then_it_is_a_permanent_malformed_message(kind):
    for body in MALFORMED + WRONG_FOR[kind]:
        with pytest.raises(MalformedMessage):
            kind.from_body(body)


@pytest.mark.parametrize("name", HANDLERS)
def test_given_a_malformed_body_when_its_queue_or_dlq_handler_runs_then_it_is_dropped_not_retried(name, caplog):
    import app

    bodies = MALFORMED + [body for kind in WRONG_FOR.values() for body in kind] if name.startswith(
        ("process_image", "image_")) else MALFORMED + WRONG_FOR[KIND_OF[name]]
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
