"""GET /openapi.json (the API, described from the route declarations) and GET /docs (Swagger UI).

Swagger UI's files ship with the app (static/swagger/, see its README), so the page loads
nothing from outside.
"""

import functools
import hashlib
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chalice import Blueprint, Response

from functions import errors
from functions.api import routing, schemas
from functions.api.routing import route
from functions.openapi import JSON, Webhook, build_document

api = Blueprint(__name__)

TITLE = "pixelflow API"
API_VERSION = "1.0.0"
STATIC = Path(__file__).resolve().parent / "static" / "swagger"

DESCRIPTION = (
    "Upload, import and generate images, and get them back processed.\n\n"
    "Every error is a JSON body `{\"error\": {\"code\", \"message\", \"field\"}}` (`field` when one request "
    "field is at fault). Protected operations take an access token from `POST /auth/login` in "
    "`Authorization: Bearer <token>`."
)

# The only files /docs/{asset} serves, with their Content-Type.
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-init.js": "text/javascript; charset=utf-8",
    "LICENSE": "text/plain; charset=utf-8",
    "NOTICE": "text/plain; charset=utf-8",
    "swagger-ui-bundle.js.LICENSE.txt": "text/plain; charset=utf-8",
}
# The page asks for ?v=<hash of the file>, so a week-long cache never serves an old file after an update.
ASSET_CACHE = "public, max-age=604800, immutable"

# What pixelflow POSTs to a callback_url (published under the document's webhooks).
WEBHOOKS = (
    Webhook(name="event", summary="An image or a batch settled",
            description="Sent to the callback_url of an upload, import, generation or batch when the image is "
                        "done or failed (image.done, image.failed) or every item of the batch is "
                        "(batch.complete). Delivery is at least once: deduplicate on X-Pixelflow-Event-Id.",
            body=schemas.WEBHOOK_EVENT,
            headers=(("X-Pixelflow-Signature", "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\" with "
                                               "the webhook secret from POST /auth/webhook-secret>"),
                     ("X-Pixelflow-Event-Id", "The same on every retry of one event."))),
)

OPENAPI_DOCUMENT = {"type": "object", "required": ["openapi", "info", "paths"],
                    "properties": {"openapi": {"type": "string", "examples": ["3.1.0"]},
                                   "info": {"type": "object"}, "paths": {"type": "object"}}}

# The page's URLs are relative to <base href> (the API's root: / locally, /api/ under an API Gateway stage).
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <base href="{base}">
  <title>{title}</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="docs/swagger-ui.css?v={css}">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/swagger-ui-bundle.js?v={bundle}"></script>
  <script src="docs/swagger-init.js?v={init}"></script>
</body>
</html>
"""

# Same origin as the web page and its tokens, so the docs page gets a strict policy too: no inline script,
# nothing from elsewhere. Swagger UI sets inline styles and data: images, hence those two allowances.
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]),
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@route(api, "GET", "/openapi.json", summary="This API, described in OpenAPI 3.1", tag="docs", auth=False,
       responses={200: ("The OpenAPI 3.1 document", OPENAPI_DOCUMENT)})
def openapi_document(call):
    """Built on every call from the declarations of the routes the app serves."""
    document = describe(api.current_app, server_url=_base_path(call.request) or "/")
    return Response(document, headers={"Content-Type": JSON, "Cache-Control": "no-cache"})


@route(api, "GET", "/docs", summary="Swagger UI for this API", tag="docs", auth=False,
       responses={200: ("An HTML page showing /openapi.json", schemas.HTML_PAGE)})
def swagger_ui(call):
    """The page loads its stylesheet and script from /docs/{asset}, never from a CDN."""
    page = PAGE.format(base=html.escape(_base_path(call.request) + "/", quote=True), title=TITLE,
                       css=_version("swagger-ui.css"), bundle=_version("swagger-ui-bundle.js"),
                       init=_version("swagger-init.js"))
    return Response(page, headers=PAGE_HEADERS)


@route(api, "GET", "/docs/{asset}", summary="A Swagger UI file: stylesheet, script or licence", tag="docs",
       auth=False, responses={200: ("The file, with its own Content-Type", None)}, errors_=(404,))
def swagger_asset(call, asset):
    media_type = ASSETS.get(asset)
    if media_type is None:
        raise errors.NotFound("There is no such file.", code="asset_not_found")
    return Response(_read_asset(asset), headers={"Content-Type": media_type, "Cache-Control": ASSET_CACHE,
                                                 "X-Content-Type-Options": "nosniff"})


def describe(app, server_url: str = "/") -> dict[str, Any]:
    """The OpenAPI document for the routes ``app`` serves, read from the declarations on their views."""
    return build_document(routing.operations(app), title=TITLE, version=API_VERSION, server_url=server_url,
                          description=DESCRIPTION, schemas=shared_schemas(), webhooks=WEBHOOKS)


def shared_schemas() -> Mapping[str, dict[str, Any]]:
    """The object schemas of functions.api.schemas by component name: USER_ENVELOPE -> UserEnvelope."""
    return {name.title().replace("_", ""): value for name, value in vars(schemas).items()
            if name.isupper() and isinstance(value, dict) and value.get("type") == "object"}


def _base_path(request) -> str:
    # On API Gateway the requested path carries the stage (/api/openapi.json); the route does not.
    context = request.context or {}
    path, resource = context.get("path", ""), context.get("resourcePath", "")
    if resource and path.rstrip("/").endswith(resource):
        return path.rstrip("/")[:-len(resource)]
    return ""


@functools.cache
def _version(name: str) -> str:
    return hashlib.sha256(_read_asset(name).encode("utf-8")).hexdigest()[:16]


@functools.cache
def _read_asset(name: str) -> str:
    # Read on first request, not at import (cold start); text, since API Gateway passes text through.
    return (STATIC / name).read_text(encoding="utf-8")
