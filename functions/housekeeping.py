"""Housekeeping: settle what nobody is going to finish, forget what nobody needs any more.

Run every few minutes by the ``housekeeping`` scheduled function (an EventBridge rule on AWS,
the local runner's timer on one machine). Every change is a conditional statement, so two
sweeps at once, or a sweep racing an upload, change each row at most once.
"""

import dataclasses
import logging
import urllib.parse
from typing import List

from functions import images
from functions.settings import IMAGE_EVENTS_QUEUE

log = logging.getLogger(__name__)

# A POST that began just before its link expired may still be arriving; S3 checks the policy's
# expiry when the request starts, not when the last byte lands.
UPLOAD_GRACE_SECONDS = 900
# Rows looked at per sweep: bounded, so one run stays well inside its timeout; the rest wait.
SWEEP_LIMIT = 200
# Long enough after the lockout window that no throttle decision can still read the row.
LOGIN_FAILURE_RETENTION_SECONDS = 24 * 3600

EXPIRED_MESSAGE = ("No file arrived before the upload link expired. Ask for a new upload "
                   "(POST /uploads) and send the file within its expires_at.")


@dataclasses.dataclass(frozen=True)
class SweepReport:
    """What one sweep did: images it failed or re-announced, objects and rows it removed."""

    expired_uploads: List[str]
    redriven_uploads: List[str]
    late_objects_removed: int
    login_failures_forgotten: int
    refresh_tokens_forgotten: int

    def as_dict(self) -> dict:
        return {"expired_uploads": len(self.expired_uploads), "redriven_uploads": len(self.redriven_uploads),
                "late_objects_removed": self.late_objects_removed,
                "login_failures_forgotten": self.login_failures_forgotten,
                "refresh_tokens_forgotten": self.refresh_tokens_forgotten}


def sweep(db, storage, queues, settings) -> SweepReport:
    """One housekeeping pass; the caller announces every image in ``expired_uploads``."""
    expired, redriven = settle_abandoned_uploads(db, storage, queues, settings)
    return SweepReport(expired, redriven, clear_deleted_images(db, storage, settings), forget_login_failures(db),
                       forget_refresh_tokens(db))


def settle_abandoned_uploads(db, storage, queues, settings):
    """Uploads still ``awaiting_upload`` well after their link expired.

    If the original is in storage, its S3 notification went missing: send the processing
    queue an equivalent event (processing is idempotent). Otherwise nothing can arrive any
    more: the image ends ``failed`` with ``upload_expired``, which also lets its batch complete.
    """
    stale = db.rows(
        "SELECT id, storage_key FROM images WHERE status = 'awaiting_upload'"
        " AND created_at < now() - make_interval(secs => :age) ORDER BY created_at LIMIT :limit",
        age=float(settings.upload_url_ttl + UPLOAD_GRACE_SECONDS), limit=SWEEP_LIMIT)
    expired, redriven = [], []
    for row in stale:
        image_id, key = str(row["id"]), row["storage_key"]
        found = storage.head(key)
        if found is not None:
            queues.send(IMAGE_EVENTS_QUEUE, object_created_event(settings.bucket, key, found["bytes"]))
            redriven.append(image_id)
            log.warning("image %s: its original is stored but was never processed; re-announced it", image_id)
            continue
        # Conditional: an upload processed since the SELECT keeps its state.
        if db.execute(
                "UPDATE images SET status = 'failed', error_code = 'upload_expired', error_message = :message,"
                " processed_at = now(), updated_at = now() WHERE id = :id AND status = 'awaiting_upload'",
                id=image_id, message=EXPIRED_MESSAGE):
            expired.append(image_id)
    return expired, redriven


def object_created_event(bucket: str, key: str, size: int) -> dict:
    """An S3 ObjectCreated notification for one object, as S3 would send it to the queue."""
    return {"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Redrive",
        "s3": {"bucket": {"name": bucket}, "object": {"key": urllib.parse.quote_plus(key), "size": size}},
    }]}


def clear_deleted_images(db, storage, settings) -> int:
    """Remove what landed under a deleted image's prefixes after its delete; return how many objects.

    Waits until nothing can still write there: an upload link issued before the delete has
    expired (plus the grace), and a worker that had claimed the image is past its lease.
    """
    quiet_after = max(settings.upload_url_ttl + UPLOAD_GRACE_SECONDS, settings.visibility_timeout)
    removed = 0
    for row in db.rows("SELECT image_id, owner_id FROM deleted_images"
                       " WHERE deleted_at < now() - make_interval(secs => :age) ORDER BY deleted_at LIMIT :limit",
                       age=float(quiet_after), limit=SWEEP_LIMIT):
        image_id, owner = str(row["image_id"]), str(row["owner_id"])
        original = images.original_key(owner, image_id)
        late = storage.list_keys(original) + storage.list_keys(f"variants/{owner}/{image_id}/")
        late = [key for key in late if key == original or key.startswith("variants/")]
        if late:
            storage.delete(late)
            log.warning("image %s: removed %d object(s) stored after it was deleted", image_id, len(late))
        removed += len(late)
        # Last, so a failed delete above is tried again on the next sweep.
        db.execute("DELETE FROM deleted_images WHERE image_id = :id", id=image_id)
    return removed


def forget_login_failures(db) -> int:
    """Delete failure counters nobody has added to for a day (the throttle ignores them anyway)."""
    return db.execute("DELETE FROM login_failures WHERE last_failure_at < now() - make_interval(secs => :age)",
                      age=float(LOGIN_FAILURE_RETENTION_SECONDS))


def forget_refresh_tokens(db) -> int:
    """Delete refresh tokens past their expiry: refresh refuses them whatever their state."""
    return db.execute("DELETE FROM refresh_tokens WHERE expires_at < now()")
