"""The OpenAI Images fake, driven by the official ``openai`` SDK (sync and async).

Only the SDK's ``base_url`` points at the fake. The SDK parses every answer into its own
models and raises its own typed errors, so a fake that drifts from the real protocol fails here.
"""

from __future__ import annotations

import base64
import io

import openai
import pytest
from PIL import Image

from tests import own_loop
from tests.fakes.openai_images_server import FakeOpenAIImages


@pytest.fixture
def fake():
    with FakeOpenAIImages(model="dall-e-3", sizes=["1024x1024", "1792x1024", "1024x1792"]) as server:
        yield server


def client(fake, *, api_key=None) -> openai.OpenAI:
    # max_retries=0: the SDK would otherwise retry 429 and 5xx by itself; we want to see each answer.
    return openai.OpenAI(api_key=api_key or fake.api_key, base_url=fake.url, max_retries=0, timeout=10)


def png_size(encoded: str) -> tuple[int, int]:
    with Image.open(io.BytesIO(base64.b64decode(encoded))) as image:
        return image.size


def test_given_the_sdk_when_it_generates_b64_json_then_it_parses_the_image(fake):
    answer = client(fake).images.generate(model="dall-e-3", prompt="a red fox", size="1792x1024", n=1,
                                          response_format="b64_json", quality="hd", style="natural")

    [image] = answer.data
    assert isinstance(answer.created, int)
    assert png_size(image.b64_json) == (1792, 1024) and image.revised_prompt == "a red fox"
    [request] = fake.requests
    assert request.json == {"model": "dall-e-3", "prompt": "a red fox", "size": "1792x1024", "n": 1,
                            "response_format": "b64_json", "quality": "hd", "style": "natural"}


def test_given_a_refused_prompt_when_the_sdk_generates_then_bad_request_with_the_content_policy_code(fake):
    fake.refuse_next()

    with pytest.raises(openai.BadRequestError) as raised:
        client(fake).images.generate(model="dall-e-3", prompt="something rude", response_format="b64_json")

    assert raised.value.status_code == 400 and raised.value.code == "content_policy_violation"


def test_given_a_rate_limit_when_the_sdk_generates_then_rate_limit_error_with_retry_after(fake):
    fake.rate_limit_next(1, retry_after=3)

    with pytest.raises(openai.RateLimitError) as raised:
        client(fake).images.generate(model="dall-e-3", prompt="a queue", response_format="b64_json")

    assert raised.value.response.headers["retry-after"] == "3"


def test_given_a_rate_limit_when_the_sdk_may_retry_then_its_own_retry_succeeds(fake):
    fake.rate_limit_next(1, retry_after=0)
    patient = openai.OpenAI(api_key=fake.api_key, base_url=fake.url, max_retries=1, timeout=10)

    answer = patient.images.generate(model="dall-e-3", prompt="a queue", response_format="b64_json")

    assert answer.data[0].b64_json and [r.status for r in fake.requests] == [429, 200]


@pytest.mark.parametrize("status, error", [(500, openai.InternalServerError), (503, openai.InternalServerError)])
def test_given_a_server_error_when_the_sdk_generates_then_its_server_error(fake, status, error):
    fake.fail_next(status)

    with pytest.raises(error) as raised:
        client(fake).images.generate(model="dall-e-3", prompt="a cat", response_format="b64_json")

    assert raised.value.status_code == status


def test_given_a_bad_key_when_the_sdk_generates_then_authentication_error(fake):
    with pytest.raises(openai.AuthenticationError) as raised:
        client(fake, api_key="sk-wrong-key-000000").images.generate(model="dall-e-3", prompt="a cat")

    assert raised.value.code == "invalid_api_key"


def test_given_an_unknown_model_or_size_when_the_sdk_generates_then_not_found_and_bad_request(fake):
    with pytest.raises(openai.NotFoundError):
        client(fake).images.generate(model="no-such-model", prompt="a cat")
    with pytest.raises(openai.BadRequestError) as raised:
        client(fake).images.generate(model="dall-e-3", prompt="a cat", size="512x512")

    assert raised.value.param == "size"


def test_given_the_async_sdk_when_it_generates_then_done_refused_and_rate_limited_all_parse(fake):
    async def flow():
        sdk = openai.AsyncOpenAI(api_key=fake.api_key, base_url=fake.url, max_retries=0, timeout=10)
        done = await sdk.images.generate(model="dall-e-3", prompt="a fox", size="1024x1792",
                                         response_format="b64_json")
        fake.refuse_next()
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.images.generate(model="dall-e-3", prompt="rude", response_format="b64_json")
        fake.rate_limit_next(1, retry_after=1)
        with pytest.raises(openai.RateLimitError) as limited:
            await sdk.images.generate(model="dall-e-3", prompt="busy", response_format="b64_json")
        await sdk.close()
        return done, refused.value, limited.value

    done, refused, limited = own_loop.run(flow())

    assert png_size(done.data[0].b64_json) == (1024, 1792)
    assert refused.code == "content_policy_violation"
    assert limited.status_code == 429
