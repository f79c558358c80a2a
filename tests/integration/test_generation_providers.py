"""Generation end to end with the OpenAI-compatible provider (one synchronous step), and a switched-off
Fusion Brain pipeline, each against a local server that speaks the vendor's protocol."""

import dataclasses
import io
import logging

import pytest
import requests
from PIL import Image

from functions import wiring
from tests.fakes.fusionbrain_server import FakeFusionBrain
from tests.fakes.openai_images_server import FakeOpenAIImages
from tests.integration.helpers import bearer, fetch_variant, finished


def generate(server, tokens, **body):
    answer = requests.post(f"{server.url}/generations", json={"prompt": "a red bicycle", **body},
                           headers=bearer(tokens), timeout=10)
    assert answer.status_code == 202, answer.text
    return answer.json()["image_id"]


@pytest.fixture
def openai_images():
    """The app switched to the openai provider, talking to a local server that speaks that protocol."""
    original = wiring.settings()
    with FakeOpenAIImages(model="dall-e-3") as fake:
        wiring.configure(dataclasses.replace(
            original, provider="openai", openai_images_url=fake.url, openai_images_api_key=fake.api_key,
            openai_images_model=fake.model, openai_images_quality="hd", openai_images_styles=("vivid", "natural")))
        try:
            yield fake
        finally:
            wiring.configure(original)


def test_given_openai_when_generating_then_one_request_stores_the_original_and_it_is_processed(
        server, user, openai_images):
    image_id = generate(server, user, width=512, height=384, style="vivid", negative_prompt="blurry")

    item = finished(server, user, image_id)

    assert item["status"] == "done", item["error"]
    assert (item["width"], item["height"]) == (512, 384)
    assert item["generation"]["provider_status"] == "DONE"
    [request] = openai_images.requests
    assert request.json == {"model": "dall-e-3", "prompt": "a red bicycle", "n": 1, "size": "512x384",
                            "response_format": "b64_json", "quality": "hd", "style": "vivid"}
    _, thumbnail = fetch_variant(item, "thumbnail")
    assert Image.open(io.BytesIO(thumbnail)).size == (128, 128)


def test_given_openai_when_listing_styles_then_the_configured_ones(server, user, openai_images):
    answer = requests.get(f"{server.url}/generations/styles", headers=bearer(user), timeout=10)

    assert answer.status_code == 200
    assert [style["name"] for style in answer.json()["styles"]] == ["vivid", "natural"]
    assert (answer.json()["provider"], answer.json()["negative_prompt"]) == ("openai", False)


def test_given_a_content_policy_refusal_when_generating_then_failed_as_censored(server, user, openai_images):
    openai_images.refuse_next()

    item = finished(server, user, generate(server, user, width=256, height=256))

    assert (item["status"], item["error"]["code"]) == ("failed", "generation_censored")


def test_given_a_rate_limit_when_generating_then_retried_after_the_delay_and_done(server, user, openai_images):
    openai_images.rate_limit_next(1, retry_after=1)

    item = finished(server, user, generate(server, user, width=256, height=256), timeout=60)

    assert item["status"] == "done", item["error"]
    assert [r.status for r in openai_images.requests] == [429, 200]


def test_given_a_slow_endpoint_when_generating_then_failed_as_generation_timeout(server, user, openai_images):
    openai_images.response_delay = 3
    wiring.configure(dataclasses.replace(wiring.settings(), openai_images_timeout=1))

    item = finished(server, user, generate(server, user, width=256, height=256), timeout=60)

    assert (item["status"], item["error"]["code"]) == ("failed", "generation_timeout")


def test_given_a_wrong_key_when_generating_then_unauthorized_and_the_key_is_nowhere_in_answers_or_logs(
        server, user, openai_images, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-KEY-ENDS-WITH-qzQZ"
    wiring.configure(dataclasses.replace(wiring.settings(), openai_images_api_key=wrong))

    image_id = generate(server, user, width=256, height=256)
    item = finished(server, user, image_id)
    listed = requests.get(f"{server.url}/images/{image_id}", headers=bearer(user), timeout=10).text

    assert (item["status"], item["error"]["code"]) == ("failed", "generation_unauthorized")
    # The full keys, and the masked form the server's 401 message quotes (its tail is no hex).
    for secret in (wrong, "WITH-qzQZ", "*qzQZ", openai_images.api_key):
        assert secret not in listed and secret not in caplog.text


def test_given_a_switched_off_fusion_brain_pipeline_when_generating_then_failed_at_once_as_disabled(server, user):
    original = wiring.settings()
    with FakeFusionBrain() as fake:
        wiring.configure(dataclasses.replace(
            original, provider="fusionbrain", fusionbrain_url=fake.url, fusionbrain_styles_url=fake.styles_url,
            fusionbrain_api_key=fake.api_key, fusionbrain_secret_key=fake.secret_key))
        fake.disable()
        try:
            item = finished(server, user, generate(server, user, width=256, height=256))
        finally:
            wiring.configure(original)

    assert (item["status"], item["error"]["code"]) == ("failed", "generation_disabled")
    assert "switched" in item["error"]["message"]
    assert len(fake.requests_to(fake.RUN_PATH, "POST")) == 1
