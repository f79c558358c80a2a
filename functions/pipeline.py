"""SQS record handlers for the image pipeline: one record at a time, failures reported per record.

Every handler that can move an image to done or failed ends with ``announce``: the one place
that turns "this image is settled" into its webhook event and, for the last item of a batch,
the batch's. It runs after every such message, duplicates and replays included, and is
idempotent (one event per subject and type), so a crash between a terminal update and its
announcement is made good by the message's retry.
"""

import dataclasses
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from functions import batches, generations, housekeeping, imports, outbound, processing, records, webhooks, wiring
from functions.live import connections as live_connections
from functions.live import events as live_events
from functions.live import pusher
from functions.messages import (
    DeliveryAttempt,
    DeliveryOutcome,
    FetchOrder,
    GenerationOutcome,
    GenerationStep,
    GoneConnections,
    ImportJob,
    ImportOutcome,
    LivePush,
    MalformedMessage,
    ProviderCall,
    WebhookSend,
    read_outcome,
    unreadable_outcome,
)
from functions.records import note as _note
from functions.s3_events import created_objects

log = logging.getLogger(__name__)


def each_record(event: Iterable[Any], handle: Callable[[str], None]) -> dict[str, list[dict[str, str]]]:
    """Call ``handle(body)`` per record; a record that raises is reported, its neighbours are not re-run;
    if every record raised, raise (functions/records.py). Each record leaves one log line and one EMF line."""
    return records.each_record(event, handle)


def process_image_event(body: str) -> None:
    """One S3 notification: process every original it announces (test events are ignored)."""
    services = wiring.services()
    for created in created_objects(body):
        if not created.key.startswith("originals/"):
            continue
        outcome = processing.process_original(created.key, db=services.database, storage=services.storage,
                                              settings=services.settings, etag=created.etag,
                                              on_change=lambda image_id: live_events.image_changed(
                                                  services.database, services.queues, image_id))
        _note(outcome=outcome.status, image_id=outcome.image_id, code=outcome.code, key=created.key,
              reason=outcome.reason)
        announce(services=services, key=created.key)


def give_up_image_event(body: str) -> None:
    """One notification that exhausted its retries: its image ends failed with the last error."""
    services = wiring.services()
    for created in created_objects(body):
        if processing.give_up(services.database, created.key):
            log.warning("gave up on %s after repeated failures", created.key)
            _note(outcome="gave_up", key=created.key)
        announce(services=services, key=created.key)


def generation_step(body: str) -> None:
    """One generation-jobs message."""
    message = _read(GenerationStep, body)
    if message is None:
        return
    services = wiring.services()
    result = generations.run_step(message.image_id, message.step, db=services.database, queues=services.queues,
                                  settings=services.settings)
    _note(outcome=result.action, image_id=message.image_id, step=message.step,
          code=result.detail if result.action == "failed" else None, detail=result.detail)
    if result.action in ("failed", "skipped"):
        announce(services=services, image_id=message.image_id)


def give_up_generation_step(body: str) -> None:
    """A generation message that exhausted its retries: the image ends failed."""
    message = _read(GenerationStep, body)
    if message is None:
        return
    services = wiring.services()
    if generations.give_up(services.database, message.image_id):
        log.warning("gave up on generation %s", message.image_id)
        _note(outcome="gave_up", image_id=message.image_id)
    announce(services=services, image_id=message.image_id)


def import_url(body: str) -> None:
    """One import-jobs message."""
    message = _read(ImportJob, body)
    if message is None:
        return
    services = wiring.services()
    result = imports.run_import(message.image_id, db=services.database, queues=services.queues,
                                settings=services.settings)
    _note(outcome=result.action, image_id=message.image_id,
          code=result.detail if result.action == "failed" else None, detail=result.detail)
    if result.action in ("failed", "skipped"):
        announce(services=services, image_id=message.image_id)


def give_up_import(body: str) -> None:
    """An import message that exhausted its retries: the image ends failed with the last error."""
    message = _read(ImportJob, body)
    if message is None:
        return
    services = wiring.services()
    if imports.give_up(services.database, message.image_id):
        log.warning("gave up on import %s", message.image_id)
        _note(outcome="gave_up", image_id=message.image_id)
    announce(services=services, image_id=message.image_id)


def deliver_webhook(body: str) -> None:
    """One webhook-deliveries message."""
    message = _read(DeliveryAttempt, body)
    if message is None:
        return
    services = wiring.services()
    result = webhooks.deliver(message.delivery_id, message.attempt, db=services.database, queues=services.queues,
                              settings=services.settings, signing_key=services.webhook_signing_key)
    _note(outcome=result.action, delivery_id=message.delivery_id, attempt=message.attempt,
          code=result.detail.rpartition(": ")[2] if result.action == "failed" else None, detail=result.detail)


def give_up_webhook(body: str) -> None:
    """A delivery message that exhausted its retries: the delivery is recorded failed."""
    message = _read(DeliveryAttempt, body)
    if message is None:
        return
    if webhooks.give_up(wiring.services().database, message.delivery_id):
        log.warning("gave up on webhook delivery %s", message.delivery_id)
        _note(outcome="gave_up", delivery_id=message.delivery_id)


def push_live(body: str) -> None:
    """One live-events message: post it to its connections (outside the VPC, no database)."""
    message = _read(LivePush, body)
    if message is None:
        return
    services = wiring.services()
    result = pusher.push(message, client=services.live_client, storage=services.storage, queues=services.queues,
                         link_ttl=services.settings.download_url_ttl)
    _note(outcome="pushed", sent=result.sent, gone=len(result.gone), failed=len(result.failed))


def forget_gone_connections(body: str) -> None:
    """One live-gone message: delete the rows of connections the management API says are gone."""
    message = _read(GoneConnections, body)
    if message is None:
        return
    _note(outcome="forgot", connections=live_connections.forget(wiring.services().database, message.connections))


# --- outside the VPC: no database (functions/outbound.py) --------------------------------

def fetch_import(body: str) -> None:
    """One fetch-orders message (outside the VPC)."""
    order = _read(FetchOrder, body)
    if order is not None:
        outcome = outbound.fetch_import(order, wiring.outbound())
        _note(outcome=outcome.result, image_id=order.image_id, code=outcome.code)


def send_webhook(body: str) -> None:
    """One webhook-sends message (outside the VPC)."""
    order = _read(WebhookSend, body)
    if order is not None:
        outcome = outbound.send_webhook(order, wiring.outbound())
        _note(outcome=outcome.result, delivery_id=order.delivery_id, attempt=order.attempt, code=outcome.code)


def call_provider(body: str) -> None:
    """One provider-calls message (outside the VPC)."""
    order = _read(ProviderCall, body)
    if order is not None:
        outcome = outbound.call_provider(order, wiring.outbound())
        _note(outcome=outcome.result, image_id=order.image_id, step=order.step, code=outcome.code)


# --- back in the VPC: the outcomes and the orders that exhausted their retries ----------

def _read_outcome(body: str) -> ImportOutcome | DeliveryOutcome | GenerationOutcome | None:
    """The outcome; for one no retry can read, a failure of the claim it names (else None: logged, dropped).

    Nothing else would settle that claim: its order is consumed and no housekeeping looks at held claims.
    """
    try:
        return read_outcome(body)
    except MalformedMessage as error:
        failed = unreadable_outcome(body, str(error))
        if failed is None:
            log.error("dropped a malformed outcome naming no claim: %s (body starts %r)", error, body[:200])
        else:
            log.error("a malformed outcome fails its claim: %s (body starts %r)", error, body[:200])
        return failed


def record_outcome(body: str) -> None:
    """One outcomes message: record it against the claim it answers, then announce a settled image."""
    outcome = _read_outcome(body)
    if outcome is not None:
        _record(outcome)


def _record(outcome: ImportOutcome | DeliveryOutcome | GenerationOutcome) -> None:
    services = wiring.services()
    if isinstance(outcome, DeliveryOutcome):
        delivered = webhooks.record_outcome(outcome, db=services.database, queues=services.queues,
                                            settings=services.settings)
        _note(outcome=delivered.action, delivery_id=outcome.delivery_id, attempt=outcome.attempt,
              code=outcome.code, detail=delivered.detail)
        return
    if isinstance(outcome, ImportOutcome):
        action, detail = dataclasses.astuple(imports.record_outcome(outcome, db=services.database))
    else:
        action, detail = dataclasses.astuple(generations.record_outcome(outcome, db=services.database,
                                                                         queues=services.queues))
    _note(outcome=action, image_id=outcome.image_id, code=outcome.code, detail=detail)
    if action in ("failed", "skipped"):
        announce(services=services, image_id=outcome.image_id)


def give_up_fetch(body: str) -> None:
    """A fetch order that exhausted its retries: the import ends failed."""
    order = _read(FetchOrder, body)
    if order is not None:
        give_up_import(_body(ImportJob(order.image_id)))


def give_up_send(body: str) -> None:
    """A webhook send that exhausted its retries: the delivery is recorded failed."""
    order = _read(WebhookSend, body)
    if order is not None:
        give_up_webhook(_body(DeliveryAttempt(order.delivery_id, order.attempt)))


def give_up_provider_call(body: str) -> None:
    """A provider call that exhausted its retries: the image ends failed."""
    order = _read(ProviderCall, body)
    if order is not None:
        give_up_generation_step(_body(GenerationStep(order.image_id, order.step)))


# What ends a subject failed; every other result is a success or progress (stored, delivered, started, done …).
FAILED_RESULTS = frozenset({"failed", "censored", "rejected"})


def give_up_outcome(body: str) -> None:
    """An outcome that could not be recorded after every retry.

    A success (or progress) is recorded as record_outcome would, against its claim: the original is in
    storage, or the receiver has the event, and nothing may turn that into a failure (this raises again
    while the database is unreachable, and the message stays on the DLQ). A failure settles its subject
    failed as its order's DLQ would.
    """
    outcome = _read_outcome(body)
    if outcome is None:
        return
    if outcome.result not in FAILED_RESULTS:
        _record(outcome)
    elif isinstance(outcome, DeliveryOutcome):
        give_up_webhook(_body(DeliveryAttempt(outcome.delivery_id, outcome.attempt)))
    elif isinstance(outcome, ImportOutcome):
        give_up_import(_body(ImportJob(outcome.image_id)))
    elif isinstance(outcome, GenerationOutcome):
        give_up_generation_step(_body(GenerationStep(outcome.image_id, outcome.step)))


def _body(message) -> str:
    return json.dumps(message.to_body())


def _read(kind, body: str):
    """The message, or None for a body no retry can make readable (logged once here; the message is dropped)."""
    try:
        return kind.from_body(body)
    except MalformedMessage as error:
        log.error("dropped a malformed %s message: %s (body starts %r)", kind.__name__, error, body[:200])
        return None


def announce(*, image_id: str | None = None, key: str | None = None,
             services: wiring.Services | None = None) -> None:
    """If the image is done or failed: publish its event, and settle its batch (publishing that event once)."""
    services = services or wiring.services()
    db = services.database
    settled = processing.settled(db, image_id=image_id, key=key)
    if settled is None:
        return
    events = [settled.event, batches.finish(db, settled.batch_id) if settled.batch_id else None]
    # After the batch's completion is recorded (its progress says so), before the webhooks' own sends.
    live_events.image_changed(db, services.queues, settled.image_id, with_batch=True)
    for event in events:
        if event is not None and webhooks.publish(db, services.queues, event):
            log.info("queued %s for %s", event.type, event.subject_id)


def sweep() -> dict:
    """One housekeeping pass (the scheduled ``housekeeping`` function); raises if any part of it failed."""
    services = wiring.services()
    report = housekeeping.sweep(db=services.database, storage=services.storage, queues=services.queues,
                                settings=services.settings,
                                announce=lambda image_id: announce(services=services, image_id=image_id))
    summary = report.as_dict()
    log.info("housekeeping: %s", summary)
    if report.failures:
        # Everything else was done; the error makes the failed part visible (and the next run retries it).
        raise RuntimeError(f"housekeeping left {len(report.failures)} item(s) for the next run: "
                           f"{', '.join(report.failures[:5])}")
    return summary


def migrate() -> dict:
    """Apply pending schema migrations (the `migrate` function, invoked after each AWS deploy)."""
    from functions.adapters.database import apply_migrations

    return {"applied": apply_migrations(wiring.services().database)}
