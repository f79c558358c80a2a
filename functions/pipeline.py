"""SQS record handlers for the image pipeline: one record at a time, failures reported per record."""

import json
import logging
from typing import Any, Callable, Dict, Iterable, List

from functions import generations, images, wiring
from functions.s3_events import created_objects

log = logging.getLogger(__name__)


def each_record(records: Iterable[Any], handle: Callable[[str], None]) -> Dict[str, List[Dict[str, str]]]:
    """Call ``handle(body)`` per record; a record that raises is reported, its neighbours are not re-run."""
    failures = []
    for record in records:
        raw = record.to_dict()
        try:
            handle(raw["body"])
        except Exception:
            log.exception("record %s failed; it will be retried", raw["messageId"])
            failures.append({"itemIdentifier": raw["messageId"]})
    return {"batchItemFailures": failures}


def process_image_event(body: str) -> None:
    """One S3 notification: process every original it announces (test events are ignored)."""
    settings = wiring.settings()
    for created in created_objects(body):
        if not created.key.startswith("originals/"):
            continue
        outcome = images.process_original(wiring.database(), wiring.storage(), settings, created.key)
        log.info("processed %s: %s %s", created.key, outcome.status, outcome.code or outcome.reason or "")


def give_up_image_event(body: str) -> None:
    """One notification that exhausted its retries: its image ends failed with the last error."""
    for created in created_objects(body):
        if images.give_up(wiring.database(), created.key):
            log.warning("gave up on %s after repeated failures", created.key)


def generation_step(body: str) -> None:
    """One generation-jobs message: {"image_id", "step"}."""
    message = json.loads(body)
    result = generations.run_step(wiring.database(), wiring.storage(), wiring.queues(), wiring.provider(),
                                  wiring.settings(), message["image_id"], int(message["step"]))
    log.info("generation %s step %s: %s %s", message["image_id"], message["step"], result.action, result.detail)


def give_up_generation_step(body: str) -> None:
    """A generation message that exhausted its retries: the image ends failed."""
    if generations.give_up(wiring.database(), json.loads(body)["image_id"]):
        log.warning("gave up on generation %s", json.loads(body)["image_id"])


def migrate() -> dict:
    """Apply pending schema migrations (the `migrate` function, invoked after each AWS deploy)."""
    from functions.adapters.database import apply_migrations

    return {"applied": apply_migrations(wiring.database())}
