"""Text-to-image providers: Fusion Brain against a fake that speaks its protocol over loopback, and the local one."""

from __future__ import annotations

import io
import socket

import pytest
import requests
from PIL import Image

from functions.providers import (
    STANDARD_STYLES,
    FusionBrainProvider,
    GenerationRequest,
    LocalProvider,
    PollResult,
    ProviderUnavailable,
    RunResult,
    build_provider,
)
from tests.fakes.fusionbrain_server import FakeFusionBrain


@pytest.fixture
def fusion_brain():
    with FakeFusionBrain() as fake:
        yield fake


@pytest.fixture
def provider(fusion_brain):
    return FusionBrainProvider(
        fusion_brain.api_key,
        fusion_brain.secret_key,
        base_url=fusion_brain.url,
        styles_url=fusion_brain.styles_url,
        timeout=(2.0, 2.0),
    )


def poll_until_final(provider, job_id, limit=10) -> tuple[list[PollResult], PollResult]:
    pending = []
    for _ in range(limit):
        result = provider.status(job_id)
        if result.kind != "pending":
            return pending, result
        pending.append(result)
    raise AssertionError(f"still pending after {limit} polls")


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        image.load()
        return image.size


class FakeClock:
    def __init__(self, now=1_700_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


# -- Fusion Brain -----------------------------------------------------------


def test_given_a_prompt_when_run_and_polled_then_pending_until_done_with_png_of_requested_size(provider, fusion_brain):
    fusion_brain.status_time = 4

    started = provider.run(GenerationRequest("a lighthouse at dusk", width=640, height=384))
    pending, final = poll_until_final(provider, started.job_id)

    assert started.kind == "started" and started.job_id in fusion_brain.jobs
    assert started.retry_after == 4.0
    assert [p.provider_status for p in pending] == ["INITIAL", "PROCESSING"]
    assert final.kind == "done"
    assert png_size(final.image) == (640, 384)


def test_given_style_and_negative_prompt_when_run_then_server_receives_multipart_with_json_params_part(
    provider, fusion_brain
):
    provider.run(GenerationRequest("a red fox", width=512, height=768, style="ANIME", negative_prompt="blurry"))

    [received] = fusion_brain.requests_to(fusion_brain.RUN_PATH)
    assert received.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert received.headers["x-key"] == f"Key {fusion_brain.api_key}"
    assert received.headers["x-secret"] == f"Secret {fusion_brain.secret_key}"
    assert received.form["pipeline_id"].content_type is None
    assert received.form["pipeline_id"].text() == fusion_brain.pipeline_id
    assert received.form["params"].content_type == "application/json"
    assert received.form["params"].json() == {
        "type": "GENERATE",
        "numImages": 1,
        "width": 512,
        "height": 768,
        "style": "ANIME",
        "negativePromptDecoder": "blurry",
        "generateParams": {"query": "a red fox"},
    }
    assert received.status == 201


def test_given_no_style_when_run_then_params_omit_style_and_negative_prompt(provider, fusion_brain):
    provider.run(GenerationRequest("a plain request"))

    params = fusion_brain.requests_to(fusion_brain.RUN_PATH)[0].form["params"].json()
    assert "style" not in params and "negativePromptDecoder" not in params
    assert (params["width"], params["height"]) == (1024, 1024)


def test_given_two_runs_when_run_then_pipelines_are_listed_once(provider, fusion_brain):
    first = provider.run(GenerationRequest("one"))
    second = provider.run(GenerationRequest("two"))

    assert first.kind == second.kind == "started"
    [listing] = fusion_brain.requests_to(fusion_brain.PIPELINES_PATH)
    assert listing.query == {"type": ["TEXT2IMAGE"]}


@pytest.mark.parametrize("http_status, field", [(200, "pipeline_status"), (201, "model_status")])
def test_given_full_queue_when_run_then_busy_and_a_later_run_starts(provider, fusion_brain, http_status, field):
    fusion_brain.queue_full(1, http_status=http_status, field=field)

    busy = provider.run(GenerationRequest("a queue"))
    later = provider.run(GenerationRequest("a queue"))

    assert busy.kind == "busy" and busy.job_id is None
    assert "DISABLED_BY_QUEUE" in busy.message
    assert later.kind == "started"


def test_given_a_switched_off_pipeline_when_run_then_rejected_as_disabled_not_busy(provider, fusion_brain):
    fusion_brain.disable()

    result = provider.run(GenerationRequest("anything"))

    assert result.kind == "rejected" and result.code == "generation_disabled"
    assert "switched" in result.message


def test_given_the_availability_endpoint_when_read_then_both_field_names_carry_the_same_status(fusion_brain):
    headers = {"X-Key": f"Key {fusion_brain.api_key}", "X-Secret": f"Secret {fusion_brain.secret_key}"}
    url = f"{fusion_brain.url}key/api/v1/pipeline/{fusion_brain.pipeline_id}/availability"
    fusion_brain.queue_full(1)

    body = requests.get(url, headers=headers, timeout=5).json()

    assert body == {"status": "DISABLED_BY_QUEUE", "pipeline_status": "DISABLED_BY_QUEUE"}


def test_given_censored_job_when_done_then_censored(provider, fusion_brain):
    fusion_brain.censor_next()

    _, final = poll_until_final(provider, provider.run(GenerationRequest("something rude")).job_id)

    assert final.kind == "censored" and final.image is None and final.message


def test_given_failing_job_when_polled_then_failed_with_provider_description(provider, fusion_brain):
    fusion_brain.fail_next("Out of GPU memory")

    _, final = poll_until_final(provider, provider.run(GenerationRequest("too much")).job_id)

    assert final.kind == "failed" and final.message == "Out of GPU memory"


def test_given_a_result_read_once_when_status_is_read_again_then_failed_as_no_longer_available(provider, fusion_brain):
    fusion_brain.polls_initial = fusion_brain.polls_processing = 0
    job_id = provider.run(GenerationRequest("ephemeral")).job_id

    first, second = provider.status(job_id), provider.status(job_id)

    assert first.kind == "done"
    assert second.kind == "failed" and second.message == "result no longer available"


def test_given_server_errors_when_run_or_polled_then_provider_unavailable_and_a_retry_succeeds(provider, fusion_brain):
    job_id = provider.run(GenerationRequest("flaky")).job_id
    fusion_brain.error_every(2)

    with pytest.raises(ProviderUnavailable) as raised:
        provider.status(job_id)  # 1st request since the knob: fine (INITIAL)
        provider.status(job_id)  # 2nd: 500
    retried = provider.status(job_id)

    assert "500" in str(raised.value)
    assert raised.value.code == "provider_unavailable"
    assert retried.kind == "pending"


def test_given_every_request_fails_when_run_then_provider_unavailable(provider, fusion_brain):
    fusion_brain.error_every(1, status=503)

    with pytest.raises(ProviderUnavailable):
        provider.run(GenerationRequest("down"))


def test_given_a_slow_server_when_run_then_provider_unavailable(fusion_brain):
    fusion_brain.response_delay = 0.5
    impatient = FusionBrainProvider(
        fusion_brain.api_key, fusion_brain.secret_key, base_url=fusion_brain.url, timeout=(1.0, 0.1)
    )

    with pytest.raises(ProviderUnavailable, match="in time"):
        impatient.run(GenerationRequest("slow"))


def test_given_nothing_listening_when_run_then_provider_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = FusionBrainProvider("k", "s", base_url=f"http://127.0.0.1:{port}/", timeout=(0.5, 0.5))

    with pytest.raises(ProviderUnavailable, match="reach"):
        unreachable.run(GenerationRequest("anyone?"))


def test_given_wrong_keys_when_run_or_polled_then_refused_with_a_message_that_hides_the_keys(provider, fusion_brain):
    job_id = provider.run(GenerationRequest("mine")).job_id
    wrong = FusionBrainProvider("wrong-api-key-123", "wrong-secret-456", base_url=fusion_brain.url)

    run = wrong.run(GenerationRequest("not mine"))
    poll = wrong.status(job_id)

    assert run.kind == "rejected" and poll.kind == "failed"
    for message in (run.message, poll.message):
        assert "API key" in message
        assert "wrong-api-key-123" not in message and "wrong-secret-456" not in message
    assert "wrong-api-key-123" not in repr(wrong)


def test_given_a_size_the_provider_refuses_when_run_then_rejected_with_its_message(provider, fusion_brain):
    result = provider.run(GenerationRequest("huge", width=4096, height=1024))

    assert result.kind == "rejected"
    assert "params.width must be a whole number from 1 to 1024" in result.message


def test_given_styles_url_when_styles_then_english_titles_fetched_once(provider, fusion_brain):
    first = provider.styles()
    second = provider.styles()

    assert first == second
    assert [(s["name"], s["title"]) for s in first] == [
        ("KANDINSKY", "Kandinsky"), ("UHD", "Detailed photo"), ("ANIME", "Anime"), ("DEFAULT", "No style"),
    ]
    assert all(s["image"].startswith(fusion_brain.url) for s in first)
    assert len(fusion_brain.requests_to(fusion_brain.STYLES_PATH)) == 1
    assert "x-key" not in fusion_brain.requests_to(fusion_brain.STYLES_PATH)[0].headers


def test_given_styles_cannot_be_fetched_when_styles_then_builtin_list(fusion_brain):
    provider = FusionBrainProvider("k", "s", base_url=fusion_brain.url, styles_url=fusion_brain.url + "missing")

    styles = provider.styles()

    assert [s["name"] for s in styles] == ["DEFAULT", "ANIME", "UHD", "KANDINSKY"]


# -- local ------------------------------------------------------------------


def test_given_the_same_request_when_rendered_twice_then_identical_png_bytes():
    req = GenerationRequest("a lighthouse at dusk", width=320, height=200, style="KANDINSKY")

    first = LocalProvider(delay_seconds=0).status(LocalProvider(delay_seconds=0).run(req).job_id)
    second = LocalProvider(delay_seconds=0).status(LocalProvider(delay_seconds=0).run(req).job_id)

    assert first.kind == second.kind == "done"
    assert first.image == second.image
    assert png_size(first.image) == (320, 200)


@pytest.mark.parametrize(
    "other",
    [
        GenerationRequest("a lighthouse at dawn", width=256, height=256),
        GenerationRequest("a lighthouse at dusk", width=256, height=256, style="ANIME"),
        GenerationRequest("a lighthouse at dusk", width=256, height=256, negative_prompt="fog"),
    ],
)
def test_given_a_different_request_when_rendered_then_the_image_differs(other):
    local = LocalProvider(delay_seconds=0)
    base = local.status(local.run(GenerationRequest("a lighthouse at dusk", width=256, height=256)).job_id)

    assert local.status(local.run(other).job_id).image != base.image


def test_given_a_delay_when_polled_then_pending_before_it_and_done_after():
    clock = FakeClock()
    local = LocalProvider(delay_seconds=3, clock=clock)
    started = local.run(GenerationRequest("patience", width=128, height=128))

    clock.now += 1
    early = local.status(started.job_id)
    clock.now += 1.5
    later = local.status(started.job_id)
    clock.now += 0.5
    done = local.status(started.job_id)

    assert started.kind == "started" and started.retry_after == 3
    assert (early.kind, early.provider_status, early.retry_after) == ("pending", "INITIAL", pytest.approx(2))
    assert (later.kind, later.provider_status) == ("pending", "PROCESSING")
    assert done.kind == "done" and png_size(done.image) == (128, 128)


def test_given_a_job_id_when_another_instance_polls_it_then_it_answers_from_the_id_alone():
    clock = FakeClock()
    started = LocalProvider(delay_seconds=2, clock=clock).run(GenerationRequest("shared nothing", width=96, height=64))

    clock.now += 2
    elsewhere = LocalProvider(delay_seconds=60, clock=clock).status(started.job_id)

    assert elsewhere.kind == "done" and png_size(elsewhere.image) == (96, 64)


@pytest.mark.parametrize(
    "prompt, kind",
    [("please censored-test this", "censored"), ("Fail-Test now", "failed"), ("failed-tests are fine", "done")],
)
def test_given_a_hook_word_in_the_prompt_when_done_then_that_outcome(prompt, kind):
    local = LocalProvider(delay_seconds=0)

    result = local.status(local.run(GenerationRequest(prompt, width=64, height=64)).job_id)

    assert result.kind == kind


@pytest.mark.parametrize("job_id", ["not-ours", "local-!!!", "local-e30", "966c89c9-51ee-4c55-9f7d-942bcb83e8b8"])
def test_given_a_foreign_job_id_when_polled_then_failed(job_id):
    assert LocalProvider(delay_seconds=0).status(job_id).kind == "failed"


@pytest.mark.parametrize(
    "req",
    [
        GenerationRequest("too big", width=4096, height=64),
        GenerationRequest("too small", width=8, height=64),
        GenerationRequest("   "),
        GenerationRequest("bad style", style="VAPORWAVE"),
    ],
)
def test_given_a_request_it_cannot_draw_when_run_then_rejected(req):
    result = LocalProvider().run(req)

    assert result.kind == "rejected" and result.message


def test_given_local_provider_when_styles_then_fusion_brain_names():
    assert [s["name"] for s in LocalProvider().styles()] == ["DEFAULT", "ANIME", "UHD", "KANDINSKY"]
    assert LocalProvider().styles() == [dict(s) for s in STANDARD_STYLES]


# -- build_provider ---------------------------------------------------------


def test_given_no_keys_when_built_then_local_with_the_configured_delay():
    provider = build_provider(api_key="", secret_key=None, local_delay_seconds=0.5)

    assert isinstance(provider, LocalProvider) and provider.delay_seconds == 0.5


def test_given_keys_when_built_then_fusion_brain_at_the_configured_urls(fusion_brain):
    provider = build_provider(
        api_key=fusion_brain.api_key,
        secret_key=fusion_brain.secret_key,
        base_url=fusion_brain.url,
        styles_url=fusion_brain.styles_url,
    )

    assert provider.name == "fusionbrain"
    assert provider.run(GenerationRequest("wired")).kind == "started"


@pytest.mark.parametrize(
    "kwargs",
    [{"provider": "fusionbrain"}, {"api_key": "only-half"}, {"provider": "dall-e"}],
)
def test_given_an_incomplete_or_unknown_configuration_when_built_then_value_error(kwargs):
    with pytest.raises(ValueError):
        build_provider(**kwargs)


def test_given_result_values_when_built_then_kinds_match_the_constructors():
    assert RunResult.started("j", retry_after=2) == RunResult("started", job_id="j", retry_after=2)
    assert RunResult.busy().kind == "busy" and RunResult.rejected("no").message == "no"
    assert PollResult.pending("INITIAL").provider_status == "INITIAL"
    assert "bytes" in repr(PollResult.done(b"\x89PNG"))
