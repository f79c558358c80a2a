"""The Fusion Brain fake, driven by the vendor's own client (fusionbrain-sdk-python), sync and async.

Only the SDK's base URL is pointed at the fake; everything else is the SDK's documented flow
(pipelines -> availability -> run -> poll). If the fake drifts from what the official client
accepts, these tests fail, whatever our own provider tolerates.
"""

from __future__ import annotations

import base64
import io

import aiohttp
import pytest
import requests
from fusionbrain_sdk_python import AsyncFBClient, FBClient
from fusionbrain_sdk_python.models import (
    PipelineResultStatus,
    PipelineStatus,
    PipelineType,
    RunPipelineBlockedResult,
    RunPipelineResult,
)
from PIL import Image

from tests import own_loop
from tests.fakes.fusionbrain_server import FakeFusionBrain


@pytest.fixture(autouse=True)
def _no_keys_from_the_environment(monkeypatch):
    # The SDK prefers FB_API_KEY / FB_API_SECRET from the environment over its arguments.
    monkeypatch.delenv("FB_API_KEY", raising=False)
    monkeypatch.delenv("FB_API_SECRET", raising=False)


@pytest.fixture
def fake():
    with FakeFusionBrain(polls_initial=1, polls_processing=1, status_time=2) as server:
        yield server


def sync_client(fake, *, secret=None) -> FBClient:
    client = FBClient(x_key=fake.api_key, x_secret=secret or fake.secret_key)
    client.API_HOST = fake.url  # the one override: where the API lives
    client.STYLES_URL = fake.styles_url
    return client


def async_client(fake, *, secret=None) -> AsyncFBClient:
    client = AsyncFBClient(x_key=fake.api_key, x_secret=secret or fake.secret_key)
    client.API_HOST = fake.url
    client.STYLES_URL = fake.styles_url
    return client


def png_size(encoded: str) -> tuple[int, int]:
    with Image.open(io.BytesIO(base64.b64decode(encoded))) as image:
        return image.size


# -- sync ----------------------------------------------------------------------


def test_given_the_sdk_when_it_runs_its_documented_flow_then_the_fake_answers_with_a_done_image(fake):
    client = sync_client(fake)

    [pipeline] = client.get_pipelines_by_type(PipelineType.TEXT2IMAGE)
    assert client.get_pipelines() == [pipeline]
    assert pipeline.tags and pipeline.createdDate and pipeline.lastModified
    assert client.get_pipeline_availability(pipeline.id) == PipelineStatus.ACTIVE
    started = client.run_pipeline(pipeline.id, "a red fox", style="ANIME", width=640, height=512,
                                  negative_prompt="blur")
    assert isinstance(started, RunPipelineResult) and started.status == PipelineResultStatus.INITIAL
    assert isinstance(started.status_time, int)

    seen = [client.get_status(started.uuid).status for _ in range(2)]
    done = client.get_status(started.uuid)

    assert seen == [PipelineResultStatus.INITIAL, PipelineResultStatus.PROCESSING]
    assert done.status == PipelineResultStatus.DONE and done.result.censored is False
    assert png_size(done.result.files[0]) == (640, 512)
    assert fake.jobs[str(started.uuid)].params["style"] == "ANIME"


def test_given_the_sdk_when_it_lists_styles_then_every_entry_validates(fake):
    styles = sync_client(fake).get_styles()

    assert {style.name for style in styles} == {"KANDINSKY", "UHD", "ANIME", "DEFAULT"}
    assert all(style.titleEn and style.image for style in styles)


def test_given_a_censored_job_when_the_sdk_waits_for_it_then_done_and_censored(fake):
    client = sync_client(fake)
    [pipeline] = client.get_pipelines_by_type(PipelineType.TEXT2IMAGE)
    fake.censor_next()

    started = client.run_pipeline(pipeline.id, "something rude")
    finished = client.wait_for_completion(started.uuid, initial_delay=0, sleep_interval=0, max_retries=5)

    assert finished.status == PipelineResultStatus.DONE and finished.result.censored is True


def test_given_a_failing_job_when_the_sdk_waits_for_it_then_fail(fake):
    client = sync_client(fake)
    [pipeline] = client.get_pipelines_by_type(PipelineType.TEXT2IMAGE)
    fake.fail_next("No GPU left")

    started = client.run_pipeline(pipeline.id, "a cat")
    finished = client.wait_for_completion(started.uuid, initial_delay=0, sleep_interval=0, max_retries=5)

    assert finished.status == PipelineResultStatus.FAIL and finished.result is None


def test_given_a_full_queue_when_the_sdk_runs_then_a_blocked_result_it_can_read(fake):
    client = sync_client(fake)
    [pipeline] = client.get_pipelines_by_type(PipelineType.TEXT2IMAGE)
    fake.queue_full(1)

    assert client.get_pipeline_availability(pipeline.id) == PipelineStatus.DISABLED_BY_QUEUE
    blocked = client.run_pipeline(pipeline.id, "a queue")

    assert isinstance(blocked, RunPipelineBlockedResult)
    assert blocked.model_status.value == "DISABLED_BY_QUEUE"
    assert isinstance(client.run_pipeline(pipeline.id, "a queue"), RunPipelineResult)


def test_given_a_switched_off_pipeline_when_the_sdk_asks_then_disabled_manually(fake):
    client = sync_client(fake)
    [pipeline] = client.get_pipelines_by_type(PipelineType.TEXT2IMAGE)
    fake.disable()

    assert client.get_pipeline_availability(pipeline.id) == PipelineStatus.DISABLED_MANUALLY
    blocked = client.run_pipeline(pipeline.id, "anything")

    assert isinstance(blocked, RunPipelineBlockedResult) and blocked.model_status.value == "DISABLED_MANUALLY"


def test_given_a_bad_key_when_the_sdk_calls_then_it_raises_for_401(fake):
    client = sync_client(fake, secret="wrong-secret")

    with pytest.raises(requests.HTTPError, match="401"):
        client.get_pipelines()


# -- async ---------------------------------------------------------------------


def test_given_the_async_sdk_when_it_runs_the_flow_then_done_censored_fail_and_queue_full_all_validate(fake):
    async def flow():
        client = async_client(fake)
        [pipeline] = await client.get_pipelines_by_type(PipelineType.TEXT2IMAGE)
        assert await client.get_pipeline_availability(pipeline.id) == PipelineStatus.ACTIVE
        outcomes = {}
        for name, arrange in (("done", lambda: None), ("censored", fake.censor_next),
                              ("fail", lambda: fake.fail_next("No GPU left"))):
            arrange()
            started = await client.run_pipeline(pipeline.id, f"a {name} job", width=256, height=256)
            assert isinstance(started, RunPipelineResult)
            outcomes[name] = await client.wait_for_completion(
                started.uuid, initial_delay=0, sleep_interval=0, max_retries=5)
        fake.queue_full(1)
        outcomes["blocked"] = await client.run_pipeline(pipeline.id, "a queue")
        return outcomes

    outcomes = own_loop.run(flow())

    assert outcomes["done"].status == PipelineResultStatus.DONE and not outcomes["done"].result.censored
    assert png_size(outcomes["done"].result.files[0]) == (256, 256)
    assert outcomes["censored"].status == PipelineResultStatus.DONE and outcomes["censored"].result.censored
    assert outcomes["fail"].status == PipelineResultStatus.FAIL
    assert isinstance(outcomes["blocked"], RunPipelineBlockedResult)


def test_given_a_bad_key_when_the_async_sdk_calls_then_it_raises_for_401(fake):
    client = async_client(fake, secret="wrong-secret")

    with pytest.raises(aiohttp.ClientResponseError) as raised:
        own_loop.run(client.get_pipelines())

    assert raised.value.status == 401
