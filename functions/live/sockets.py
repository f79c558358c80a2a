"""The Chalice WebSocket handlers' bodies: read the API Gateway event, call the gateway, shape the answer."""

from functions import wiring
from functions.live import gateway


def connect(event) -> dict:
    """$connect: 200 with a valid ticket in the query string, 403 otherwise (API Gateway then refuses)."""
    query = event.to_dict().get("queryStringParameters")
    return gateway.connect(wiring.services().database, connection_id=event.connection_id,
                           query=query if isinstance(query, dict) else None)


def message(event) -> dict:
    """$default: one client frame; any answer is pushed, never returned."""
    services = wiring.services()
    gateway.receive(services.database, services.queues, connection_id=event.connection_id,
                    body=event.to_dict().get("body"))
    return gateway.ACCEPTED


def disconnect(event) -> dict:
    """$disconnect: forget the connection."""
    gateway.disconnect(wiring.services().database, connection_id=event.connection_id)
    return gateway.ACCEPTED
