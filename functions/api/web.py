"""GET / (the web page) and GET /static/{name} (its scripts, stylesheet and icon).

The page is plain HTML, CSS and JavaScript modules from functions/web/: no build step and
nothing loaded from a CDN. It talks to the same API as everyone else, from the same origin,
and posts files straight to the bucket with the presigned form the API hands out.
"""

import functools
import hashlib
import html
import logging
from pathlib import Path
from urllib.parse import urlsplit

from chalice import Blueprint, Response

from functions import errors, wiring
from functions.api import schemas
from functions.api.routing import route

log = logging.getLogger(__name__)

api = Blueprint(__name__)

WEB = Path(__file__).resolve().parent.parent / "web"

JS = "text/javascript; charset=utf-8"
# The only files /static/{name} serves, with their Content-Type (an allow-list: no path is ever joined).
ASSETS = {
    "app.js": JS,
    "api.js": JS,
    "session.js": JS,
    "storage-upload.js": JS,
    "watch.js": JS,
    "elements.js": JS,
    "forms.js": JS,
    "auth-view.js": JS,
    "create-view.js": JS,
    "variant-options.js": JS,
    "gallery-view.js": JS,
    "detail-view.js": JS,
    "style.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml; charset=utf-8",
}
# Names carry no version (no build step), so browsers revalidate every time and get a 304 when unchanged.
REVALIDATE = "no-cache"
BASE_HREF = "{{base_href}}"


@route(api, "GET", "/", summary="The web page: sign in, upload, import, generate, browse", tag="web",
       auth=False, responses={200: ("The page", schemas.HTML_PAGE), 304: ("Unchanged since the ETag sent", None)})
def index(call):
    """Loads its modules from /static/{name}; every call it makes goes to this API with a bearer token."""
    page = _read_asset("index.html").replace(BASE_HREF, html.escape(_base_href(call.request), quote=True))
    return _file(call.request, page, "text/html; charset=utf-8", _page_headers())


@route(api, "GET", "/static/{name}", summary="A file of the web page: module, stylesheet or icon", tag="web",
       auth=False, responses={200: ("The file, with its own Content-Type", None),
                              304: ("Unchanged since the ETag sent", None)}, errors_=(404,))
def static_file(call, name):
    media_type = ASSETS.get(name)
    if media_type is None:
        raise errors.NotFound("There is no such file.", code="asset_not_found")
    return _file(call.request, _read_asset(name), media_type, {})


def _file(request, text: str, media_type: str, extra: dict[str, str]) -> Response:
    etag = _etag(text)
    headers: dict[str, str | list[str]] = {"Cache-Control": REVALIDATE, "ETag": etag,
                                           "X-Content-Type-Options": "nosniff", **extra}
    sent = (request.headers or {}).get("if-none-match", "")
    headers["Content-Type"] = media_type
    if etag in (tag.strip() for tag in sent.split(",")):
        return Response("", status_code=304, headers=headers)
    return Response(text, status_code=200, headers=headers)


def _live_origin() -> str | None:
    # The live-updates WebSocket (LIVE_SOCKET_URL) is on another origin: API Gateway's, or the local gateway's.
    url = wiring.settings().live_socket_url
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _page_headers() -> dict[str, str]:
    # No inline script or style anywhere, so the policy can forbid both; storage is the only other origin
    # the page talks to (the presigned upload form, thumbnails, downloads).
    storage = " ".join(_storage_origins()) or "https:"
    live = _live_origin()
    policy = "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self' data: blob: {storage} {wiring.settings().delivery_base_url}".rstrip(),  # /img on a CDN
        f"connect-src 'self' {storage}{' ' + live if live else ''}",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])
    return {"Content-Security-Policy": policy, "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def _storage_origins() -> list[str]:
    # Signing is local computation (no request), and exactly how the page's upload forms and links are made.
    try:
        storage = wiring.services().storage
        urls = [storage.presigned_post("originals/policy-probe", max_bytes=1, content_type="image/png",
                                       expires_in=60)["url"],
                storage.presigned_get("originals/policy-probe", expires_in=60)]
    except Exception:
        log.warning("cannot tell the storage origin; the page's policy allows any https origin", exc_info=True)
        return []
    origins = []
    for url in urls:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in origins:
            origins.append(origin)
    return origins


def _base_href(request) -> str:
    # On API Gateway the page is /<stage>/ (or /<stage>); its relative URLs need that prefix as base.
    path = (request.context or {}).get("path") or "/"
    return path.rstrip("/") + "/"


def _etag(text: str) -> str:
    return '"' + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] + '"'


@functools.cache
def _read_asset(name: str) -> str:
    # Read on first request, not at import (cold start); text, since API Gateway passes text through.
    return (WEB / name).read_text(encoding="utf-8")
