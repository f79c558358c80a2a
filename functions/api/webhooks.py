"""Webhooks: the per-user secret that signs every event sent to a callback_url."""

from chalice import Blueprint

from functions import webhooks, wiring
from functions.api import schemas
from functions.api.routing import Reply, route

api = Blueprint(__name__)


@route(api, "POST", "/auth/webhook-secret", summary="Create or rotate the webhook signing secret", tag="auth",
       responses={201: ("The new secret, shown only this once", schemas.WEBHOOK_SECRET)},
       description="Every event POSTed to a callback_url carries X-Pixelflow-Signature: t=<unix seconds>,"
                   "v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>. Calling this again replaces the secret: "
                   "the old one signs nothing from then on.")
def create_webhook_secret(call):
    services = wiring.services()
    return Reply(201, webhooks.new_secret(services.database, services.webhook_signing_key, call.user_id))
