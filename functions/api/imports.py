"""Imports: an image fetched from a URL, then processed like any upload."""

from chalice import Blueprint

from functions import imports, wiring
from functions.api import schemas
from functions.api.routing import Reply, route

api = Blueprint(__name__)


@route(api, "POST", "/imports", summary="Import an image from a URL", tag="imports",
       body=schemas.IMPORT_REQUEST, responses={202: ("Import queued", schemas.IMPORT_TICKET)}, errors_=(503,),
       description="Creates the image (queued) and queues the fetch. Only public addresses are fetched (checked "
                   "after every DNS lookup and redirect, at most 3), within MAX_UPLOAD_BYTES and a deadline. "
                   "A refused or failed fetch ends the image failed with url_forbidden, url_unreachable, "
                   "url_too_large, url_timeout or url_not_image; poll GET /images/{image_id}.")
def create_import(call):
    body, services = call.body, wiring.services()
    ticket = imports.start_import(call.user_id, db=services.database, queues=services.queues,
                                  settings=services.settings, url=body["url"], variants=body.get("variants"),
                                  callback_url=body.get("callback_url"), on_duplicate=body.get("on_duplicate"))
    return Reply(202, ticket)
