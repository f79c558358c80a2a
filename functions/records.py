"""One SQS record at a time, as Powertools' batch utility does it, with one log line and one metric line each.

``each_record`` calls a handler per record; a record that raises is reported in
``batchItemFailures`` and its neighbours are not re-run. When every record failed (at batch
size 1: whenever the record failed) it raises ``BatchFailed`` instead, so the failure shows in
Lambda's Errors metric; Lambda (and the local runner) then keep the whole batch, which is what
the failures list would have said.

A handler tells what its record came to with ``note(outcome=..., image_id=..., code=...)``;
``each_record`` then writes one INFO line (JSON fields on Lambda, under ``record``) and one
CloudWatch EMF line (functions/metrics.py): Processed, Failed (also by Code), ProcessingMs and
QueueWaitMs (SentTimestamp to ApproximateFirstReceiveTimestamp), per Handler.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from functions import metrics

log = logging.getLogger(__name__)

# Outcomes counted as Failed: the image (or delivery) ended failed, a give-up, or the record raised.
FAILED_OUTCOMES = frozenset({"failed", "gave_up", "error"})

_noted: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("noted")


class BatchFailed(Exception):
    """Every record of the invocation failed."""


def each_record(records: Iterable[Any], handle: Callable[[str], None]) -> dict[str, list[dict[str, str]]]:
    """Call ``handle(body)`` per record; report the ones that raised, or raise if all of them did."""
    failures = []
    handled = 0
    for record in records:
        raw = record.to_dict()
        handled += 1
        noted: dict[str, Any] = {}
        token = _noted.set(noted)
        started = time.perf_counter()
        try:
            handle(raw["body"])
        except Exception as exc:
            log.exception("record %s failed; it will be retried", raw["messageId"])
            failures.append({"itemIdentifier": raw["messageId"]})
            noted.update(outcome="error", code=type(exc).__name__)
        finally:
            _noted.reset(token)
        _handled(handle.__name__, raw, noted, time.perf_counter() - started)
    if failures and len(failures) == handled:
        raise BatchFailed(f"all {handled} record(s) failed: {', '.join(f['itemIdentifier'] for f in failures)}")
    return {"batchItemFailures": failures}


def note(*, outcome: str, image_id: str | None = None, code: str | None = None, **detail: Any) -> None:
    """Tell ``each_record`` what the current record came to (the last note wins; outside a record: ignored)."""
    noted = _noted.get(None)
    if noted is not None:
        noted.update(outcome=outcome, image_id=image_id, code=code or None, **detail)


def _handled(handler: str, raw: dict[str, Any], noted: dict[str, Any], seconds: float) -> None:
    attributes = raw.get("attributes") or {}
    outcome = noted.get("outcome", "handled")
    fields: dict[str, Any] = {
        "handler": handler, "message_id": raw.get("messageId"), "image_id": noted.get("image_id"),
        "outcome": outcome, "code": noted.get("code"), "duration_ms": round(seconds * 1000, 1),
        "queue_wait_ms": queue_wait_ms(attributes), "receive_count": attributes.get("ApproximateReceiveCount"),
    }
    fields.update({key: value for key, value in noted.items() if key not in fields})
    log.info("%s %s: %s%s, image %s, %.0f ms", handler, fields["message_id"], outcome,
             f" ({fields['code']})" if fields["code"] else "", fields["image_id"] or "-", fields["duration_ms"],
             extra={"record": fields})

    failed = outcome in FAILED_OUTCOMES
    values = {"Processed": 0 if outcome == "error" else 1, "Failed": 1 if failed else 0,
              "ProcessingMs": fields["duration_ms"]}
    if fields["queue_wait_ms"] is not None:
        values["QueueWaitMs"] = fields["queue_wait_ms"]
    dimensions = {"Handler": handler}
    by: tuple[tuple[str, ...], ...] = (("Handler",),)
    if failed:
        dimensions["Code"] = str(fields["code"] or outcome)
        by = (("Handler",), ("Handler", "Code"))
    properties = {key: fields[key] for key in ("message_id", "image_id", "outcome", "receive_count")
                  if fields[key] is not None}
    metrics.emit(metrics.emf_line(dimensions, values, properties, by=by))


def queue_wait_ms(attributes: dict[str, Any]) -> float | None:
    """How long the message waited for its first receive, from SQS's record attributes (None if absent)."""
    try:
        return max(0.0, float(attributes["ApproximateFirstReceiveTimestamp"]) - float(attributes["SentTimestamp"]))
    except (KeyError, TypeError, ValueError):
        return None
