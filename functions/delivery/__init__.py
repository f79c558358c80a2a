"""Delivery: on-demand renditions behind signed URLs, ``GET /img/{signature}/{options}/{image_id}``.

Order of checks, so a bad URL never costs a storage read or a render: the options' grammar
(400), the image row and its owner's delivery key (404), the signature and the expiry (403),
the image's state (404, with Retry-After while it is being made), the output's size (400), what
the client accepts (406; no Accept at all accepts anything). Then a stored rendition is served as
it is (or 304), and a miss renders from the original with the pipeline's imaging core, stores the
result under ``renditions/{user}/{image}/{content version}/{rendition options}.{ext}`` and records it.

Caching (``cache_control``): shared caches keep an answer at most DELIVERY_CDN_SECONDS (s-maxage),
so a rotated key, a delete or a replaced original is served from them that long at most; browsers
keep an answer that long too, or a year (``immutable``) when the URL carries the image's current
content version ``v``; an ``exp`` caps both at the seconds left.

Domain code: takes the database, the storage and the settings as keyword arguments; answers
with a ``Delivered`` value, raises the errors in functions.errors and ``Refused`` (403).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import logging
import threading
import time
from typing import Any

from functions.delivery import options as grammar
from functions.delivery import signing
from functions.errors import BadRequest, ImageNotFound, NotFound, PixelflowError, Unavailable

log = logging.getLogger(__name__)

YEAR = 31536000
VERSION_LENGTH = 12  # hex digits of the SHA-256 in the v the API writes
NOT_READY_RETRY_SECONDS = 5
_EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "avif": "avif"}
_CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "avif": "image/avif"}
# Source formats that may carry transparency: f:auto keeps it (PNG) when neither AVIF nor WebP is accepted.
_MAY_HAVE_ALPHA = ("png", "webp", "gif", "avif")
# Renders at once in one process: each holds a decoded original (up to MAX_IMAGE_PIXELS x 4 bytes).
_RENDERS = threading.BoundedSemaphore(2)
# Recently served renditions kept in this process: a storage GET is ~20 ms, the rest of a hit ~1 ms.
CACHE_BYTES = 64 * 1024 * 1024


class RecentRenditions:
    """A least-recently-used map of storage key -> (etag, bytes), bounded in bytes; an entry counts only
    for the etag its row has now, so a rendition rendered again is never answered stale."""

    def __init__(self, max_bytes: int = CACHE_BYTES):
        self.max_bytes = max_bytes
        self._items: collections.OrderedDict[str, tuple[str, bytes]] = collections.OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str, etag: str) -> bytes | None:
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] != etag:
                return None
            self._items.move_to_end(key)
            return found[1]

    def put(self, key: str, etag: str, data: bytes) -> None:
        if len(data) > self.max_bytes // 16:
            return  # one big rendition would push out many small ones
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old[1])
            self._items[key] = (etag, data)
            self._size += len(data)
            while self._size > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._size -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0


recent = RecentRenditions()


class Refused(PixelflowError):
    """The URL's signature is wrong or it has expired (HTTP 403)."""

    code = "signature_invalid"


class NotReady(NotFound):
    """The image exists but is not done yet (HTTP 404 with Retry-After)."""

    code = "image_not_ready"

    def __init__(self, message: str, *, retry_after: int = NOT_READY_RETRY_SECONDS):
        super().__init__(message)
        self.retry_after = retry_after


class NotAcceptable(PixelflowError):
    """The client accepts none of the image formats this URL can give (HTTP 406)."""

    code = "not_acceptable"


@dataclasses.dataclass(frozen=True)
class Delivered:
    """What to answer: bytes (status 200), nothing (304), or a redirect to ``location``."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    location: str | None = None
    rendered: bool = False  # a miss: this request rendered the output


def serve(signature: str, options_text: str, image_id: str, *, accept: str | None, if_none_match: str | None,
          db, storage, settings, server_key: str, now: float | None = None) -> Delivered:
    """Answer one /img request (see the module docstring for the order of checks)."""
    options = grammar.parse(options_text)
    row = db.one("SELECT i.owner_id, i.status, i.format, i.width, i.height, i.storage_key, i.original_etag,"
                 " i.sha256, k.nonce FROM images i LEFT JOIN delivery_keys k ON k.user_id = i.owner_id"
                 " WHERE i.id = :id", id=image_id)
    if row is None or row["nonce"] is None:
        raise ImageNotFound()
    owner = str(row["owner_id"])
    key = signing.derive_key(server_key, owner, row["nonce"])
    if not signing.verify(key, signature, options_text, image_id):
        raise Refused("The URL's signature does not match its options and image.")
    now = time.time() if now is None else now
    if options.expires is not None and options.expires < now:
        raise Refused("The URL has expired.", code="url_expired")
    if row["status"] == "failed":
        raise ImageNotFound("The image failed to process, so it has no renditions.")
    if row["status"] != "done":
        raise NotReady("The image is still being processed; try again shortly.")
    source = (row["width"], row["height"])
    check_size(options, source, settings.delivery_max_pixels)
    fmt = choose_format(options.format, accept, row["format"])
    name = options.rendition(fmt)
    version = content_version(row["sha256"])
    headers = {"Cache-Control": cache_control(options, version, settings.delivery_cdn_seconds, now),
               "X-Rendition": name}
    if options.format == "auto":
        headers["Vary"] = "Accept"
    stored = db.one("SELECT storage_key, content_type, bytes, etag FROM renditions"
                    " WHERE image_id = :id AND options = :options", id=image_id, options=name)
    if stored is not None:
        if _matches(if_none_match, stored["etag"]):
            return Delivered(304, headers | {"ETag": stored["etag"]})
        if stored["bytes"] > settings.delivery_inline_bytes:
            return _redirect(storage, settings, stored["storage_key"])
        data = recent.get(stored["storage_key"], stored["etag"])
        if data is None:
            try:
                data = storage.get(stored["storage_key"])
                recent.put(stored["storage_key"], stored["etag"], data)
            except Unavailable:
                data = None  # the object went missing (or storage hiccuped): render it again below
        if data is not None:
            return Delivered(200, headers | {"ETag": stored["etag"], "Content-Type": stored["content_type"]}, data)
    try:
        # Exactly the content the row was made from: a replacement landing now is not rendered as this one.
        original = storage.get(row["storage_key"], etag=row["original_etag"])
    except Unavailable:
        if storage.head(row["storage_key"]) is None:
            raise
        raise NotReady("The image's original was just replaced; try again shortly.") from None
    data, width, height = render(original, options, fmt, settings)
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    # Under the content version: a render of replaced content that ends late never overwrites the new one.
    storage_key = f"{rendition_prefix(owner, image_id)}{version or 'unversioned'}/{name}.{_EXTENSIONS[fmt]}"
    storage.put(storage_key, data, content_type=_CONTENT_TYPES[fmt])
    recorded = db.one(
        "INSERT INTO renditions (image_id, options, storage_key, content_type, width, height, bytes, etag)"
        " SELECT id, :options, :key, :type, :width, :height, :bytes, :etag FROM images WHERE id = :id"
        # Only for the content it was rendered from (a replacement claimed since deleted the rows).
        " AND status = 'done' AND original_etag IS NOT DISTINCT FROM :original"
        # Idempotent: two misses at once store the same key; the last write and its row win together.
        " ON CONFLICT (image_id, options) DO UPDATE SET storage_key = excluded.storage_key,"
        " bytes = excluded.bytes, etag = excluded.etag, created_at = now() RETURNING image_id",
        id=image_id, options=name, key=storage_key, type=_CONTENT_TYPES[fmt], width=width, height=height,
        bytes=len(data), etag=etag, original=row["original_etag"])
    if recorded is None:
        # Deleted (housekeeping's sweep of the image's prefixes removes the object) or replaced while rendering.
        if db.one("SELECT 1 AS found FROM images WHERE id = :id", id=image_id) is None:
            raise ImageNotFound()
        storage.delete([storage_key])  # of the replaced content's version: no row will ever name it
        raise NotReady("The image's original was just replaced; try again shortly.")
    if len(data) > settings.delivery_inline_bytes:
        return _redirect(storage, settings, storage_key)
    recent.put(storage_key, etag, data)
    return Delivered(200, headers | {"ETag": etag, "Content-Type": _CONTENT_TYPES[fmt]}, data, rendered=True)


def content_version(sha256: str | None) -> str | None:
    """The ``v`` of an image's current content: the first hex digits of its SHA-256 (None before it is known)."""
    return sha256[:VERSION_LENGTH] if sha256 else None


def cache_control(options: grammar.Options, version: str | None, cdn_seconds: int, now: float) -> str:
    """How long caches may keep an answer: shared caches ``cdn_seconds`` at most; browsers a year only for a
    URL carrying the current content version; neither past ``exp``."""
    versioned = version is not None and options.version == version
    browser, shared = (YEAR if versioned else cdn_seconds), cdn_seconds
    if options.expires is not None:
        left = max(0, int(options.expires - now))
        return f"public, max-age={min(browser, left)}, s-maxage={min(shared, left)}"
    return f"public, max-age={browser}, s-maxage={shared}" + (", immutable" if versioned else "")


def check_size(options: grammar.Options, source: tuple[int, int], max_pixels: int) -> None:
    """Refuse (400) an output over the pixel budget, from the image's recorded size alone."""
    from functions.imaging.render import geometry
    from functions.imaging.specs import VariantSpec

    spec = VariantSpec("rendition", options.width, options.height, fit=options.fit, format="webp")
    width, height = geometry(spec, source).canvas
    if width * height > max_pixels:
        raise BadRequest(f"The output would be {width}x{height} ({width * height:,} pixels); "
                         f"at most {max_pixels:,} pixels are delivered.", code="output_too_large", field="w")


def choose_format(asked: str, accept: str | None, source_format: str | None) -> str:
    """The format to send: the one asked for, or for auto AVIF, then WebP, then JPEG (PNG if alpha may matter).

    Raises NotAcceptable when the client's Accept names no image type this answer could have.
    """
    # RFC 9110 12.5.1: no Accept field (or an empty one) means any media type is acceptable.
    accepted = _accepted(accept) if accept and accept.strip() else {"*/*"}
    if not accepted & {"*/*", "image/*", "image/avif", "image/webp", "image/jpeg", "image/png"}:
        raise NotAcceptable("Send an Accept header that allows an image type (image/*).")
    if asked != "auto":
        return asked
    for fmt in ("avif", "webp"):
        if f"image/{fmt}" in accepted:
            return fmt
    return "png" if source_format in _MAY_HAVE_ALPHA else "jpeg"


def render(original: bytes, options: grammar.Options, fmt: str, settings) -> tuple[bytes, int, int]:
    """Render one output with the pipeline's imaging core (draft decode, reduce + LANCZOS, sRGB, no metadata)."""
    from functions import imaging

    spec = imaging.VariantSpec("rendition", options.width, options.height, fit=options.fit, format=fmt,
                               quality=options.resolved_quality(fmt), gravity=options.gravity)
    with _RENDERS:
        try:
            rendering = imaging.render_variants(original, [spec], max_pixels=settings.max_image_pixels,
                                                max_output_pixels=settings.delivery_max_pixels,
                                                budget=imaging.Budget(settings.max_image_cpu_seconds),
                                                # One still, and no ingest analysis: processing records that.
                                                frame_limit=1, analyse=False)
            variant = next(iter(rendering))
        except imaging.ImageRejected as rejected:
            raise BadRequest(rejected.message, code=rejected.code) from None
    return variant.data, variant.width, variant.height


def responsive(key: str, row: dict[str, Any], settings) -> dict[str, Any] | None:
    """``src``, ``srcset`` and ``sizes`` of signed f:auto URLs over the width ladder, capped at the original's width."""
    if row["status"] != "done" or not row["width"]:
        return None
    image_id, base = str(row["id"]), settings.delivery_base_url.rstrip("/")
    widths = sorted({width for width in settings.delivery_widths if width < row["width"]} | {
        min(row["width"], max(settings.delivery_widths))})

    version = content_version(row.get("sha256"))  # a replaced original gets new URLs

    def url(width: int) -> str:
        return base + signing.path(key, grammar.Options(width=width, version=version).canonical(), image_id)

    return {
        "src": url(min(widths[-1], _DEFAULT_SRC_WIDTH)),
        "srcset": ", ".join(f"{url(width)} {width}w" for width in widths),
        "sizes": "(max-width: 640px) 100vw, 640px",
    }


_DEFAULT_SRC_WIDTH = 640  # the src for browsers that ignore srcset: a phone-wide image, not a poster


def rendition_storage(db, image_ids: list[str]) -> dict[str, dict[str, int]]:
    """Per image: how many renditions are stored and their bytes."""
    if not image_ids:
        return {}
    rows = db.rows("SELECT image_id, count(*) AS count, sum(bytes) AS bytes FROM renditions"
                   " WHERE image_id = ANY(CAST(:ids AS uuid[])) GROUP BY image_id", ids=image_ids)
    return {str(row["image_id"]): {"count": int(row["count"]), "bytes": int(row["bytes"])} for row in rows}


def _accepted(accept: str | None) -> set[str]:
    kinds = set()
    for part in (accept or "").lower().split(","):
        kind, *params = (piece.strip() for piece in part.split(";"))
        if any(param.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for param in params):
            continue
        if kind:
            kinds.add(kind)
    return kinds


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    return any(tag.strip().removeprefix("W/") in (etag, "*") for tag in if_none_match.split(","))


def _redirect(storage, settings, key: str) -> Delivered:
    # Too big for a Lambda response once base64-encoded: the client fetches the stored object itself.
    url = storage.presigned_get(key, expires_in=settings.delivery_redirect_ttl)
    return Delivered(307, {"Location": url, "Cache-Control": "no-store"}, location=url)


def rendition_prefix(user_id: str, image_id: str) -> str:
    """Where an image's renditions are stored (DELETE /images/{id} and housekeeping clear it)."""
    return f"renditions/{user_id}/{image_id}/"


__all__ = ["Delivered", "NotAcceptable", "NotReady", "Refused", "cache_control", "check_size", "choose_format",
           "content_version", "render",
           "rendition_prefix", "rendition_storage", "responsive", "serve"]
