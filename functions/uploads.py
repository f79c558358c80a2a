"""Issuing uploads: the image row (awaiting_upload) and a presigned POST for exactly its original key."""

import datetime
import uuid
from typing import Any

from functions import imaging, store, webhooks
from functions.errors import InvalidInput
from functions.store import ImageStatus
from functions.timestamps import iso

ACCEPTED_TYPES = {
    "image/jpeg": "jpeg", "image/png": "png", "image/webp": "webp", "image/gif": "gif", "image/avif": "avif",
    "image/heic": "heic", "image/heif": "heic",
}


def clean_filename(raw: str) -> str:
    """The last path component, without control characters; refuse what is left empty."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if char.isprintable()).strip()
    if not name or name in (".", ".."):
        raise InvalidInput("filename must name a file.", field="filename")
    return name[:255]


def check_sha256(value: str | None, field: str = "sha256") -> str | None:
    """A declared SHA-256 in lower-case hex, or None; InvalidInput naming ``field`` if it is not 64 hex digits."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 64 or any(char not in "0123456789abcdefABCDEF" for char in value):
        raise InvalidInput(f"{field} must be 64 hexadecimal digits (the file's SHA-256).", field=field)
    return value.lower()


def check_on_duplicate(value: Any) -> str:
    """``allow`` (the default) or ``reject``; InvalidInput naming ``on_duplicate`` otherwise."""
    if value is None:
        return "allow"
    if value not in ("allow", "reject"):
        raise InvalidInput("on_duplicate must be allow or reject.", field="on_duplicate")
    return value


def check_upload(settings, *, filename: str, content_type: str, size: int):
    """The cleaned file name and content type of an upload, or InvalidInput naming the field."""
    name = clean_filename(filename)
    content_type = content_type.strip().lower()
    if content_type not in ACCEPTED_TYPES:
        raise InvalidInput(f"content_type {content_type!r} is not accepted; send one of "
                           f"{', '.join(sorted(ACCEPTED_TYPES))}.", code="unsupported_type", field="content_type")
    if size > settings.max_upload_bytes:
        raise InvalidInput(f"size {size} is over the limit of {settings.max_upload_bytes} bytes.",
                           code="too_large", field="size")
    return name, content_type


def issue_upload(user_id: str, *, db, storage, settings, filename: str, content_type: str, size: int,
                 variants: Any = None, callback_url: str | None = None,
                 sha256: str | None = None, on_duplicate: str = "allow") -> dict[str, Any]:
    """Create the image row (awaiting_upload) and a presigned POST for exactly its original key.

    ``on_duplicate="reject"``: the image fails as ``duplicate`` if it repeats one of the caller's done images.

    A declared ``sha256`` is checked against the original when it is processed (checksum_mismatch).
    """
    name, content_type = check_upload(settings, filename=filename, content_type=content_type, size=size)
    sha256 = check_sha256(sha256)
    requested = imaging.parse_variant_specs(variants, max_output_pixels=settings.max_variant_pixels)
    callback_url = webhooks.check_callback(db, user_id, callback_url)
    image_id = str(uuid.uuid4())
    post = upload_post(storage, settings, store.original_key(user_id, image_id), content_type, size)
    store.insert_image(db, image_id=image_id, owner=user_id, source="upload", name=name,
                       status=ImageStatus.AWAITING_UPLOAD, variants=requested, content_type=content_type,
                       declared_bytes=size, callback_url=callback_url, sha256=sha256,
                       on_duplicate=check_on_duplicate(on_duplicate))
    return {"image_id": image_id, "status": ImageStatus.AWAITING_UPLOAD.value, "upload": post,
            "expires_at": iso(upload_expiry(settings))}


def upload_post(storage, settings, key: str, content_type: str, size: int) -> dict[str, Any]:
    """A presigned POST for exactly ``key``, of the declared type and exactly the declared ``size`` in bytes."""
    # Pinned to the size the ticket was issued for, so the link cannot carry another file of any size.
    post = storage.presigned_post(key, min_bytes=size, max_bytes=size, content_type=content_type,
                                  expires_in=settings.upload_url_ttl)
    return {"url": post["url"], "fields": post["fields"]}


def upload_expiry(settings) -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=settings.upload_url_ttl)
