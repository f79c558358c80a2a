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


# --- the internet-facing functions' orders and outcomes ---------------------------------
#
# A VPC function that holds a claim sends an order to a queue that a function outside the VPC
# consumes (it has no database); that function does the internet work and sends one outcome
# to the outcomes queue, which a VPC function records. Everything the outside function needs
# travels in the order; the claim token travels back, so an outcome only moves the claim it
# answers (a replayed, late or forged one matches nothing).

MAX_TEXT = 200_000  # under SQS's 256 KB message limit, with room for the envelope


def _text(value: Any, name: str, *, optional: bool = False, limit: int = 2000) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise MalformedMessage(f"{name} is not a text of 1 to {limit} characters")
    return value


def _optional_number(value: Any, name: str) -> int | None:
    return None if value is None else _number(value, name)


def _delay(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 86_400:
        raise MalformedMessage(f"{name} is not a number of seconds")
    return float(value)


def _choice(value: Any, name: str, allowed: frozenset[str]) -> str:
    if value not in allowed:
        raise MalformedMessage(f"{name} is not one of {', '.join(sorted(allowed))}")
    return str(value)


@dataclasses.dataclass(frozen=True)
class FetchOrder:
    """fetch-orders: fetch ``url`` into ``key`` (an original), then report an ``ImportOutcome``."""

    image_id: str
    token: str
    url: str
    key: str
    max_bytes: int

    @classmethod
    def from_body(cls, body: str) -> "FetchOrder":
        fields = _fields(body, "image_id", "token", "url", "key", "max_bytes")
        image_id = _uuid(fields["image_id"], "image_id")
        key = _text(fields["key"], "key", limit=200) or ""
        if not (key.startswith("originals/") and key.endswith("/" + image_id)):
            raise MalformedMessage("key is not the image's original")
        return cls(image_id, _uuid(fields["token"], "token"), _text(fields["url"], "url", limit=4096) or "",
                   key, _number(fields["max_bytes"], "max_bytes"))

    def to_body(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


IMPORT_RESULTS = frozenset({"stored", "failed"})


@dataclasses.dataclass(frozen=True)
class ImportOutcome:
    """outcomes (kind ``import``): the original is stored, or the fetch was refused with ``code``."""

    image_id: str
    token: str
    result: str
    content_type: str | None = None
    code: str | None = None
    message: str | None = None
    kind = "import"

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> "ImportOutcome":
        result = _choice(fields.get("result"), "result", IMPORT_RESULTS)
        outcome = cls(_uuid(fields.get("image_id"), "image_id"), _uuid(fields.get("token"), "token"), result,
                      _text(fields.get("content_type"), "content_type", optional=True, limit=200),
                      _text(fields.get("code"), "code", optional=True, limit=64),
                      _text(fields.get("message"), "message", optional=True))
        if result == "failed" and not (outcome.code and outcome.message):
            raise MalformedMessage("a failed import needs a code and a message")
        return outcome

    def to_body(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}


@dataclasses.dataclass(frozen=True)
class WebhookSend:
    """webhook-sends: POST ``body`` (already signed, ``headers`` hold the signature) to ``url``.

    ``token`` is the attempt's claim; its outcome carries it back.
    """

    delivery_id: str
    attempt: int
    token: str
    url: str
    body: str
    headers: dict[str, str]
    signed_at: int

    @classmethod
    def from_body(cls, body: str) -> "WebhookSend":
        fields = _fields(body, "delivery_id", "attempt", "token", "url", "body", "headers", "signed_at")
        headers = fields["headers"]
        if not isinstance(headers, dict) or not all(isinstance(name, str) and isinstance(value, str)
                                                    for name, value in headers.items()):
            raise MalformedMessage("headers is not an object of texts")
        return cls(_uuid(fields["delivery_id"], "delivery_id"), _number(fields["attempt"], "attempt"),
                   _uuid(fields["token"], "token"), _text(fields["url"], "url", limit=4096) or "",
                   _text(fields["body"], "body", limit=MAX_TEXT) or "",
                   dict(headers), _number(fields["signed_at"], "signed_at"))

    def to_body(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


DELIVERY_RESULTS = frozenset({"delivered", "failed"})


@dataclasses.dataclass(frozen=True)
class DeliveryOutcome:
    """outcomes (kind ``delivery``): attempt ``attempt`` (claim ``token``) was delivered, or failed with ``code``."""

    delivery_id: str
    attempt: int
    token: str
    result: str
    status_code: int | None = None
    code: str | None = None
    message: str | None = None
    kind = "delivery"

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> "DeliveryOutcome":
        result = _choice(fields.get("result"), "result", DELIVERY_RESULTS)
        outcome = cls(_uuid(fields.get("delivery_id"), "delivery_id"), _number(fields.get("attempt"), "attempt"),
                      _uuid(fields.get("token"), "token"), result,
                      _optional_number(fields.get("status_code"), "status_code"),
                      _text(fields.get("code"), "code", optional=True, limit=64),
                      _text(fields.get("message"), "message", optional=True))
        if result == "failed" and not (outcome.code and outcome.message):
            raise MalformedMessage("a failed delivery needs a code and a message")
        return outcome

    def to_body(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}


@dataclasses.dataclass(frozen=True)
class ProviderCall:
    """provider-calls: step ``step`` of a generation: start the job (``job_id`` None) or poll it."""

    image_id: str
    step: int
    token: str
    key: str
    job_id: str | None
    request: dict[str, Any]

    @classmethod
    def from_body(cls, body: str) -> "ProviderCall":
        fields = _fields(body, "image_id", "step", "token", "key", "job_id", "request")
        image_id = _uuid(fields["image_id"], "image_id")
        key = _text(fields["key"], "key", limit=200) or ""
        if not (key.startswith("originals/") and key.endswith("/" + image_id)):
            raise MalformedMessage("key is not the image's original")
        request = fields["request"]
        if not isinstance(request, dict) or not isinstance(request.get("prompt"), str):
            raise MalformedMessage("request is not a generation request")
        _number(request.get("width"), "request.width")
        _number(request.get("height"), "request.height")
        return cls(image_id, _number(fields["step"], "step"), _uuid(fields["token"], "token"), key,
                   _text(fields["job_id"], "job_id", optional=True, limit=2000), dict(request))

    def to_body(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


GENERATION_RESULTS = frozenset({"started", "busy", "unavailable", "pending", "done", "censored", "failed",
                                "rejected"})


@dataclasses.dataclass(frozen=True)
class GenerationOutcome:
    """outcomes (kind ``generation``): what the provider said at step ``step`` (``done``: the original is stored)."""

    image_id: str
    step: int
    token: str
    result: str
    job_id: str | None = None
    provider_status: str | None = None
    retry_after: float | None = None
    content_type: str | None = None
    code: str | None = None
    message: str | None = None
    kind = "generation"

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> "GenerationOutcome":
        result = _choice(fields.get("result"), "result", GENERATION_RESULTS)
        outcome = cls(_uuid(fields.get("image_id"), "image_id"), _number(fields.get("step"), "step"),
                      _uuid(fields.get("token"), "token"), result,
                      _text(fields.get("job_id"), "job_id", optional=True, limit=2000),
                      _text(fields.get("provider_status"), "provider_status", optional=True, limit=64),
                      _delay(fields.get("retry_after"), "retry_after"),
                      _text(fields.get("content_type"), "content_type", optional=True, limit=200),
                      _text(fields.get("code"), "code", optional=True, limit=64),
                      _text(fields.get("message"), "message", optional=True))
        if result == "started" and not outcome.job_id:
            raise MalformedMessage("a started generation needs its job_id")
        if result == "done" and not outcome.content_type:
            raise MalformedMessage("a done generation needs the content_type of its original")
        return outcome

    def to_body(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}


OUTCOME_KINDS = {kind.kind: kind for kind in (ImportOutcome, DeliveryOutcome, GenerationOutcome)}


UNREADABLE_OUTCOME = "outcome_unreadable"


def unreadable_outcome(body: str, reason: str) -> ImportOutcome | DeliveryOutcome | GenerationOutcome | None:
    """For a body ``read_outcome`` refused: a ``failed`` outcome for the same claim, or None if no claim is readable.

    Nothing else would settle the claim (the order was taken, and no housekeeping looks at held claims),
    so a body with a readable kind, subject and token fails its subject rather than leaving it stuck.
    """
    try:
        fields = _fields(body, "kind", "token")
        token = _uuid(fields["token"], "token")
        message = f"The outside function's report could not be read: {reason}."[:500]
        if fields["kind"] == ImportOutcome.kind:
            return ImportOutcome(_uuid(fields.get("image_id"), "image_id"), token, "failed",
                                 code=UNREADABLE_OUTCOME, message=message)
        if fields["kind"] == DeliveryOutcome.kind:
            return DeliveryOutcome(_uuid(fields.get("delivery_id"), "delivery_id"),
                                   _number(fields.get("attempt"), "attempt"), token, "failed",
                                   code=UNREADABLE_OUTCOME, message=message)
        if fields["kind"] == GenerationOutcome.kind:
            return GenerationOutcome(_uuid(fields.get("image_id"), "image_id"), _number(fields.get("step"), "step"),
                                     token, "failed", code=UNREADABLE_OUTCOME, message=message)
    except MalformedMessage:
        pass
    return None


def read_outcome(body: str) -> ImportOutcome | DeliveryOutcome | GenerationOutcome:
    """One outcomes message, of whichever kind it says it is."""
    fields = _fields(body, "kind")
    kind = OUTCOME_KINDS.get(fields["kind"]) if isinstance(fields["kind"], str) else None
    if kind is None:
        raise MalformedMessage("kind is not import, delivery or generation")
    return kind.from_fields(fields)
