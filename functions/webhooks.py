"""Webhooks: a signed JSON event to the caller's callback_url when an image or a batch settles.

An event is recorded once (``webhook_deliveries`` is unique per subject and event type) and
delivered through the webhook-deliveries queue. Attempt n is the message
``{"delivery_id", "attempt": n}``, claimed with a conditional UPDATE, so a duplicated message
sends nothing. The claimed attempt is signed here (in the VPC, where the key is) and handed to
webhook-sends, whose function outside the VPC (no database, functions/outbound.py) POSTs it and
reports the outcome, recorded by ``record_outcome``. A failed attempt schedules the next one
with a doubling delay, up to ``webhook_max_attempts``; a refused address (``url_forbidden``)
stops at once. Every request goes through the SSRF-safe fetcher, pinned to checked addresses,
and is signed:

    X-Pixelflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
    X-Pixelflow-Event-Id:  <the delivery id, the same on every attempt, for receivers to dedupe>

Domain code: takes the database, the queues and the settings as keyword arguments.
"""

import dataclasses
import datetime
import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import Any

from functions import leases, store
from functions.auth.derived import derived_secret
from functions.errors import InvalidInput
from functions.fetcher import url_forms
from functions.messages import MAX_DELAY_SECONDS, DeliveryAttempt, DeliveryOutcome, WebhookSend
from functions.settings import WEBHOOK_DELIVERIES_QUEUE, WEBHOOK_SENDS_QUEUE
from functions.timestamps import iso

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Pixelflow-Signature"
EVENT_ID_HEADER = "X-Pixelflow-Event-Id"
EVENT_TYPE_HEADER = "X-Pixelflow-Event"
SIGNATURE_TOLERANCE_SECONDS = 300
# Refusals that no retry can change: the address is not public, or the URL cannot be read.
PERMANENT = frozenset({"url_forbidden", "url_invalid"})


# --- callbacks and secrets -------------------------------------------------------------

def check_callback(db, user_id: str, callback_url: str | None) -> str | None:
    """The cleaned callback URL (or None); refused while the user has no secret to sign with."""
    if callback_url is None:
        return None
    url = url_forms.validate_url(callback_url, "callback_url")
    if db.one("SELECT 1 AS found FROM webhook_secrets WHERE user_id = :user", user=user_id) is None:
        raise InvalidInput("callback_url needs a webhook secret: create a webhook secret first "
                           "(POST /auth/webhook-secret).", code="webhook_secret_required", field="callback_url")
    return url


def derive_secret(signing_key: str, user_id: str, nonce: str) -> str:
    """The user's webhook secret: HMAC-SHA256 of user and nonce under the service's key, never stored."""
    return "whsec_" + derived_secret(signing_key, "webhook-secret", user_id, nonce)


def signing_secret(db, signing_key: str, user_id: str) -> str | None:
    """The secret the user's events are signed with now, or None when they have none."""
    row = db.one("SELECT nonce, secret FROM webhook_secrets WHERE user_id = :user", user=user_id)
    if row is None:
        return None
    # A row without a nonce predates derived secrets: its stored secret serves until the user rotates it.
    return derive_secret(signing_key, user_id, row["nonce"]) if row["nonce"] else row["secret"]


def new_secret(db, signing_key: str, user_id: str) -> dict[str, Any]:
    """Create or replace the user's signing secret; this answer is the only time it is shown.

    Only a random nonce is stored: the secret is derived from it with WEBHOOK_SIGNING_KEY, so a
    copy of the database alone cannot forge events.
    """
    nonce = secrets.token_urlsafe(24)
    # Upsert: a second call rotates; deliveries sign with whatever secret is current when they are sent.
    row = db.one(
        "INSERT INTO webhook_secrets (user_id, nonce, secret) VALUES (:user, :nonce, NULL)"
        " ON CONFLICT (user_id) DO UPDATE SET nonce = excluded.nonce, secret = NULL, created_at = now()"
        " RETURNING created_at", user=user_id, nonce=nonce)
    return {"secret": derive_secret(signing_key, user_id, nonce), "created_at": iso(row["created_at"])}


# --- signatures ------------------------------------------------------------------------

def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``."""
    signed = str(int(timestamp)).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={int(timestamp)},v1={digest}"


def verify_signature(secret: str, header: str | None, body: bytes, *, now: float | None = None,
                     tolerance: int = SIGNATURE_TOLERANCE_SECONDS) -> bool:
    """What a receiver does: recompute the HMAC, compare in constant time, refuse stale timestamps."""
    if not header:
        return False
    fields: dict[str, list] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature_header(secret, timestamp, body).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", []))


# --- recording events ------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Event:
    """Something a callback_url should hear about: ``image.done``, ``image.failed`` or ``batch.complete``."""

    owner_id: str
    subject_id: str
    type: str
    status: str
    url: str
    data: dict[str, Any]      # {"image": {...}} or {"batch": {...}}
    links: dict[str, str]


def publish(db, queues, event: Event) -> str | None:
    """Record ``event`` once and queue its first delivery attempt; return the delivery id when queued now."""
    body = json.dumps({"type": event.type, "id": event.subject_id, "status": event.status,
                       "created": iso(datetime.datetime.now(datetime.UTC)), **event.data,
                       "links": event.links}, separators=(",", ":"), ensure_ascii=False)
    row = store.insert_delivery(db, owner_id=event.owner_id, subject_id=event.subject_id, event_type=event.type,
                                url=event.url, body=body)
    if row["enqueued_at"] is not None:
        return None
    # Not yet queued: recorded just now, or an earlier try died between the insert and the send.
    # Two racing senders may both send attempt 1; its claim lets only one of them deliver.
    delivery_id = str(row["id"])
    queues.send(WEBHOOK_DELIVERIES_QUEUE, DeliveryAttempt(delivery_id, 1).to_body())
    store.mark_enqueued(db, delivery_id)
    return delivery_id


# --- delivering ------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class DeliveryResult:
    """What one attempt did: skipped, delivered, scheduled (a retry) or failed (for good)."""

    action: str
    detail: str = ""


def deliver(delivery_id: str, attempt: int, *, db, queues, settings, signing_key: str) -> DeliveryResult:
    """Claim attempt number ``attempt`` of one delivery, sign it, and order the outside function to send it."""
    job = store.claim_attempt(db, delivery_id, attempt, lease_seconds=settings.function_timeout)
    if job is None:
        return DeliveryResult("skipped", "attempt already taken, or the delivery is finished")
    secret = signing_secret(db, signing_key, str(job["owner_id"]))
    if secret is None:
        _finish(db, delivery_id, attempt, "failed", None, "There is no webhook secret to sign with.")
        return DeliveryResult("failed", "no secret")
    signed_at = int(time.time())
    body = job["body"]
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature_header(secret, signed_at, body.encode("utf-8")),
        EVENT_ID_HEADER: delivery_id,
        EVENT_TYPE_HEADER: job["event_type"],
    }
    # The secret stays here: the outside function gets the signed body and its headers, nothing it could sign with.
    order = WebhookSend(delivery_id=delivery_id, attempt=attempt, token=str(job["claim_token"]), url=job["url"],
                        body=body, headers=headers, signed_at=signed_at)
    try:
        queues.send(WEBHOOK_SENDS_QUEUE, order.to_body())
    except Exception:
        store.abandon_attempt(db, delivery_id, attempt)  # this message's retry may claim it again at once
        raise
    store.hand_off_attempt(db, delivery_id, attempt, seconds=leases.handoff_seconds(settings))
    return DeliveryResult("ordered", f"attempt {attempt} ordered")


def record_outcome(outcome: DeliveryOutcome, *, db, queues, settings) -> DeliveryResult:
    """Record what the outside function's attempt did; a replayed or late outcome matches no held attempt."""
    delivery_id, attempt, token = outcome.delivery_id, outcome.attempt, outcome.token
    skipped = DeliveryResult("skipped", "not the current claim (a late replay, or the delivery is finished)")
    if not store.attempt_current(db, delivery_id, attempt, token):
        return skipped
    if outcome.result == "delivered":
        if not store.finish_attempt(db, delivery_id, attempt, "delivered", outcome.status_code, None, token=token):
            return skipped  # this claim's attempt already ended (failed, with its next attempt queued)
        return DeliveryResult("delivered", f"attempt {attempt}, HTTP {outcome.status_code}")
    code, message = outcome.code or "url_unreachable", outcome.message or "The delivery failed."
    if code in PERMANENT or attempt >= settings.webhook_max_attempts:
        store.finish_attempt(db, delivery_id, attempt, "failed", outcome.status_code, message, token=token)
        return DeliveryResult("failed", f"attempt {attempt}: {code}")
    delay = min(MAX_DELAY_SECONDS, settings.webhook_retry_seconds * 2 ** (attempt - 1))
    # Finished first (the next attempt's claim needs it; only the claim's first outcome records anything), then
    # queued: a crash in between leaves this outcome to be retried, which finds the claim still current and sends
    # the next attempt again; its claim admits one copy.
    store.finish_attempt(db, delivery_id, attempt, "pending", outcome.status_code, message, token=token)
    queues.send(WEBHOOK_DELIVERIES_QUEUE, DeliveryAttempt(delivery_id, attempt + 1).to_body(), delay_seconds=delay)
    return DeliveryResult("scheduled", f"attempt {attempt} failed ({code}); next in {delay}s")


def _finish(db, delivery_id: str, attempt: int, status: str, status_code: int | None, error: str | None) -> None:
    store.finish_attempt(db, delivery_id, attempt, status, status_code, error)


def give_up(db, delivery_id: str) -> bool:
    """A delivery message exhausted its retries (storage or database trouble): record it failed."""
    return store.give_up_delivery(db, delivery_id)
