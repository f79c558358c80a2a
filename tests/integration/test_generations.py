"""Generation end to end: POST /generations -> generation-jobs steps -> original -> the standard pipeline."""

import dataclasses
import io

import pytest
import requests
from PIL import Image

from functions import wiring
from tests.fakes.fusionbrain_server import FakeFusionBrain
from tests.integration.helpers import bearer, fetch_variant, finished, image, wait_for


def generate(server, tokens, **body):
    answer = requests.post(f"{server.url}/generations", json={"prompt": "a red bicycle", **body},
                           headers=bearer(tokens), timeout=10)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "generating"
    return answer.json()["image_id"]


@pytest.fixture
def fusionbrain():
    """The app switched to the fusionbrain provider, talking to a local server that speaks its protocol."""
    original = wiring.settings()
    with FakeFusionBrain(polls_initial=1, polls_processing=1) as fake:
        wiring.configure(dataclasses.replace(
            original, provider="fusionbrain", fusionbrain_url=fake.url, fusionbrain_styles_url=fake.styles_url,
            fusionbrain_api_key=fake.api_key, fusionbrain_secret_key=fake.secret_key))
        try:
            yield fake
        finally:
            wiring.configure(original)


def test_given_the_local_provider_when_generating_then_the_image_is_processed_like_an_upload(server, user):
    image_id = generate(server, user, width=512, height=384, style="ANIME")
    first = image(server, user, image_id)
    assert first["source"] == "generation" and first["generation"]["prompt"] == "a red bicycle"
    item = finished(server, user, image_id)
    assert item["status"] == "done", item["error"]
    assert (item["width"], item["height"]) == (512, 384)
    assert item["generation"]["provider_status"] == "DONE" and item["generation"]["attempts"] >= 1
    _, thumbnail = fetch_variant(item, "thumbnail")
    assert Image.open(io.BytesIO(thumbnail)).size == (128, 128)


def test_given_fusion_brain_when_generating_then_the_protocol_is_followed_to_a_processed_image(
        server, user, fusionbrain):
    image_id = generate(server, user, width=256, height=256, negative_prompt="blurry")
    item = finished(server, user, image_id)
    assert item["status"] == "done", item["error"]
    assert (item["width"], item["height"]) == (256, 256)
    [run] = fusionbrain.requests_to(fusionbrain.RUN_PATH, "POST")
    params = run.form["params"].json()
    assert params["generateParams"]["query"] == "a red bicycle"
    assert params["negativePromptDecoder"] == "blurry"
    assert len(fusionbrain.requests_to(fusionbrain.PIPELINES_PATH)) == 1
    _, thumbnail = fetch_variant(item, "thumbnail")
    assert Image.open(io.BytesIO(thumbnail)).size == (128, 128)


@pytest.mark.parametrize("knob, code", [
    (lambda fake: fake.censor_next(), "generation_censored"),
    (lambda fake: fake.fail_next("No GPU left"), "generation_failed"),
])
def test_given_a_provider_that_censors_or_fails_when_generating_then_failed_with_the_right_code(
        server, user, fusionbrain, knob, code):
    knob(fusionbrain)
    item = finished(server, user, generate(server, user, width=128, height=128))
    assert (item["status"], item["error"]["code"]) == ("failed", code)
    assert item["error"]["message"]


def test_given_a_full_queue_when_generating_then_it_is_retried_later_not_failed(server, user, fusionbrain):
    fusionbrain.queue_full(2)
    item = finished(server, user, generate(server, user, width=128, height=128), timeout=60)
    assert item["status"] == "done", item["error"]
    assert len(fusionbrain.requests_to(fusionbrain.RUN_PATH, "POST")) == 3


def test_given_a_job_that_never_finishes_when_polls_run_out_then_generation_timeout(server, user, fusionbrain):
    fusionbrain.polls_processing = 1000
    original = wiring.settings()
    wiring.configure(dataclasses.replace(original, generation_max_polls=2))
    try:
        item = finished(server, user, generate(server, user, width=128, height=128), timeout=60)
    finally:
        wiring.configure(original)
    assert (item["status"], item["error"]["code"]) == ("failed", "generation_timeout")


def test_given_a_duplicated_poll_message_when_both_are_handled_then_one_original_is_stored(server, user, fusionbrain):
    fusionbrain.polls_initial = 2
    image_id = generate(server, user, width=128, height=128)
    # Duplicate every step the moment it could exist: the same step number, sent again.
    queues = wiring.queues()
    for step in (2, 3, 4):
        queues.send("generation-jobs", {"image_id": image_id, "step": step}, delay_seconds=1)
    item = finished(server, user, image_id, timeout=60)
    assert item["status"] == "done", item["error"]
    assert len(fusionbrain.jobs) == 1
    assert len(fusionbrain.requests_to(fusionbrain.RUN_PATH, "POST")) == 1
    assert not [r for r in fusionbrain.requests if r.status == 404], "a read-once result was read twice"
    row = wiring.database().one("SELECT processing_attempts FROM images WHERE id = :id", id=image_id)
    assert row["processing_attempts"] == 1


@pytest.mark.parametrize("body, field", [
    ({"prompt": ""}, "prompt"),
    ({"prompt": "x" * 1001}, "prompt"),
    ({"prompt": "ok", "width": 100}, "width"),
    ({"prompt": "ok", "height": 2048}, "height"),
    ({"prompt": "ok", "style": "NO_SUCH_STYLE"}, "style"),
    ({"prompt": "   "}, "prompt"),
    ({}, "prompt"),
])
def test_given_bad_generation_input_when_posting_then_422_names_the_field(server, user, body, field):
    before = wiring.database().one("SELECT count(*) AS n FROM images")["n"]
    answer = requests.post(f"{server.url}/generations", json=body, headers=bearer(user), timeout=10)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field
    assert wiring.database().one("SELECT count(*) AS n FROM images")["n"] == before


def test_given_the_local_provider_when_listing_styles_then_names_and_titles(server, user):
    answer = requests.get(f"{server.url}/generations/styles", headers=bearer(user), timeout=10)
    assert answer.status_code == 200
    assert {"DEFAULT", "ANIME", "UHD", "KANDINSKY"} <= {style["name"] for style in answer.json()["styles"]}


def test_given_a_finished_kickoff_when_its_duplicate_arrives_after_the_lease_then_no_second_job_starts(
        server, user, fusionbrain):
    from functions import generations

    fusionbrain.status_time = 600  # the first poll is 10 minutes away: step 1 stays the current step
    image_id = generate(server, user, width=128, height=128)

    def kicked_off():
        row = wiring.database().one("SELECT step, provider_status FROM generations WHERE image_id = :id", id=image_id)
        return row["step"] == 1 and row["provider_status"] == "INITIAL"
    assert wait_for(kicked_off, timeout=20)
    # A lease of 0 s: the duplicate arrives "after the lease" of the finished kickoff.
    result = generations.run_step(image_id, 1, db=wiring.database(), queues=wiring.queues(),
                                  settings=dataclasses.replace(wiring.settings(), function_timeout=0))
    assert result.action == "skipped"
    assert len(fusionbrain.requests_to(fusionbrain.RUN_PATH, "POST")) == 1
