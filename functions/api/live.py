"""Live updates: a single-use ticket to open the WebSocket with (browsers cannot send headers on it)."""

from urllib.parse import urlencode

from chalice import Blueprint

from functions import wiring
from functions.api import schemas
from functions.api.routing import Reply, route
from functions.errors import Unavailable
from functions.live import tickets

api = Blueprint(__name__)


@route(api, "POST", "/live/tickets", summary="A ticket to open the live-updates WebSocket with", tag="live",
       responses={201: ("The ticket and the URL to open", schemas.LIVE_TICKET)}, errors_=(503,))
def create_ticket(call):
    """Valid for LIVE_TICKET_SECONDS (default 30) and used once: a used, expired or forged ticket makes the
    WebSocket refuse the connection. Messages: see the README's "Live updates"."""
    services = wiring.services()
    socket_url = services.settings.live_socket_url
    if not socket_url:
        raise Unavailable("Live updates are not configured here; poll GET /images/{id} instead.",
                          code="live_unavailable")
    ticket = tickets.issue(services.database, call.user_id, ttl_seconds=services.settings.live_ticket_seconds)
    return Reply(201, {**ticket, "url": f"{socket_url}?{urlencode({'ticket': ticket['ticket']})}"})
