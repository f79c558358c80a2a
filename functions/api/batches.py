"""Batches: many uploads and imports in one request, followed as one."""

from chalice import Blueprint

from functions import batches, wiring
from functions.api import schemas
from functions.api.routing import Reply, route
from functions.errors import BatchNotFound

api = Blueprint(__name__)


@route(api, "POST", "/batches", summary="Start uploads and imports together", tag="batches",
       body=schemas.BATCH_REQUEST, responses={201: ("The batch, a presigned POST per file, an id per URL",
                                                    schemas.BATCH_TICKET)}, errors_=(503,))
def create_batch(call):
    """Creates one image per file (awaiting_upload, with its presigned POST) and per URL (queued for import),
    all with the same variants. Follow them together with GET /batches/{batch_id}."""
    body, services = call.body, wiring.services()
    ticket = batches.create_batch(call.user_id, db=services.database, storage=services.storage,
                                  queues=services.queues, settings=services.settings, files=body.get("files"),
                                  urls=body.get("urls"),
                                  variants=body.get("variants"), callback_url=body.get("callback_url"))
    return Reply(201, ticket)


@route(api, "GET", "/batches", summary="The caller's batches, newest first", tag="batches",
       query=schemas.IMAGE_LIST_QUERY, responses={200: ("One page, without items", schemas.BATCH_PAGE)})
def list_batches(call):
    return batches.list_batches(wiring.services().database, call.user_id, limit=call.query["limit"],
                                cursor=call.query.get("cursor"))


@route(api, "GET", "/batches/{batch_id}", summary="One batch: every item's status, counts and progress",
       tag="batches", responses={200: ("The batch", schemas.BATCH)}, ids={"batch_id": BatchNotFound})
def get_batch(call, batch_id):
    return batches.get_batch(wiring.services().database, call.user_id, batch_id)
