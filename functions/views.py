"""The read side: how image, batch and delivery rows look to callers (and to webhook receivers).

Pure shaping of rows the store read; the only outside call is presigning links.
"""

import base64
import collections
import datetime
import uuid
from typing import Any

from functions.errors import InvalidInput
from functions.store import BEFORE_ORIGINAL, STATUSES, TERMINAL, unsigned64
from functions.timestamps import iso


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
        "placeholder": row["placeholder"],
        "colors": row["colors"],
        "animation": row["animation"],
        "phash": None if row["phash"] is None else format(unsigned64(row["phash"]), "016x"),
    }


def image_json(storage, settings, row: dict[str, Any], *, duplicates: list[dict[str, Any]]) -> dict[str, Any]:
    """The public view of an image row, with short-lived links to what exists.

    ``duplicates``: rows (id, distance) of the owner's other images whose perceptual hash is near, nearest first.
    """
    ttl = settings.download_url_ttl
    has_original = row["status"] not in BEFORE_ORIGINAL
    view = image_fields(row)
    view["variants"] = [
        variant | {"url": storage.presigned_get(stored["key"], expires_in=ttl)}
        for variant, stored in zip(view["variants"], row["variants"] or [])
    ]
    view["original"] = {"url": storage.presigned_get(row["storage_key"], expires_in=ttl,
                                                     download_name=row["original_name"])} if has_original else None
    view["webhook"] = delivery_json(row)
    view["duplicates"] = [{"id": str(dup["id"]), "distance": dup["distance"], "link": f"/images/{dup['id']}"}
                          for dup in duplicates]
    return view


def delivery_json(row: dict[str, Any], prefix: str = "webhook_") -> dict[str, Any] | None:
    """How a subject's event is doing, from columns named ``<prefix>id``, ``<prefix>status`` …; None if none."""
    if row.get(prefix + "id") is None:
        return None
    delivered = row[prefix + "delivered_at"]
    return {
        "event_id": str(row[prefix + "id"]),
        "type": row[prefix + "event_type"],
        "status": row[prefix + "status"],
        "attempts": row[prefix + "attempts"],
        "last_status_code": row[prefix + "last_status_code"],
        "last_error": row[prefix + "last_error"],
        "delivered_at": iso(delivered) if delivered else None,
    }


def batch_fields(row: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    """The public view of a batch and its items (no links: webhook events carry this too)."""
    view = summary_fields(row, collections.Counter(item["status"] for item in items))
    view["items"] = [{
        "image_id": str(item["id"]),
        "kind": item["source"],
        "original_name": item["original_name"],
        "url": item["source_url"],
        "status": item["status"],
        "error": {"code": item["error_code"], "message": item["error_message"]} if item["error_code"] else None,
    } for item in items]
    return view


def summary_fields(row: dict[str, Any], counts: collections.Counter) -> dict[str, Any]:
    """A batch without its items: progress by status."""
    total = sum(counts.values())
    settled = sum(counts[status] for status in TERMINAL)
    return {
        "id": str(row["id"]),
        "created_at": iso(row["created_at"]),
        "complete": row["completed_at"] is not None,
        "completed_at": iso(row["completed_at"]) if row["completed_at"] else None,
        "item_count": row["item_count"],
        "percent": 100 if total == 0 else settled * 100 // total,
        "counts": {status: counts[status] for status in STATUSES},
        "callback_url": row["callback_url"],
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
