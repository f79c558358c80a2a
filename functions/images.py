"""Images: reading, listing, download links and deleting (issuing is functions/uploads.py,
processing functions/processing.py, the state changes functions/store.py)."""

import os
import uuid
from typing import Any

from functions import store, views
from functions.errors import Conflict, ImageNotFound, NotFound
from functions.uploads import check_sha256


def _row(db, user_id: str, image_id: str) -> dict[str, Any]:
    row = store.find_owned(db, user_id, image_id)
    if row is None:
        raise ImageNotFound()
    return row


def _json(db, storage, settings, row: dict[str, Any]) -> dict[str, Any]:
    return views.image_json(storage, settings, row, duplicates=_duplicates(db, settings, row))


def _duplicates(db, settings, row: dict[str, Any]) -> list[dict[str, Any]]:
    """The owner's other done images within the duplicate distance of this one, nearest first."""
    if row["phash"] is None or row["status"] != "done":
        return []
    return store.similar_images(db, str(row["owner_id"]), row["phash"] & 0xFFFF_FFFF_FFFF_FFFF,
                                max_distance=settings.duplicate_distance, exclude=str(row["id"]), limit=10)


def get_image(user_id: str, image_id: str, *, db, storage, settings) -> dict[str, Any]:
    return _json(db, storage, settings, _row(db, user_id, image_id))


def latest_image(user_id: str, *, db, storage, settings) -> dict[str, Any]:
    row = db.one(f"{store.IMAGE_SELECT} WHERE i.owner_id = :owner ORDER BY i.created_at DESC, i.id DESC LIMIT 1",
                 owner=user_id)
    if row is None:
        raise NotFound("You have no images yet.", code="no_images")
    return _json(db, storage, settings, row)


def list_images(user_id: str, *, db, storage, settings, limit: int = 20, cursor: str | None = None,
                sha256: str | None = None, status: str | None = None,
                similar_to: str | None = None) -> dict[str, Any]:
    """The caller's images, newest first, ``limit`` at a time; ``next_cursor`` continues.

    ``sha256`` keeps only images of that content, ``status`` only images in that state.
    ``similar_to`` (an image id of the caller's) lists its duplicates instead, nearest first, one page.
    """
    if similar_to is not None:
        return _similar(user_id, similar_to, db=db, storage=storage, settings=settings, limit=limit)
    params: dict[str, Any] = {"owner": user_id, "limit": limit + 1}
    where = "i.owner_id = :owner"
    if sha256 is not None:
        where += " AND i.sha256 = :sha256"
        params["sha256"] = check_sha256(sha256)
    if status is not None:
        where += " AND i.status = :status"
        params["status"] = status
    if cursor:
        created, last_id = views.decode_cursor(cursor)
        where += " AND (i.created_at, i.id) < (:created, CAST(:last_id AS uuid))"
        params.update(created=created, last_id=last_id)
    rows = db.rows(f"{store.IMAGE_SELECT} WHERE {where} ORDER BY i.created_at DESC, i.id DESC LIMIT :limit",
                   **params)
    page, more = rows[:limit], len(rows) > limit
    return {
        "items": [_json(db, storage, settings, row) for row in page],
        "next_cursor": views.encode_cursor(page[-1]) if more and page else None,
    }


def _similar(user_id: str, image_id: str, *, db, storage, settings, limit: int) -> dict[str, Any]:
    try:
        image_id = str(uuid.UUID(image_id))
    except ValueError:
        raise ImageNotFound() from None  # as for any id that is not a UUID
    row = _row(db, user_id, image_id)  # someone else's image is not found, like any other read
    if row["phash"] is None or row["status"] != "done":
        raise Conflict(f"Image {image_id} is {row['status']}: only a done image has a perceptual hash to compare.",
                       code="not_processed")
    near = store.similar_images(db, user_id, row["phash"] & 0xFFFF_FFFF_FFFF_FFFF,
                                max_distance=settings.duplicate_distance, exclude=image_id, limit=limit)
    rows = {str(found["id"]): store.find_owned(db, user_id, str(found["id"])) for found in near}
    return {"items": [_json(db, storage, settings, found) for found in rows.values() if found is not None],
            "next_cursor": None}


def download_link(user_id: str, image_id: str, *, db, storage, settings, variant: str = "original") -> str:
    """A short-lived link to the original or one variant of the caller's image."""
    row = _row(db, user_id, image_id)
    ttl = settings.download_url_ttl
    stem, _ = os.path.splitext(row["original_name"])
    if variant == "original":
        if row["status"] in store.BEFORE_ORIGINAL:
            raise NotFound("The original has not arrived yet.", code="original_not_ready")
        return storage.presigned_get(row["storage_key"], expires_in=ttl, download_name=row["original_name"])
    for item in row["variants"] or []:
        if item["name"] == variant:
            extension = item["key"].rsplit(".", 1)[-1]
            return storage.presigned_get(item["key"], expires_in=ttl, download_name=f"{stem}-{variant}.{extension}")
    raise NotFound(f"This image has no variant named {variant!r} (yet).", code="variant_not_found")


def delete_image(user_id: str, image_id: str, *, db, storage) -> None:
    """Remove the row and every stored object of the caller's image."""
    row = _row(db, user_id, image_id)
    keys = {row["storage_key"], *(item["key"] for item in row["variants"] or [])}
    keys.update(storage.list_keys(f"variants/{user_id}/{image_id}/"))
    # Objects first: if this fails half-way, the row still lists what to delete on a retry.
    storage.delete(sorted(keys))
    # Housekeeping sweeps the prefixes again later, for objects written after this moment.
    store.delete_owned(db, user_id, image_id)
