"""Imports: an image fetched from a URL becomes an original under originals/, then the standard pipeline runs.

POST /imports records the image (``queued``, source ``import``) and sends ``{"image_id"}`` to
import-jobs. The job claims the row with a conditional UPDATE (a lease of one function
timeout), fetches the URL through the SSRF-safe fetcher, and stores the body as the original;
its ObjectCreated event starts processing like any upload. A duplicated message never fetches
twice nor overwrites an original: the claim admits one worker, and a stored original ends any
later claim. A refused or failed fetch ends the image ``failed`` with the fetcher's code.
"""

import dataclasses
import logging
import posixpath
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

from functions import fetcher, imaging, leases, store, uploads, webhooks
from functions.errors import InvalidInput, PixelflowError
from functions.fetcher import url_forms
from functions.messages import ImportJob
from functions.settings import IMPORT_JOBS_QUEUE
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


def policy(settings) -> fetcher.FetchPolicy:
    """Import limits: the upload size cap, and a deadline that ends before the function's timeout."""
    return fetcher.FetchPolicy(
        max_bytes=settings.max_upload_bytes,
        deadline_seconds=min(float(settings.import_deadline), settings.function_timeout * 0.8),
        allowed_hosts=settings.import_allowed_hosts,
    )


@dataclasses.dataclass(frozen=True)
class ImportResult:
    """What one import job did: skipped, stored, or failed (with the fetcher's code)."""

    action: str
    detail: str = ""


def run_import(image_id: str, *, db, storage, settings) -> ImportResult:
    """Handle one import-jobs message: fetch the URL and store it as the image's original."""
    claim = store.claim_import(db, image_id, lease_seconds=settings.function_timeout)
    if claim is None:
        return ImportResult("skipped", "not a queued import, or another worker holds it")
    token, key = str(claim["claim_token"]), claim["storage_key"]
    if storage.head(key) is not None:
        # A previous worker stored the original and died before saying so: never fetch nor write it again.
        store.release_import(db, image_id, token)
        return ImportResult("skipped", "the original is already stored")
    # The claim's heartbeat: renewed while this worker lives, so a duplicate message never takes it over.
    with leases.heartbeat(db, store.RENEW_IMPORT, seconds=settings.function_timeout, name=f"import {image_id}",
                          id=image_id, token=token) as lease:
        try:
            fetched = fetcher.fetch(claim["source_url"], policy(settings), expect_image=True)
        except fetcher.FetchRefused as refused:
            store.fail(db, image_id, status=ImageStatus.QUEUED, token=token, code=refused.code,
                       message=refused.message)
            return ImportResult("failed", refused.code)
        if lease.lost:
            return ImportResult("skipped", "another worker took over this import")
        try:
            # The ObjectCreated event starts processing, which claims the 'queued' row from us.
            storage.put(key, fetched.body, content_type=fetched.content_type or "application/octet-stream")
        except PixelflowError as error:
            store.note_error(db, image_id, token, error.message)
            raise
    store.record_fetched(db, image_id, token, fetched.content_type)
    return ImportResult("stored", f"{len(fetched.body)} bytes from {fetched.url.split('/', 3)[2]}")


def give_up(db, image_id: str) -> bool:
    """An import message exhausted its retries: the image ends failed with the last error (the DLQ consumer)."""
    return store.give_up_import(db, image_id)
