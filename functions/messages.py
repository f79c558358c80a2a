"""The bodies of the app's own queues, one small dataclass each, read with ``from_body``.

A body ``from_body`` cannot read raises ``MalformedMessage``: no retry can change it, so the
handler logs it once and drops it (the message is deleted), on the queue and on its DLQ alike.
Ids are checked here, once, so domain code only ever sees UUIDs.
"""

import dataclasses
import json
import uuid
from typing import Any

MAX_DELAY_SECONDS = 900  # SQS's limit for DelaySeconds


class MalformedMessage(ValueError):
    """A queue message body that is not what its queue carries (permanent)."""


def _fields(body: str, *names: str) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (TypeError, ValueError):
        raise MalformedMessage("the body is not JSON") from None
    if not isinstance(payload, dict) or any(name not in payload for name in names):
        raise MalformedMessage(f"the body is not an object with {', '.join(names)}")
    return payload


def _uuid(value: Any, name: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (TypeError, ValueError, AttributeError):
        raise MalformedMessage(f"{name} is not a UUID") from None


def _number(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise MalformedMessage(f"{name} is not a whole number")
    try:
        number = int(value)
    except ValueError:
        raise MalformedMessage(f"{name} is not a whole number") from None
    if number < 1:
        raise MalformedMessage(f"{name} must be 1 or more")
    return number


@dataclasses.dataclass(frozen=True)
class GenerationStep:
    """generation-jobs: step 1 is the kickoff, every later step one poll."""

    image_id: str
    step: int

    @classmethod
    def from_body(cls, body: str) -> "GenerationStep":
        fields = _fields(body, "image_id", "step")
        return cls(_uuid(fields["image_id"], "image_id"), _number(fields["step"], "step"))

    def to_body(self) -> dict[str, Any]:
        return {"image_id": self.image_id, "step": self.step}


@dataclasses.dataclass(frozen=True)
class ImportJob:
    """import-jobs: fetch the image's source URL."""

    image_id: str

    @classmethod
    def from_body(cls, body: str) -> "ImportJob":
        return cls(_uuid(_fields(body, "image_id")["image_id"], "image_id"))

    def to_body(self) -> dict[str, Any]:
        return {"image_id": self.image_id}


@dataclasses.dataclass(frozen=True)
class DeliveryAttempt:
    """webhook-deliveries: attempt number ``attempt`` of one delivery."""

    delivery_id: str
    attempt: int

    @classmethod
    def from_body(cls, body: str) -> "DeliveryAttempt":
        fields = _fields(body, "delivery_id", "attempt")
        return cls(_uuid(fields["delivery_id"], "delivery_id"), _number(fields["attempt"], "attempt"))

    def to_body(self) -> dict[str, Any]:
        return {"delivery_id": self.delivery_id, "attempt": self.attempt}


def _connection_ids(value: Any, name: str) -> tuple[str, ...]:
    # API Gateway connection ids are short opaque strings (e.g. "L0SM9cOFvHcCIhw=").
    if not isinstance(value, list) or not all(isinstance(item, str) and 0 < len(item) <= 128 for item in value):
        raise MalformedMessage(f"{name} is not a list of connection ids")
    return tuple(value)


@dataclasses.dataclass(frozen=True)
class LivePush:
    """live-events: messages to send to each of some WebSocket connections (functions/live/pusher.py).

    Each entry is ``{"message": {...}, "links": {...} | None}``: ``links`` names the stored objects whose
    short-lived links the pusher signs into the message's ``image`` before sending.
    """

    connections: tuple[str, ...]
    messages: tuple[dict[str, Any], ...]

    @classmethod
    def from_body(cls, body: str) -> "LivePush":
        fields = _fields(body, "connections", "messages")
        messages = fields["messages"]
        if not isinstance(messages, list) or not all(isinstance(item, dict) for item in messages):
            raise MalformedMessage("messages is not a list of objects")
        return cls(_connection_ids(fields["connections"], "connections"), tuple(messages))

    def to_body(self) -> dict[str, Any]:
        return {"connections": list(self.connections), "messages": list(self.messages)}


@dataclasses.dataclass(frozen=True)
class GoneConnections:
    """live-gone: connections the management API answered 410 for (the VPC side deletes their rows)."""

    connections: tuple[str, ...]

    @classmethod
    def from_body(cls, body: str) -> "GoneConnections":
        return cls(_connection_ids(_fields(body, "connections")["connections"], "connections"))

    def to_body(self) -> dict[str, Any]:
        return {"connections": list(self.connections)}
