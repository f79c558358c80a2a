"""Request and response schemas shared by the routes and the OpenAPI document.

Limits that domain code also enforces are quoted from it (variant specs, password and e-mail
lengths), so each rule is declared once.
"""

from functions.api.schema import obj
from functions.auth.emails import MAX_EMAIL_LENGTH
from functions.auth.password_policy import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from functions.imaging import specs
from functions.store import STATUSES, TERMINAL

ERROR = obj({
    "error": obj({
        "code": {"type": "string", "description": "Machine-readable, snake_case."},
        "message": {"type": "string", "description": "A sentence a person understands."},
        "field": {"type": "string", "description": "The request field concerned, when there is one."},
    }, ["code", "message"]),
}, ["error"], example={"error": {"code": "invalid_input", "message": "email is required.", "field": "email"}})

# A response that is an HTML page, not JSON.
HTML_PAGE = {"type": "string", "contentMediaType": "text/html"}

HEALTH = obj({
    "status": {"type": "string", "enum": ["ok", "unavailable"]},
    "failed": {"type": "array", "items": {"type": "string"}},
    "checks": {"type": "object", "additionalProperties": obj({
        "ok": {"type": "boolean"},
        "ms": {"type": "number"},
        "error": {"type": "string"},
    }, ["ok", "ms"])},
}, ["status", "checks"])

EMAIL = {"type": "string", "format": "email", "minLength": 3, "maxLength": MAX_EMAIL_LENGTH,
         "examples": ["ada@example.com"]}

CREDENTIALS = obj({
    "email": EMAIL,
    "password": {"type": "string", "minLength": 1, "maxLength": MAX_PASSWORD_LENGTH,
                 "examples": ["correct horse battery"]},
}, ["email", "password"], example={"email": "ada@example.com", "password": "correct horse battery"})

REGISTRATION = obj({
    "email": EMAIL,
    "password": {"type": "string", "minLength": MIN_PASSWORD_LENGTH, "maxLength": MAX_PASSWORD_LENGTH,
                 "description": f"{MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters; never truncated."},
}, ["email", "password"], example={"email": "ada@example.com", "password": "correct horse battery"})

REFRESH = obj({
    "refresh_token": {"type": "string", "minLength": 1, "maxLength": 512},
}, ["refresh_token"])

USER = obj({
    "id": {"type": "string", "format": "uuid"},
    "email": {"type": "string"},
    "created_at": {"type": "string", "format": "date-time"},
}, ["id", "email", "created_at"])

USER_ENVELOPE = obj({"user": USER}, ["user"])

TOKENS = obj({
    "access_token": {"type": "string", "description": "JWT for the Authorization: Bearer header."},
    "token_type": {"type": "string", "enum": ["Bearer"]},
    "expires_in": {"type": "integer", "description": "Seconds until the access token expires."},
    "refresh_token": {"type": "string", "description": "Opaque; rotated on every use."},
}, ["access_token", "token_type", "expires_in", "refresh_token"])

VARIANT_REQUEST = obj({
    "name": {"type": "string", "pattern": f"^{specs.NAME_PATTERN}$",
             "description": "Lower-case letters, digits, - and _; not "
                            f"{', '.join(specs.RESERVED_NAMES[:-1])} or {specs.RESERVED_NAMES[-1]}."},
    "width": {"type": "integer", "minimum": 1, "maximum": specs.MAX_SIDE},
    "height": {"type": "integer", "minimum": 1, "maximum": specs.MAX_SIDE},
    "fit": {"type": "string", "enum": list(specs.FITS), "default": specs.VariantSpec.fit},
    "format": {"type": "string", "enum": list(specs.FORMATS), "default": specs.VariantSpec.format},
    "quality": {"type": "integer", "minimum": specs.MIN_QUALITY, "maximum": specs.MAX_QUALITY,
                "default": specs.VariantSpec.quality},
    "gravity": {"type": "string", "enum": list(specs.GRAVITIES), "default": specs.VariantSpec.gravity,
                "description": "Where a fit cover crop sits: center, entropy (the busiest part) or attention "
                               "(edges, saturation and skin tones). Needs fit cover and both sides."},
}, ["name"], description="An extra variant; give width, height or both.",
    example={"name": "card", "width": 600, "height": 400, "fit": "cover", "format": "jpeg", "quality": 85})

VARIANT_REQUESTS = {"type": "array", "maxItems": specs.MAX_REQUESTED, "items": VARIANT_REQUEST,
                    "description": "Extra variants on top of " + " and ".join(
                        f"{spec.name} ({spec.width}x{spec.height})" if not spec.is_full_size
                        else f"{spec.name} (full size, q{spec.quality})" for spec in specs.STANDARD_VARIANTS) + "."}

CALLBACK_URL = {"type": "string", "format": "uri", "minLength": 1, "maxLength": 2048,
                "description": "Absolute http(s) URL that gets a signed POST when the image (or batch) is done or "
                               "failed. Needs a webhook secret first: POST /auth/webhook-secret.",
                "examples": ["https://hooks.example/pixelflow"]}

SOURCE_URL = {"type": "string", "format": "uri", "minLength": 1, "maxLength": 2048,
              "description": "Absolute http(s) URL of an image on the public internet.",
              "examples": ["https://photos.example/beach.jpg"]}

SHA256 = {"type": "string", "pattern": "^[0-9a-fA-F]{64}$",
          "description": "The file's SHA-256 in hexadecimal. Checked when the original is processed: another "
                         "content fails the image with checksum_mismatch. Find images by it: GET /images?sha256=.",
          "examples": ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]}

ON_DUPLICATE = {"type": "string", "enum": ["allow", "reject"], "default": "allow",
                "description": "reject: when the file is the same as (SHA-256), or looks like (perceptual hash within "
                               "DUPLICATE_MAX_DISTANCE bits), one of your done images, the new image ends failed "
                               "with code duplicate, naming the existing one."}

UPLOAD_REQUEST = obj({
    "filename": {"type": "string", "minLength": 1, "maxLength": 255},
    "content_type": {"type": "string", "minLength": 1, "maxLength": 100,
                     "description": "image/jpeg, image/png, image/webp, image/gif, image/avif or image/heic "
                                    "(image/heif)."},
    "size": {"type": "integer", "minimum": 1,
             "description": "The file's exact size in bytes (its upload link accepts only that size); "
                            "at most MAX_UPLOAD_BYTES."},
    "variants": VARIANT_REQUESTS,
    "callback_url": CALLBACK_URL,
    "sha256": SHA256,
    "on_duplicate": ON_DUPLICATE,
}, ["filename", "content_type", "size"],
    example={"filename": "beach.jpg", "content_type": "image/jpeg", "size": 2480133,
             "variants": [{"name": "card", "width": 600, "height": 400, "fit": "cover"}]})

PRESIGNED_POST = obj({
    "url": {"type": "string", "description": "POST a multipart form here."},
    "fields": {"type": "object", "additionalProperties": {"type": "string"},
               "description": "Form fields to send before the file field (named file)."},
}, ["url", "fields"])

UPLOAD_TICKET = obj({
    "image_id": {"type": "string", "format": "uuid"},
    "status": {"type": "string", "enum": ["awaiting_upload"]},
    "upload": PRESIGNED_POST,
    "expires_at": {"type": "string", "format": "date-time"},
}, ["image_id", "status", "upload", "expires_at"])

# x-terminal: the states an image does not leave by itself (the web page reads them from here).
STATUS = {"type": "string", "enum": list(STATUSES), "x-terminal": list(TERMINAL)}

VARIANT = obj({
    "name": {"type": "string"},
    "format": {"type": "string"},
    "content_type": {"type": "string"},
    "width": {"type": "integer"},
    "height": {"type": "integer"},
    "bytes": {"type": "integer"},
    "url": {"type": "string", "description": "Presigned GET, valid DOWNLOAD_URL_TTL_SECONDS."},
}, ["name", "format", "content_type", "width", "height", "bytes", "url"])

WEBHOOK_DELIVERY = {
    "type": ["object", "null"], "additionalProperties": False,
    "description": "The subject's webhook event and how its delivery went; null when there is none (yet).",
    "properties": {
        "event_id": {"type": "string", "format": "uuid", "description": "Sent as X-Pixelflow-Event-Id."},
        "type": {"type": "string", "enum": ["image.done", "image.failed", "batch.complete"]},
        "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
        "attempts": {"type": "integer"},
        "last_status_code": {"type": ["integer", "null"], "description": "The receiver's last HTTP status."},
        "last_error": {"type": ["string", "null"]},
        "delivered_at": {"type": ["string", "null"], "format": "date-time"},
    },
    "required": ["event_id", "type", "status", "attempts", "last_status_code", "last_error", "delivered_at"],
}

IMAGE = obj({
    "id": {"type": "string", "format": "uuid"},
    "source": {"type": "string", "enum": ["upload", "import", "generation"]},
    "status": STATUS,
    "original_name": {"type": "string"},
    "content_type": {"type": ["string", "null"]},
    "format": {"type": ["string", "null"]},
    "width": {"type": ["integer", "null"]},
    "height": {"type": ["integer", "null"]},
    "bytes": {"type": ["integer", "null"]},
    "created_at": {"type": "string", "format": "date-time"},
    "updated_at": {"type": "string", "format": "date-time"},
    "processed_at": {"type": ["string", "null"], "format": "date-time"},
    "error": {"type": ["object", "null"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
              "required": ["code", "message"], "additionalProperties": False},
    "original": {"type": ["object", "null"], "properties": {"url": {"type": "string"}},
                 "required": ["url"], "additionalProperties": False},
    "variants": {"type": "array", "items": VARIANT},
    "generation": {"type": ["object", "null"], "additionalProperties": False, "properties": {
        "prompt": {"type": "string"},
        "style": {"type": ["string", "null"]},
        "provider": {"type": "string"},
        "provider_status": {"type": "string",
                            "description": "The provider's own word, e.g. INITIAL, PROCESSING, DONE."},
        "attempts": {"type": "integer", "description": "Status polls so far."},
    }, "required": ["prompt", "style", "provider", "provider_status", "attempts"],
        "description": "For generated images: the request and how the provider job is doing."},
    "source_url": {"type": ["string", "null"], "description": "For imports: the URL it is fetched from."},
    "batch_id": {"type": ["string", "null"], "format": "uuid", "description": "The batch it was created in."},
    "callback_url": {"type": ["string", "null"]},
    "webhook": WEBHOOK_DELIVERY,
    "sha256": {"type": ["string", "null"], "description": "SHA-256 of the original: as declared with the upload, "
                                                           "else as computed when it was processed."},
    "responsive": {"type": ["object", "null"], "additionalProperties": False, "properties": {
        "src": {"type": "string"}, "srcset": {"type": "string"}, "sizes": {"type": "string"},
    }, "required": ["src", "srcset", "sizes"],
        "description": "Signed f:auto /img URLs for <img src srcset sizes>, over DELIVERY_WIDTHS up to the "
                       "original's width; null until the image is done."},
    "renditions": {"type": "object", "additionalProperties": False, "properties": {
        "count": {"type": "integer"}, "bytes": {"type": "integer"},
    }, "required": ["count", "bytes"], "description": "On-demand renditions stored for this image."},
    "placeholder": {"type": ["object", "null"], "additionalProperties": False, "properties": {
        "thumbhash": {"type": "string", "description": "ThumbHash, base64."},
        "blurhash": {"type": "string", "description": "BlurHash, 4x3 components."},
        "data_uri": {"type": "string", "description": "A PNG of at most 16 px a side, to show blurred."},
    }, "required": ["thumbhash", "blurhash", "data_uri"], "description": "For done images: what to show while "
                                                                            "the image loads."},
    "colors": {"type": ["object", "null"], "additionalProperties": False, "properties": {
        "dominant": {"type": "string", "pattern": "^#[0-9a-f]{6}$"},
        "palette": {"type": "array", "maxItems": 5, "items": obj({
            "hex": {"type": "string", "pattern": "^#[0-9a-f]{6}$"},
            "share": {"type": "number", "minimum": 0, "maximum": 1, "description": "Share of the pixels."},
        }, ["hex", "share"])},
    }, "required": ["dominant", "palette"], "description": "Colours clustered in OKLab, largest share first."},
    "animation": {"type": ["object", "null"], "additionalProperties": False, "properties": {
        "frames": {"type": "integer", "description": "Frames in the source, counted up to 1,001 (that many means "
                   "more than 1,000, which are never animated)."},
        "animated": {"type": "boolean", "description": "Whether the WebP variants move."},
        "still_reason": {"type": ["string", "null"], "description": "Why the variants are stills, if they are."},
    }, "required": ["frames", "animated", "still_reason"], "description": "For multi-frame GIF and WebP sources."},
    "phash": {"type": ["string", "null"], "pattern": "^[0-9a-f]{16}$",
              "description": "64-bit perceptual hash (DCT of 32x32 grey), hexadecimal."},
    "duplicates": {"type": "array", "items": obj({
        "id": {"type": "string", "format": "uuid"},
        "distance": {"type": "integer", "description": "Bits the perceptual hashes differ in."},
        "link": {"type": "string"},
    }, ["id", "distance", "link"]), "description": "Your other done images that look the same, nearest first "
                                                   "(at most 10)."},
}, ["id", "source", "status", "original_name", "created_at", "updated_at", "error", "original", "variants",
    "generation", "source_url", "batch_id", "callback_url", "webhook", "sha256", "placeholder", "colors",
    "animation", "phash", "duplicates"])

IMAGE_PAGE = obj({
    "items": {"type": "array", "items": IMAGE},
    "next_cursor": {"type": ["string", "null"], "description": "Pass as cursor for the next page."},
}, ["items", "next_cursor"])

IMAGE_LIST_QUERY = obj({
    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    "cursor": {"type": "string", "maxLength": 200},
})

IMAGE_QUERY = obj({
    **IMAGE_LIST_QUERY["properties"],
    "sha256": {**SHA256, "description": "Only images whose original has this SHA-256 (64 hex digits)."},
    "status": {**STATUS, "description": "Only images in this state."},
    "similar_to": {"type": "string", "maxLength": 64,
                   "description": "An image id of yours: list its duplicates (nearest first) instead."},
})

DOWNLOAD_QUERY = obj({
    "variant": {"type": "string", "maxLength": 40, "default": "original",
                "description": "original, thumbnail, webp or the name of a requested variant."},
})

GENERATION_REQUEST = obj({
    "prompt": {"type": "string", "minLength": 1, "maxLength": 1000},
    "style": {"type": "string", "minLength": 1, "maxLength": 64, "description": "A name from GET /generations/styles."},
    "width": {"type": "integer", "minimum": 64, "maximum": 1024, "multipleOf": 64, "default": 1024},
    "height": {"type": "integer", "minimum": 64, "maximum": 1024, "multipleOf": 64, "default": 1024},
    "negative_prompt": {"type": "string", "maxLength": 1000},
    "variants": VARIANT_REQUESTS,
    "callback_url": CALLBACK_URL,
}, ["prompt"], example={"prompt": "a lighthouse on a cliff at dawn, oil painting", "style": "DEFAULT",
                        "width": 1024, "height": 768})

GENERATION_TICKET = obj({
    "image_id": {"type": "string", "format": "uuid"},
    "status": {"type": "string", "enum": ["generating"]},
}, ["image_id", "status"])

STYLES = obj({
    "styles": {"type": "array", "items": obj({"name": {"type": "string"}, "title": {"type": "string"}},
                                              ["name", "title"])},
    "provider": {"type": "string", "description": "The configured provider: local, fusionbrain or openai."},
    "negative_prompt": {"type": "boolean", "description": "Whether the provider uses negative_prompt "
                                                          "(OpenAI's API has none; it is not sent there)."},
}, ["styles"])

IMPORT_REQUEST = obj({
    "url": SOURCE_URL,
    "variants": VARIANT_REQUESTS,
    "callback_url": CALLBACK_URL,
    "on_duplicate": ON_DUPLICATE,
}, ["url"], example={"url": "https://photos.example/beach.jpg",
                     "variants": [{"name": "card", "width": 600, "height": 400, "fit": "cover"}]})

IMPORT_TICKET = obj({
    "image_id": {"type": "string", "format": "uuid"},
    "status": {"type": "string", "enum": ["queued"]},
}, ["image_id", "status"])

BATCH_FILE = obj({key: UPLOAD_REQUEST["properties"][key] for key in ("filename", "content_type", "size", "sha256")},
                 ["filename", "content_type", "size"])

BATCH_REQUEST = obj({
    "files": {"type": "array", "maxItems": 1000, "items": BATCH_FILE,
              "description": "Files the browser will upload, each answered with its own presigned POST."},
    "urls": {"type": "array", "maxItems": 1000, "items": SOURCE_URL, "description": "Images to import."},
    "variants": VARIANT_REQUESTS,
    "callback_url": CALLBACK_URL,
}, description="At least one file or URL, at most MAX_BATCH_ITEMS (default 100) together; the variants "
               "apply to every item. A callback_url gets one batch.complete event, not one per image.",
    example={"files": [{"filename": "beach.jpg", "content_type": "image/jpeg", "size": 2480133}],
             "urls": ["https://photos.example/harbour.png"],
             "variants": [{"name": "card", "width": 600, "height": 400, "fit": "cover"}]})

BATCH_TICKET = obj({
    "batch_id": {"type": "string", "format": "uuid"},
    "uploads": {"type": "array", "items": obj({
        "image_id": {"type": "string", "format": "uuid"},
        "filename": {"type": "string"},
        "upload": PRESIGNED_POST,
    }, ["image_id", "filename", "upload"]), "description": "In the order of files."},
    "imports": {"type": "array", "items": obj({
        "image_id": {"type": "string", "format": "uuid"},
        "url": {"type": "string"},
    }, ["image_id", "url"]), "description": "In the order of urls."},
    "expires_at": {"type": "string", "format": "date-time", "description": "When the presigned POSTs expire."},
}, ["batch_id", "uploads", "imports", "expires_at"])

BATCH_COUNTS = obj({name: {"type": "integer", "minimum": 0} for name in STATUS["enum"]}, STATUS["enum"],
                   description="Items per status.")

BATCH_ITEM = obj({
    "image_id": {"type": "string", "format": "uuid"},
    "kind": {"type": "string", "enum": ["upload", "import"]},
    "original_name": {"type": "string"},
    "url": {"type": ["string", "null"], "description": "For imports: the URL."},
    "status": STATUS,
    "error": IMAGE["properties"]["error"],
}, ["image_id", "kind", "original_name", "url", "status", "error"])

_BATCH_SUMMARY_FIELDS = {
    "id": {"type": "string", "format": "uuid"},
    "created_at": {"type": "string", "format": "date-time"},
    "complete": {"type": "boolean", "description": "Every item is done or failed."},
    "completed_at": {"type": ["string", "null"], "format": "date-time"},
    "item_count": {"type": "integer", "description": "Items created with the batch."},
    "percent": {"type": "integer", "minimum": 0, "maximum": 100, "description": "Items done or failed, in %."},
    "counts": BATCH_COUNTS,
    "callback_url": {"type": ["string", "null"]},
}

BATCH_SUMMARY = obj({**_BATCH_SUMMARY_FIELDS, "webhook": WEBHOOK_DELIVERY},
                    [*_BATCH_SUMMARY_FIELDS, "webhook"])

BATCH = obj({**_BATCH_SUMMARY_FIELDS, "items": {"type": "array", "items": BATCH_ITEM}, "webhook": WEBHOOK_DELIVERY},
            [*_BATCH_SUMMARY_FIELDS, "items", "webhook"])

BATCH_PAGE = obj({
    "items": {"type": "array", "items": BATCH_SUMMARY},
    "next_cursor": {"type": ["string", "null"], "description": "Pass as cursor for the next page."},
}, ["items", "next_cursor"])

WEBHOOK_SECRET = obj({
    "secret": {"type": "string", "description": "Shown once. Verify X-Pixelflow-Signature with it."},
    "created_at": {"type": "string", "format": "date-time"},
}, ["secret", "created_at"])

# The body of a webhook POST (not an API response): GET /images/{id} or GET /batches/{id} without links.
EVENT_VARIANT = obj({key: value for key, value in VARIANT["properties"].items() if key != "url"},
                    [key for key in VARIANT["required"] if key != "url"])

# Without "duplicates" too: finding them is a query, and an event is what the image row says.
_NOT_IN_EVENTS = ("original", "webhook", "duplicates")
EVENT_IMAGE = obj({**{key: value for key, value in IMAGE["properties"].items() if key not in _NOT_IN_EVENTS},
                   "variants": {"type": "array", "items": EVENT_VARIANT}},
                  [key for key in IMAGE["required"] if key not in _NOT_IN_EVENTS])

EVENT_BATCH = obj({**_BATCH_SUMMARY_FIELDS, "items": {"type": "array", "items": BATCH_ITEM}},
                  [*_BATCH_SUMMARY_FIELDS, "items"])

WEBHOOK_EVENT = obj({
    "type": {"type": "string", "enum": ["image.done", "image.failed", "batch.complete"]},
    "id": {"type": "string", "format": "uuid", "description": "The image's or the batch's id."},
    "status": {"type": "string", "enum": ["done", "failed", "complete"]},
    "created": {"type": "string", "format": "date-time"},
    "image": EVENT_IMAGE,
    "batch": EVENT_BATCH,
    "links": obj({"self": {"type": "string", "description": "The API path of the image or batch."}}, ["self"]),
}, ["type", "id", "status", "created", "links"],
    description="POSTed to a callback_url with X-Pixelflow-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "
                "\"<t>.<body>\" with the webhook secret> and X-Pixelflow-Event-Id (the same on every retry).")

LIVE_TICKET = obj({
    "ticket": {"type": "string", "description": "Single use; valid for expires_in seconds."},
    "url": {"type": "string", "description": "The WebSocket URL to open, the ticket in its query string."},
    "expires_at": {"type": "string", "format": "date-time"},
    "expires_in": {"type": "integer", "minimum": 1},
}, ["ticket", "url", "expires_at", "expires_in"])
