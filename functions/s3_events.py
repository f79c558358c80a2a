"""Reading S3 event notifications as they arrive through SQS."""

import dataclasses
import json
import urllib.parse


@dataclasses.dataclass(frozen=True)
class ObjectCreated:
    bucket: str
    key: str       # decoded: S3 sends keys URL-encoded with '+' for spaces
    size: int
    event_name: str
    etag: str | None = None   # the stored object's ETag, without quotes; absent in redriven events


def created_objects(message_body: str) -> list[ObjectCreated]:
    """The ObjectCreated records in one SQS message body; ``s3:TestEvent`` and others give []."""
    try:
        payload = json.loads(message_body)
    except ValueError:
        return []
    if not isinstance(payload, dict) or payload.get("Event") == "s3:TestEvent":
        return []
    records = payload.get("Records")
    found: list[ObjectCreated] = []
    # Anything else is not an S3 notification: no retry can make it one, so it announces nothing.
    for record in records if isinstance(records, list) else []:
        if not isinstance(record, dict):
            continue
        name = str(record.get("eventName", ""))
        if not name.startswith("ObjectCreated:"):
            continue
        try:
            s3 = record.get("s3") or {}
            found.append(ObjectCreated(
                bucket=(s3.get("bucket") or {}).get("name", ""),
                key=urllib.parse.unquote_plus((s3.get("object") or {}).get("key", "")),
                size=int((s3.get("object") or {}).get("size") or 0),
                event_name=name,
                etag=str((s3.get("object") or {}).get("eTag") or "").strip('"') or None,
            ))
        except (AttributeError, TypeError, ValueError):
            continue  # a record of the wrong shape: dropped, as no retry can change it
    return found
