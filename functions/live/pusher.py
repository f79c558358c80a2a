"""The pusher: sends queued live messages through the API Gateway Management API.

It runs outside the VPC (the management API is an internet endpoint) and has no database:
what it learns, that a connection is gone (410), goes back on the live-gone queue. Every post
is bounded by the client's timeouts and is never retried: a slow or dead connection costs at
most ``LIVE_PUSH_TIMEOUT`` once, on this function, never on the pipeline.
"""

import dataclasses
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from functions.messages import GoneConnections, LivePush
from functions.settings import LIVE_GONE_QUEUE

log = logging.getLogger(__name__)

PARALLEL_CONNECTIONS = 16  # posts in flight at once; one connection's messages go in order


@dataclasses.dataclass(frozen=True)
class PushResult:
    sent: int
    gone: tuple[str, ...]
    failed: tuple[str, ...]


def with_links(entry: dict[str, Any], storage, ttl: int) -> dict[str, Any]:
    """The entry's message, with short-lived links signed into its ``image`` where ``links`` names objects."""
    message, links = entry.get("message"), entry.get("links")
    if not isinstance(message, dict):
        raise ValueError("an entry without a message")
    image = message.get("image")
    if not links or not isinstance(image, dict):
        return message
    image = dict(image)
    keys = links.get("variants") or []
    image["variants"] = [dict(variant, url=storage.presigned_get(key, expires_in=ttl))
                         for variant, key in zip(image.get("variants") or [], keys)]
    original = links.get("original")
    image["original"] = ({"url": storage.presigned_get(original[0], expires_in=ttl, download_name=original[1])}
                         if original else None)
    return dict(message, image=image)


def push(job: LivePush, *, client, storage, queues, link_ttl: int) -> PushResult:
    """Post every message of one live-events job to each of its connections; report the gone ones."""
    texts = [json.dumps(with_links(entry, storage, link_ttl), separators=(",", ":"), ensure_ascii=False)
             .encode("utf-8") for entry in job.messages]

    def post_all(connection_id: str) -> str:
        for text in texts:
            try:
                client.post_to_connection(ConnectionId=connection_id, Data=text)
            except client.exceptions.GoneException:
                return "gone"
            except Exception as error:  # timeouts, throttling, the endpoint unreachable: best effort
                log.info("live: push to %s failed: %s", connection_id, error.__class__.__name__)
                return "failed"
        return "sent"

    if len(job.connections) == 1:
        outcomes = [post_all(job.connections[0])]
    else:
        with ThreadPoolExecutor(min(PARALLEL_CONNECTIONS, len(job.connections)),
                                thread_name_prefix="live-push") as pool:
            outcomes = list(pool.map(post_all, job.connections))
    gone = tuple(cid for cid, outcome in zip(job.connections, outcomes) if outcome == "gone")
    failed = tuple(cid for cid, outcome in zip(job.connections, outcomes) if outcome == "failed")
    if gone:
        queues.send(LIVE_GONE_QUEUE, GoneConnections(gone).to_body())
    return PushResult(sent=outcomes.count("sent"), gone=gone, failed=failed)
