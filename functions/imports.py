"""Imports: an image fetched from a URL becomes an original under originals/, then the standard pipeline runs.

POST /imports records the image (``queued``, source ``import``) and sends ``{"image_id"}`` to
import-jobs. That job (in the VPC) claims the row with a conditional UPDATE and sends a fetch
order, with the claim's token, to fetch-orders. The function outside the VPC (no database,
functions/outbound.py) fetches the URL through the SSRF-safe fetcher, stores the body as the
original (its ObjectCreated event starts processing like any upload) and reports the outcome;
``record_outcome`` (in the VPC again) records it against the claim. A duplicated message never
fetches twice nor overwrites an original: the claim admits one order, and a stored original
ends any later fetch. A refused fetch ends the image ``failed`` with the fetcher's code.
"""

import dataclasses
import logging
import posixpath
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

from functions import imaging, leases, store, uploads, webhooks
from functions.errors import InvalidInput, PixelflowError
from functions.fetcher import url_forms
from functions.messages import FetchOrder, ImportJob, ImportOutcome
from functions.settings import FETCH_ORDERS_QUEUE, IMPORT_JOBS_QUEUE
from functions.store import ImageStatus

log = logging.getLogger(__name__)

DEFAULT_NAME = "import"


def start_import(user_id: str, *, db, queues, settings, url: str, variants: Any = None,
                 callback_url: str | None = None, on_duplicate: str | None = None) -> dict[str, Any]:
    """Record the image (queued) and queue its fetch (``on_duplicate`` as for uploads)."""
    url = url_forms.validate_url(url, "url")
    requested = imaging.parse_variant_specs(variants, max_output_pixels=settings.max_variant_pixels)
    callback_url = webhooks.check_callback(db, user_id, callback_url)
    image_id = str(uuid.uuid4())
    store.insert_image(db, image_id=image_id, owner=user_id, source="import", name=name_from_url(url),
                       status=ImageStatus.QUEUED, variants=requested, source_url=url, callback_url=callback_url,
                       on_duplicate=uploads.check_on_duplicate(on_duplicate))
    try:
        queue(queues, image_id)
    except PixelflowError:
        # The caller gets a 503 and never learns the id: leave no image behind that nothing will fetch.
        store.delete_unqueued_import(db, image_id)
        raise
    return {"image_id": image_id, "status": ImageStatus.QUEUED.value}


def queue(queues, image_id: str) -> None:
    """Send one import job."""
    queues.send(IMPORT_JOBS_QUEUE, ImportJob(image_id).to_body())


def queue_many(queues, image_ids: list[str]) -> None:
    """Send one import job per image, ten per SQS request."""
    queues.send_many(IMPORT_JOBS_QUEUE, [ImportJob(image_id).to_body() for image_id in image_ids])


def name_from_url(url: str) -> str:
    """The URL's last non-empty path segment, decoded and cleaned, or "import" when there is none."""
    try:
        segment = posixpath.basename(unquote(urlsplit(url).path).rstrip("/"))
        return uploads.clean_filename(segment)
    except (ValueError, InvalidInput):
        return DEFAULT_NAME


@dataclasses.dataclass(frozen=True)
class ImportResult:
    """What one import step did: skipped, ordered (the fetch), stored, or failed (with the fetcher's code)."""

    action: str
    detail: str = ""


def run_import(image_id: str, *, db, queues, settings) -> ImportResult:
    """Handle one import-jobs message: claim the import and order its fetch from the outside function."""
    claim = store.claim_import(db, image_id, lease_seconds=settings.function_timeout)
    if claim is None:
        return ImportResult("skipped", "not a queued import, or another worker holds it")
    token = str(claim["claim_token"])
    order = FetchOrder(image_id=image_id, token=token, url=claim["source_url"], key=claim["storage_key"],
                       max_bytes=settings.max_upload_bytes)
    try:
        queues.send(FETCH_ORDERS_QUEUE, order.to_body())
    except Exception:
        # Let this message's retry claim it again at once.
        store.release_import(db, image_id, token)
        raise
    store.hand_off_import(db, image_id, token, seconds=leases.handoff_seconds(settings))
    return ImportResult("ordered", "fetch ordered")


def record_outcome(outcome: ImportOutcome, *, db) -> ImportResult:
    """Record what the outside fetch reported; only the claim it answers moves (a replay matches nothing)."""
    if outcome.result == "stored":
        if store.record_fetched(db, outcome.image_id, outcome.token, outcome.content_type):
            return ImportResult("stored", "the original is stored")
        return ImportResult("skipped", "not the current claim (a replay, or the image is gone)")
    if store.fail(db, outcome.image_id, status=ImageStatus.QUEUED, token=outcome.token, code=outcome.code or "",
                  message=outcome.message or ""):
        return ImportResult("failed", outcome.code or "")
    return ImportResult("skipped", "not the current claim (a replay, or the image is gone)")


def give_up(db, image_id: str) -> bool:
    """An import message exhausted its retries: the image ends failed with the last error (the DLQ consumer)."""
    return store.give_up_import(db, image_id)
