"""Housekeeping: settle what nobody is going to finish, forget what nobody needs any more.

Run every few minutes by the ``housekeeping`` scheduled function (an EventBridge rule on AWS,
the local runner's timer on one machine). Every row change is a conditional statement and
every message it sends is safe to repeat, so two sweeps at once, or a sweep racing an upload,
change each row at most once. One failing row or step never stops the others; what failed is
tried again by the next run.
"""

import dataclasses
import logging
import urllib.parse
from collections.abc import Callable

from functions import delivery, store
from functions.settings import IMAGE_EVENTS_QUEUE

log = logging.getLogger(__name__)

# A POST that began just before its link expired may still be arriving; S3 checks the policy's
# expiry when the request starts, not when the last byte lands.
UPLOAD_GRACE_SECONDS = 900
# Rows looked at per step and sweep: bounded, so one run stays well inside its timeout.
SWEEP_LIMIT = 200
# An original re-announced to the processing queue gets this long to be processed before the next try.
REDRIVE_INTERVAL_SECONDS = 3600
# How long an expired upload is checked for a lost announcement (its webhook, its batch's completion).
ANNOUNCE_WINDOW_SECONDS = 24 * 3600
# Long enough after the lockout window that no throttle decision can still read the row.
LOGIN_FAILURE_RETENTION_SECONDS = 24 * 3600

EXPIRED_MESSAGE = ("No file arrived before the upload link expired. Ask for a new upload "
                   "(POST /uploads) and send the file within its expires_at.")


@dataclasses.dataclass
class SweepReport:
    """What one sweep did, and which rows or steps failed (to be tried again by the next run)."""

    expired_uploads: list[str] = dataclasses.field(default_factory=list)
    redriven_uploads: list[str] = dataclasses.field(default_factory=list)
    announced: int = 0
    late_objects_removed: int = 0
    login_failures_forgotten: int = 0
    refresh_tokens_forgotten: int = 0
    live_connections_forgotten: int = 0
    failures: list[str] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict:
        return {"expired_uploads": len(self.expired_uploads), "redriven_uploads": len(self.redriven_uploads),
                "announced": self.announced, "late_objects_removed": self.late_objects_removed,
                "login_failures_forgotten": self.login_failures_forgotten,
                "refresh_tokens_forgotten": self.refresh_tokens_forgotten,
                "live_connections_forgotten": self.live_connections_forgotten, "failures": len(self.failures)}


def abandoned_after(settings) -> int:
    """Seconds after an upload is issued when nothing can arrive for it any more: its link's life and the grace."""
    return settings.upload_url_ttl + UPLOAD_GRACE_SECONDS


def quiet_after_delete(settings) -> int:
    """Seconds after a delete when nothing can write under the image's prefixes: no live link, no worker lease."""
    return max(abandoned_after(settings), settings.visibility_timeout)


def sweep(*, db, storage, queues, settings, announce: Callable[[str], None]) -> SweepReport:
    """One housekeeping pass. ``announce(image_id)`` publishes a settled image's events (pipeline.announce)."""
    report = SweepReport()
    steps = (
        ("abandoned uploads", lambda: settle_abandoned_uploads(db=db, storage=storage, queues=queues, settings=settings,
                                                              announce=announce, report=report)),
        ("lost announcements", lambda: announce_expired_uploads(db, announce, report)),
        ("deleted images", lambda: clear_deleted_images(db=db, storage=storage, settings=settings, report=report)),
        ("stale renditions", lambda: clear_stale_renditions(db=db, storage=storage, report=report)),
        ("login failures", lambda: setattr(report, "login_failures_forgotten", forget_login_failures(db))),
        ("refresh tokens", lambda: setattr(report, "refresh_tokens_forgotten", forget_refresh_tokens(db, settings))),
        ("live connections", lambda: setattr(report, "live_connections_forgotten", forget_live_connections(db))),
    )
    for name, step in steps:
        try:
            step()
        except Exception:
            log.exception("housekeeping: %s failed; the next run tries again", name)
            report.failures.append(name)
    return report


def forget_live_connections(db) -> int:
    """Connections past API Gateway's 2-hour limit (their $disconnect was lost) and unused expired tickets."""
    from functions.live import connections, tickets

    tickets.sweep(db)
    return connections.sweep(db)


def settle_abandoned_uploads(*, db, storage, queues, settings, announce, report: SweepReport) -> None:
    """Uploads still ``awaiting_upload`` well after their link expired.

    If the original is in storage, its S3 notification went missing: send the processing
    queue an equivalent event (processing is idempotent), at most once an hour per image.
    Otherwise nothing can arrive any more: the image ends ``failed`` with ``upload_expired``
    and is announced at once, so its webhook fires and its batch can complete.
    """
    stale = db.rows(
        "SELECT id, storage_key FROM images WHERE status = 'awaiting_upload'"
        " AND created_at < now() - make_interval(secs => :age)"
        " AND (redriven_at IS NULL OR redriven_at < now() - make_interval(secs => :redrive))"
        " ORDER BY created_at LIMIT :limit",
        age=float(abandoned_after(settings)), redrive=float(REDRIVE_INTERVAL_SECONDS),
        limit=SWEEP_LIMIT)
    for row in stale:
        image_id, key = str(row["id"]), row["storage_key"]
        try:
            found = storage.head(key)
            if found is not None:
                queues.send(IMAGE_EVENTS_QUEUE, object_created_event(settings.bucket, key, found["bytes"]))
                store.mark_redriven(db, image_id)
                report.redriven_uploads.append(image_id)
                log.warning("image %s: its original is stored but was never processed; re-announced it", image_id)
                continue
            # Conditional: an upload processed since the SELECT keeps its state.
            if store.expire_upload(db, image_id, EXPIRED_MESSAGE):
                report.expired_uploads.append(image_id)
                announce(image_id)
        except Exception:
            log.exception("housekeeping: upload %s could not be settled; the next run tries again", image_id)
            report.failures.append(image_id)


def announce_expired_uploads(db, announce, report: SweepReport) -> None:
    """Announce again the recently expired uploads whose announcement may have been lost.

    That is: the batch is not complete yet, or a webhook is wanted (for the image or its batch)
    and none was queued. Announcing is idempotent, so an image announced twice changes nothing.
    """
    for row in db.rows(
            "SELECT i.id FROM images i LEFT JOIN batches b ON b.id = i.batch_id"
            " WHERE i.status = 'failed' AND i.error_code = 'upload_expired'"
            "   AND i.processed_at > now() - make_interval(secs => :window)"
            "   AND ((b.id IS NOT NULL AND b.completed_at IS NULL)"
            "     OR (i.callback_url IS NOT NULL AND NOT EXISTS (SELECT 1 FROM webhook_deliveries w"
            "         WHERE w.subject_id = i.id AND w.enqueued_at IS NOT NULL))"
            "     OR (b.callback_url IS NOT NULL AND NOT EXISTS (SELECT 1 FROM webhook_deliveries w"
            "         WHERE w.subject_id = b.id AND w.enqueued_at IS NOT NULL)))"
            " ORDER BY i.processed_at LIMIT :limit",
            window=float(ANNOUNCE_WINDOW_SECONDS), limit=SWEEP_LIMIT):
        image_id = str(row["id"])
        if image_id in report.expired_uploads:
            continue  # announced a moment ago by this very sweep
        try:
            announce(image_id)
            report.announced += 1
        except Exception:
            log.exception("housekeeping: expired upload %s could not be announced; the next run tries again",
                          image_id)
            report.failures.append(image_id)


def object_created_event(bucket: str, key: str, size: int) -> dict:
    """An S3 ObjectCreated notification for one object, as S3 would send it to the queue."""
    return {"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Redrive",
        "s3": {"bucket": {"name": bucket}, "object": {"key": urllib.parse.quote_plus(key), "size": size}},
    }]}


def clear_deleted_images(*, db, storage, settings, report: SweepReport) -> None:
    """Remove what landed under a deleted image's prefixes after its delete.

    Waits ``quiet_after_delete`` seconds, until nothing can still write there.
    """
    for row in db.rows("SELECT image_id, owner_id FROM deleted_images"
                       " WHERE deleted_at < now() - make_interval(secs => :age) ORDER BY deleted_at LIMIT :limit",
                       age=float(quiet_after_delete(settings)), limit=SWEEP_LIMIT):
        image_id, owner = str(row["image_id"]), str(row["owner_id"])
        try:
            original = store.original_key(owner, image_id)
            late = (storage.list_keys(original) + storage.list_keys(f"variants/{owner}/{image_id}/")
                    + storage.list_keys(delivery.rendition_prefix(owner, image_id)))  # a /img render that ended late
            late = [key for key in late if key == original or key.startswith(("variants/", "renditions/"))]
            if late:
                storage.delete(late)
                log.warning("image %s: removed %d object(s) stored after it was deleted", image_id, len(late))
            # Last, so a failed delete above is tried again on the next sweep.
            db.execute("DELETE FROM deleted_images WHERE image_id = :id", id=image_id)
            report.late_objects_removed += len(late)
        except Exception:
            log.exception("housekeeping: deleted image %s could not be cleared; the next run tries again", image_id)
            report.failures.append(image_id)


def clear_stale_renditions(*, db, storage, report: SweepReport) -> None:
    """Delete the /img renditions of replaced originals (their rows went with the replacement's claim)."""
    rows = db.rows("SELECT s.storage_key, EXISTS (SELECT 1 FROM renditions r WHERE r.storage_key = s.storage_key)"
                   " AS live FROM stale_renditions s ORDER BY s.created_at LIMIT :limit", limit=SWEEP_LIMIT)
    # Content replaced and then put back has its old version again: a rendition recorded since is live.
    stale = [row["storage_key"] for row in rows if not row["live"]]
    if stale:
        storage.delete(stale)
    if not rows:
        return
    # Last, so a failed delete above is tried again on the next sweep.
    db.execute("DELETE FROM stale_renditions WHERE storage_key = ANY(CAST(:keys AS text[]))",
               keys=[row["storage_key"] for row in rows])
    report.late_objects_removed += len(stale)


def forget_login_failures(db) -> int:
    """Delete failure counters (per account and per source address) nobody has added to for a day."""
    age = float(LOGIN_FAILURE_RETENTION_SECONDS)
    accounts = db.execute("DELETE FROM login_failures WHERE last_failure_at < now() - make_interval(secs => :age)",
                          age=age)
    sources = db.execute("DELETE FROM login_sources WHERE last_failure_at < now() - make_interval(secs => :age)",
                         age=age)
    return accounts + sources


def forget_refresh_tokens(db, settings) -> int:
    """Delete refresh tokens past their expiry by more than an access token's life.

    Refresh refuses them at once; the rows stay that much longer because the authorizer reads a
    revoked family from them, and an access token of that family may outlive its refresh token.
    """
    return db.execute("DELETE FROM refresh_tokens WHERE expires_at < now() - make_interval(secs => :ttl)",
                      ttl=float(settings.access_token_ttl))
