"""The internet-facing work: import fetches, webhook sends and provider calls, with no database.

These handlers run in functions outside the VPC with no database credentials (infra/template.py
``OUTSIDE_VPC``): a bug in the SSRF guard there reaches the internet, never PostgreSQL. Each
reads one order (functions/messages.py) that holds everything it needs, does the work through
the SSRF-safe fetcher or the provider, writes a fetched or generated original under
``originals/`` (whose ObjectCreated event starts processing as for any upload), and reports one
outcome to the outcomes queue, which a VPC function records (functions/pipeline.py ``record_outcome``).

They take an ``Outbound`` (storage, queues, settings, provider) and nothing that could open a
database connection. Expected failures are outcomes; an unexpected one (storage or the queue
down) raises, so SQS retries the order and, after maxReceiveCount, its DLQ consumer (a VPC
function) settles the record.
"""

import dataclasses
import logging
import re
import time
from typing import Any

from functions import fetcher
from functions.messages import (
    DeliveryOutcome,
    FetchOrder,
    GenerationOutcome,
    ImportOutcome,
    ProviderCall,
    WebhookSend,
)
from functions.settings import OUTCOMES_QUEUE

log = logging.getLogger(__name__)

DELIVERY_DEADLINE_SECONDS = 10.0
RESPONSE_BYTES = 64 * 1024  # what a webhook receiver may answer; more is not read
# A receiver refuses a signature older than this (functions/webhooks.py SIGNATURE_TOLERANCE_SECONDS);
# an order that waited longer is sent back to be signed again rather than sent stale.
SIGNATURE_FRESH_SECONDS = 240
MAX_JOB_ID = 2000  # what a GenerationOutcome's reader accepts (functions/messages.py)
MAX_RETRY_AFTER = 900  # SQS's longest delay; the backoff caps a provider's suggestion far lower anyway


@dataclasses.dataclass(frozen=True)
class Outbound:
    """What an outside function may use: storage, queues, its settings, and the provider (built lazily)."""

    storage: Any
    queues: Any
    settings: Any
    provider_factory: Any = None

    @property
    def provider(self):
        return self.provider_factory()


# A media type as a server may send it: type/subtype, parameters dropped (RFC 9110 tokens).
_MEDIA_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]{1,99}/[a-z0-9!#$&^_.+-]{1,99}")


def media_type(value: str | None) -> str | None:
    """``value`` (a Content-Type from a remote server) as a bare, lower-case media type, or None if it is not one."""
    if not isinstance(value, str):
        return None
    bare = value.split(";", 1)[0].strip().lower()
    return bare if _MEDIA_TYPE.fullmatch(bare) else None


def _report(outbound: Outbound, outcome):
    """Send ``outcome`` (bounded so that its reader accepts it: a dropped outcome would stall its job)."""
    fields: dict[str, Any] = {}
    for name, limit in (("message", 500), ("code", 64), ("provider_status", 64)):
        value = getattr(outcome, name, None)
        if isinstance(value, str):
            fields[name] = value[:limit] or None
    if getattr(outcome, "content_type", None) is not None:
        fields["content_type"] = media_type(outcome.content_type)
        if fields["content_type"] is None and outcome.result == "done":
            fields["content_type"] = "application/octet-stream"  # a done generation needs one; processing sniffs
    job_id = getattr(outcome, "job_id", None)
    if job_id is not None and not 0 < len(job_id) <= MAX_JOB_ID:
        fields["job_id"] = None
        if outcome.result == "started":
            # Unreadable as a started outcome, and no later poll could name the job: the generation fails.
            fields.update(result="failed", code="provider_job_id_too_long",
                          message=f"The image generator answered with a job id of {len(job_id)} characters "
                                  f"(at most {MAX_JOB_ID} are accepted).")
    retry_after = getattr(outcome, "retry_after", None)
    if retry_after is not None:
        fields["retry_after"] = min(max(float(retry_after), 0.0), float(MAX_RETRY_AFTER))
    outcome = dataclasses.replace(outcome, **fields)
    outbound.queues.send(OUTCOMES_QUEUE, outcome.to_body())
    return outcome


# --- imports ---------------------------------------------------------------------------

def import_policy(settings, max_bytes: int) -> fetcher.FetchPolicy:
    """Import limits: the order's byte cap (never above this function's own), and a deadline inside its timeout.

    The address rules and the allow list come from this function's own settings, never from the order.
    """
    return fetcher.FetchPolicy(
        max_bytes=min(max_bytes, settings.max_upload_bytes),
        deadline_seconds=min(float(settings.import_deadline), settings.function_timeout * 0.8),
        allowed_hosts=settings.import_allowed_hosts,
    )


def fetch_import(order: FetchOrder, outbound: Outbound) -> ImportOutcome:
    """Fetch the order's URL into its original key and report how it went."""
    stored = outbound.storage.head(order.key)
    if stored is not None:
        # A previous try stored the original and died before reporting: never fetch nor write it again.
        outcome = ImportOutcome(order.image_id, order.token, "stored", content_type=stored.get("content_type"))
    else:
        try:
            fetched = fetcher.fetch(order.url, import_policy(outbound.settings, order.max_bytes), expect_image=True)
        except fetcher.FetchRefused as refused:
            outcome = ImportOutcome(order.image_id, order.token, "failed", code=refused.code, message=refused.message)
        else:
            content_type = fetched.content_type or "application/octet-stream"
            # The ObjectCreated event starts processing, which claims the 'queued' row.
            outbound.storage.put(order.key, fetched.body, content_type=content_type)
            outcome = ImportOutcome(order.image_id, order.token, "stored", content_type=fetched.content_type)
    return _report(outbound, outcome)


# --- webhooks --------------------------------------------------------------------------

def webhook_policy(settings) -> fetcher.FetchPolicy:
    """Delivery limits: short, no redirects (a POST must not turn into a GET), inside the function timeout."""
    return fetcher.FetchPolicy(
        max_bytes=RESPONSE_BYTES, connect_timeout=5.0, read_timeout=DELIVERY_DEADLINE_SECONDS,
        deadline_seconds=min(DELIVERY_DEADLINE_SECONDS, settings.function_timeout * 0.8), max_redirects=0,
        allowed_hosts=settings.import_allowed_hosts)


def send_webhook(order: WebhookSend, outbound: Outbound, *, now: float | None = None) -> DeliveryOutcome:
    """POST the signed event and report the answer (any 2xx is delivered)."""
    now = time.time() if now is None else now
    if now - order.signed_at > SIGNATURE_FRESH_SECONDS:
        outcome = DeliveryOutcome(order.delivery_id, order.attempt, order.token, "failed", code="signature_stale",
                                  message="The attempt waited too long to be sent with its signature.")
    else:
        try:
            answer = fetcher.fetch(order.url, webhook_policy(outbound.settings), method="POST",
                                   body=order.body.encode("utf-8"), headers=order.headers)
            outcome = DeliveryOutcome(order.delivery_id, order.attempt, order.token, "delivered",
                                      status_code=answer.status)
        except fetcher.FetchRefused as refused:
            if refused.code == "url_too_large":
                # The status was already accepted when the answer turned out too long to read.
                outcome = DeliveryOutcome(order.delivery_id, order.attempt, order.token, "delivered")
            else:
                message = refused.message
                if refused.code == "url_forbidden" and refused.status in fetcher.REDIRECT_STATUSES:
                    message = (f"The callback URL answered with a redirect (HTTP {refused.status}); "
                               "webhooks are not redirected.")
                outcome = DeliveryOutcome(order.delivery_id, order.attempt, order.token, "failed",
                                          status_code=refused.status, code=refused.code, message=message)
    return _report(outbound, outcome)


# --- generation providers --------------------------------------------------------------

def call_provider(order: ProviderCall, outbound: Outbound) -> GenerationOutcome:
    """Start the job (no job id yet) or poll it; a finished image is stored as the original first."""
    from functions.providers.base import GenerationRequest, ProviderUnavailable

    def outcome(result: str, **fields) -> GenerationOutcome:
        return GenerationOutcome(order.image_id, order.step, order.token, result, **fields)

    stored = outbound.storage.head(order.key)
    if stored is not None:
        # A previous try stored the image and died before reporting: a read-once result is not asked for again.
        answer = outcome("done", content_type=stored.get("content_type") or "image/png")
    else:
        provider = outbound.provider
        try:
            if order.job_id is None:
                request = order.request
                result = provider.run(GenerationRequest(
                    prompt=request["prompt"], width=int(request["width"]), height=int(request["height"]),
                    style=request.get("style"), negative_prompt=request.get("negative_prompt")))
            else:
                result = provider.status(order.job_id)
        except ProviderUnavailable as error:
            answer = outcome("unavailable", retry_after=getattr(error, "retry_after", None),
                             message=str(error)[:500] or None)
        else:
            if result.kind == "done":
                content_type = "image/jpeg" if result.image[:3] == b"\xff\xd8\xff" else "image/png"
                # The original's ObjectCreated event starts processing (which may claim a 'generating' image).
                outbound.storage.put(order.key, result.image, content_type=content_type)
                answer = outcome("done", content_type=content_type)
            else:
                answer = outcome(result.kind, job_id=getattr(result, "job_id", None),
                                 provider_status=getattr(result, "provider_status", None),
                                 retry_after=result.retry_after, code=getattr(result, "code", None),
                                 message=result.message)
    return _report(outbound, answer)
