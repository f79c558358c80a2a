"""Start-up reconciliation: make the database agree with what storage really holds.

After a crash of an emulator (which keeps objects in memory) a ``done`` row may point at
objects that are gone. This looks at every ``done`` image once, against one listing of the
bucket: one whose variants are missing but whose original is there goes back to ``queued``
and its original is announced again to image-events (as housekeeping's redrive does); one
whose original is gone ends ``failed`` with ``original_lost``. Both changes are conditional
updates, so a run racing a worker, or two runs at once, change each row once. The listing is
taken once, before the rows are read: an object missing from it is looked up again (HEAD) before
its image is failed or sent back, since it may have been stored after the listing.

When the queues' messages were lost too (a new emulator: its SQS is in memory), images still
``queued`` or ``processing`` whose original is stored are announced again, each delayed until
its worker's lease has run out, so the event can take it over.

At a start after a previous run (``previous_run_ended``: nothing processes images yet), an image
left ``processing`` had its attempt ended by that run's end, not by the time limit: the attempt
is recorded as ended with an error, so taking it over does not count as a stall (two stalls
fail an image ``too_slow``).
"""

import dataclasses
import logging
from collections.abc import Callable

from functions import store
from functions.housekeeping import object_created_event
from functions.settings import IMAGE_EVENTS_QUEUE

log = logging.getLogger(__name__)

ORIGINAL_LOST_MESSAGE = ("The stored original of this image was lost (the storage it was kept in "
                         "was not saved before it stopped). Upload it again.")
INTERRUPTED_ERROR = "The previous make run ended while this image was being processed."
# Rows read per query: bounded memory whatever the table's size.
PAGE = 500


@dataclasses.dataclass
class ReconcileReport:
    """What reconciliation found: images sent back to processing, images whose original was lost."""

    checked: int = 0
    requeued: list[str] = dataclasses.field(default_factory=list)
    reprocessed: list[str] = dataclasses.field(default_factory=list)
    lost: list[str] = dataclasses.field(default_factory=list)
    failures: list[str] = dataclasses.field(default_factory=list)
    interrupted: int = 0

    def summary(self) -> str:
        text = (f"{self.checked} finished image(s) checked against storage, {len(self.reprocessed)} sent back "
                f"to processing (variants missing), {len(self.lost)} failed as original_lost")
        if self.requeued:
            text += f", {len(self.requeued)} unfinished image(s) announced again"
        if self.failures:
            text += f", {len(self.failures)} could not be checked (see the log)"
        return text


def reconcile(db, storage, queues, settings, *, messages_lost: bool = False, previous_run_ended: bool = False,
              announce: Callable[[str], None] | None = None) -> ReconcileReport:
    """Check every ``done`` image against one listing of the bucket and repair what does not match.

    ``messages_lost``: the queues are new, so unfinished images have no event any more.
    ``previous_run_ended``: no worker runs, so an image still ``processing`` was cut off by the run's end.
    ``announce(image_id)`` publishes an image's new terminal state (pipeline.announce: webhook, batch).
    """
    report = ReconcileReport()
    if previous_run_ended:
        _forgive_interrupted(db, report)
    stored = set(storage.list_keys("originals/")) | set(storage.list_keys("variants/"))
    if messages_lost:
        _announce_unfinished(db, queues, settings, stored, report)
    last_id = None
    while True:
        rows = db.rows(
            "SELECT id, storage_key, variants, processed_at FROM images WHERE status = 'done'"
            + (" AND id > :after" if last_id else "") + " ORDER BY id LIMIT :limit",
            limit=PAGE, **({"after": last_id} if last_id else {}))
        for row in rows:
            report.checked += 1
            try:
                _check(db, storage, queues, settings, row, stored, report, announce)
            except Exception:
                log.exception("reconcile: image %s could not be checked", row["id"])
                report.failures.append(str(row["id"]))
        if len(rows) < PAGE:
            return report
        last_id = rows[-1]["id"]


def _stored(storage, listed: set, key: str | None) -> bool:
    return bool(key) and (key in listed or storage.head(key) is not None)


def _forgive_interrupted(db, report: ReconcileReport) -> None:
    # Conditional on the attempt still being the one left behind (a claim since counts a new attempt).
    report.interrupted = db.execute(
        "UPDATE images SET last_error = :error, last_error_attempt = processing_attempts"
        " WHERE status = 'processing' AND last_error_attempt IS DISTINCT FROM processing_attempts",
        error=INTERRUPTED_ERROR)
    if report.interrupted:
        log.warning("reconcile: %d image(s) were being processed when the previous run ended; "
                    "that attempt does not count as a stall", report.interrupted)


def _announce_unfinished(db, queues, settings, stored: set, report: ReconcileReport) -> None:
    rows = db.rows(
        "SELECT id, storage_key, CASE WHEN status = 'processing' THEN GREATEST(0, :lease -"
        " EXTRACT(EPOCH FROM now() - claimed_at)) ELSE 0 END AS wait FROM images"
        " WHERE status IN ('queued', 'processing')", lease=float(settings.function_timeout))
    for row in rows:
        if row["storage_key"] not in stored:
            continue   # an import or generation still fetching: its own job's message is what was lost
        try:
            # Safe to repeat: the claim is conditional, a live lease makes the event a no-op.
            queues.send(IMAGE_EVENTS_QUEUE, object_created_event(settings.bucket, row["storage_key"], 0),
                        delay_seconds=int(float(row["wait"] or 0)) + 1)
            report.requeued.append(str(row["id"]))
        except Exception:
            log.exception("reconcile: image %s could not be announced again", row["id"])
            report.failures.append(str(row["id"]))


def _check(db, storage, queues, settings, row, stored: set, report: ReconcileReport, announce) -> None:
    image_id, original = str(row["id"]), row["storage_key"]
    # Not in the listing may mean stored after it: only a HEAD that finds nothing counts as gone.
    missing = [variant.get("key") for variant in (row["variants"] or [])
               if not _stored(storage, stored, variant.get("key"))]
    if not _stored(storage, stored, original):
        # Conditional on the row being the one we read: a worker that finished it since keeps its result.
        if store.mark_original_lost(db, image_id, processed_at=row["processed_at"], message=ORIGINAL_LOST_MESSAGE):
            report.lost.append(image_id)
            log.warning("reconcile: image %s lost its original %s; marked failed", image_id, original)
            if announce:
                announce(image_id)
        return
    if not missing:
        return
    if store.requeue(db, image_id, processed_at=row["processed_at"]):
        # Processing is idempotent: variant keys are deterministic and the claim is conditional.
        queues.send(IMAGE_EVENTS_QUEUE, object_created_event(settings.bucket, original, 0))
        report.reprocessed.append(image_id)
        log.warning("reconcile: image %s lost %d variant(s); processing it again from its original",
                    image_id, len(missing))
