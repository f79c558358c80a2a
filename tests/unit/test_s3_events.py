"""Parsing S3 notifications as they arrive through SQS."""

import json
from pathlib import Path

from functions.s3_events import created_objects

EVENTS = Path(__file__).resolve().parents[1] / "events"


def test_given_a_test_event_when_parsed_then_nothing_is_created():
    assert created_objects((EVENTS / "s3_test_event.json").read_text()) == []


def test_given_an_encoded_key_when_parsed_then_plus_and_percent_escapes_are_decoded():
    [created] = created_objects((EVENTS / "s3_object_created.json").read_text())
    assert created.key == "originals/user 1/photo café.jpg"
    assert created.bucket == "pixelflow-images"
    assert created.event_name == "ObjectCreated:Put"


def test_given_garbage_when_parsed_then_nothing_is_created():
    assert created_objects("not json") == []
    assert created_objects(json.dumps({"Records": [{"eventName": "ObjectRemoved:Delete"}]})) == []


def test_given_an_object_created_event_when_parsed_then_its_etag_and_size_say_which_content_landed():
    [created] = created_objects((EVENTS / "s3_object_created.json").read_text())
    assert (created.etag, created.size) == ("9dd4e461268c8034f5c8564e155c67a6", 5)
    body = {"Records": [{"eventName": "ObjectCreated:Post",
                         "s3": {"object": {"key": "originals/a", "size": 3, "eTag": '"abc-2"'}}}]}
    assert created_objects(json.dumps(body))[0].etag == "abc-2"  # quoted (as HEAD gives it) or not
    redriven = {"Records": [{"eventName": "ObjectCreated:Redrive", "s3": {"object": {"key": "originals/a"}}}]}
    assert created_objects(json.dumps(redriven))[0].etag is None
