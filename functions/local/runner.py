"""The local event runner: what Lambda's SQS event source mappings do, on one machine.

For every ``@app.on_sqs_message`` handler the app declares, a poller long-polls that
queue and calls the app's own handler with a Lambda-shaped SQS event, ``batch_size``
records at a time, on a pool of ``concurrency`` workers. A message is deleted only when
the handler succeeded for it: a raised exception keeps the whole batch, a returned
``{"batchItemFailures": [...]}`` keeps exactly those. Kept messages come back after
the visibility timeout and reach the DLQ after the queue's maxReceiveCount.

Every ``@app.schedule`` function is called on a timer at its own rate with an
EventBridge-shaped "Scheduled Event", as the rule Chalice declares for it would on AWS.
"""

import datetime
import logging
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional

from chalice.app import Rate, ScheduledEventConfig, SQSEventConfig

log = logging.getLogger(__name__)


class LambdaContext:
    """The parts of Lambda's context object that handlers use."""

    def __init__(self, function_name: str, timeout_seconds: float):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def sqs_event(messages: List[Dict[str, Any]], queue_arn: str, region: str) -> Dict[str, Any]:
    """The event Lambda hands an SQS-triggered function for these received messages."""
    return {"Records": [_record(message, queue_arn, region) for message in messages]}


def _record(message: Dict[str, Any], queue_arn: str, region: str) -> Dict[str, Any]:
    attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        attributes[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType", "String"),
        }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def scheduled_event(rule_name: str, region: str) -> Dict[str, Any]:
    """The event EventBridge hands a function on its schedule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:000000000000:rule/{rule_name}"],
        "detail": {},
    }


RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def schedule_seconds(expression: Any) -> Optional[float]:
    """Seconds between runs of a Chalice schedule (``Rate`` or "rate(5 minutes)"); None for cron."""
    if isinstance(expression, Rate):
        return float(expression.value * RATE_UNITS[expression.unit.lower()])
    text = expression if isinstance(expression, str) else expression.to_string()
    match = re.fullmatch(r"rate\((\d+) (minutes?|hours?|days?)\)", text.strip())
    return float(int(match.group(1)) * RATE_UNITS[match.group(2)]) if match else None


def failed_ids(result: Any) -> Optional[set]:
    """Message ids a handler reported as failed (None: it reported nothing, so all succeeded)."""
    if isinstance(result, dict) and "batchItemFailures" in result:
        return {item["itemIdentifier"] for item in result["batchItemFailures"]}
    return None


class EventRunner:
    """Feeds every SQS event source of a Chalice app from its queue, until ``stop()``."""

    def __init__(self, app, sqs, *, region: str, concurrency: int = 2, wait_seconds: int = 1,
                 timeout_seconds: float = 60.0, queue_names: Optional[Dict[str, str]] = None,
                 schedule_every: Optional[float] = None, run_schedules: bool = True):
        self._app = app
        self._sqs = sqs
        self._region = region
        self._concurrency = concurrency
        self._wait_seconds = max(0, min(20, wait_seconds))
        self._timeout = timeout_seconds
        # Chalice's decorator needs the queue name at import time; settings may rename it.
        self._queue_names = queue_names or {}
        # Tests shorten every schedule, or leave them off to call them when they choose.
        self._schedule_override = schedule_every
        self._run_schedules = run_schedules
        self._stop = threading.Event()
        self._threads: List[threading.Thread] = []
        self._pools: List[ThreadPoolExecutor] = []
        self.handled = 0
        self.scheduled_runs: Dict[str, int] = {}

    def sources(self) -> List[SQSEventConfig]:
        return [source for source in self._app.event_sources if isinstance(source, SQSEventConfig)]

    def start(self) -> "EventRunner":
        for source in self.sources():
            name = self._queue_names.get(source.queue, source.queue)
            url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
            arn = self._sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix=f"runner-{source.name}")
            self._pools.append(pool)
            thread = threading.Thread(
                target=self._poll, args=(source, url, arn, pool), name=f"poll-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
            log.info("runner: %s <- %s (batch %d, %d workers)", source.name, name,
                     source.batch_size, self._concurrency)
        for schedule in self.schedules():
            every = self._schedule_override or schedule_seconds(schedule.schedule_expression)
            if every is None:
                log.warning("runner: %s has a cron schedule; it is not run locally", schedule.name)
                continue
            thread = threading.Thread(target=self._tick, args=(schedule, every), name=f"schedule-{schedule.name}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
            log.info("runner: %s every %g s", schedule.name, every)
        return self

    def schedules(self) -> List[ScheduledEventConfig]:
        if not self._run_schedules:
            return []
        return [source for source in self._app.event_sources if isinstance(source, ScheduledEventConfig)]

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling, and wait for handler calls in flight to finish."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        for pool in self._pools:
            pool.shutdown(wait=True)
        self._threads, self._pools = [], []

    def _poll(self, source: SQSEventConfig, url: str, arn: str, pool: ThreadPoolExecutor) -> None:
        slots = threading.Semaphore(self._concurrency)
        while not self._stop.is_set():
            # Receive only when a worker is free, so messages do not wait invisible in our memory.
            if not slots.acquire(timeout=0.5):
                continue
            try:
                answer = self._sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=min(10, source.batch_size),
                    WaitTimeSeconds=self._wait_seconds,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            except Exception:  # the queue service hiccupped: keep polling, as Lambda does
                slots.release()
                log.exception("runner: receive from %s failed", source.queue)
                self._stop.wait(1.0)
                continue
            messages = answer.get("Messages", [])
            if not messages:
                slots.release()
                continue
            future = pool.submit(self._invoke, source, url, arn, messages)
            future.add_done_callback(lambda _: slots.release())

    def _tick(self, schedule: ScheduledEventConfig, every: float) -> None:
        handler = self._app.handler_map[schedule.name]
        while not self._stop.wait(every):
            try:
                handler(scheduled_event(schedule.name, self._region), LambdaContext(schedule.name, self._timeout))
            except Exception:  # the next tick runs anyway, as the next scheduled invocation would
                log.exception("runner: scheduled %s raised", schedule.name)
            self.scheduled_runs[schedule.name] = self.scheduled_runs.get(schedule.name, 0) + 1

    def _invoke(self, source: SQSEventConfig, url: str, arn: str, messages: List[Dict[str, Any]]) -> None:
        event = sqs_event(messages, arn, self._region)
        handler = self._app.handler_map[source.name]
        try:
            result = handler(event, LambdaContext(source.name, self._timeout))
        except Exception:
            # A crash in one call never stops the runner; the batch returns after the visibility timeout.
            log.exception("runner: %s raised; %d message(s) will be retried", source.name, len(messages))
            return
        failed = failed_ids(result) or set()
        done = [message for message in messages if message["MessageId"] not in failed]
        if done:
            try:
                self._sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(done)
                ])
            except Exception:
                log.exception("runner: deleting handled messages from %s failed", source.queue)
        self.handled += len(done)


def start_for(app, settings, sqs) -> EventRunner:
    """A runner for ``app`` configured from the settings (concurrency, long-poll wait, timeout)."""
    return EventRunner(app, sqs, region=settings.region, concurrency=settings.runner_concurrency,
                       wait_seconds=settings.runner_wait_seconds, timeout_seconds=settings.function_timeout).start()


def wait_for_stop_signal() -> None:
    """Block until Ctrl-C or SIGTERM."""
    import signal

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        while not stopping.wait(1):
            pass
    except KeyboardInterrupt:
        pass


def main() -> int:
    """Run the app's event handlers alone (no HTTP), against the configured endpoint and database."""
    from functions import wiring

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from app import app

    runner = start_for(app, wiring.settings(), wiring.boto3_client("sqs"))
    wait_for_stop_signal()
    runner.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
