"""Delivery: on-demand renditions at /img/{signature}/{options}/{image_id}, and the key that signs them."""

from chalice import Blueprint, Response
from chalice.app import CaseInsensitiveMapping

from functions import delivery, wiring
from functions.api.routing import Reply, error_body, route
from functions.delivery import signing
from functions.errors import ImageNotFound
from functions.openapi import JSON

api = Blueprint(__name__)

DELIVERY_KEY = {
    "type": "object",
    "properties": {
        "key": {"type": "string", "description": "Shown once. Sign /img URLs with it (see the README)."},
        "created_at": {"type": "string", "format": "date-time"},
    },
    "required": ["key", "created_at"],
}


@route(api, "POST", "/auth/delivery-key", summary="Create or rotate the key that signs /img URLs", tag="auth",
       responses={201: ("The new key, shown only this once", DELIVERY_KEY)},
       description="signature = base64url without padding of HMAC-SHA256(key, \"<options>/<image_id>\"). "
                   "Calling this again replaces the key: the origin refuses every URL signed with the old one "
                   "(including those the API returned in `responsive`) from then on; caches may still serve them "
                   "up to DELIVERY_CDN_SECONDS (browsers up to a year for URLs with v).")
def create_delivery_key(call):
    services = wiring.services()
    return Reply(201, signing.new_key(services.database, services.webhook_signing_key, call.user_id))


@route(api, "GET", "/img/{signature}/{options}/{image_id}", summary="An image rendered on demand", tag="images",
       auth=False, responses={200: ("The image bytes (Content-Type is the image's)", None),
                              304: ("Not modified (If-None-Match)", None),
                              307: ("Too big to answer inline: Location is a short-lived presigned GET", None)},
       errors_=(400, 403, 404, 406), ids={"image_id": ImageNotFound},
       description="options: comma-separated key:value, e.g. w:640,h:480,fit:cover,f:auto,q:75 — w, h 1..8192; "
                   "fit cover|contain|fill|inside (default inside); f auto|webp|avif|jpeg|png (default auto: "
                   "AVIF, WebP, then JPEG or PNG from Accept; no Accept accepts anything); q 1..100; dpr 1..3; "
                   "v content version (hex, changes when the original is replaced); exp unix seconds. "
                   "No bearer token: the signature is the credential. 403 bad signature or expired; 404 unknown "
                   "image (with Retry-After while it is still being processed); 400 an option, named in "
                   "error.field, or an output over DELIVERY_MAX_PIXELS.")
def rendition(call, signature, options, image_id):
    services = wiring.services()
    headers = call.request.headers
    if not (headers.get("accept") or "").strip():
        # RFC 9110: a request without Accept accepts anything. Chalice answers a binary body only to an
        # Accept that names a binary type, so this request's Accept is read as */* (what it means).
        call.request.headers = headers = CaseInsensitiveMapping({**dict(headers), "accept": "*/*"})
    try:
        answer = delivery.serve(signature, options, image_id, accept=headers.get("accept"),
                                if_none_match=headers.get("if-none-match"), db=services.database,
                                storage=services.storage, settings=services.settings,
                                server_key=services.webhook_signing_key)
    except delivery.Refused as refused:
        return _error(403, refused)
    except delivery.NotReady as waiting:
        return _error(404, waiting, {"Retry-After": str(waiting.retry_after), "Cache-Control": "no-store"})
    except delivery.NotAcceptable as refused:
        return _error(406, refused)
    return Response(answer.body, status_code=answer.status, headers=answer.headers)


def _error(status, error, headers=None):
    return Response(error_body(error.code, error.message, error.field), status_code=status,
                    headers={"Content-Type": JSON, "Cache-Control": "no-store", **(headers or {})})
