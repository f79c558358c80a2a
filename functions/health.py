"""Is every dependency answering? Used by GET /health."""

import functools
import time
from collections.abc import Callable

from functions.errors import PixelflowError
from functions.settings import (
    FETCH_ORDERS_QUEUE,
    GENERATION_JOBS_QUEUE,
    IMAGE_EVENTS_QUEUE,
    IMPORT_JOBS_QUEUE,
    OUTCOMES_QUEUE,
    PROVIDER_CALLS_QUEUE,
    WEBHOOK_DELIVERIES_QUEUE,
    WEBHOOK_SENDS_QUEUE,
)

QUEUES = (IMAGE_EVENTS_QUEUE, GENERATION_JOBS_QUEUE, IMPORT_JOBS_QUEUE, WEBHOOK_DELIVERIES_QUEUE,
          FETCH_ORDERS_QUEUE, WEBHOOK_SENDS_QUEUE, PROVIDER_CALLS_QUEUE, OUTCOMES_QUEUE)


def check_health(database_factory: Callable, storage_factory: Callable, queues_factory: Callable
                 ) -> tuple[bool, dict[str, dict[str, object]]]:
    """Probe the database, the bucket and each queue; return (all healthy, details per check)."""
    checks: dict[str, Callable[[], None]] = {
        "database": lambda: database_factory().ping(),
        "bucket": lambda: storage_factory().ping(),
    }
    for name in QUEUES:
        checks[f"queue:{name}"] = functools.partial(lambda queue: queues_factory().ping(queue), name)
    details: dict[str, dict[str, object]] = {}
    for name, probe in checks.items():
        started = time.perf_counter()
        try:
            probe()
            details[name] = {"ok": True}
        except PixelflowError as error:
            details[name] = {"ok": False, "error": error.message}
        except Exception as error:  # health must answer even when a client is misconfigured
            details[name] = {"ok": False, "error": error.__class__.__name__}
        details[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return all(item["ok"] for item in details.values()), details
