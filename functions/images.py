"""Images: reading, listing, download links and deleting (issuing is functions/uploads.py,
processing functions/processing.py, the state changes functions/store.py)."""

import os
import uuid
from typing import Any

from functions import delivery, store, views
from functions.delivery import signing
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
    return store.similar_images(db, str(row["owner_id"]), store.unsigned64(row["phash"]),
                                max_distance=settings.duplicate_distance, exclude=str(row["id"]), limit=10)


def _items(rows: list[dict[str, Any]], user_id: str, *, db, storage, settings, server_key: str):
    """The JSON of each of the caller's rows, with its duplicates, responsive URLs and rendition storage."""
    return _with_delivery([_json(db, storage, settings, row) for row in rows], user_id, db=db, settings=settings,
                          server_key=server_key)


def get_image(user_id: str, image_id: str, *, db, storage, settings, server_key: str) -> dict[str, Any]:
    return _items([_row(db, user_id, image_id)], user_id, db=db, storage=storage, settings=settings,
                  server_key=server_key)[0]


def _with_delivery(items: list[dict[str, Any]], user_id: str, *, db, settings, server_key: str):
    """Add each image's signed responsive URLs and the storage its renditions use."""
    if not items:
        return items
    key = signing.user_key(db, server_key, user_id)
    used = delivery.rendition_storage(db, [item["id"] for item in items])
    for item in items:
        item["responsive"] = delivery.responsive(key, item, settings)
        item["renditions"] = used.get(item["id"], {"count": 0, "bytes": 0})
    return items


def latest_image(user_id: str, *, db, storage, settings, server_key: str) -> dict[str, Any]:
    row = db.one(f"{store.IMAGE_SELECT} WHERE i.owner_id = :owner ORDER BY i.created_at DESC, i.id DESC LIMIT 1",
                 owner=user_id)
    if row is None:
        raise NotFound("You have no images yet.", code="no_images")
    return _items([row], user_id, db=db, storage=storage, settings=settings, server_key=server_key)[0]


def list_images(user_id: str, *, db, storage, settings, server_key: str, limit: int = 20, cursor: str | None = None,
                sha256: str | None = None, status: str | None = None,
                similar_to: str | None = None) -> dict[str, Any]:
    """The caller's images, newest first, ``limit`` at a time; ``next_cursor`` continues.

    ``sha256`` keeps only images of that content, ``status`` only images in that state.
    ``similar_to`` (an image id of the caller's) lists its duplicates instead, nearest first, one page.
    """
    if similar_to is not None:
        return _similar(user_id, similar_to, db=db, storage=storage, settings=settings, server_key=server_key,
                        limit=limit)
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
        "items": _items(page, user_id, db=db, storage=storage, settings=settings, server_key=server_key),
        "next_cursor": views.encode_cursor(page[-1]) if more and page else None,
    }


def _similar(user_id: str, image_id: str, *, db, storage, settings, server_key: str, limit: int) -> dict[str, Any]:
    try:
        image_id = str(uuid.UUID(image_id))
    except ValueError:
        raise ImageNotFound() from None  # as for any id that is not a UUID
    row = _row(db, user_id, image_id)  # someone else's image is not found, like any other read
    if row["phash"] is None or row["status"] != "done":
        raise Conflict(f"Image {image_id} is {row['status']}: only a done image has a perceptual hash to compare.",
                       code="not_processed")
    near = store.similar_images(db, user_id, store.unsigned64(row["phash"]),
                                max_distance=settings.duplicate_distance, exclude=image_id, limit=limit)
    # One read for every hit (still the caller's own), kept in the search's nearest-first order.
    ids = [str(hit["id"]) for hit in near]
    by_id = {str(row["id"]): row for row in db.rows(
        f"{store.IMAGE_SELECT} WHERE i.owner_id = :owner AND i.id = ANY(CAST(:ids AS uuid[]))", owner=user_id, ids=ids)}
    found = [by_id[hit] for hit in ids if hit in by_id]
    return {"items": _items(found, user_id, db=db, storage=storage, settings=settings, server_key=server_key),
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
    keys.update(storage.list_keys(delivery.rendition_prefix(user_id, image_id)))
    # Objects first: if this fails half-way, the row still lists what to delete on a retry.
    storage.delete(sorted(keys))
    # Housekeeping sweeps the prefixes again later, for objects written after this moment.
    store.delete_owned(db, user_id, image_id)
