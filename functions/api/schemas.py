"""Request and response schemas shared by the routes and the OpenAPI document."""

from functions.api.schema import obj

ERROR = obj({
    "error": obj({
        "code": {"type": "string", "description": "Machine-readable, snake_case."},
        "message": {"type": "string", "description": "A sentence a person understands."},
        "field": {"type": "string", "description": "The request field concerned, when there is one."},
    }, ["code", "message"]),
}, ["error"], example={"error": {"code": "invalid_input", "message": "email is required.", "field": "email"}})

HEALTH = obj({
    "status": {"type": "string", "enum": ["ok", "unavailable"]},
    "failed": {"type": "array", "items": {"type": "string"}},
    "checks": {"type": "object", "additionalProperties": obj({
        "ok": {"type": "boolean"},
        "ms": {"type": "number"},
        "error": {"type": "string"},
    }, ["ok", "ms"])},
}, ["status", "checks"])

EMAIL = {"type": "string", "format": "email", "minLength": 3, "maxLength": 254, "examples": ["ada@example.com"]}

CREDENTIALS = obj({
    "email": EMAIL,
    "password": {"type": "string", "minLength": 1, "maxLength": 128, "examples": ["correct horse battery"]},
}, ["email", "password"], example={"email": "ada@example.com", "password": "correct horse battery"})

REGISTRATION = obj({
    "email": EMAIL,
    "password": {"type": "string", "minLength": 10, "maxLength": 128,
                 "description": "10 to 128 characters; never truncated."},
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
    "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,31}$",
             "description": "Lower-case letters, digits, - and _; not thumbnail, webp or original."},
    "width": {"type": "integer", "minimum": 1, "maximum": 8192},
    "height": {"type": "integer", "minimum": 1, "maximum": 8192},
    "fit": {"type": "string", "enum": ["cover", "contain", "fill", "inside"], "default": "inside"},
    "format": {"type": "string", "enum": ["jpeg", "png", "webp", "avif"], "default": "webp"},
    "quality": {"type": "integer", "minimum": 1, "maximum": 100, "default": 80},
}, ["name"], description="An extra variant; give width, height or both.",
    example={"name": "card", "width": 600, "height": 400, "fit": "cover", "format": "jpeg", "quality": 85})

VARIANT_REQUESTS = {"type": "array", "maxItems": 10, "items": VARIANT_REQUEST,
                    "description": "Extra variants on top of thumbnail (128x128) and webp (full size, q80)."}

UPLOAD_REQUEST = obj({
    "filename": {"type": "string", "minLength": 1, "maxLength": 255},
    "content_type": {"type": "string", "minLength": 1, "maxLength": 100,
                     "description": "image/jpeg, image/png, image/webp, image/gif or image/avif."},
    "size": {"type": "integer", "minimum": 1, "description": "Bytes; at most MAX_UPLOAD_BYTES."},
    "variants": VARIANT_REQUESTS,
}, ["filename", "content_type", "size"],
    example={"filename": "beach.jpg", "content_type": "image/jpeg", "size": 2480133,
             "variants": [{"name": "card", "width": 600, "height": 400, "fit": "cover"}]})

UPLOAD_TICKET = obj({
    "image_id": {"type": "string", "format": "uuid"},
    "status": {"type": "string", "enum": ["awaiting_upload"]},
    "upload": obj({
        "url": {"type": "string", "description": "POST a multipart form here."},
        "fields": {"type": "object", "additionalProperties": {"type": "string"},
                   "description": "Form fields to send before the file field (named file)."},
    }, ["url", "fields"]),
    "expires_at": {"type": "string", "format": "date-time"},
}, ["image_id", "status", "upload", "expires_at"])

STATUS = {"type": "string", "enum": ["awaiting_upload", "generating", "queued", "processing", "done", "failed"]}

VARIANT = obj({
    "name": {"type": "string"},
    "format": {"type": "string"},
    "content_type": {"type": "string"},
    "width": {"type": "integer"},
    "height": {"type": "integer"},
    "bytes": {"type": "integer"},
    "url": {"type": "string", "description": "Presigned GET, valid DOWNLOAD_URL_TTL_SECONDS."},
}, ["name", "format", "content_type", "width", "height", "bytes", "url"])

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
        "provider_status": {"type": "string", "description": "The provider's own word, e.g. INITIAL, PROCESSING, DONE."},
        "attempts": {"type": "integer", "description": "Status polls so far."},
    }, "required": ["prompt", "style", "provider", "provider_status", "attempts"],
        "description": "For generated images: the request and how the provider job is doing."},
}, ["id", "source", "status", "original_name", "created_at", "updated_at", "error", "original", "variants",
    "generation"])

IMAGE_PAGE = obj({
    "items": {"type": "array", "items": IMAGE},
    "next_cursor": {"type": ["string", "null"], "description": "Pass as cursor for the next page."},
}, ["items", "next_cursor"])

IMAGE_LIST_QUERY = obj({
    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    "cursor": {"type": "string", "maxLength": 200},
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
}, ["prompt"], example={"prompt": "a lighthouse on a cliff at dawn, oil painting", "style": "DEFAULT",
                        "width": 1024, "height": 768})

GENERATION_TICKET = obj({
    "image_id": {"type": "string", "format": "uuid"},
    "status": {"type": "string", "enum": ["generating"]},
}, ["image_id", "status"])

STYLES = obj({
    "styles": {"type": "array", "items": obj({"name": {"type": "string"}, "title": {"type": "string"}},
                                              ["name", "title"])},
}, ["styles"])
