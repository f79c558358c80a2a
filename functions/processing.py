"""Processing: one stored original becomes its variants, and the image ends done or failed.

Domain code: takes the database and storage adapters and the settings as keyword arguments,
knows nothing of Chalice or SQS. Every state change is a conditional transition of the store,
so duplicate or replayed events can never move a finished image back nor process it twice.
"""

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from typing import Any

from functions import imaging, leases, store, views, webhooks
from functions.errors import PixelflowError, Unavailable
from functions.store import ImageStatus

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What processing one object did: ``done``, ``failed`` (with code), or ``skipped`` (and why)."""

    status: str
    image_id: str | None = None
    code: str | None = None
    reason: str | None = None


# Attempts that died without recording anything (killed at the function's timeout) before the image
# ends too_slow: each one burned a whole timeout and the next would too; 2 stays well inside the
# queue's 5 receives, so such an image never reaches the dead-letter queue.
MAX_STALLED_ATTEMPTS = 2


class ReplacementPending(Unavailable):
    """Other content landed on a key while a worker still processes the first; the event is retried later."""

    code = "replacement_pending"


def process_original(key: str, *, db, storage, settings, etag: str | None = None,
                     on_change: Callable[[str], None] | None = None) -> Outcome:
    """Turn one stored original into its variants and record the result.

    ``etag`` is the one the ObjectCreated event announces: when it differs from the content a
    finished image was made from (a presigned POST used again), the image is processed again from
    the new content; the same content again is a no-op. Raises only for transient trouble (storage
    or database unavailable, a replacement waiting for a live worker), so the event is retried;
    every permanent problem ends as a ``failed`` row with a code and a sentence. ``on_change(image_id)``
    is called after each committed step short of the end (processing, thumbnail ready); it must not raise.
    """
    claim = store.claim_for_processing(db, key, lease_seconds=settings.function_timeout)
    if claim is None and etag is not None:
        claim = _claim_replacement(db, storage, key, etag)
    if claim is None:
        return Outcome("skipped", reason="no image is waiting for this key")
    image_id, token, owner = str(claim["id"]), str(claim["claim_token"]), str(claim["owner_id"])
    if claim["stalled_attempts"] >= MAX_STALLED_ATTEMPTS:
        return _fail(db, image_id, token, "too_slow",
                     f"Processing this image was stopped at the time limit {claim['stalled_attempts']} times; "
                     "it needs more work than one image may take.")
    if on_change:
        on_change(image_id)
    # The claim's heartbeat: renewed while this worker lives, so a duplicate event never takes it over.
    lease = leases.Lease(db, store.RENEW_PROCESSING, {"id": image_id, "token": token},
                         seconds=settings.function_timeout, name=f"image {image_id}").start()
    try:
        found = storage.head(key)
        refused = _refuse_original(found, claim["declared_bytes"], settings)
        if refused is not None:
            return _fail(db, image_id, token, *refused)
        store.record_original(db, image_id, token, etag=found["etag"], size=found["bytes"])
        data = storage.get(key, etag=found["etag"])  # exactly the content recorded, or a retry
        sha256 = hashlib.sha256(data).hexdigest()
        mismatch = _checksum_mismatch(db, image_id, sha256)
        if mismatch:
            return _fail(db, image_id, token, "checksum_mismatch", mismatch)
        reject_duplicates = claim.get("on_duplicate") == "reject"
        if reject_duplicates:
            # The same bytes as a done image: caught from the content hash, before any decode.
            existing = store.exact_duplicate(db, owner, image_id, sha256)
            if existing is not None:
                return _fail(db, image_id, token, "duplicate", _duplicate_message(existing, exact=True))
        plan = imaging.variant_plan(tuple(imaging.VariantSpec(**spec) for spec in claim["requested_variants"]),
                                    thumbnail_gravity=settings.thumbnail_gravity)
        budget = imaging.Budget(settings.max_image_cpu_seconds)
        rendering = imaging.render_variants(data, plan, max_pixels=settings.max_image_pixels,
                                            max_output_pixels=settings.max_variant_pixels, budget=budget,
                                            max_animation_pixels=settings.max_animation_pixels)
        recorded: list[dict[str, Any]] = []
        for variant in rendering:
            lease.check()  # taken over: stop writing before the next object
            if not recorded and reject_duplicates and rendering.analysis is not None:
                # Known once decoded (the analysis runs before the thumbnail): nothing is stored yet.
                similar = store.similar_images(db, owner, rendering.analysis.phash,
                                               max_distance=settings.duplicate_distance, exclude=image_id, limit=1)
                if similar:
                    return _fail(db, image_id, token, "duplicate",
                                 _duplicate_message(str(similar[0]["id"]), exact=False))
            vkey = store.variant_key(owner, image_id, variant.name, variant.extension)
            storage.put(vkey, variant.data, content_type=variant.content_type)
            recorded.append({"name": variant.name, "key": vkey, "format": variant.format,
                             "content_type": variant.content_type, "width": variant.width,
                             "height": variant.height, "bytes": len(variant.data)})
            if len(recorded) == 1:
                # The thumbnail is visible while the rest is still being encoded.
                store.record_variants(db, image_id, token, recorded)
                if on_change:
                    on_change(image_id)
        info = rendering.info
        facts = rendering.analysis
        log.info("image %s: %d decode(s), %.2f CPU seconds", image_id, budget.count("decode"), budget.spent)
    except leases.LeaseLost:
        return Outcome("skipped", image_id, reason="another worker took over this image")
    except imaging.ImageRejected as rejected:
        return _fail(db, image_id, token, rejected.code, rejected.message)
    except PixelflowError as error:
        store.note_error(db, image_id, token, error.message)
        raise
    except Exception as error:
        store.note_error(db, image_id, token, f"{error.__class__.__name__}: {error}")
        raise
    finally:
        lease.stop()
    if not store.record_done(db, image_id, token, format=info.format, width=info.width, height=info.height,
                             size=found["bytes"], mime=info.mime, variants=recorded,
                             analysis=None if facts is None else {
                                 "placeholder": facts.placeholder_json(), "colors": facts.colors_json(),
                                 "animation": rendering.animation, "phash": facts.phash}):
        return Outcome("skipped", image_id, reason="another worker took over this image")
    return Outcome("done", image_id)


def _claim_replacement(db, storage, key: str, etag: str) -> dict[str, Any] | None:
    """Claim a finished image again when its key now holds other content than it was made from."""
    row = store.processed_content(db, key)
    if row is None or row["original_etag"] == etag or row["status"] not in (ImageStatus.PROCESSING, *store.TERMINAL):
        return None  # no image, a duplicate event of what was processed, or not processed yet
    found = storage.head(key)
    if found is None or found["etag"] != etag:
        return None  # a stale event: the content it announces was replaced again, and that has its own event
    if row["status"] == ImageStatus.PROCESSING:
        # The live worker may be reading the first content; once it is finished this is a replacement.
        raise ReplacementPending("Another worker is still processing the content this upload replaces.")
    if row["original_etag"] is None:
        return None  # settled without a file (an expired upload): a late file is not processed
    return store.claim_replacement(db, key, previous_etag=row["original_etag"])


def _refuse_original(found: dict[str, Any] | None, declared: int | None, settings):
    """(code, sentence) when the stored object cannot be the image's original, else None."""
    if found is None:
        return "missing_original", "The uploaded file is not in storage."
    if found["bytes"] == 0:
        return "empty", "The uploaded file is empty."
    if found["bytes"] > settings.max_upload_bytes:
        # Emulators do not enforce the POST policy's size range; real S3 does. Check anyway.
        return "too_large", f"The file is {found['bytes']} bytes; the limit is {settings.max_upload_bytes}."
    if declared is not None and found["bytes"] != declared:
        # The upload's policy pins the declared size; this catches what an emulator let through.
        return "size_mismatch", (f"The file is {found['bytes']:,} bytes, but the upload was issued for "
                                 f"{declared:,} bytes.")
    return None


def _checksum_mismatch(db, image_id: str, actual: str) -> str | None:
    """Why the original (SHA-256 ``actual``) is not the file its uploader hashed, or None; records ``actual``
    when none was declared."""
    stored = store.record_sha256(db, image_id, actual)
    if stored is None or stored == actual:
        return None
    return (f"The stored file's SHA-256 is {actual}, not the {stored} declared with the upload: "
            "it was changed or damaged on the way.")


def _duplicate_message(existing: str, *, exact: bool) -> str:
    how = "the same file as" if exact else "a near-duplicate of"
    return (f"This image is {how} your image {existing}; it was not kept because the request said "
            "on_duplicate: reject.")


def _fail(db, image_id: str, token: str, code: str, message: str) -> Outcome:
    store.fail(db, image_id, status=ImageStatus.PROCESSING, token=token, code=code, message=message)
    return Outcome("failed", image_id, code=code, reason=message)


def give_up(db, key: str, reason: str | None = None) -> bool:
    """Mark an unfinished image failed after its event exhausted its retries (the DLQ consumer)."""
    return store.give_up_processing(db, key, reason)


@dataclasses.dataclass(frozen=True)
class Settled:
    """An image in a terminal state: the event its callback_url should get (if any), and its batch."""

    image_id: str
    event: webhooks.Event | None
    batch_id: str | None


def settled(db, *, image_id: str | None = None, key: str | None = None) -> Settled | None:
    """The image (by id, a UUID, or by original key) if it is done or failed, else None."""
    row = store.find(db, image_id=image_id, key=key)
    if row is None or row["status"] not in store.TERMINAL:
        return None
    event = None
    if row["callback_url"]:
        event = webhooks.Event(owner_id=str(row["owner_id"]), subject_id=str(row["id"]),
                               type=f"image.{row['status']}", status=row["status"], url=row["callback_url"],
                               data={"image": views.image_fields(row)}, links={"self": f"/images/{row['id']}"})
    return Settled(str(row["id"]), event, str(row["batch_id"]) if row["batch_id"] else None)
