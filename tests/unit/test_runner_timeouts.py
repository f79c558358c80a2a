"""The local runner enforces each function's timeout as Lambda would, capped by FUNCTION_TIMEOUT_SECONDS."""

from app import app
from functions.local.runner import EventRunner, declared_timeouts


def test_given_the_resource_description_when_read_then_every_event_function_has_its_timeout():
    declared = declared_timeouts()
    runner = EventRunner(app, None, region="us-east-1")
    assert [source.name for source in runner.sources() if source.name not in declared] == []
    assert declared["process_image"] == 60 and declared["image_dead_letter"] == 30


def test_given_a_function_timeout_setting_when_a_runner_is_built_then_it_caps_each_declared_timeout():
    wide = EventRunner(app, None, region="us-east-1", timeout_seconds=45)
    assert wide.timeout_of("process_image") == 45
    assert wide.timeout_of("image_dead_letter") == 30
    short = EventRunner(app, None, region="us-east-1", timeout_seconds=5)
    assert {short.timeout_of(name) for name in ("process_image", "import_url", "deliver_webhook")} == {5}
