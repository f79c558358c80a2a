"""The WebSocket routes: $connect (with a ticket), client messages, $disconnect.

These run in the VPC (they need the database) and never call the management API: a reply
(``subscribed``, the current states, ``pong``, ``error``) goes out through the pusher like
every other live message.
"""

import json
import logging
import uuid
from typing import Any

from functions.live import connections, events, tickets

log = logging.getLogger(__name__)

MAX_FRAME_CHARS = 32 * 1024   # API Gateway's frame limit; the local gateway refuses bigger frames itself
MAX_SUBSCRIBE_IDS = 100       # the page's largest batch (MAX_BATCH_ITEMS' default)

REFUSED = {"statusCode": 403}
ACCEPTED = {"statusCode": 200}


def connect(db, *, connection_id: str, query: dict[str, Any] | None) -> dict[str, Any]:
    """Let the connection in when its ``ticket`` is valid (and use the ticket up), else refuse it."""
    user_id = tickets.redeem(db, (query or {}).get("ticket"))
    if user_id is None:
        return REFUSED
    connections.record(db, connection_id, user_id)
    return ACCEPTED


def disconnect(db, *, connection_id: str) -> None:
    """Forget the connection (idempotent)."""
    connections.forget(db, [connection_id])


def receive(db, queues, *, connection_id: str, body: Any) -> None:
    """Answer one client message: ``subscribe`` with the current state, ``ping`` with ``pong``, else ``error``."""
    user_id = connections.owner(db, connection_id)
    if user_id is None:
        return  # not (or no longer) recorded: nobody to answer on behalf of
    entries = _answer(db, user_id, body)
    events.send(queues, [connection_id], entries)


def _answer(db, user_id: str, body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, str) or len(body) > MAX_FRAME_CHARS:
        return [_error("frame_too_large", f"A message may have at most {MAX_FRAME_CHARS} characters.")]
    try:
        request = json.loads(body)
    except ValueError:
        return [_error("invalid_json", "A message must be a JSON object.")]
    if not isinstance(request, dict):
        return [_error("invalid_json", "A message must be a JSON object.")]
    action = request.get("action")
    if action == "ping":
        return [{"message": {"type": "pong", "id": _short(request.get("id"))}, "links": None}]
    if action != "subscribe":
        return [_error("unknown_action", "action must be subscribe or ping.")]
    image_ids, batch_id = request.get("image_ids", []), request.get("batch_id")
    if not isinstance(image_ids, list) or len(image_ids) > MAX_SUBSCRIBE_IDS or not all(map(_is_uuid, image_ids)):
        return [_error("invalid_input", f"image_ids must be a list of at most {MAX_SUBSCRIBE_IDS} image ids.")]
    if batch_id is not None and not _is_uuid(batch_id):
        return [_error("invalid_input", "batch_id must be a batch id.")]
    image_ids = list(dict.fromkeys(str(uuid.UUID(value)) for value in image_ids))
    entries, summary = events.current_state(db, user_id, image_ids=image_ids,
                                            batch_id=str(uuid.UUID(batch_id)) if batch_id else None)
    return entries + [{"message": summary, "links": None}]


def _error(code: str, message: str) -> dict[str, Any]:
    return {"message": {"type": "error", "error": {"code": code, "message": message}}, "links": None}


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(value)
        return isinstance(value, str)
    except (TypeError, ValueError, AttributeError):
        return False


def _short(value: Any) -> Any:
    # A ping may carry an id to match its pong; only a short string or number is echoed.
    return value if isinstance(value, (int, float)) or (isinstance(value, str) and len(value) <= 64) else None
