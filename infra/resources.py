"""The resource description in infra/resources.json, resolved against the settings."""

import dataclasses
import json
from pathlib import Path

from functions.settings import Settings

DESCRIPTION = Path(__file__).resolve().parent / "resources.json"


@dataclasses.dataclass(frozen=True)
class QueueSpec:
    name: str
    dlq_name: str
    consumer: str
    max_receive_count: int
    visibility_timeout: int
    dlq_retention_seconds: int


@dataclasses.dataclass(frozen=True)
class NotificationSpec:
    id: str
    prefix: str
    events: tuple[str, ...]
    queue: QueueSpec


@dataclasses.dataclass(frozen=True)
class BucketSpec:
    name: str
    cors_origin: str
    cors_methods: tuple[str, ...]
    cors_headers: tuple[str, ...]
    cors_expose: tuple[str, ...]
    cors_max_age: int
    notifications: tuple[NotificationSpec, ...]


@dataclasses.dataclass(frozen=True)
class Resources:
    bucket: BucketSpec
    queues: tuple[QueueSpec, ...]


def load(settings: Settings, path: Path = DESCRIPTION) -> Resources:
    """Read the description and fill in names and timeouts from ``settings``."""
    raw = json.loads(path.read_text())
    dead_letter = raw["dead_letter"]
    queues: list[QueueSpec] = []
    for queue in raw["queues"]:
        name = queue["name"]
        queues.append(QueueSpec(
            name=name,
            dlq_name=name + dead_letter["suffix"],
            consumer=queue["consumer"],
            max_receive_count=queue["max_receive_count"],
            visibility_timeout=settings.visibility_timeout,
            dlq_retention_seconds=dead_letter["retention_seconds"],
        ))
    by_name = {queue.name: queue for queue in queues}
    bucket = raw["bucket"]
    cors = bucket["cors"]
    return Resources(
        bucket=BucketSpec(
            name=getattr(settings, bucket["name_setting"]),
            cors_origin=getattr(settings, cors["allowed_origin_setting"]),
            cors_methods=tuple(cors["allowed_methods"]),
            cors_headers=tuple(cors["allowed_headers"]),
            cors_expose=tuple(cors["expose_headers"]),
            cors_max_age=cors["max_age_seconds"],
            notifications=tuple(
                NotificationSpec(item["id"], item["prefix"], tuple(item["events"]), by_name[item["queue"]])
                for item in bucket["notifications"]
            ),
        ),
        queues=tuple(queues),
    )
