"""The local event runner against a real moto server: S3 notification -> SQS -> handler."""

import json
import os
import queue
import signal
import subprocess
import sys

import boto3
import pytest
from chalice import Chalice, Rate

from functions import wiring
from functions.local.runner import EventRunner, schedule_seconds
from functions.local.stack import LOCAL_CREDENTIALS, MotoServer
from functions.s3_events import created_objects
from functions.settings import Settings
from infra.deploy_local import deploy
from tests.integration.helpers import wait_for

REGION = "us-east-1"


@pytest.fixture(scope="module")
def aws(stack, tmp_path_factory):
    """A moto server of this module's own, provisioned like `make deploy-local`."""
    moto = MotoServer(log_path=tmp_path_factory.mktemp("moto") / "moto.log")
    moto.start()
    clients = {
        name: boto3.session.Session().client(
            name, region_name=REGION, endpoint_url=moto.url,
            aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
        for name in ("s3", "sqs")
    }
    yield moto, clients
    moto.stop()


def _queue_pair(sqs, name, *, visibility=1, max_receive=5):
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=name, Attributes={
        "VisibilityTimeout": str(visibility),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive}),
    })["QueueUrl"]
    return url, dlq


def test_given_a_provisioned_bucket_when_an_object_lands_under_originals_then_the_handler_gets_its_decoded_key(aws):
    moto, clients = aws
    settings = Settings.from_env({"AWS_ENDPOINT_URL": moto.url, "DATABASE_URL": "unused"})
    changes = deploy(settings, clients["s3"], clients["sqs"], wiring.database())
    assert "bucket pixelflow-images notifications set" in changes
    app = Chalice("runner-s3-test")
    seen = queue.Queue()

    @app.on_sqs_message(queue="image-events", batch_size=1)
    def on_image_event(event):
        for record in event:
            for created in created_objects(record.body):
                seen.put((created.key, record.to_dict()))

    runner = EventRunner(app, clients["sqs"], region=REGION, wait_seconds=1, isolation="thread").start()
    try:
        key = "originals/user 1/photo café.jpg"
        clients["s3"].put_object(Bucket=settings.bucket, Key=key, Body=b"bytes")
        clients["s3"].put_object(Bucket=settings.bucket, Key="variants/elsewhere.jpg", Body=b"x")
        got_key, record = seen.get(timeout=20)
    finally:
        runner.stop()
    assert got_key == key
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":image-events")
    assert record["awsRegion"] == REGION
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageId"] and record["receiptHandle"]
    assert seen.empty(), "only the originals/ object may notify"


def test_given_a_handler_that_raises_when_it_keeps_failing_then_the_message_is_retried_and_lands_in_the_dlq(aws):
    _, clients = aws
    sqs = clients["sqs"]
    url, dlq = _queue_pair(sqs, "always-fails", visibility=1, max_receive=3)
    app = Chalice("runner-retry-test")
    attempts = []

    @app.on_sqs_message(queue="always-fails", batch_size=1)
    def explode(event):
        for record in event:
            attempts.append(int(record.to_dict()["attributes"]["ApproximateReceiveCount"]))
        raise RuntimeError("this handler always fails")

    runner = EventRunner(app, sqs, region=REGION, wait_seconds=1, isolation="thread").start()
    try:
        sqs.send_message(QueueUrl=url, MessageBody="doomed")
        dead = []

        def reached_dlq():
            dead.extend(sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=0).get("Messages", []))
            return bool(dead)
        moved = wait_for(reached_dlq, timeout=30)
    finally:
        runner.stop()
    assert moved, f"message never reached the DLQ; attempts={attempts}"
    assert attempts == [1, 2, 3]
    assert dead[0]["Body"] == "doomed"


def test_given_a_batch_when_the_handler_reports_item_failures_then_only_those_come_back(aws):
    _, clients = aws
    sqs = clients["sqs"]
    url, _ = _queue_pair(sqs, "partial-batch", visibility=1, max_receive=5)
    for body in ("ok-1", "fail-1", "ok-2", "fail-2"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    app = Chalice("runner-partial-test")
    deliveries = []

    @app.on_sqs_message(queue="partial-batch", batch_size=10)
    def partly(event):
        failures = []
        for record in event:
            deliveries.append(record.body)
            if record.body.startswith("fail"):
                failures.append({"itemIdentifier": record.to_dict()["messageId"]})
        return {"batchItemFailures": failures}

    runner = EventRunner(app, sqs, region=REGION, wait_seconds=1, concurrency=1, isolation="thread").start()
    try:
        came_back = wait_for(lambda: deliveries.count("fail-1") >= 2 and deliveries.count("fail-2") >= 2, 20)
    finally:
        runner.stop()
    assert came_back, f"failed items were not redelivered: {deliveries}"
    assert deliveries.count("ok-1") == 1
    assert deliveries.count("ok-2") == 1


def test_given_a_handler_that_crashes_once_when_more_messages_arrive_then_the_runner_keeps_serving(aws):
    _, clients = aws
    sqs = clients["sqs"]
    url, _ = _queue_pair(sqs, "crash-once", visibility=30)
    app = Chalice("runner-crash-test")
    handled = queue.Queue()

    @app.on_sqs_message(queue="crash-once", batch_size=1)
    def sometimes(event):
        for record in event:
            if record.body == "boom":
                raise ValueError("boom")
            handled.put(record.body)

    runner = EventRunner(app, sqs, region=REGION, wait_seconds=1, isolation="thread").start()
    try:
        sqs.send_message(QueueUrl=url, MessageBody="boom")
        sqs.send_message(QueueUrl=url, MessageBody="after")
        assert handled.get(timeout=20) == "after"
    finally:
        runner.stop()


def test_given_a_scheduled_function_when_the_runner_ticks_then_it_gets_an_eventbridge_scheduled_event():
    app = Chalice("runner-schedule-test")
    seen = queue.Queue()

    @app.schedule(Rate(5, unit=Rate.MINUTES), name="tidy")
    def tidy(event):
        seen.put(event.to_dict())
        raise RuntimeError("a failing run must not stop the next one")

    runner = EventRunner(app, sqs=None, region=REGION, schedule_every=0.2, isolation="thread").start()
    try:
        first, second = seen.get(timeout=10), seen.get(timeout=10)
    finally:
        runner.stop()
    assert first["detail-type"] == "Scheduled Event" and first["source"] == "aws.events"
    assert first["resources"] == [f"arn:aws:events:{REGION}:000000000000:rule/tidy"]
    assert first["region"] == REGION and first["detail"] == {} and first["id"] != second["id"]
    assert runner.scheduled_runs["tidy"] >= 2


def test_given_schedule_expressions_when_read_then_rates_become_seconds_and_cron_is_not_run_locally():
    assert schedule_seconds(Rate(5, unit=Rate.MINUTES)) == 300
    assert schedule_seconds(Rate(1, unit=Rate.HOURS)) == 3600
    assert schedule_seconds("rate(2 days)") == 172800
    assert schedule_seconds("cron(0 12 * * ? *)") is None


# --- worker processes: Lambda's timeout, cold starts and lifetimes -------------------------

from tests.integration.runner_apps import APP_PATH as WORK_APP  # noqa: E402


@pytest.fixture(scope="module")
def work_queue(aws):
    """runner_apps' queue: a visibility timeout of 1 s, and the DLQ after 2 receives."""
    _, clients = aws
    return _queue_pair(clients["sqs"], "runner-work", visibility=1, max_receive=2)


def _alive(pid):
    """True while ``pid`` runs (a zombie waiting for its reaper counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry))
    return found


def test_given_worker_processes_when_a_message_arrives_then_a_warm_worker_outside_this_process_handles_it(
        aws, work_queue, private_dir):
    from tests.integration.runner_apps import app

    _, clients = aws
    sqs = clients["sqs"]
    url, _ = work_queue
    runner = EventRunner(app, sqs, region=REGION, wait_seconds=1, concurrency=2, app_path=WORK_APP).start()
    try:
        workers = runner.worker_pids
        for index in range(4):
            sqs.send_message(QueueUrl=url, MessageBody=f"pid:{private_dir / str(index)}")
        assert wait_for(lambda: runner.handled == 4), runner.handled
        pids = {int((private_dir / str(index)).read_text()) for index in range(4)}
    finally:
        runner.stop()
    assert len(workers) == 2 and os.getpid() not in pids
    assert pids <= set(workers), "handlers ran in the pool's warm workers, no new process per message"
    assert runner.pool.cold_starts == 2
    assert not any(_alive(pid) for pid in workers), "stop() ends the workers"


def test_given_a_handler_past_its_timeout_when_invoked_then_its_worker_is_killed_and_the_message_dead_letters(
        aws, work_queue, private_dir):
    from tests.integration.runner_apps import app

    _, clients = aws
    sqs = clients["sqs"]
    url, dlq = work_queue
    runner = EventRunner(app, sqs, region=REGION, wait_seconds=1, concurrency=1, timeout_seconds=1,
                         app_path=WORK_APP).start()
    try:
        first_worker = runner.worker_pids[0]
        sqs.send_message(QueueUrl=url, MessageBody="hang")
        dead = []

        def reached_dlq():
            dead.extend(sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=0).get("Messages", []))
            return bool(dead)
        moved = wait_for(reached_dlq, timeout=30)
        # The pool is whole again and still serves.
        sqs.send_message(QueueUrl=url, MessageBody=f"pid:{private_dir / 'after'}")
        assert wait_for(lambda: (private_dir / "after").exists()), "a replacement worker serves the next message"
    finally:
        runner.stop()
    assert moved, f"the timed-out message never reached the DLQ (timeouts: {runner.timed_out})"
    assert dead[0]["Body"] == "hang"
    assert runner.timed_out == 2, "each of the two receives ended at the timeout"
    assert not _alive(first_worker), "the timed-out worker was killed"
    assert runner.pool.cold_starts == 3, "each killed worker was replaced by a cold start"
    assert int((private_dir / "after").read_text()) != first_worker


def test_given_a_runner_process_when_it_is_killed_then_its_worker_processes_end_too(stack):
    runner = subprocess.Popen([sys.executable, "-m", "functions.local.runner"], env=dict(os.environ),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: len(_children(runner.pid)) >= 2, timeout=60), _children(runner.pid)
        workers = _children(runner.pid)
        assert all("functions.local.workers" in open(f"/proc/{pid}/cmdline").read() for pid in workers)
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
        assert wait_for(lambda: not any(_alive(pid) for pid in workers), timeout=20), \
            [pid for pid in workers if _alive(pid)]
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()


def test_given_a_runner_whose_workers_are_busy_when_the_runner_is_killed_then_the_workers_end_mid_invocation(
        aws, work_queue, private_dir):
    moto, clients = aws
    sqs = clients["sqs"]
    url, _ = work_queue
    env = dict(os.environ, AWS_ACCESS_KEY_ID=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
               AWS_SECRET_ACCESS_KEY=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    runner = subprocess.Popen([sys.executable, "-c", "import sys; from tests.integration.runner_apps import serve; "
                               "serve(sys.argv[1])", moto.url], env=env)
    try:
        for index in range(2):
            sqs.send_message(QueueUrl=url, MessageBody=f"hang:{private_dir / str(index)}")
        # Both workers are inside a handler that never returns: only their parent's death can end them.
        assert wait_for(lambda: all((private_dir / str(index)).exists() for index in range(2)), timeout=60)
        busy = [int((private_dir / str(index)).read_text()) for index in range(2)]
        assert set(busy) <= set(_children(runner.pid))
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
        assert wait_for(lambda: not any(_alive(pid) for pid in busy), timeout=20), [p for p in busy if _alive(p)]
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        sqs.purge_queue(QueueUrl=url)
