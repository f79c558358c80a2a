"""Images: issuing uploads, processing originals into variants, reading and deleting.

Domain code: takes the database and storage adapters as arguments, knows nothing of
Chalice or SQS. Every state change is a conditional UPDATE, so duplicate or replayed
events can never move a finished image back nor process it twice.
"""

import base64
import dataclasses
import datetime
import hashlib
import json
import logging
import os
import uuid
from typing import Any

from functions import imaging, leases, webhooks
from functions.errors import ImageNotFound, InvalidInput, NotFound, PixelflowError, Unavailable
from functions.timestamps import iso

log = logging.getLogger(__name__)

ACCEPTED_TYPES = {
    "image/jpeg": "jpeg", "image/png": "png", "image/webp": "webp", "image/gif": "gif", "image/avif": "avif",
}
TERMINAL = ("done", "failed")
# Every read of an image goes through this, joined with its generation job when it has one.
IMAGE_SELECT = (
    "SELECT i.id, i.owner_id, i.source, i.original_name, i.storage_key, i.content_type, i.status, i.format,"
    " i.width, i.height, i.bytes, i.requested_variants, i.variants, i.error_code, i.error_message,"
    " i.created_at, i.updated_at, i.processed_at, i.batch_id, i.source_url, i.callback_url,"
    " i.sha256,"
    " g.prompt AS generation_prompt, g.style AS generation_style,"
    " g.provider AS generation_provider, g.provider_status AS generation_status, g.step AS generation_step,"
    " wd.* FROM images i LEFT JOIN generations g ON g.image_id = i.id" + webhooks.delivery_columns("i.id")
)


def original_key(user_id: str, image_id: str) -> str:
    return f"originals/{user_id}/{image_id}"


def variant_key(user_id: str, image_id: str, name: str, extension: str) -> str:
    # Deterministic, so a retry overwrites instead of adding.
    return f"variants/{user_id}/{image_id}/{name}.{extension}"


# --- issuing uploads -------------------------------------------------------------------

def clean_filename(raw: str) -> str:
    """The last path component, without control characters; refuse what is left empty."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if char.isprintable()).strip()
    if not name or name in (".", ".."):
        raise InvalidInput("filename must name a file.", field="filename")
    return name[:255]


def check_sha256(value: str | None, field: str = "sha256") -> str | None:
    """A declared SHA-256 in lower-case hex, or None; InvalidInput naming ``field`` if it is not 64 hex digits."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 64 or any(char not in "0123456789abcdefABCDEF" for char in value):
        raise InvalidInput(f"{field} must be 64 hexadecimal digits (the file's SHA-256).", field=field)
    return value.lower()


def check_upload(settings, *, filename: str, content_type: str, size: int):
    """The cleaned file name and content type of an upload, or InvalidInput naming the field."""
    name = clean_filename(filename)
    content_type = content_type.strip().lower()
    if content_type not in ACCEPTED_TYPES:
        raise InvalidInput(f"content_type {content_type!r} is not accepted; send one of "
                           f"{', '.join(sorted(ACCEPTED_TYPES))}.", code="unsupported_type", field="content_type")
    if size > settings.max_upload_bytes:
        raise InvalidInput(f"size {size} is over the limit of {settings.max_upload_bytes} bytes.",
                           code="too_large", field="size")
    return name, content_type


def issue_upload(db, storage, settings, user_id: str, *, filename: str, content_type: str, size: int,
                 variants: Any = None, callback_url: str | None = None,
                 sha256: str | None = None) -> dict[str, Any]:
    """Create the image row (awaiting_upload) and a presigned POST for exactly its original key.

    A declared ``sha256`` is checked against the original when it is processed (checksum_mismatch).
    """
    name, content_type = check_upload(settings, filename=filename, content_type=content_type, size=size)
    sha256 = check_sha256(sha256)
    requested = imaging.parse_variant_specs(variants, max_output_pixels=settings.max_variant_pixels)
    callback_url = webhooks.check_callback(db, user_id, callback_url)
    image_id = str(uuid.uuid4())
    post = upload_post(storage, settings, original_key(user_id, image_id), content_type, size)
    insert_image(db, image_id=image_id, owner=user_id, source="upload", name=name, status="awaiting_upload",
                 variants=requested, content_type=content_type, declared_bytes=size, callback_url=callback_url,
                 sha256=sha256)
    return {"image_id": image_id, "status": "awaiting_upload", "upload": post,
            "expires_at": iso(upload_expiry(settings))}


def upload_post(storage, settings, key: str, content_type: str, size: int) -> dict[str, Any]:
    """A presigned POST for exactly ``key``, of the declared type and exactly the declared ``size`` in bytes."""
    # Pinned to the size the ticket was issued for, so the link cannot carry another file of any size.
    post = storage.presigned_post(key, min_bytes=size, max_bytes=size, content_type=content_type,
                                  expires_in=settings.upload_url_ttl)
    return {"url": post["url"], "fields": post["fields"]}


def upload_expiry(settings) -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=settings.upload_url_ttl)


def insert_image(db, *, image_id: str, owner: str, source: str, name: str, status: str, variants,
                 content_type: str | None = None, declared_bytes: int | None = None,
                 source_url: str | None = None, callback_url: str | None = None,
                 batch_id: str | None = None, batch_index: int | None = None,
                 sha256: str | None = None) -> None:
    """Insert one image row; its original will live at ``original_key(owner, image_id)``."""
    db.execute(
        "INSERT INTO images (id, owner_id, source, original_name, storage_key, content_type, declared_bytes,"
        " status, requested_variants, source_url, callback_url, batch_id, batch_index, sha256, sha256_declared)"
        " VALUES (:id, :owner, :source, :name, :key, :type, :size, :status, CAST(:variants AS jsonb),"
        " :source_url, :callback_url, :batch_id, :batch_index, :sha256, :declared)",
        id=image_id, owner=owner, source=source, name=name, key=original_key(owner, image_id), type=content_type,
        size=declared_bytes, status=status, variants=json.dumps([dataclasses.asdict(spec) for spec in variants]),
        source_url=source_url, callback_url=callback_url, batch_id=batch_id, batch_index=batch_index,
        sha256=sha256, declared=sha256 is not None,
    )


# --- processing ------------------------------------------------------------------------

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


def process_original(db, storage, settings, key: str, *, etag: str | None = None) -> Outcome:
    """Turn one stored original into its variants and record the result.

    ``etag`` is the one the ObjectCreated event announces: when it differs from the content a
    finished image was made from (a presigned POST used again), the image is processed again from
    the new content; the same content again is a no-op. Raises only for transient trouble (storage
    or database unavailable, a replacement waiting for a live worker), so the event is retried;
    every permanent problem ends as a ``failed`` row with a code and a sentence.
    """
    claim = _claim(db, key, lease_seconds=settings.function_timeout)
    if claim is None and etag is not None:
        claim = _claim_replacement(db, storage, key, etag)
    if claim is None:
        return Outcome("skipped", reason="no image is waiting for this key")
    image_id, token, owner = str(claim["id"]), str(claim["claim_token"]), str(claim["owner_id"])
    if claim["stalled_attempts"] >= MAX_STALLED_ATTEMPTS:
        return _fail(db, image_id, token, "too_slow",
                     f"Processing this image was stopped at the time limit {claim['stalled_attempts']} times; "
                     "it needs more work than one image may take.")
    lease = _keep_claim(db, image_id, token, settings)
    try:
        found = storage.head(key)
        refused = _refuse_original(found, claim["declared_bytes"], settings)
        if refused is not None:
            return _fail(db, image_id, token, *refused)
        _record_original(db, image_id, token, found)
        data = storage.get(key, etag=found["etag"])  # exactly the content recorded, or a retry
        mismatch = _checksum_mismatch(db, image_id, data)
        if mismatch:
            return _fail(db, image_id, token, "checksum_mismatch", mismatch)
        plan = imaging.variant_plan(tuple(imaging.VariantSpec(**spec) for spec in claim["requested_variants"]))
        budget = imaging.Budget(settings.max_image_cpu_seconds)
        rendering = imaging.render_variants(data, plan, max_pixels=settings.max_image_pixels,
                                            max_output_pixels=settings.max_variant_pixels, budget=budget)
        recorded: list[dict[str, Any]] = []
        for variant in rendering:
            lease.check()  # taken over: stop writing before the next object
            vkey = variant_key(owner, image_id, variant.name, variant.extension)
            storage.put(vkey, variant.data, content_type=variant.content_type)
            recorded.append({"name": variant.name, "key": vkey, "format": variant.format,
                             "content_type": variant.content_type, "width": variant.width,
                             "height": variant.height, "bytes": len(variant.data)})
            if len(recorded) == 1:
                # The thumbnail is visible while the rest is still being encoded.
                _record_variants(db, image_id, token, recorded)
        info = rendering.info
        log.info("image %s: %d decode(s), %.2f CPU seconds", image_id, budget.count("decode"), budget.spent)
    except leases.LeaseLost:
        return Outcome("skipped", image_id, reason="another worker took over this image")
    except imaging.ImageRejected as rejected:
        return _fail(db, image_id, token, rejected.code, rejected.message)
    except PixelflowError as error:
        _note_error(db, image_id, token, error.message)
        raise
    except Exception as error:
        _note_error(db, image_id, token, f"{error.__class__.__name__}: {error}")
        raise
    finally:
        lease.stop()
    done = db.execute(
        "UPDATE images SET status = 'done', format = :format, width = :width, height = :height,"
        " bytes = :bytes, content_type = :mime, variants = CAST(:variants AS jsonb), error_code = NULL,"
        " error_message = NULL, processed_at = now(), updated_at = now(), claim_token = NULL"
        " WHERE id = :id AND claim_token = :token AND status = 'processing'",
        id=image_id, token=token, format=info.format, width=info.width, height=info.height,
        bytes=found["bytes"], mime=info.mime, variants=json.dumps(recorded),
    )
    if not done:
        return Outcome("skipped", image_id, reason="another worker took over this image")
    return Outcome("done", image_id)


_CLAIMED = "RETURNING id, owner_id, claim_token, requested_variants, declared_bytes, stalled_attempts"


def _claim(db, key: str, *, lease_seconds: int) -> dict[str, Any] | None:
    # Conditional: only a waiting image, or one whose worker's lease has run out, can be claimed.
    # 'generating' too: a generation's original may land before its row says 'queued'.
    # Taking over from an attempt that recorded no error of its own means that worker was killed.
    row = db.one(
        "UPDATE images SET status = 'processing', claim_token = :token, claimed_at = now(), updated_at = now(),"
        " processing_attempts = processing_attempts + 1,"
        " stalled_attempts = stalled_attempts + CASE WHEN status = 'processing'"
        "   AND last_error_attempt IS DISTINCT FROM processing_attempts THEN 1 ELSE 0 END"
        " WHERE storage_key = :key AND (status IN ('awaiting_upload', 'generating', 'queued')"
        "   OR (status = 'processing' AND claimed_at < now() - make_interval(secs => :lease)))"
        f" {_CLAIMED}",
        token=str(uuid.uuid4()), key=key, lease=float(lease_seconds),
    )
    return row


def _claim_replacement(db, storage, key: str, etag: str) -> dict[str, Any] | None:
    """Claim a finished image again when its key now holds other content than it was made from."""
    row = db.one("SELECT status, original_etag FROM images WHERE storage_key = :key", key=key)
    if row is None or row["original_etag"] == etag or row["status"] not in ("processing", *TERMINAL):
        return None  # no image, a duplicate event of what was processed, or not processed yet
    found = storage.head(key)
    if found is None or found["etag"] != etag:
        return None  # a stale event: the content it announces was replaced again, and that has its own event
    if row["status"] == "processing":
        # The live worker may be reading the first content; once it is finished this is a replacement.
        raise ReplacementPending("Another worker is still processing the content this upload replaces.")
    if row["original_etag"] is None:
        return None  # settled without a file (an expired upload): a late file is not processed
    # Conditional on the content it replaces, so only one of several such events claims it. The row
    # forgets the old variants at once; their objects are overwritten (same keys) as the new ones are
    # made. This function may not delete (least privilege), so a replacement that fails leaves them
    # unlisted, and unreachable, until the image is deleted.
    claimed = db.one(
        "UPDATE images SET status = 'processing', claim_token = :token, claimed_at = now(), updated_at = now(),"
        " processing_attempts = processing_attempts + 1, stalled_attempts = 0, variants = '[]'::jsonb,"
        " format = NULL, width = NULL, height = NULL, error_code = NULL, error_message = NULL,"
        " sha256 = CASE WHEN sha256_declared THEN sha256 END"  # a computed hash described the old content
        " WHERE storage_key = :key AND status IN ('done', 'failed') AND original_etag = :previous"
        f" {_CLAIMED}",
        token=str(uuid.uuid4()), key=key, previous=row["original_etag"],
    )
    if claimed is not None:
        log.info("image %s: its original was replaced; processing the new content", claimed["id"])
    return claimed


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


def _record_original(db, image_id: str, token: str, found: dict[str, Any]) -> None:
    # Which content this attempt processes: a later event for other content is then a replacement.
    db.execute("UPDATE images SET original_etag = :etag, bytes = :bytes WHERE id = :id AND claim_token = :token",
               id=image_id, token=token, etag=found["etag"], bytes=found["bytes"])


def _checksum_mismatch(db, image_id: str, data: bytes) -> str | None:
    """Why the original is not the file its uploader hashed, or None; records its SHA-256 when none was declared."""
    actual = hashlib.sha256(data).hexdigest()
    # Idempotent: fills only an empty column, so a replay leaves it as it is.
    row = db.one("UPDATE images SET sha256 = COALESCE(sha256, :actual) WHERE id = :id RETURNING sha256",
                 id=image_id, actual=actual)
    if row is None or row["sha256"] == actual:
        return None
    return (f"The stored file's SHA-256 is {actual}, not the {row['sha256']} declared with the upload: "
            "it was changed or damaged on the way.")


def _keep_claim(db, image_id: str, token: str, settings) -> leases.Lease:
    # The claim's heartbeat: renewed while this worker lives, so a duplicate event never takes it over.
    return leases.Lease(db, RENEW_CLAIM, {"id": image_id, "token": token}, seconds=settings.function_timeout,
                        name=f"image {image_id}").start()


RENEW_CLAIM = "UPDATE images SET claimed_at = now() WHERE id = :id AND claim_token = :token AND status = 'processing'"


def _record_variants(db, image_id: str, token: str, variants: list[dict[str, Any]]) -> None:
    db.execute("UPDATE images SET variants = CAST(:variants AS jsonb), updated_at = now()"
               " WHERE id = :id AND claim_token = :token", id=image_id, token=token, variants=json.dumps(variants))


def _fail(db, image_id: str, token: str, code: str, message: str) -> Outcome:
    db.execute(
        "UPDATE images SET status = 'failed', error_code = :code, error_message = :message, processed_at = now(),"
        " updated_at = now(), claim_token = NULL WHERE id = :id AND claim_token = :token AND status = 'processing'",
        id=image_id, token=token, code=code, message=message)
    return Outcome("failed", image_id, code=code, reason=message)


def _note_error(db, image_id: str, token: str, message: str) -> None:
    # Best effort: remember why, for the dead-letter consumer; the database may be what failed.
    try:
        db.execute("UPDATE images SET last_error = :error, last_error_attempt = processing_attempts"
                   " WHERE id = :id AND claim_token = :token",
                   id=image_id, token=token, error=message[:500])
    except Exception:
        log.warning("could not record the last error of image %s", image_id)


def give_up(db, key: str, reason: str | None = None) -> bool:
    """Mark an unfinished image failed after its event exhausted its retries (the DLQ consumer)."""
    return bool(db.execute(
        "UPDATE images SET status = 'failed', error_code = 'processing_failed',"
        " error_message = 'Processing kept failing: ' || COALESCE(last_error, :reason),"
        " processed_at = now(), updated_at = now(), claim_token = NULL"
        " WHERE storage_key = :key AND status NOT IN ('done', 'failed')",
        key=key, reason=reason or "no error was recorded"))


# --- reading ---------------------------------------------------------------------------

def _row(db, user_id: str, image_id: str) -> dict[str, Any]:
    # image_id is a UUID: the route declares it, and answers ImageNotFound for anything else.
    # The owner is part of the lookup: someone else's image is simply not found.
    row = db.one(f"{IMAGE_SELECT} WHERE i.id = :id AND i.owner_id = :owner", id=image_id, owner=user_id)
    if row is None:
        raise ImageNotFound()
    return row


def image_fields(row: dict[str, Any]) -> dict[str, Any]:
    """The public view of an image row without any link (webhook events carry this)."""
    return {
        "id": str(row["id"]),
        "source": row["source"],
        "status": row["status"],
        "original_name": row["original_name"],
        "content_type": row["content_type"],
        "format": row["format"],
        "width": row["width"],
        "height": row["height"],
        "bytes": row["bytes"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "processed_at": iso(row["processed_at"]) if row["processed_at"] else None,
        "error": {"code": row["error_code"], "message": row["error_message"]} if row["error_code"] else None,
        "variants": [{key: value for key, value in variant.items() if key != "key"}
                     for variant in row["variants"] or []],
        "generation": {
            "prompt": row["generation_prompt"],
            "style": row["generation_style"],
            "provider": row["generation_provider"],
            "provider_status": row["generation_status"],
            "attempts": max(0, (row["generation_step"] or 0) - 1),
        } if row["generation_provider"] else None,
        "source_url": row["source_url"],
        "batch_id": str(row["batch_id"]) if row["batch_id"] else None,
        "callback_url": row["callback_url"],
        "sha256": row["sha256"],
    }


def image_json(storage, settings, row: dict[str, Any]) -> dict[str, Any]:
    """The public view of an image row, with short-lived links to what exists."""
    ttl = settings.download_url_ttl
    has_original = row["status"] not in ("awaiting_upload", "generating")
    view = image_fields(row)
    view["variants"] = [
        variant | {"url": storage.presigned_get(stored["key"], expires_in=ttl)}
        for variant, stored in zip(view["variants"], row["variants"] or [])
    ]
    view["original"] = {"url": storage.presigned_get(row["storage_key"], expires_in=ttl,
                                                     download_name=row["original_name"])} if has_original else None
    view["webhook"] = webhooks.delivery_json(row)
    return view


@dataclasses.dataclass(frozen=True)
class Settled:
    """An image in a terminal state: the event its callback_url should get (if any), and its batch."""

    image_id: str
    event: webhooks.Event | None
    batch_id: str | None


def settled(db, *, image_id: str | None = None, key: str | None = None) -> Settled | None:
    """The image (by id or original key) if it is done or failed, else None."""
    if image_id is not None:
        try:
            uuid.UUID(image_id)
        except (ValueError, TypeError):
            return None
        row = db.one(f"{IMAGE_SELECT} WHERE i.id = :id", id=image_id)
    else:
        row = db.one(f"{IMAGE_SELECT} WHERE i.storage_key = :key", key=key)
    if row is None or row["status"] not in TERMINAL:
        return None
    event = None
    if row["callback_url"]:
        event = webhooks.Event(owner_id=str(row["owner_id"]), subject_id=str(row["id"]),
                               type=f"image.{row['status']}", status=row["status"], url=row["callback_url"],
                               data={"image": image_fields(row)}, links={"self": f"/images/{row['id']}"})
    return Settled(str(row["id"]), event, str(row["batch_id"]) if row["batch_id"] else None)


def get_image(db, storage, settings, user_id: str, image_id: str) -> dict[str, Any]:
    return image_json(storage, settings, _row(db, user_id, image_id))


def latest_image(db, storage, settings, user_id: str) -> dict[str, Any]:
    row = db.one(f"{IMAGE_SELECT} WHERE i.owner_id = :owner ORDER BY i.created_at DESC, i.id DESC LIMIT 1",
                 owner=user_id)
    if row is None:
        raise NotFound("You have no images yet.", code="no_images")
    return image_json(storage, settings, row)


def list_images(db, storage, settings, user_id: str, *, limit: int = 20, cursor: str | None = None,
                sha256: str | None = None, status: str | None = None) -> dict[str, Any]:
    """The caller's images, newest first, ``limit`` at a time; ``next_cursor`` continues.

    ``sha256`` keeps only images of that content, ``status`` only images in that state.
    """
    params: dict[str, Any] = {"owner": user_id, "limit": limit + 1}
    where = "i.owner_id = :owner"
    if sha256 is not None:
        where += " AND i.sha256 = :sha256"
        params["sha256"] = check_sha256(sha256)
    if status is not None:
        where += " AND i.status = :status"
        params["status"] = status
    if cursor:
        created, last_id = decode_cursor(cursor)
        where += " AND (i.created_at, i.id) < (:created, CAST(:last_id AS uuid))"
        params.update(created=created, last_id=last_id)
    rows = db.rows(f"{IMAGE_SELECT} WHERE {where} ORDER BY i.created_at DESC, i.id DESC LIMIT :limit", **params)
    page, more = rows[:limit], len(rows) > limit
    return {
        "items": [image_json(storage, settings, row) for row in page],
        "next_cursor": encode_cursor(page[-1]) if more and page else None,
    }


def encode_cursor(row: dict[str, Any]) -> str:
    """An opaque keyset cursor for the row's (created_at, id)."""
    raw = f"{row['created_at'].isoformat()}|{row['id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str):
    """(created_at, id) from a cursor ``encode_cursor`` made; InvalidInput naming ``cursor`` otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, last_id = raw.split("|")
        return datetime.datetime.fromisoformat(created), str(uuid.UUID(last_id))
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this API gave out.", field="cursor") from None


def download_link(db, storage, settings, user_id: str, image_id: str, variant: str = "original") -> str:
    """A short-lived link to the original or one variant of the caller's image."""
    row = _row(db, user_id, image_id)
    ttl = settings.download_url_ttl
    stem, _ = os.path.splitext(row["original_name"])
    if variant == "original":
        if row["status"] in ("awaiting_upload", "generating"):
            raise NotFound("The original has not arrived yet.", code="original_not_ready")
        return storage.presigned_get(row["storage_key"], expires_in=ttl, download_name=row["original_name"])
    for item in row["variants"] or []:
        if item["name"] == variant:
            extension = item["key"].rsplit(".", 1)[-1]
            return storage.presigned_get(item["key"], expires_in=ttl, download_name=f"{stem}-{variant}.{extension}")
    raise NotFound(f"This image has no variant named {variant!r} (yet).", code="variant_not_found")


def delete_image(db, storage, user_id: str, image_id: str) -> None:
    """Remove the row and every stored object of the caller's image."""
    row = _row(db, user_id, image_id)
    keys = {row["storage_key"], *(item["key"] for item in row["variants"] or [])}
    keys.update(storage.list_keys(f"variants/{user_id}/{image_id}/"))
    # Objects first: if this fails half-way, the row still lists what to delete on a retry.
    storage.delete(sorted(keys))
    with db.transaction():
        db.execute("DELETE FROM images WHERE id = :id AND owner_id = :owner", id=image_id, owner=user_id)
        # Housekeeping sweeps the prefixes again later, for objects written after this moment.
        db.execute("INSERT INTO deleted_images (image_id, owner_id) VALUES (:id, :owner)"
                   " ON CONFLICT (image_id) DO NOTHING", id=image_id, owner=user_id)

