"""A body no retry can make readable is dropped once by its handler, on every queue and every DLQ."""

import json

import pytest

from functions import wiring
from functions.settings import GENERATION_JOBS_QUEUE, IMAGE_EVENTS_QUEUE, IMPORT_JOBS_QUEUE, WEBHOOK_DELIVERIES_QUEUE
from tests.integration.helpers import wait_until_handled

QUEUES = [IMAGE_EVENTS_QUEUE, GENERATION_JOBS_QUEUE, IMPORT_JOBS_QUEUE, WEBHOOK_DELIVERIES_QUEUE]
BODIES = ["not json", json.dumps({"image_id": "not-a-uuid", "step": 1, "delivery_id": 7, "attempt": "x"}),
          json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": []}]})]


@pytest.mark.parametrize("queue", QUEUES + [name + "-dlq" for name in QUEUES])
def test_given_malformed_bodies_when_their_queue_is_consumed_then_they_are_deleted_not_retried(runner, queue):
    sqs, url = wiring.boto3_client("sqs"), wiring.queues().url(queue)
    for body in BODIES:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    # A handler that raised would leave each one in flight until its visibility timeout (minutes),
    # then on to the DLQ: drained means every one was handled and deleted at its first receive.
    names = [queue] if queue.endswith("-dlq") else [queue, queue + "-dlq"]
    wait_until_handled(*names, timeout=30)
