"""A body no retry can make readable is dropped once by its handler, on every queue and every DLQ.

Each of the app's eight record handlers is fed from a fresh queue of its own, so nothing that
earlier tests left running in the real queues (delayed generation polls, webhook retries) can
keep the queue from draining.
"""

import json
import uuid

import pytest
from chalice import Chalice

from functions import pipeline, wiring
from functions.local.runner import EventRunner
from tests.integration.helpers import wait_for

BODIES = ["not json", json.dumps({"image_id": "not-a-uuid", "step": 1, "delivery_id": 7, "attempt": "x"}),
          json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": []}]})]
# What app.py hands each queue and its DLQ.
HANDLERS = {
    "image-events": pipeline.process_image_event, "image-events-dlq": pipeline.give_up_image_event,
    "generation-jobs": pipeline.generation_step, "generation-jobs-dlq": pipeline.give_up_generation_step,
    "import-jobs": pipeline.import_url, "import-jobs-dlq": pipeline.give_up_import,
    "webhook-deliveries": pipeline.deliver_webhook, "webhook-deliveries-dlq": pipeline.give_up_webhook,
}


def _drained(sqs, url) -> bool:
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return not any(int(value) for value in counts.values())


@pytest.mark.parametrize("queue", sorted(HANDLERS))
def test_given_malformed_bodies_when_their_queue_is_consumed_then_they_are_deleted_not_retried(stack, queue):
    sqs, settings = wiring.boto3_client("sqs"), wiring.settings()
    name = f"malformed-{queue}-{uuid.uuid4().hex[:8]}"
    # A handler that raised would leave each body in flight for this long: drained means deleted at once.
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    app = Chalice("malformed-messages")
    handle = HANDLERS[queue]

    @app.on_sqs_message(queue=name, batch_size=1)
    def consume(event):
        return pipeline.each_record(event, handle)

    runner = EventRunner(app, sqs, region=settings.region, wait_seconds=1, isolation="thread").start()
    try:
        for body in BODIES:
            sqs.send_message(QueueUrl=url, MessageBody=body)
        assert wait_for(lambda: _drained(sqs, url), timeout=30), f"malformed bodies left in {queue}'s queue"
    finally:
        runner.stop()
        sqs.delete_queue(QueueUrl=url)
