"""each_record: one record at a time, one log line and one CloudWatch EMF line each, and a raise when all failed."""

import json
import logging
from pathlib import Path

import pytest
from chalice.app import SQSEvent

from functions import records

EVENT = json.loads((Path(__file__).resolve().parents[1] / "events" / "sqs_record.json").read_text())


def sqs_event(count=1):
    event = json.loads(json.dumps(EVENT))
    first = event["Records"][0]
    event["Records"] = [dict(first, messageId=f"m{index}", body=json.dumps({"n": index})) for index in range(count)]
    return SQSEvent(event, None)


def emf_documents(caplog):
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "functions.metrics"]


def test_a_handled_record_leaves_one_log_line_and_one_emf_line(caplog):
    # given a handler that notes what its record came to
    def import_url(body):
        records.note(outcome="stored", image_id="img-1")

    # when the record is handled
    with caplog.at_level(logging.DEBUG):
        result = records.each_record(sqs_event(), import_url)

    # then nothing is reported failed, and the record has its log line with structured fields
    assert result == {"batchItemFailures": []}
    [line] = [r for r in caplog.records if r.name == "functions.records"]
    assert line.levelno == logging.INFO
    assert line.record["image_id"] == "img-1" and line.record["outcome"] == "stored"
    assert line.record["queue_wait_ms"] == 250.0 and line.record["duration_ms"] >= 0
    # and one EMF document counts it as processed under its handler
    [document] = emf_documents(caplog)
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "pixelflow" and directive["Dimensions"] == [["Handler"]]
    assert {m["Name"] for m in directive["Metrics"]} == {"Processed", "Failed", "ProcessingMs", "QueueWaitMs"}
    assert document["Handler"] == "import_url" and document["Processed"] == 1 and document["Failed"] == 0
    assert document["QueueWaitMs"] == 250.0 and document["image_id"] == "img-1"


def test_an_image_that_ended_failed_is_counted_by_its_code(caplog):
    def import_url(body):
        records.note(outcome="failed", image_id="img-2", code="url_forbidden")

    with caplog.at_level(logging.DEBUG):
        assert records.each_record(sqs_event(), import_url) == {"batchItemFailures": []}

    [document] = emf_documents(caplog)
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Handler"], ["Handler", "Code"]]
    assert document["Code"] == "url_forbidden" and document["Failed"] == 1 and document["Processed"] == 1


def test_an_invocation_whose_only_record_failed_raises():
    # given a handler that raises
    def import_url(body):
        raise RuntimeError("database went away")

    # when its only record is handled, then the invocation fails (Lambda's Errors metric counts it)
    with pytest.raises(records.BatchFailed, match="m0"):
        records.each_record(sqs_event(), import_url)


def test_a_partly_failed_batch_reports_only_the_failed_records(caplog):
    # given a batch of three where the second record raises
    def import_url(body):
        if json.loads(body)["n"] == 1:
            raise ValueError("bad record")
        records.note(outcome="stored")

    # when it is handled
    with caplog.at_level(logging.DEBUG):
        result = records.each_record(sqs_event(3), import_url)

    # then only that record is reported, and it is counted as failed with its exception's name
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    failed = [d for d in emf_documents(caplog) if d["Failed"]]
    assert [(d["message_id"], d["Code"], d["Processed"]) for d in failed] == [("m1", "ValueError", 0)]


def test_on_lambda_the_emf_line_goes_to_stdout(monkeypatch, capsys):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "pixelflow-dev-import_url")

    records.each_record(sqs_event(), lambda body: records.note(outcome="stored"))

    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "pixelflow"


def test_queue_wait_is_unknown_without_sqs_timestamps():
    assert records.queue_wait_ms({}) is None
    assert records.queue_wait_ms({"SentTimestamp": "1000", "ApproximateFirstReceiveTimestamp": "1500"}) == 500.0
