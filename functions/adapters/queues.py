"""SQS queues by name: send JSON messages (optionally delayed), check they answer."""

import json
import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.errors import Unavailable
from functions.messages import MAX_DELAY_SECONDS

BATCH_LIMIT = 10  # SQS's limit of messages per SendMessageBatch


class Queues:
    """Wraps an SQS client; queue URLs are looked up once per name and cached."""

    def __init__(self, sqs):
        self._sqs = sqs
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    def url(self, name: str) -> str:
        """The queue's URL (cached)."""
        with self._lock:
            if name not in self._urls:
                try:
                    self._urls[name] = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
                except (ClientError, BotoCoreError) as error:
                    raise Unavailable(f"Queue {name} is unavailable.") from error
            return self._urls[name]

    def send(self, name: str, body: dict[str, Any], *, delay_seconds: int = 0,
             attributes: dict[str, str] | None = None) -> str:
        """Send one JSON message; return its id. Delays are clamped to SQS's 0..900 s."""
        kwargs: dict[str, Any] = {
            "QueueUrl": self.url(name),
            "MessageBody": json.dumps(body, separators=(",", ":")),
            "DelaySeconds": max(0, min(MAX_DELAY_SECONDS, int(delay_seconds))),
        }
        if attributes:
            kwargs["MessageAttributes"] = {
                key: {"DataType": "String", "StringValue": value} for key, value in attributes.items()
            }
        try:
            return self._sqs.send_message(**kwargs)["MessageId"]
        except (ClientError, BotoCoreError) as error:
            raise Unavailable(f"Queue {name} is unavailable.") from error

    def send_many(self, name: str, bodies: list[dict[str, Any]]) -> None:
        """Send JSON messages ten per request (SQS's batch limit); raise Unavailable if any was refused."""
        url = self.url(name)
        for start in range(0, len(bodies), BATCH_LIMIT):
            entries = [{"Id": str(index), "MessageBody": json.dumps(body, separators=(",", ":"))}
                       for index, body in enumerate(bodies[start:start + BATCH_LIMIT])]
            try:
                answer = self._sqs.send_message_batch(QueueUrl=url, Entries=entries)
            except (ClientError, BotoCoreError) as error:
                raise Unavailable(f"Queue {name} is unavailable.") from error
            if answer.get("Failed"):
                raise Unavailable(f"Queue {name} refused {len(answer['Failed'])} of {len(entries)} messages.")

    def ping(self, name: str) -> None:
        """Raise Unavailable unless the queue answers."""
        try:
            self._sqs.get_queue_attributes(QueueUrl=self.url(name), AttributeNames=["QueueArn"])
        except (ClientError, BotoCoreError) as error:
            raise Unavailable(f"Queue {name} is unavailable.") from error
