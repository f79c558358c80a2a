"""Generations: a prompt in, an image (processed like any upload) out."""

from chalice import Blueprint

from functions import generations, wiring
from functions.api import schemas
from functions.api.routing import Reply, route

api = Blueprint(__name__)


@route(api, "POST", "/generations", summary="Generate an image from a text prompt", tag="generations",
       body=schemas.GENERATION_REQUEST, responses={202: ("Generation started", schemas.GENERATION_TICKET)},
       errors_=(503,),
       description="Creates the image (generating) and queues the provider job. Poll GET /images/{image_id}: "
                   "it shows the provider's status until the original arrives, then the usual processing.")
def create_generation(call):
    body, services = call.body, wiring.services()
    ticket = generations.start_generation(
        call.user_id, db=services.database, queues=services.queues, provider=services.provider,
        settings=services.settings, prompt=body["prompt"], style=body.get("style"), width=body["width"],
        height=body["height"], negative_prompt=body.get("negative_prompt"), variants=body.get("variants"),
        callback_url=body.get("callback_url"))
    return Reply(202, ticket)


@route(api, "GET", "/generations/styles", summary="Styles the configured provider offers", tag="generations",
       responses={200: ("Style names and titles", schemas.STYLES)})
def list_styles(call):
    return generations.styles(wiring.services().provider)
