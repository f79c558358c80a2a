"""Generations: a prompt becomes an original under originals/, then the standard pipeline takes over.

The job advances through numbered steps carried by messages on generation-jobs: step 1 is
the kickoff (provider.run), every later step one poll (provider.status). A step is claimed
with a conditional UPDATE of ``generations.step``, so a duplicated message does nothing:
never a second provider job, never a second read of a read-once result. Waiting is a
delayed SQS message (DelaySeconds), with growing backoff.
"""

import dataclasses
import datetime
import logging
import re
import uuid
from typing import Any

from functions import imaging, leases, store, webhooks
from functions.errors import InvalidInput
from functions.messages import GenerationStep

# Importing providers.base runs the providers package first, which imports requests and every provider.
from functions.providers.base import GenerationRequest, ProviderUnavailable
from functions.settings import GENERATION_JOBS_QUEUE
from functions.store import ImageStatus

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30


def start_generation(user_id: str, *, db, queues, provider, settings, prompt: str, style: str | None = None,
                     width: int = 1024, height: int = 1024, negative_prompt: str | None = None,
                     variants: Any = None, callback_url: str | None = None) -> dict[str, Any]:
    """Record the image (generating) and its job, and queue the kickoff."""
    if not prompt.strip():
        raise InvalidInput("prompt must contain more than spaces.", field="prompt")
    if style is not None and style not in {item["name"] for item in provider.styles()}:
        raise InvalidInput(f"style {style!r} is not offered; GET /generations/styles lists them.",
                           code="unknown_style", field="style")
    requested = imaging.parse_variant_specs(variants, max_output_pixels=settings.max_variant_pixels)
    callback_url = webhooks.check_callback(db, user_id, callback_url)
    image_id = str(uuid.uuid4())
    deadline = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=settings.generation_deadline)
    with db.transaction():
        store.insert_image(db, image_id=image_id, owner=user_id, source="generation", name=_filename(prompt),
                           status=ImageStatus.GENERATING, variants=requested, callback_url=callback_url)
        store.insert_generation(db, image_id=image_id, provider=provider.name, prompt=prompt, style=style,
                                negative_prompt=negative_prompt, width=width, height=height, deadline=deadline)
    # Sent after commit: the step handler must find the rows. If this send fails, the
    # caller gets a 503 and the image ends failed at its deadline check on the next read.
    queues.send(GENERATION_JOBS_QUEUE, GenerationStep(image_id, 1).to_body())
    return {"image_id": image_id, "status": ImageStatus.GENERATING.value}


def _filename(prompt: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:60] or "generated"
    return f"{slug}.png"


@dataclasses.dataclass(frozen=True)
class StepResult:
    """What one step did, for logs and tests."""

    action: str          # skipped | scheduled | stored | failed
    detail: str = ""


def run_step(image_id: str, step: int, *, db, storage, queues, provider, settings) -> StepResult:
    """Handle one generation-jobs message: the kickoff (step 1) or a poll (step > 1)."""
    job = store.claim_step(db, image_id, step, lease_seconds=settings.function_timeout)
    if job is None:
        return StepResult("skipped", "step already taken, or the image is no longer generating")
    if job["expired"] or step > settings.generation_max_polls + 1:
        return _fail(db, image_id, "generation_timeout",
                     "The image generator did not finish in time. Please try again.")
    # The step's heartbeat: renewed while this worker lives, so a duplicate message never takes it over.
    try:
        with leases.heartbeat(db, store.RENEW_STEP, seconds=settings.function_timeout,
                              name=f"generation {image_id} step {step}", id=image_id, step=step,
                              token=str(job["step_claim_token"])):
            if step == 1 or job["job_id"] is None:
                result = _kickoff(db, storage, queues, provider, image_id, step, job)
            else:
                result = _poll(db, storage, queues, provider, image_id, step, job)
    except ProviderUnavailable as error:
        # Transient: try the same kind of step again later, bounded by the deadline and step cap.
        store.record_provider_status(db, image_id, "UNAVAILABLE")
        delay = _backoff(step, getattr(error, "retry_after", None))
        queues.send(GENERATION_JOBS_QUEUE, GenerationStep(image_id, step + 1).to_body(), delay_seconds=delay)
        result = StepResult("scheduled", f"provider unavailable, retrying in {delay}s")
    # A finished step gives up its claim, so a late duplicate of it can never take it again
    # (only a step whose worker died, still claimed after its lease, may be retaken).
    store.release_step(db, image_id, step)
    return result


def _kickoff(db, storage, queues, provider, image_id, step, job) -> StepResult:
    request = GenerationRequest(prompt=job["prompt"], width=job["width"], height=job["height"],
                                style=job["style"], negative_prompt=job["negative_prompt"])
    result = provider.run(request)
    if result.kind == "started":
        store.record_job(db, image_id, result.job_id)
        delay = max(1, int(result.retry_after or 1))
        queues.send(GENERATION_JOBS_QUEUE, GenerationStep(image_id, step + 1).to_body(), delay_seconds=delay)
        return StepResult("scheduled", f"job {result.job_id} started; first poll in {delay}s")
    if result.kind == "busy":
        store.record_provider_status(db, image_id, "QUEUE_FULL")
        delay = _backoff(step, result.retry_after)
        # The next step is again a kickoff, because no job id was stored.
        queues.send(GENERATION_JOBS_QUEUE, GenerationStep(image_id, step + 1).to_body(), delay_seconds=delay)
        return StepResult("scheduled", f"provider queue full; trying again in {delay}s")
    if result.kind == "done":  # a synchronous provider: the image came with the answer, nothing to poll
        return _store(db, storage, image_id, str(job["owner_id"]), result.image)
    if result.kind == "censored":
        return _fail(db, image_id, "generation_censored",
                     result.message or "The image generator withheld the image as inappropriate.")
    default_code = "generation_failed" if result.kind == "failed" else "generation_rejected"
    return _fail(db, image_id, result.code or default_code,
                 result.message or "The image generator refused the request.")


def _poll(db, storage, queues, provider, image_id, step, job) -> StepResult:
    result = provider.status(job["job_id"])
    if result.kind == "pending":
        store.record_provider_status(db, image_id, result.provider_status or "PROCESSING")
        delay = _backoff(step - 1, result.retry_after)
        queues.send(GENERATION_JOBS_QUEUE, GenerationStep(image_id, step + 1).to_body(), delay_seconds=delay)
        return StepResult("scheduled", f"pending; next poll in {delay}s")
    if result.kind == "done":
        return _store(db, storage, image_id, str(job["owner_id"]), result.image)
    if result.kind == "censored":
        return _fail(db, image_id, "generation_censored",
                     result.message or "The image generator withheld the image as inappropriate.")
    return _fail(db, image_id, "generation_failed", result.message or "The image generator failed.")


def _store(db, storage, image_id: str, owner: str, data: bytes) -> StepResult:
    content_type = "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/png"
    store.record_provider_status(db, image_id, "DONE")
    # The original's ObjectCreated event starts processing; processing may claim a
    # 'generating' image, so the order of this put and the update below does not matter.
    storage.put(store.original_key(owner, image_id), data, content_type=content_type)
    store.queue_generated(db, image_id, content_type)
    return StepResult("stored", f"{len(data)} bytes")


def _fail(db, image_id: str, code: str, message: str) -> StepResult:
    store.fail(db, image_id, status=ImageStatus.GENERATING, code=code, message=message)
    return StepResult("failed", code)


def _backoff(step: int, suggested: float | None) -> int:
    """Seconds before the next try: the provider's suggestion, else 1, 2, 4 … capped at 30."""
    growing = min(MAX_BACKOFF_SECONDS, 2 ** max(0, step - 1))
    return int(max(1, min(MAX_BACKOFF_SECONDS, suggested if suggested else growing)))


def give_up(db, image_id: str) -> bool:
    """A step message exhausted its retries: the image ends failed (the DLQ consumer)."""
    return store.fail(db, image_id, status=ImageStatus.GENERATING, code="generation_failed",
                      message="The image generator could not be reached; please try again.")


def styles(provider):
    return {"styles": [{"name": item["name"], "title": item.get("title") or item["name"]}
                       for item in provider.styles()],
            "provider": provider.name,
            "negative_prompt": getattr(provider, "supports_negative_prompt", True)}
