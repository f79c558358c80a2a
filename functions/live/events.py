"""What the VPC side pushes: one message per image state change or batch progress, to the owner only.

Every function here is best effort and runs after the state it describes is committed: a failure
is logged and swallowed, so a push can never fail or hold up the pipeline. A user with no open
connection costs one indexed SELECT and no message.

Message types (documented in the README next to the webhook payload):

- ``image.<status>``: ``awaiting_upload``, ``generating``, ``queued``, ``processing``, ``done``,
  ``failed``, and ``image.thumbnail`` (still processing; the first variant is stored). Carries
  ``image`` (the GET /images/{id} shape, fresh links included) and ``version``.
- ``batch.progress``: ``batch`` (the GET /batches shape without items: counts, percent, complete).
- ``subscribed`` (the answer to subscribe: ``image_ids`` and ``batch_id`` found, ``not_found``),
  ``pong``, and ``error`` (``code``, ``message``) for a frame the gateway cannot use.

``version`` is the image's ``updated_at`` in microseconds: it grows with every committed change,
so a client keeps the message with the highest version per image (SQS may reorder).
"""

import logging
from typing import Any

from functions import batches, store, views
from functions.live import connections
from functions.messages import LivePush
from functions.settings import LIVE_EVENTS_QUEUE

log = logging.getLogger(__name__)

MAX_MESSAGES_PER_PUSH = 20  # a subscribe answer for many images goes out in several queue messages


def image_message(row: dict[str, Any]) -> dict[str, Any]:
    """The live message for an image row, and the keys the pusher links (see LivePush)."""
    status = row["status"]
    kind = "thumbnail" if status == store.ImageStatus.PROCESSING and row["variants"] else status
    image = views.image_fields(row)
    image["webhook"] = views.delivery_json(row)
    has_original = status not in store.BEFORE_ORIGINAL
    links = {"variants": [variant["key"] for variant in row["variants"] or []],
             "original": [row["storage_key"], row["original_name"]] if has_original else None}
    version = int(row["updated_at"].timestamp() * 1_000_000)
    return {"message": {"type": f"image.{kind}", "version": version, "image": image}, "links": links}


def batch_message(db, batch_id: str) -> dict[str, Any] | None:
    """The batch.progress message for ``batch_id`` (None when there is no such batch)."""
    row = db.one("SELECT id, owner_id, callback_url, item_count, created_at, completed_at FROM batches"
                 " WHERE id = :id", id=batch_id)
    if row is None:
        return None
    counts = batches.status_counts(db, [str(batch_id)])[str(batch_id)]
    return {"message": {"type": "batch.progress", "batch": views.summary_fields(row, counts)}, "links": None}


def send(queues, connection_ids: list[str], entries: list[dict[str, Any]]) -> None:
    """Queue ``entries`` for ``connection_ids`` (nothing when either is empty)."""
    for start in range(0, len(entries), MAX_MESSAGES_PER_PUSH):
        if connection_ids and entries[start:start + MAX_MESSAGES_PER_PUSH]:
            queues.send(LIVE_EVENTS_QUEUE, LivePush(tuple(connection_ids),
                                                    tuple(entries[start:start + MAX_MESSAGES_PER_PUSH])).to_body())


def image_changed(db, queues, image_id: str, *, with_batch: bool = False) -> None:
    """Push the image's committed state (and, with ``with_batch``, its batch's progress) to its owner."""
    try:
        row = store.find(db, image_id=image_id)
        if row is None:
            return
        targets = connections.of_user(db, str(row["owner_id"]))
        if not targets:
            return
        entries = [image_message(row)]
        if with_batch and row["batch_id"]:
            batch = batch_message(db, str(row["batch_id"]))
            if batch is not None:
                entries.append(batch)
        send(queues, targets, entries)
    except Exception:  # best effort: the state is committed; a lost push is made good by subscribe or polling
        log.warning("live: could not push the change of image %s", image_id, exc_info=True)


def current_state(db, user_id: str, *, image_ids: list[str], batch_id: str | None) -> tuple[list, dict]:
    """The messages describing the user's ``image_ids`` and ``batch_id`` now, and the ``subscribed`` summary."""
    entries: list[dict[str, Any]] = []
    found: list[str] = []
    for image_id in image_ids:
        row = store.find_owned(db, user_id, image_id)
        if row is not None:
            entries.append(image_message(row))
            found.append(image_id)
    summary: dict[str, Any] = {"type": "subscribed", "image_ids": found, "batch_id": None,
                               "not_found": [image_id for image_id in image_ids if image_id not in found]}
    if batch_id is not None:
        owned = db.one("SELECT 1 AS found FROM batches WHERE id = :id AND owner_id = :owner", id=batch_id,
                       owner=user_id)
        batch = batch_message(db, batch_id) if owned else None
        if batch is None:
            summary["not_found"].append(batch_id)
        else:
            summary["batch_id"] = batch_id
            entries.append(batch)
    return entries, summary
