"""Uploads and images: issue a presigned POST, read status and links, list, delete."""

from chalice import Blueprint

from functions import images, uploads, wiring
from functions.api import schemas
from functions.api.routing import Reply, route
from functions.errors import ImageNotFound

api = Blueprint(__name__)


@route(api, "POST", "/uploads", summary="Start a direct upload to storage", tag="images",
       body=schemas.UPLOAD_REQUEST, responses={201: ("The image id and a presigned POST", schemas.UPLOAD_TICKET)},
       description="Creates the image (awaiting_upload) and returns a presigned POST for exactly its "
                   "original key, with the declared Content-Type and exactly the declared size. "
                   "The browser posts the file straight to storage; processing starts when it lands.")
def create_upload(call):
    body, services = call.body, wiring.services()
    ticket = uploads.issue_upload(call.user_id, db=services.database, storage=services.storage,
                                  settings=services.settings, filename=body["filename"],
                                  content_type=body["content_type"], size=body["size"],
                                  variants=body.get("variants"), callback_url=body.get("callback_url"),
                                  sha256=body.get("sha256"), on_duplicate=body.get("on_duplicate"))
    return Reply(201, ticket)


@route(api, "GET", "/images", summary="The caller's images, newest first", tag="images",
       query=schemas.IMAGE_QUERY, responses={200: ("One page", schemas.IMAGE_PAGE)}, errors_=(404, 409),
       description="sha256 finds the caller's images of one content (what a client already uploaded); "
                   "status keeps one state. Both combine with limit and cursor. similar_to={id} lists that image's "
                   "duplicates instead (perceptual hash within DUPLICATE_MAX_DISTANCE bits), nearest first, one page.")
def list_images(call):
    services = wiring.services()
    return images.list_images(call.user_id, db=services.database, storage=services.storage,
                              settings=services.settings, server_key=services.webhook_signing_key,
                              limit=call.query["limit"], cursor=call.query.get("cursor"),
                              sha256=call.query.get("sha256"), status=call.query.get("status"),
                              similar_to=call.query.get("similar_to"))


@route(api, "GET", "/images/latest", summary="The caller's newest image", tag="images",
       responses={200: ("The image", schemas.IMAGE)}, errors_=(404,))
def latest_image(call):
    services = wiring.services()
    return images.latest_image(call.user_id, db=services.database, storage=services.storage,
                               settings=services.settings, server_key=services.webhook_signing_key)


@route(api, "GET", "/images/{image_id}", summary="One image: status, dimensions, variants and links",
       tag="images", responses={200: ("The image", schemas.IMAGE)}, ids={"image_id": ImageNotFound})
def get_image(call, image_id):
    services = wiring.services()
    return images.get_image(call.user_id, image_id, db=services.database, storage=services.storage,
                            settings=services.settings, server_key=services.webhook_signing_key)


@route(api, "GET", "/images/{image_id}/download", summary="Redirect to a short-lived download link",
       tag="images", query=schemas.DOWNLOAD_QUERY, responses={302: ("Location is a presigned GET", None)},
       ids={"image_id": ImageNotFound})
def download_image(call, image_id):
    services = wiring.services()
    url = images.download_link(call.user_id, image_id, db=services.database, storage=services.storage,
                               settings=services.settings, variant=call.query["variant"])
    return Reply(302, None, {"Location": url, "Cache-Control": "no-store"})


@route(api, "DELETE", "/images/{image_id}", summary="Delete an image and every stored object of it",
       tag="images", responses={204: ("Deleted", None)}, ids={"image_id": ImageNotFound})
def delete_image(call, image_id):
    services = wiring.services()
    images.delete_image(call.user_id, image_id, db=services.database, storage=services.storage)
    return Reply(204)
