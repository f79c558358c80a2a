"""The lifecycle store: every conditional transition of an image and of a webhook delivery.

Each operation is one SQL statement that names the state it moves from, so a duplicated or
replayed message, a second worker or a racing sweep changes a row at most once; an operation
returns what it matched (a row, or a count) and the caller decides what that means. Read-side
shaping lives in functions/views.py.
"""

import dataclasses
import datetime
import enum
import json
import logging
import uuid
from typing import Any

log = logging.getLogger(__name__)


class ImageStatus(enum.StrEnum):
    """The states of an image (the same list as the images.status CHECK constraint)."""

    AWAITING_UPLOAD = "awaiting_upload"
    GENERATING = "generating"
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


STATUSES = tuple(status.value for status in ImageStatus)
TERMINAL = (ImageStatus.DONE.value, ImageStatus.FAILED.value)
# States without an original in storage yet: no link to it, no download.
BEFORE_ORIGINAL = (ImageStatus.AWAITING_UPLOAD.value, ImageStatus.GENERATING.value)
DELIVERY_STATUSES = ("pending", "delivered", "failed")


def original_key(user_id: str, image_id: str) -> str:
    return f"originals/{user_id}/{image_id}"


def variant_key(user_id: str, image_id: str, name: str, extension: str) -> str:
    # Deterministic, so a retry overwrites instead of adding.
    return f"variants/{user_id}/{image_id}/{name}.{extension}"


def delivery_columns(subject: str, prefix: str = "webhook_") -> str:
    """A LEFT JOIN LATERAL adding the latest delivery of ``subject`` (an id expression) as prefixed columns."""
    columns = ", ".join(f"w.{name} AS {prefix}{name}" for name in (
        "id", "event_type", "status", "attempts", "last_status_code", "last_error", "delivered_at"))
    return (f" LEFT JOIN LATERAL (SELECT {columns} FROM webhook_deliveries w WHERE w.subject_id = {subject}"
            f" ORDER BY w.created_at DESC LIMIT 1) wd ON true")


# Every read of an image goes through this, joined with its generation job when it has one.
IMAGE_SELECT = (
    "SELECT i.id, i.owner_id, i.source, i.original_name, i.storage_key, i.content_type, i.status, i.format,"
    " i.width, i.height, i.bytes, i.requested_variants, i.variants, i.error_code, i.error_message,"
    " i.created_at, i.updated_at, i.processed_at, i.batch_id, i.source_url, i.callback_url,"
    " i.sha256, i.placeholder, i.colors, i.animation, i.phash,"
    " g.prompt AS generation_prompt, g.style AS generation_style,"
    " g.provider AS generation_provider, g.provider_status AS generation_status, g.step AS generation_step,"
    " wd.* FROM images i LEFT JOIN generations g ON g.image_id = i.id" + delivery_columns("i.id")
)

# The heartbeats of held claims (functions/leases.py): each matches no row once another worker holds it.
RENEW_PROCESSING = ("UPDATE images SET claimed_at = now() WHERE id = :id AND claim_token = :token"
                    " AND status = 'processing'")
RENEW_IMPORT = ("UPDATE images SET claimed_at = now() WHERE id = :id AND claim_token = :token"
                " AND status = 'queued'")
RENEW_STEP = ("UPDATE generations SET step_claimed_at = now() WHERE image_id = :id AND step = :step"
              " AND step_claim_token = :token")


# --- images: creating and reading ------------------------------------------------------

def insert_image(db, *, image_id: str, owner: str, source: str, name: str, status: ImageStatus, variants,
                 content_type: str | None = None, declared_bytes: int | None = None,
                 source_url: str | None = None, callback_url: str | None = None,
                 batch_id: str | None = None, batch_index: int | None = None,
                 sha256: str | None = None, on_duplicate: str = "allow") -> None:
    """Insert one image row; its original will live at ``original_key(owner, image_id)``."""
    db.execute(
        "INSERT INTO images (id, owner_id, source, original_name, storage_key, content_type, declared_bytes,"
        " status, requested_variants, source_url, callback_url, batch_id, batch_index, sha256, sha256_declared,"
        " on_duplicate)"
        " VALUES (:id, :owner, :source, :name, :key, :type, :size, :status, CAST(:variants AS jsonb),"
        " :source_url, :callback_url, :batch_id, :batch_index, :sha256, :declared, :on_duplicate)",
        id=image_id, owner=owner, source=source, name=name, key=original_key(owner, image_id), type=content_type,
        size=declared_bytes, status=ImageStatus(status).value,
        variants=json.dumps([dataclasses.asdict(spec) for spec in variants]),
        source_url=source_url, callback_url=callback_url, batch_id=batch_id, batch_index=batch_index,
        sha256=sha256, declared=sha256 is not None, on_duplicate=on_duplicate,
    )


def delete_unqueued_import(db, image_id: str) -> None:
    """Remove an import whose job could not be sent (nobody learnt its id)."""
    db.execute("DELETE FROM images WHERE id = :id AND status = 'queued'", id=image_id)


def find_owned(db, user_id: str, image_id: str) -> dict[str, Any] | None:
    """The caller's image (``image_id`` is a UUID checked at the edge), or None; someone else's is not found."""
    return db.one(f"{IMAGE_SELECT} WHERE i.id = :id AND i.owner_id = :owner", id=image_id, owner=user_id)


def find(db, *, image_id: str | None = None, key: str | None = None) -> dict[str, Any] | None:
    """Any image, by id (a UUID) or by original key, or None."""
    if image_id is not None:
        return db.one(f"{IMAGE_SELECT} WHERE i.id = :id", id=image_id)
    return db.one(f"{IMAGE_SELECT} WHERE i.storage_key = :key", key=key)


def delete_owned(db, user_id: str, image_id: str) -> None:
    """Delete the row and remember the image, so housekeeping sweeps its prefixes again later."""
    with db.transaction():
        db.execute("DELETE FROM images WHERE id = :id AND owner_id = :owner", id=image_id, owner=user_id)
        # Idempotent: a second delete of the same image adds nothing.
        db.execute("INSERT INTO deleted_images (image_id, owner_id) VALUES (:id, :owner)"
                   " ON CONFLICT (image_id) DO NOTHING", id=image_id, owner=user_id)


# --- images: processing ----------------------------------------------------------------

_CLAIMED = ("RETURNING id, owner_id, claim_token, requested_variants, declared_bytes, stalled_attempts,"
            " on_duplicate")


def claim_for_processing(db, key: str, *, lease_seconds: int) -> dict[str, Any] | None:
    """Take the image waiting for ``key`` (or one whose worker's lease ran out) into ``processing``."""
    # Conditional: only a waiting image, or one whose worker's lease has run out, can be claimed.
    # 'generating' too: a generation's original may land before its row says 'queued'.
    # Taking over counts a stall (a worker killed at its time limit) only when the attempt recorded no
    # error of its own AND ran most of its time limit: its heartbeat renewed claimed_at until at least
    # half a lease after the attempt began (renewals come every third of a lease, so a worker killed at
    # the limit last renewed two thirds in). An attempt cut short early, e.g. by a database outage that
    # also kept note_error from writing, is not a stall; the queue's receive count still bounds it.
    return db.one(
        "UPDATE images SET status = 'processing', claim_token = :token, claimed_at = now(), updated_at = now(),"
        " attempt_started_at = now(), processing_attempts = processing_attempts + 1,"
        " stalled_attempts = stalled_attempts + CASE WHEN status = 'processing'"
        "   AND last_error_attempt IS DISTINCT FROM processing_attempts"
        "   AND (attempt_started_at IS NULL"  # claimed before this column existed: counted as before
        "        OR claimed_at >= attempt_started_at + make_interval(secs => :stall_after)) THEN 1 ELSE 0 END"
        " WHERE storage_key = :key AND (status IN ('awaiting_upload', 'generating', 'queued')"
        "   OR (status = 'processing' AND claimed_at < now() - make_interval(secs => :lease)))"
        f" {_CLAIMED}",
        token=str(uuid.uuid4()), key=key, lease=float(lease_seconds), stall_after=float(lease_seconds) / 2,
    )


def processed_content(db, key: str) -> dict[str, Any] | None:
    """The status of the image at ``key`` and the ETag of the content it was (or is being) made from."""
    return db.one("SELECT status, original_etag FROM images WHERE storage_key = :key", key=key)


def claim_replacement(db, key: str, *, previous_etag: str) -> dict[str, Any] | None:
    """Take a settled image back into ``processing`` because its key holds other content now."""
    # Conditional on the content it replaces, so only one of several such events claims it. The row
    # forgets the old variants at once; their objects are overwritten (same keys) as the new ones are
    # made. Processing may not delete (least privilege), so a replacement that fails leaves them
    # unlisted, and unreachable, until the image is deleted. Its /img renditions go in the same statement
    # (their objects are listed in stale_renditions for housekeeping), so none is served for the new content.
    claimed = db.one(
        "WITH claimed AS ("
        "UPDATE images SET status = 'processing', claim_token = :token, claimed_at = now(), updated_at = now(),"
        " attempt_started_at = now(),"
        " processing_attempts = processing_attempts + 1, stalled_attempts = 0, variants = '[]'::jsonb,"
        " format = NULL, width = NULL, height = NULL, error_code = NULL, error_message = NULL,"
        " phash = NULL, placeholder = NULL, colors = NULL, animation = NULL,"
        " sha256 = CASE WHEN sha256_declared THEN sha256 END"  # a computed hash described the old content
        " WHERE storage_key = :key AND status IN ('done', 'failed') AND original_etag = :previous"
        f" {_CLAIMED}), gone AS (DELETE FROM renditions WHERE image_id IN (SELECT id FROM claimed)"
        " RETURNING image_id, storage_key), listed AS (INSERT INTO stale_renditions (storage_key, image_id)"
        " SELECT storage_key, image_id FROM gone ON CONFLICT (storage_key) DO NOTHING)"
        " SELECT * FROM claimed",
        token=str(uuid.uuid4()), key=key, previous=previous_etag,
    )
    if claimed is not None:
        log.info("image %s: its original was replaced; processing the new content", claimed["id"])
    return claimed


def record_original(db, image_id: str, token: str, *, etag: str, size: int) -> None:
    """Which content this attempt processes: a later event for other content is then a replacement."""
    db.execute("UPDATE images SET original_etag = :etag, bytes = :bytes WHERE id = :id AND claim_token = :token",
               id=image_id, token=token, etag=etag, bytes=size)


def record_sha256(db, image_id: str, actual: str) -> str | None:
    """Keep ``actual`` as the image's SHA-256 unless one is set; the stored one (None: no such image)."""
    # Idempotent: fills only an empty column, so a replay leaves it as it is.
    row = db.one("UPDATE images SET sha256 = COALESCE(sha256, :actual) WHERE id = :id RETURNING sha256",
                 id=image_id, actual=actual)
    return None if row is None else row["sha256"]


def record_variants(db, image_id: str, token: str, variants: list[dict[str, Any]]) -> None:
    """The variants stored so far (the thumbnail is visible while the rest is encoded)."""
    db.execute("UPDATE images SET variants = CAST(:variants AS jsonb), updated_at = now()"
               " WHERE id = :id AND claim_token = :token", id=image_id, token=token, variants=json.dumps(variants))


def record_done(db, image_id: str, token: str, *, format: str, width: int, height: int, size: int, mime: str,
                variants: list[dict[str, Any]], analysis: dict[str, Any] | None = None) -> bool:
    """``processing`` → ``done`` for the worker holding ``token``; False when another worker took over.

    ``analysis``: placeholder, colors, animation (JSON-able) and phash (unsigned 64-bit int), or None.
    """
    facts = analysis or {}
    phash = facts.get("phash")
    return bool(db.execute(
        "UPDATE images SET status = 'done', format = :format, width = :width, height = :height,"
        " bytes = :bytes, content_type = :mime, variants = CAST(:variants AS jsonb), error_code = NULL,"
        " error_message = NULL, processed_at = now(), updated_at = now(), claim_token = NULL,"
        " placeholder = CAST(:placeholder AS jsonb), colors = CAST(:colors AS jsonb),"
        " animation = CAST(:animation AS jsonb), phash = :phash, " + _PHASH_BANDS_SET +
        " WHERE id = :id AND claim_token = :token AND status = 'processing'",
        id=image_id, token=token, format=format, width=width, height=height, bytes=size, mime=mime,
        variants=json.dumps(variants), placeholder=_json_or_null(facts.get("placeholder")),
        colors=_json_or_null(facts.get("colors")), animation=_json_or_null(facts.get("animation")),
        phash=None if phash is None else _signed64(phash), **_phash_bands(phash),
    ))


def _json_or_null(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


# --- images: duplicates --------------------------------------------------------------------

# The perceptual hash's four 16-bit bands (high first) live in their own indexed columns (migration 0016).
_PHASH_BANDS = tuple(f"phash_b{index}" for index in range(4))
_PHASH_BANDS_SET = ", ".join(f"{column} = :{column}" for column in _PHASH_BANDS)
# Each band is searched within floor(distance / 4) bits: 2 bits is 137 values a band (1 + 16 + 120).
MAX_PHASH_DISTANCE = 11


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def unsigned64(value: int) -> int:
    """A phash as stored (PostgreSQL's signed bigint) back to its 64 unsigned bits."""
    return value & 0xFFFF_FFFF_FFFF_FFFF


def _phash_bands(phash: int | None) -> dict[str, int | None]:
    return {column: None if phash is None else (phash >> (48 - 16 * index)) & 0xFFFF
            for index, column in enumerate(_PHASH_BANDS)}


def _within(value: int, bits: int) -> list[int]:
    """Every 16-bit value within ``bits`` bit flips of ``value``."""
    found = {value}
    for _ in range(bits):
        found |= {near ^ (1 << bit) for near in found for bit in range(16)}
    return sorted(found)


def exact_duplicate(db, owner: str, image_id: str, sha256: str) -> str | None:
    """The id of another of ``owner``'s done images with this original SHA-256, oldest first, or None."""
    row = db.one("SELECT id FROM images WHERE owner_id = :owner AND sha256 = :sha256 AND id <> :id"
                 " AND status = 'done' ORDER BY created_at, id LIMIT 1", owner=owner, sha256=sha256, id=image_id)
    return None if row is None else str(row["id"])


def similar_images(db, owner: str, phash: int, *, max_distance: int, exclude: str | None = None,
                   limit: int = 20) -> list[dict[str, Any]]:
    """``owner``'s done images whose perceptual hash is within ``max_distance`` bits, nearest first.

    Indexed (multi-index hashing): two hashes within ``max_distance`` bits have at least one 16-bit band
    within ``max_distance // 4`` bits, so each band's neighbour values are looked up in its btree index
    (owner_id, phash_bN) and only those candidates are compared bit by bit: the cost follows the
    candidates, not the owner's image count.
    """
    if not 0 <= max_distance <= MAX_PHASH_DISTANCE:
        raise ValueError(f"max_distance must be 0..{MAX_PHASH_DISTANCE}")
    params = {column: _within(band, max_distance // 4) for column, band in _phash_bands(phash).items()
              if band is not None}
    # Each branch is an index scan that already returns the hash, so no second pass over images is needed.
    candidates = " UNION ".join(
        f"SELECT id, created_at, phash FROM images WHERE owner_id = :owner AND {column} = ANY(:{column})"
        " AND phash IS NOT NULL AND status = 'done'" for column in params)
    return db.rows(
        "SELECT id, distance FROM (SELECT id, created_at, bit_count((phash # :phash)::bit(64)) AS distance"
        f" FROM ({candidates}) candidates) near WHERE distance <= :max_distance"
        " AND id IS DISTINCT FROM CAST(:exclude AS uuid)"
        " ORDER BY distance, created_at, id LIMIT :limit",
        owner=owner, phash=_signed64(phash), exclude=exclude, max_distance=max_distance, limit=limit, **params)


def fail(db, image_id: str, *, status: ImageStatus, code: str, message: str, token: str | None = None) -> bool:
    """``status`` → ``failed`` with a code and a sentence; with ``token``, only for the worker holding it."""
    return bool(db.execute(
        "UPDATE images SET status = 'failed', error_code = :code, error_message = :message, processed_at = now(),"
        " updated_at = now(), claim_token = NULL WHERE id = :id AND status = :status"
        + (" AND claim_token = :token" if token is not None else ""),
        id=image_id, status=ImageStatus(status).value, code=code, message=message,
        **({"token": token} if token is not None else {})))


def note_error(db, image_id: str, token: str, message: str) -> None:
    """Remember why an attempt failed, for the dead-letter consumer (best effort: the database may be what failed)."""
    # Marks the attempt as one that recorded its error, so taking it over does not count as a stall.
    try:
        db.execute("UPDATE images SET last_error = :error, last_error_attempt = processing_attempts"
                   " WHERE id = :id AND claim_token = :token",
                   id=image_id, token=token, error=message[:500])
    except Exception:
        log.warning("could not record the last error of image %s", image_id)


def give_up_processing(db, key: str, reason: str | None = None) -> bool:
    """An unfinished image whose event exhausted its retries ends failed with its last error."""
    return bool(db.execute(
        "UPDATE images SET status = 'failed', error_code = 'processing_failed',"
        " error_message = 'Processing kept failing: ' || COALESCE(last_error, :reason),"
        " processed_at = now(), updated_at = now(), claim_token = NULL"
        " WHERE storage_key = :key AND status NOT IN ('done', 'failed')",
        key=key, reason=reason or "no error was recorded"))


# --- images: imports -------------------------------------------------------------------

def claim_import(db, image_id: str, *, lease_seconds: int) -> dict[str, Any] | None:
    """Hold a queued import nobody holds (or whose worker's lease ran out) for one fetch."""
    return db.one(
        "UPDATE images SET claim_token = :token, claimed_at = now(), updated_at = now()"
        " WHERE id = :id AND source = 'import' AND status = 'queued'"
        " AND (claim_token IS NULL OR claimed_at < now() - make_interval(secs => :lease))"
        " RETURNING claim_token, storage_key, source_url",
        token=str(uuid.uuid4()), id=image_id, lease=float(lease_seconds))


def release_import(db, image_id: str, token: str) -> None:
    """Let go of a held import whose original a previous worker already stored."""
    db.execute("UPDATE images SET claim_token = NULL WHERE id = :id AND claim_token = :token AND status = 'queued'",
               id=image_id, token=token)


def hand_off_import(db, image_id: str, token: str, *, seconds: int) -> None:
    """Keep an import's claim for ``seconds`` more once its fetch order is sent."""
    db.execute("UPDATE images SET claimed_at = now() + make_interval(secs => :extra)"
               " WHERE id = :id AND claim_token = :token AND status = 'queued'",
               id=image_id, token=token, extra=float(seconds))


def record_fetched(db, image_id: str, token: str, content_type: str | None) -> bool:
    """A held import's original is stored: keep its type and let go (processing claims the 'queued' row)."""
    return bool(db.execute("UPDATE images SET content_type = :type, claim_token = NULL, updated_at = now()"
               " WHERE id = :id AND claim_token = :token AND status = 'queued'",
               id=image_id, token=token, type=content_type))


def give_up_import(db, image_id: str) -> bool:
    """A queued import whose job exhausted its retries ends failed with its last error."""
    return bool(db.execute(
        "UPDATE images SET status = 'failed', error_code = 'import_failed',"
        " error_message = 'Importing kept failing: ' || COALESCE(last_error, 'no error was recorded'),"
        " processed_at = now(), updated_at = now(), claim_token = NULL"
        " WHERE id = :id AND source = 'import' AND status = 'queued'", id=image_id))


# --- images: generations ---------------------------------------------------------------

def insert_generation(db, *, image_id: str, provider: str, prompt: str, style: str | None,
                      negative_prompt: str | None, width: int, height: int, deadline: datetime.datetime) -> None:
    """The generation job of a ``generating`` image (inserted in the image's transaction)."""
    db.execute(
        "INSERT INTO generations (image_id, provider, prompt, style, negative_prompt, width, height, deadline_at)"
        " VALUES (:id, :provider, :prompt, :style, :negative, :width, :height, :deadline)",
        id=image_id, provider=provider, prompt=prompt, style=style, negative=negative_prompt,
        width=width, height=height, deadline=deadline)


def claim_step(db, image_id: str, step: int, *, lease_seconds: int) -> dict[str, Any] | None:
    """Take step ``step`` of a generating image's job; None when it is taken or the image moved on."""
    # Conditional: the previous step must be current and finished (its claim released: a duplicate
    # never runs ahead of a step whose outcome is still on its way), or this step's claim must have
    # expired because its worker died; and the image must still be generating.
    return db.one(
        "UPDATE generations g SET step = :step, step_claimed_at = now(), step_claim_token = :token,"
        " updated_at = now()"
        " FROM images i WHERE g.image_id = :id AND i.id = g.image_id AND i.status = 'generating'"
        " AND ((g.step = :step - 1 AND g.step_claimed_at IS NULL) OR (g.step = :step AND g.step_claimed_at IS NOT NULL"
        "      AND g.step_claimed_at < now() - make_interval(secs => :lease)))"
        " RETURNING g.job_id, g.prompt, g.style, g.negative_prompt, g.width, g.height, i.owner_id,"
        " g.deadline_at < now() AS expired, g.step_claim_token",
        id=image_id, step=step, lease=float(lease_seconds), token=str(uuid.uuid4()))


def release_step(db, image_id: str, step: int) -> None:
    """A finished step gives up its claim, so a late duplicate of it can never take it again."""
    db.execute("UPDATE generations SET step_claimed_at = NULL WHERE image_id = :id AND step = :step",
               id=image_id, step=step)


def step_current(db, image_id: str, step: int, token: str) -> bool:
    """Whether step ``step``, claimed with ``token``, is still the job's current step (held or just released)."""
    # A late or replayed outcome finds a later step (or no row): it matches nothing. One replayed before the
    # next step is claimed matches and repeats the same conditional work, which changes nothing.
    return db.one("SELECT 1 AS current FROM generations WHERE image_id = :id AND step = :step"
                  " AND step_claim_token = :token", id=image_id, step=step, token=token) is not None


def hand_off_step(db, image_id: str, step: int, token: str, *, seconds: int) -> None:
    """Keep a step's claim for ``seconds`` more once its order is sent (no heartbeat can renew it outside)."""
    # The claim's clock moves forward: takeover waits for claimed_at + lease, so for this much longer.
    db.execute("UPDATE generations SET step_claimed_at = now() + make_interval(secs => :extra)"
               " WHERE image_id = :id AND step = :step AND step_claim_token = :token AND step_claimed_at IS NOT NULL",
               id=image_id, step=step, token=token, extra=float(seconds))


def abandon_step(db, image_id: str, step: int, token: str) -> None:
    """Let a retry of step ``step`` take it at once (its order could not be sent): the claim looks expired."""
    db.execute("UPDATE generations SET step_claimed_at = 'epoch' WHERE image_id = :id AND step = :step"
               " AND step_claim_token = :token", id=image_id, step=step, token=token)


def record_job(db, image_id: str, job_id: str) -> bool:
    """The provider's job id, once the kickoff started it; False when another job's id is already recorded."""
    # Conditional: a kickoff run twice (its order redelivered) started a second job at the provider; the
    # first id recorded stays, so polls follow one job and the other's result is never asked for.
    return bool(db.execute(
        "UPDATE generations SET job_id = :job, updated_at = now(),"
        " provider_status = CASE WHEN job_id IS NULL THEN 'INITIAL' ELSE provider_status END"
        " WHERE image_id = :id AND (job_id IS NULL OR job_id = :job)", job=job_id, id=image_id))


def record_provider_status(db, image_id: str, status: str) -> None:
    db.execute("UPDATE generations SET provider_status = :status, updated_at = now() WHERE image_id = :id",
               status=status, id=image_id)


def queue_generated(db, image_id: str, content_type: str) -> None:
    """``generating`` → ``queued`` once the original is stored (processing may have claimed it already)."""
    db.execute("UPDATE images SET status = 'queued', content_type = :type, updated_at = now()"
               " WHERE id = :id AND status = 'generating'", id=image_id, type=content_type)


# --- images: housekeeping and reconciliation -------------------------------------------

def mark_redriven(db, image_id: str) -> None:
    """When an upload's lost notification was sent again (at most once per interval)."""
    db.execute("UPDATE images SET redriven_at = now() WHERE id = :id AND status = 'awaiting_upload'", id=image_id)


def expire_upload(db, image_id: str, message: str) -> bool:
    """``awaiting_upload`` → ``failed`` (upload_expired); an upload processed meanwhile keeps its state."""
    return bool(db.execute(
        "UPDATE images SET status = 'failed', error_code = 'upload_expired', error_message = :message,"
        " processed_at = now(), updated_at = now() WHERE id = :id AND status = 'awaiting_upload'",
        id=image_id, message=message))


def mark_original_lost(db, image_id: str, *, processed_at, message: str) -> bool:
    """``done`` → ``failed`` (original_lost), only if the row is still the one read at ``processed_at``."""
    return bool(db.execute(
        "UPDATE images SET status = 'failed', error_code = 'original_lost', error_message = :message,"
        " updated_at = now() WHERE id = :id AND status = 'done' AND processed_at = :processed",
        id=image_id, message=message, processed=processed_at))


def requeue(db, image_id: str, *, processed_at) -> bool:
    """``done`` → ``queued`` without variants, to be processed again; a worker that finished it since wins."""
    return bool(db.execute(
        "UPDATE images SET status = 'queued', variants = '[]'::jsonb, claim_token = NULL, updated_at = now()"
        " WHERE id = :id AND status = 'done' AND processed_at = :processed",
        id=image_id, processed=processed_at))


# --- webhook deliveries ----------------------------------------------------------------

def insert_delivery(db, *, owner_id: str, subject_id: str, event_type: str, url: str, body: str) -> dict[str, Any]:
    """Record an event once; its delivery row (``enqueued_at`` None while its first attempt is not sent)."""
    # Idempotent: the unique (subject_id, event_type) turns a second terminal transition report into nothing.
    db.execute(
        "INSERT INTO webhook_deliveries (id, owner_id, subject_id, event_type, url, body)"
        " VALUES (:id, :owner, :subject, :type, :url, :body) ON CONFLICT (subject_id, event_type) DO NOTHING",
        id=str(uuid.uuid4()), owner=owner_id, subject=subject_id, type=event_type, url=url, body=body)
    return db.one("SELECT id, enqueued_at FROM webhook_deliveries WHERE subject_id = :subject AND event_type = :type",
                  subject=subject_id, type=event_type)


def mark_enqueued(db, delivery_id: str) -> None:
    db.execute("UPDATE webhook_deliveries SET enqueued_at = now(), updated_at = now()"
               " WHERE id = :id AND enqueued_at IS NULL", id=delivery_id)


def claim_attempt(db, delivery_id: str, attempt: int, *, lease_seconds: int) -> dict[str, Any] | None:
    """Take attempt ``attempt`` of a pending delivery; None when it is taken or the delivery is finished."""
    # Conditional: the previous attempt must be the last one taken (and finished: claimed_at is cleared
    # then), or this attempt's claim must have run out because its worker died mid-request.
    return db.one(
        "UPDATE webhook_deliveries SET attempts = :attempt, claimed_at = now(), claim_token = :token,"
        " updated_at = now()"
        " WHERE id = :id AND status = 'pending' AND ((attempts = :attempt - 1 AND claimed_at IS NULL)"
        "   OR (attempts = :attempt AND claimed_at < now() - make_interval(secs => :lease)))"
        " RETURNING owner_id, url, body, event_type, claim_token",
        id=delivery_id, attempt=attempt, lease=float(lease_seconds), token=str(uuid.uuid4()))


def attempt_current(db, delivery_id: str, attempt: int, token: str) -> bool:
    """Whether attempt ``attempt``, claimed with ``token``, is the delivery's current one (held or just finished)."""
    # A replay before the next attempt is claimed matches (and may only queue that attempt again: its claim
    # admits one copy); a late outcome, or one from a claim taken over after its lease, matches nothing.
    return db.one("SELECT 1 AS current FROM webhook_deliveries WHERE id = :id AND attempts = :attempt"
                  " AND claim_token = :token AND status = 'pending'",
                  id=delivery_id, attempt=attempt, token=token) is not None


def hand_off_attempt(db, delivery_id: str, attempt: int, *, seconds: int) -> None:
    """Keep an attempt's claim for ``seconds`` more once its order is sent."""
    db.execute("UPDATE webhook_deliveries SET claimed_at = now() + make_interval(secs => :extra)"
               " WHERE id = :id AND attempts = :attempt AND status = 'pending' AND claimed_at IS NOT NULL",
               id=delivery_id, attempt=attempt, extra=float(seconds))


def abandon_attempt(db, delivery_id: str, attempt: int) -> None:
    """Let a retry of attempt ``attempt`` take it at once (its order could not be sent): the claim looks expired."""
    db.execute("UPDATE webhook_deliveries SET claimed_at = 'epoch' WHERE id = :id AND attempts = :attempt"
               " AND status = 'pending'", id=delivery_id, attempt=attempt)


def finish_attempt(db, delivery_id: str, attempt: int, status: str, status_code: int | None,
                   error: str | None, *, token: str | None = None) -> bool:
    """Record how an attempt ended (``pending`` again when another follows); False when it was not held.

    With ``token``, only the claim holding the attempt records it, once: clearing claimed_at marks it
    finished, so a duplicated or late outcome for the same claim changes nothing.
    """
    return bool(db.execute(
        "UPDATE webhook_deliveries SET status = :status, last_status_code = :code, last_error = :error,"
        " delivered_at = CASE WHEN :status = 'delivered' THEN now() ELSE delivered_at END,"
        " claimed_at = NULL, updated_at = now()"
        " WHERE id = :id AND attempts = :attempt AND status = 'pending'"
        + (" AND claim_token = :token AND claimed_at IS NOT NULL" if token is not None else ""),
        id=delivery_id, attempt=attempt, status=status, code=status_code, error=error[:500] if error else None,
        **({"token": token} if token is not None else {})))


def give_up_delivery(db, delivery_id: str) -> bool:
    """A pending delivery whose message exhausted its retries is recorded failed."""
    return bool(db.execute(
        "UPDATE webhook_deliveries SET status = 'failed', claimed_at = NULL, updated_at = now(),"
        " last_error = COALESCE(last_error, 'Delivering kept failing.') WHERE id = :id AND status = 'pending'",
        id=delivery_id))
