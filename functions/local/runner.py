"""The local event runner: what Lambda's SQS event source mappings do, on one machine.

For every ``@app.on_sqs_message`` handler the app declares, a poller long-polls that
queue and hands a Lambda-shaped SQS event (``batch_size`` records at a time) to a pool of
``concurrency`` warm worker processes shared by every queue (functions/local/workers.py).
As on Lambda, each invocation runs with its function's timeout enforced: a worker still
busy at the timeout is killed and replaced (a cold start), and its messages are left on
the queue. A message is deleted only when the handler succeeded for it: a raised
exception or a timeout keeps the whole batch, a returned ``{"batchItemFailures": [...]}``
keeps exactly those. Kept messages come back after the visibility timeout and reach the
DLQ after the queue's maxReceiveCount.

Every ``@app.schedule`` function is called on a timer at its own rate with an
EventBridge-shaped "Scheduled Event", as the rule Chalice declares for it would on AWS
(in the runner's own process).

``isolation="thread"`` calls handlers on threads of this process instead, for apps that
exist only inside a test; nothing enforces their timeout.
"""

import datetime
import json
import logging
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalice.app import Rate, ScheduledEventConfig, SQSEventConfig

from functions.local.workers import IdleWorkers, InvocationFailed, InvocationTimedOut, WorkerDied, WorkerPool, load_app

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


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda hands an SQS-triggered function for these received messages."""
    return {"Records": [_record(message, queue_arn, region) for message in messages]}


def _record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
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


def scheduled_event(rule_name: str, region: str) -> dict[str, Any]:
    """The event EventBridge hands a function on its schedule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:000000000000:rule/{rule_name}"],
        "detail": {},
    }


RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def schedule_seconds(expression: Any) -> float | None:
    """Seconds between runs of a Chalice schedule (``Rate`` or "rate(5 minutes)"); None for cron."""
    if isinstance(expression, Rate):
        return float(expression.value * RATE_UNITS[expression.unit.lower()])
    text = expression if isinstance(expression, str) else expression.to_string()
    match = re.fullmatch(r"rate\((\d+) (minutes?|hours?|days?)\)", text.strip())
    return float(int(match.group(1)) * RATE_UNITS[match.group(2)]) if match else None


def failed_ids(result: Any) -> set | None:
    """Message ids a handler reported as failed (None: it reported nothing, so all succeeded)."""
    if isinstance(result, dict) and "batchItemFailures" in result:
        return {item["itemIdentifier"] for item in result["batchItemFailures"]}
    return None


def declared_timeouts() -> dict[str, float]:
    """Each function's timeout in infra/resources.json (the one AWS enforces), by handler name."""
    try:
        from infra.resources import DESCRIPTION

        functions = json.loads(DESCRIPTION.read_text()).get("functions", {})
    except (ImportError, OSError, ValueError):
        return {}
    return {name: float(spec["timeout"]) for name, spec in functions.items()
            if isinstance(spec, dict) and "timeout" in spec}


class InProcessWorker:
    """Calls handlers on the caller's thread (``isolation="thread"``): no timeout can be enforced."""

    pid = None

    def __init__(self, app):
        self._app = app

    def invoke(self, name: str, event: dict[str, Any], timeout: float, settings: Any = None) -> Any:
        try:
            return self._app.handler_map[name](event, LambdaContext(name, timeout))
        except Exception as error:
            raise InvocationFailed(f"{error.__class__.__name__}: {error}\n{traceback.format_exc()}") from error


class InProcessPool:
    """``size`` in-process slots with the WorkerPool's interface."""

    def __init__(self, app, size: int):
        self.idle = IdleWorkers()
        for _ in range(size):
            self.idle.put(InProcessWorker(app))
        self.pids: list[int] = []
        self.cold_starts = 0

    def start(self) -> "InProcessPool":
        return self

    def release(self, worker) -> None:
        self.idle.put(worker)

    def close(self, timeout: float = 10.0) -> None:
        pass


class EventRunner:
    """Feeds every SQS event source of a Chalice app from its queue, until ``stop()``."""

    def __init__(self, app, sqs, *, region: str, concurrency: int = 2, wait_seconds: int = 1,
                 timeout_seconds: float = 60.0, queue_names: dict[str, str] | None = None,
                 schedule_every: float | None = None, run_schedules: bool = True,
                 isolation: str = "process", app_path: str = "app:app",
                 worker_env: dict[str, str] | None = None, settings_source: Callable[[], Any] | None = None):
        if isolation not in ("process", "thread"):
            raise ValueError("isolation must be 'process' or 'thread'")
        self._app = app
        self._sqs = sqs
        self._region = region
        self._concurrency = concurrency
        self._wait_seconds = max(0, min(20, wait_seconds))
        self._timeout = timeout_seconds
        # Lambda enforces each function's own timeout; locally FUNCTION_TIMEOUT_SECONDS caps them all.
        declared = declared_timeouts()
        self._timeouts = {name: min(declared.get(name, timeout_seconds), timeout_seconds)
                          for name in app.handler_map}
        # Chalice's decorator needs the queue name at import time; settings may rename it.
        self._queue_names = queue_names or {}
        # Tests shorten every schedule, or leave them off to call them when they choose.
        self._schedule_override = schedule_every
        self._run_schedules = run_schedules
        self.isolation = isolation
        self._app_path = app_path
        self._worker_env = worker_env
        # Tests reconfigure wiring in this process; their settings then travel with each invocation.
        self._settings_source = settings_source if isolation == "process" else None
        self.pool: WorkerPool | None = None  # started by start()
        self._executor: ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._schedule_threads: list[threading.Thread] = []
        self._in_flight = 0
        self._in_flight_changed = threading.Condition()
        self.handled = 0
        self.timed_out = 0
        self.failed = 0
        self.scheduled_runs: dict[str, int] = {}

    def sources(self) -> list[SQSEventConfig]:
        return [source for source in self._app.event_sources if isinstance(source, SQSEventConfig)]

    def timeout_of(self, name: str) -> float:
        """The timeout enforced on ``name``'s invocations."""
        return self._timeouts.get(name, self._timeout)

    def start(self) -> "EventRunner":
        sources = self.sources()
        if sources:
            self.pool = self._make_pool().start()
            self._executor = ThreadPoolExecutor(self._concurrency, thread_name_prefix="runner-invoke")
        for source in sources:
            queue = str(source.queue)  # our handlers name their queue (never a queue_arn)
            name = self._queue_names.get(queue, queue)
            url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
            arn = self._sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            thread = threading.Thread(target=self._poll, args=(source, url, arn), name=f"poll-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
            log.info("runner: %s <- %s (batch %d, timeout %g s)", source.name, name, source.batch_size,
                     self.timeout_of(source.name))
        if sources:
            log.info("runner: %d %s shared by %d queue(s)", self._concurrency,
                     "worker processes" if self.isolation == "process" else "threads", len(sources))
        for schedule in self.schedules():
            every = self._schedule_override or schedule_seconds(schedule.schedule_expression)
            if every is None:
                log.warning("runner: %s has a cron schedule; it is not run locally", schedule.name)
                continue
            thread = threading.Thread(target=self._tick, args=(schedule, every), name=f"schedule-{schedule.name}",
                                      daemon=True)
            thread.start()
            self._schedule_threads.append(thread)
            log.info("runner: %s every %g s", schedule.name, every)
        return self

    def _make_pool(self):
        if self.isolation == "thread":
            return InProcessPool(self._app, self._concurrency)
        # The workers import the app by module path: it must be the very app we were given.
        if load_app(self._app_path) is not self._app:
            raise ValueError(f"{self._app_path} is not this app; use isolation='thread' for an app "
                             "that exists only in this process")
        return WorkerPool(self._concurrency, self._app_path, env=self._worker_env)

    def schedules(self) -> list[ScheduledEventConfig]:
        if not self._run_schedules:
            return []
        return [source for source in self._app.event_sources if isinstance(source, ScheduledEventConfig)]

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the worker processes alive now (none in thread isolation)."""
        return list(self.pool.pids) if self.pool else []

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling and drain: wait for invocations in flight to finish, then end the workers.

        An invocation still running after ``timeout`` seconds has its worker killed, as Lambda
        would at the function's timeout; its messages come back after the visibility timeout.
        When this returns, no handler runs any more (in thread isolation it waits for them all).
        """
        self._stop.set()
        for thread in self._threads + self._schedule_threads:
            thread.join(timeout)
        with self._in_flight_changed:
            limit = None if self.isolation == "thread" else timeout
            drained = self._in_flight_changed.wait_for(lambda: self._in_flight == 0, limit)
        if not drained:
            log.warning("runner: %d invocation(s) still running after %g s; ending their workers",
                        self._in_flight, timeout)
        if self.pool:
            self.pool.close(timeout=5.0)
        if self._executor:
            self._executor.shutdown(wait=True)
        self._threads, self._schedule_threads = [], []

    def _poll(self, source: SQSEventConfig, url: str, arn: str) -> None:
        pool, executor = self.pool, self._executor
        assert pool is not None and executor is not None, "start() made them before any poller"
        while not self._stop.is_set():
            # Receive only when a worker is free, so messages do not wait invisible in our memory.
            if not pool.idle.wait_for_one(0.5):
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
                log.exception("runner: receive from %s failed", source.queue)
                self._stop.wait(1.0)
                continue
            messages = answer.get("Messages", [])
            if not messages:
                continue
            # Another queue's poller may have taken the free worker meanwhile: wait for the next one.
            worker = None
            while worker is None and not self._stop.is_set():
                worker = pool.idle.get(timeout=0.5)
            if worker is None:
                self._return_unstarted(url, messages)
                return
            with self._in_flight_changed:
                self._in_flight += 1
            try:
                executor.submit(self._invoke, worker, source, url, arn, messages)
            except RuntimeError:  # stop() finished while this long poll was still out
                with self._in_flight_changed:
                    self._in_flight -= 1
                self._return_unstarted(url, messages)
                return

    def _return_unstarted(self, url: str, messages: list[dict[str, Any]]) -> None:
        # Stopping with messages received but never handed to a worker: make them visible again now.
        try:
            self._sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                for index, message in enumerate(messages)])
        except Exception:
            log.warning("runner: could not return %d unstarted message(s); they come back after the "
                        "visibility timeout", len(messages))

    def _tick(self, schedule: ScheduledEventConfig, every: float) -> None:
        handler = self._app.handler_map[schedule.name]
        while not self._stop.wait(every):
            try:
                handler(scheduled_event(schedule.name, self._region),
                        LambdaContext(schedule.name, self.timeout_of(schedule.name)))
            except Exception:  # the next tick runs anyway, as the next scheduled invocation would
                log.exception("runner: scheduled %s raised", schedule.name)
            self.scheduled_runs[schedule.name] = self.scheduled_runs.get(schedule.name, 0) + 1

    def _invoke(self, worker, source: SQSEventConfig, url: str, arn: str, messages: list[dict[str, Any]]) -> None:
        try:
            self._deliver(worker, source, url, arn, messages)
        finally:
            assert self.pool is not None
            self.pool.release(worker)
            with self._in_flight_changed:
                self._in_flight -= 1
                self._in_flight_changed.notify_all()

    def _deliver(self, worker, source: SQSEventConfig, url: str, arn: str, messages: list[dict[str, Any]]) -> None:
        event = sqs_event(messages, arn, self._region)
        timeout = self.timeout_of(source.name)
        try:
            settings = self._settings_source() if self._settings_source else None
            result = worker.invoke(source.name, event, timeout, settings)
        except InvocationTimedOut:
            # Lambda's own words; the worker is gone, the batch returns after the visibility timeout.
            self.timed_out += 1
            log.error("runner: %s: Task timed out after %.2f seconds; worker %s killed, %d message(s) will be "
                      "retried", source.name, timeout, worker.pid, len(messages))
            return
        except (InvocationFailed, WorkerDied) as error:
            # A crash in one call never stops the runner; the batch returns after the visibility timeout.
            self.failed += 1
            log.error("runner: %s failed; %d message(s) will be retried: %s", source.name, len(messages), error)
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
