"""`make deploy-local` and GET /health against the embedded stack."""

import dataclasses

import requests

from functions import wiring
from functions.adapters.database import Database
from functions.local.stack import EmbeddedPostgres
from infra.deploy_local import deploy
from infra.resources import load


def test_given_a_provisioned_stack_when_deploy_local_runs_again_then_nothing_changes(stack):
    settings = wiring.settings()
    again = deploy(settings, wiring.boto3_client("s3"), wiring.boto3_client("sqs"), wiring.database())
    assert again == []


def test_given_the_resource_description_when_provisioned_then_queues_have_dlqs_redrive_and_timeouts(stack):
    settings = wiring.settings()
    sqs = wiring.boto3_client("sqs")
    for queue in load(settings).queues:
        url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["VisibilityTimeout"] == str(settings.function_timeout * 6)
        assert f":{queue.name}-dlq" in attributes["RedrivePolicy"]
        assert '"maxReceiveCount": 5' in attributes["RedrivePolicy"]
    cors = wiring.boto3_client("s3").get_bucket_cors(Bucket=settings.bucket)["CORSRules"][0]
    assert "POST" in cors["AllowedMethods"] and cors["AllowedOrigins"] == [settings.public_origin]


def test_given_every_dependency_up_when_health_is_asked_then_it_answers_200_with_each_check(server):
    answer = requests.get(server.url + "/health", timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "bucket", "queue:image-events", "queue:generation-jobs",
                                   "queue:import-jobs", "queue:webhook-deliveries", "queue:fetch-orders",
                                   "queue:webhook-sends", "queue:provider-calls", "queue:outcomes"}


def test_given_the_database_stops_when_health_is_asked_then_503_names_it_and_recovers_after_restart(
        server, private_dir):
    original = wiring.settings()
    postgres = EmbeddedPostgres(private_dir / "pgdata")
    url = postgres.start()
    try:
        wiring.configure(dataclasses.replace(original, database_url=url))
        assert requests.get(server.url + "/health", timeout=10).status_code == 200
        postgres.stop()
        down = requests.get(server.url + "/health", timeout=30)
        assert down.status_code == 503
        assert down.json()["failed"] == ["database"]
        assert down.json()["checks"]["database"]["ok"] is False
        postgres.start()
        # The adapter reconnects by itself: same wiring, no restart of the app.
        assert requests.get(server.url + "/health", timeout=10).status_code == 200
    finally:
        wiring.configure(original)
        postgres.stop()


def test_given_a_lost_connection_when_a_query_runs_then_the_adapter_reconnects(stack):
    db = Database(wiring.settings().database_url)
    pid = db.one("SELECT pg_backend_pid() AS pid")["pid"]
    wiring.database().execute("SELECT pg_terminate_backend(:pid)", pid=pid)
    assert db.one("SELECT 1 AS ok") == {"ok": 1}
    assert db.one("SELECT pg_backend_pid() AS pid")["pid"] != pid
    db.close()
