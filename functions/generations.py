"""Generations: a prompt becomes an original under originals/, then the standard pipeline takes over.

The job advances through numbered steps carried by messages on generation-jobs: step 1 is
the kickoff (provider.run), every later step one poll (provider.status). A step is claimed
with a conditional UPDATE of ``generations.step``, so a duplicated message does nothing:
never a second provider job, never a second read of a read-once result. The claimed step is
handed to provider-calls, whose function outside the VPC (no database, functions/outbound.py)
calls the provider, stores a finished image as the original and reports the provider's answer;
``record_outcome`` records it against the step's claim token and schedules the next step.
Waiting is a delayed SQS message (DelaySeconds), with growing backoff.
"""

import dataclasses
import datetime
import logging
import re
import uuid
from typing import Any

from functions import imaging, leases, store, webhooks
from functions.errors import InvalidInput
from functions.messages import GenerationOutcome, GenerationStep, ProviderCall
from functions.settings import GENERATION_JOBS_QUEUE, PROVIDER_CALLS_QUEUE
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


def run_step(image_id: str, step: int, *, db, queues, settings) -> StepResult:
    """Handle one generation-jobs message: claim the step and order the kickoff (step 1) or a poll from outside."""
    job = store.claim_step(db, image_id, step, lease_seconds=settings.function_timeout)
    if job is None:
        return StepResult("skipped", "step already taken, or the image is no longer generating")
    if job["expired"] or step > settings.generation_max_polls + 1:
        result = _fail(db, image_id, "generation_timeout",
                       "The image generator did not finish in time. Please try again.")
        store.release_step(db, image_id, step)
        return result
    token = str(job["step_claim_token"])
    order = ProviderCall(
        image_id=image_id, step=step, token=token, key=store.original_key(str(job["owner_id"]), image_id),
        # No job id yet (or at step 1): a kickoff; otherwise a poll of that job.
        job_id=None if step == 1 else job["job_id"],
        request={"prompt": job["prompt"], "width": job["width"], "height": job["height"], "style": job["style"],
                 "negative_prompt": job["negative_prompt"]})
    try:
        queues.send(PROVIDER_CALLS_QUEUE, order.to_body())
    except Exception:
        store.abandon_step(db, image_id, step, token)  # this message's retry may claim the step again at once
        raise
    store.hand_off_step(db, image_id, step, token, seconds=leases.handoff_seconds(settings))
    return StepResult("ordered", "kickoff ordered" if order.job_id is None else "poll ordered")


def record_outcome(outcome: GenerationOutcome, *, db, queues) -> StepResult:
    """Record what the provider said at one step and schedule the next; a replayed or late outcome does nothing."""
    image_id, step = outcome.image_id, outcome.step
    if not store.step_current(db, image_id, step, outcome.token):
        return StepResult("skipped", "not the current step (a late replay, or the image moved on or is gone)")
    result, delay = _apply(db, outcome)
    # Released before the next step is queued (its claim needs this one finished). A crash in between
    # leaves this outcome to be retried: the step is still current, the same conditional updates change
    # nothing, and the next step is queued again; its claim admits one of the messages.
    store.release_step(db, image_id, step)
    if delay is not None:
        queues.send(GENERATION_JOBS_QUEUE, GenerationStep(image_id, step + 1).to_body(), delay_seconds=delay)
    return result


def _apply(db, outcome: GenerationOutcome) -> tuple[StepResult, int | None]:
    """Record the outcome; the delay before the next step when there is one."""
    image_id, step, kind = outcome.image_id, outcome.step, outcome.result

    def next_step(delay: int, detail: str) -> tuple[StepResult, int | None]:
        return StepResult("scheduled", detail), delay

    if kind == "started":
        if not store.record_job(db, image_id, outcome.job_id or ""):
            # A second kickoff of this step started another job: the one recorded first is followed.
            return StepResult("skipped", f"job {outcome.job_id} ignored: another job is already recorded"), None
        delay = max(1, int(outcome.retry_after or 1))
        return next_step(delay, f"job {outcome.job_id} started; first poll in {delay}s")
    if kind == "busy":
        store.record_provider_status(db, image_id, "QUEUE_FULL")
        delay = _backoff(step, outcome.retry_after)
        # The next step is again a kickoff, because no job id was stored.
        return next_step(delay, f"provider queue full; trying again in {delay}s")
    if kind == "unavailable":
        # Transient: try the same kind of step again later, bounded by the deadline and step cap.
        store.record_provider_status(db, image_id, "UNAVAILABLE")
        delay = _backoff(step, outcome.retry_after)
        return next_step(delay, f"provider unavailable, retrying in {delay}s")
    if kind == "pending":
        store.record_provider_status(db, image_id, outcome.provider_status or "PROCESSING")
        delay = _backoff(step - 1, outcome.retry_after)
        return next_step(delay, f"pending; next poll in {delay}s")
    if kind == "done":
        # The outside function stored the original; processing may already have claimed the image.
        store.record_provider_status(db, image_id, "DONE")
        store.queue_generated(db, image_id, outcome.content_type or "image/png")
        return StepResult("stored", "the original is stored"), None
    if kind == "censored":
        return _fail(db, image_id, "generation_censored",
                     outcome.message or "The image generator withheld the image as inappropriate."), None
    if kind == "failed":
        return _fail(db, image_id, outcome.code or "generation_failed",
                     outcome.message or "The image generator failed."), None
    return _fail(db, image_id, outcome.code or "generation_rejected",
                 outcome.message or "The image generator refused the request."), None


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
