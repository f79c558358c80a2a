"""Batches: many uploads and URL imports in one request, with one set of variant options, followed as one.

Each item is an ordinary image row (``batch_id`` set), processed like any other. A batch is
complete once every item is done or failed; the conditional UPDATE of ``completed_at`` that
sees no unfinished item left decides it once, so exactly one ``batch.complete`` event follows.
"""

import collections
import uuid
from collections.abc import Sequence
from typing import Any

from functions import imaging, imports, store, uploads, views, webhooks
from functions.errors import BatchNotFound, InvalidInput, PixelflowError
from functions.fetcher import url_forms
from functions.store import ImageStatus
from functions.timestamps import iso

BATCH_SELECT = (
    "SELECT b.id, b.owner_id, b.callback_url, b.item_count, b.created_at, b.completed_at, wd.* FROM batches b"
    + store.delivery_columns("b.id")
)


def create_batch(user_id: str, *, db, storage, queues, settings, files: Sequence[dict[str, Any]] = (),
                 urls: Sequence[str] = (), variants: Any = None,
                 callback_url: str | None = None) -> dict[str, Any]:
    """Record the batch and its images; return a presigned POST per file and queue a fetch per URL."""
    files, urls = list(files or ()), list(urls or ())
    total = len(files) + len(urls)
    if total == 0:
        raise InvalidInput("A batch needs at least one file or URL.", code="empty_batch", field="files")
    if total > settings.max_batch_items:
        raise InvalidInput(f"A batch takes at most {settings.max_batch_items} files and URLs together; "
                           f"this one has {total}.", code="too_many_items", field="urls" if urls else "files")
    files_checked = [_checked_file(settings, index, item) for index, item in enumerate(files)]
    urls = [url_forms.validate_url(url, f"urls[{index}]") for index, url in enumerate(urls)]
    requested = imaging.parse_variant_specs(variants, max_output_pixels=settings.max_variant_pixels)
    callback_url = webhooks.check_callback(db, user_id, callback_url)
    batch_id = str(uuid.uuid4())
    upload_ids = [str(uuid.uuid4()) for _ in files_checked]
    import_ids = [str(uuid.uuid4()) for _ in urls]
    with db.transaction():
        db.execute("INSERT INTO batches (id, owner_id, callback_url, item_count) VALUES (:id, :owner, :url, :count)",
                   id=batch_id, owner=user_id, url=callback_url, count=total)
        for index, (image_id, (name, content_type, size, sha256)) in enumerate(zip(upload_ids, files_checked)):
            store.insert_image(db, image_id=image_id, owner=user_id, source="upload", name=name,
                               status=ImageStatus.AWAITING_UPLOAD, variants=requested, content_type=content_type,
                               declared_bytes=size, batch_id=batch_id, batch_index=index, sha256=sha256)
        for offset, (image_id, url) in enumerate(zip(import_ids, urls)):
            store.insert_image(db, image_id=image_id, owner=user_id, source="import",
                               name=imports.name_from_url(url), status=ImageStatus.QUEUED, variants=requested,
                               source_url=url, batch_id=batch_id, batch_index=len(files_checked) + offset)
    try:
        imports.queue_many(queues, import_ids)
    except PixelflowError:
        # The caller gets a 503 and never learns the batch: remove it; jobs already sent find nothing.
        with db.transaction():
            db.execute("DELETE FROM images WHERE batch_id = :id", id=batch_id)
            db.execute("DELETE FROM batches WHERE id = :id", id=batch_id)
        raise
    return {
        "batch_id": batch_id,
        "uploads": [{"image_id": image_id, "filename": name,
                     "upload": uploads.upload_post(storage, settings, store.original_key(user_id, image_id),
                                                   content_type, size)}
                    for image_id, (name, content_type, size, _) in zip(upload_ids, files_checked)],
        "imports": [{"image_id": image_id, "url": url} for image_id, url in zip(import_ids, urls)],
        "expires_at": iso(uploads.upload_expiry(settings)),
    }


def _checked_file(settings, index: int, item: dict[str, Any]):
    try:
        name, content_type = uploads.check_upload(settings, filename=item["filename"],
                                                 content_type=item["content_type"], size=item["size"])
        sha256 = uploads.check_sha256(item.get("sha256"), "sha256")
    except InvalidInput as error:
        field = f"files[{index}].{error.field}" if error.field else f"files[{index}]"
        raise InvalidInput(f"files[{index}]: {error.message}", code=error.code, field=field) from None
    return name, content_type, item["size"], sha256


# --- completion ------------------------------------------------------------------------

def finish(db, batch_id: str) -> webhooks.Event | None:
    """Mark the batch complete if no item is left unfinished; the batch.complete event once it is (and wanted)."""
    # Conditional: completed_at is set once, by whichever item's handler sees the last one settled.
    db.execute(
        "UPDATE batches SET completed_at = now() WHERE id = :id AND completed_at IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM images WHERE batch_id = :id AND status NOT IN ('done', 'failed'))",
        id=batch_id)
    row = db.one(f"{BATCH_SELECT} WHERE b.id = :id", id=batch_id)
    # Returned again on a replay (the publish is idempotent), so a crash after the UPDATE loses nothing.
    if row is None or row["completed_at"] is None or not row["callback_url"]:
        return None
    return webhooks.Event(owner_id=str(row["owner_id"]), subject_id=str(row["id"]), type="batch.complete",
                          status="complete", url=row["callback_url"],
                          data={"batch": views.batch_fields(row, _items(db, batch_id))},
                          links={"self": f"/batches/{row['id']}"})


# --- reading ---------------------------------------------------------------------------

def get_batch(db, user_id: str, batch_id: str) -> dict[str, Any]:
    """One of the caller's batches with every item and its status."""
    row = _row(db, user_id, batch_id)
    view = views.batch_fields(row, _items(db, batch_id))
    view["webhook"] = views.delivery_json(row)
    return view


def list_batches(db, user_id: str, *, limit: int = 20, cursor: str | None = None) -> dict[str, Any]:
    """The caller's batches, newest first, without their items; ``next_cursor`` continues."""
    params: dict[str, Any] = {"owner": user_id, "limit": limit + 1}
    where = "b.owner_id = :owner"
    if cursor:
        created, last_id = views.decode_cursor(cursor)
        where += " AND (b.created_at, b.id) < (:created, CAST(:last_id AS uuid))"
        params.update(created=created, last_id=last_id)
    rows = db.rows(f"{BATCH_SELECT} WHERE {where} ORDER BY b.created_at DESC, b.id DESC LIMIT :limit", **params)
    page, more = rows[:limit], len(rows) > limit
    counts = status_counts(db, [str(row["id"]) for row in page])
    items = []
    for row in page:
        view = views.summary_fields(row, counts.get(str(row["id"]), collections.Counter()))
        view["webhook"] = views.delivery_json(row)
        items.append(view)
    return {"items": items, "next_cursor": views.encode_cursor(page[-1]) if more and page else None}


def _row(db, user_id: str, batch_id: str) -> dict[str, Any]:
    # batch_id is a UUID: the route declares it, and answers BatchNotFound for anything else.
    # The owner is part of the lookup: someone else's batch is simply not found.
    row = db.one(f"{BATCH_SELECT} WHERE b.id = :id AND b.owner_id = :owner", id=batch_id, owner=user_id)
    if row is None:
        raise BatchNotFound()
    return row


def _items(db, batch_id: str) -> list[dict[str, Any]]:
    return db.rows("SELECT id, source, original_name, source_url, status, error_code, error_message FROM images"
                   " WHERE batch_id = :id ORDER BY batch_index, id", id=batch_id)


def status_counts(db, batch_ids: list[str]) -> dict[str, collections.Counter]:
    """How many of each batch's images are in each status (batch ids absent: an empty Counter)."""
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    if not batch_ids:
        return counts
    for row in db.rows("SELECT batch_id, status, count(*) AS n FROM images WHERE batch_id = ANY(CAST(:ids AS uuid[]))"
                       " GROUP BY batch_id, status", ids=batch_ids):
        counts[str(row["batch_id"])][row["status"]] = row["n"]
    return counts
