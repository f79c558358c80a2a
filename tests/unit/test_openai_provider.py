"""The OpenAI-compatible Images provider against a local server that speaks that protocol."""

from __future__ import annotations

import io
import logging
import socket
import threading

import pytest
from PIL import Image

from functions.providers import GenerationRequest, OpenAIImagesProvider, ProviderUnavailable, build_provider
from tests.fakes.openai_images_server import FakeOpenAIImages


@pytest.fixture
def fake():
    with FakeOpenAIImages() as server:
        yield server


def make(fake, **options) -> OpenAIImagesProvider:
    options.setdefault("deadline_seconds", 10)
    return OpenAIImagesProvider(api_key=fake.api_key, base_url=fake.url, model=fake.model, **options)


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def test_given_a_prompt_when_run_then_done_at_once_with_the_image_of_the_requested_size(fake):
    result = make(fake, quality="high").run(GenerationRequest("a red fox", width=640, height=480,
                                                              negative_prompt="blur"))

    assert result.kind == "done" and png_size(result.image) == (640, 480)
    [request] = fake.requests
    assert request.path == "/v1/images/generations"
    assert request.headers["authorization"] == f"Bearer {fake.api_key}"
    assert request.json == {"model": "gpt-image-1", "prompt": "a red fox", "n": 1, "size": "640x480",
                            "response_format": "b64_json", "quality": "high"}


def test_given_configured_styles_when_listed_and_used_then_they_are_offered_and_sent(fake):
    provider = make(fake, styles=("vivid", "natural"))

    assert provider.styles() == [{"name": "vivid", "title": "Vivid"}, {"name": "natural", "title": "Natural"}]
    assert provider.run(GenerationRequest("a fox", style="natural")).kind == "done"
    assert fake.requests[-1].json["style"] == "natural"
    assert provider.run(GenerationRequest("a fox", style="ANIME")).kind == "rejected"
    assert make(fake).styles() == []


@pytest.mark.parametrize("width, height, sent", [(1024, 768, "1536x1024"), (768, 1024, "1024x1536"),
                                                 (512, 512, "1024x1024"), (1024, 1536, "1024x1536")])
def test_given_allowed_sizes_when_another_is_asked_then_the_closest_in_shape_is_sent(fake, width, height, sent):
    fake.sizes = ["1024x1024", "1536x1024", "1024x1536"]

    result = make(fake, sizes=tuple(fake.sizes)).run(GenerationRequest("a fox", width=width, height=height))

    assert result.kind == "done" and fake.requests[-1].json["size"] == sent


def test_given_the_api_key_header_mode_when_run_then_the_key_goes_in_api_key_not_authorization(fake):
    fake.clear_requests()

    make(fake, auth_header="api-key").run(GenerationRequest("a fox"))

    [request] = fake.requests
    assert request.headers["api-key"] == fake.api_key and "authorization" not in request.headers


def test_given_a_base_url_with_a_query_when_run_then_the_path_goes_before_it(fake):
    provider = OpenAIImagesProvider(api_key=fake.api_key, base_url=fake.url + "/?api-version=preview")

    assert provider.url == fake.url + "/images/generations?api-version=preview"


@pytest.mark.parametrize("refusal_code", ["content_policy_violation", "moderation_blocked"])
def test_given_a_content_policy_refusal_when_run_then_censored(fake, refusal_code):
    fake.refusal_code = refusal_code
    fake.refuse_next()

    result = make(fake).run(GenerationRequest("something rude"))

    assert result.kind == "censored" and "safety system" in result.message


def test_given_a_rate_limit_when_run_then_busy_with_the_servers_retry_after(fake):
    fake.rate_limit_next(1, retry_after=7)

    busy = make(fake).run(GenerationRequest("a queue"))
    later = make(fake).run(GenerationRequest("a queue"))

    assert busy.kind == "busy" and busy.retry_after == 7.0
    assert later.kind == "done"


def test_given_no_quota_left_when_run_then_failed_with_its_own_code_not_retried(fake):
    fake.rate_limit_next(1, retry_after=None, code="insufficient_quota")

    result = make(fake).run(GenerationRequest("a fox"))

    assert result.kind == "failed" and result.code == "generation_quota_exceeded"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_given_a_server_error_when_run_then_provider_unavailable(fake, status):
    fake.fail_next(status)

    with pytest.raises(ProviderUnavailable):
        make(fake).run(GenerationRequest("a fox"))


def test_given_a_request_the_server_refuses_when_run_then_rejected_with_its_message(fake):
    fake.sizes = ["1024x1024"]

    result = make(fake).run(GenerationRequest("a fox", width=512, height=512))

    assert result.kind == "rejected" and result.code == "generation_rejected"
    assert "Invalid size '512x512'" in result.message


def test_given_an_unknown_model_when_run_then_rejected_naming_the_model(fake):
    result = OpenAIImagesProvider(api_key=fake.api_key, base_url=fake.url, model="dall-e-9").run(
        GenerationRequest("a fox"))

    assert result.kind == "rejected" and "dall-e-9" in result.message


def test_given_a_wrong_key_when_run_then_unauthorized_and_no_trace_of_either_key_anywhere(fake, caplog):
    wrong = "sk-live-WRONGKEY-ENDS-qzQZ"
    caplog.set_level(logging.DEBUG)
    provider = OpenAIImagesProvider(api_key=wrong, base_url=fake.url)

    result = provider.run(GenerationRequest("a fox"))

    assert result.kind == "rejected" and result.code == "generation_unauthorized"
    assert fake.requests[-1].status == 401
    # The server's own message echoes a masked key; none of it may travel on.
    seen = " ".join([result.message, repr(result), repr(provider), caplog.text])
    for secret in (wrong, "qzQZ", fake.api_key):
        assert secret not in seen


def test_given_any_outcome_when_logged_at_debug_then_the_key_never_appears(fake, caplog):
    caplog.set_level(logging.DEBUG)
    provider = make(fake)
    fake.refuse_next()
    fake.rate_limit_next(1)
    fake.fail_next(500)

    outcomes = [provider.run(GenerationRequest("a fox")) for _ in range(2)]
    with pytest.raises(ProviderUnavailable) as unavailable:
        provider.run(GenerationRequest("a fox"))
    outcomes.append(provider.run(GenerationRequest("a fox")))

    assert [outcome.kind for outcome in outcomes] == ["censored", "busy", "done"]
    text = " ".join([caplog.text, str(unavailable.value), *(repr(outcome) for outcome in outcomes)])
    assert fake.api_key not in text and fake.api_key[-8:] not in text


def test_given_a_provider_message_that_quotes_a_key_when_refused_then_the_key_is_scrubbed(fake):
    fake.refuse_next(message=f"Refused for key {fake.api_key} and sk-other-123456789")

    result = make(fake).run(GenerationRequest("a fox"))

    assert result.kind == "censored"
    assert fake.api_key not in result.message and "sk-other" not in result.message


def test_given_a_server_slower_than_the_deadline_when_run_then_failed_as_generation_timeout(fake):
    fake.response_delay = 1.0

    result = make(fake, deadline_seconds=0.2).run(GenerationRequest("a slow fox"))

    assert result.kind == "failed" and result.code == "generation_timeout"
    assert "0.2 seconds" in result.message


def test_given_nothing_listening_when_run_then_provider_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = OpenAIImagesProvider(api_key="sk-x", base_url=f"http://127.0.0.1:{port}/v1")

    with pytest.raises(ProviderUnavailable):
        provider.run(GenerationRequest("a fox"))


def test_given_a_link_instead_of_bytes_when_run_then_failed_without_fetching_it(fake, monkeypatch):
    original = fake._answer

    def as_link(record):
        if record.json:
            record.json["response_format"] = "url"
        return original(record)

    monkeypatch.setattr(fake, "_answer", as_link)

    result = make(fake).run(GenerationRequest("a fox"))

    assert result.kind == "failed" and "link" in result.message
    assert len(fake.requests) == 1


def test_given_an_answer_bigger_than_the_cap_when_run_then_failed(fake):
    fake.result_image = b"\x89PNG" + bytes(300_000)

    result = make(fake, max_image_bytes=100_000).run(GenerationRequest("a fox"))

    assert result.kind == "failed" and result.code == "generation_failed"


def test_given_a_stray_poll_when_status_then_failed():
    assert OpenAIImagesProvider(api_key="sk-x").status("anything").kind == "failed"


# -- build_provider ------------------------------------------------------------


def test_given_the_openai_name_and_options_when_built_then_that_provider_with_them(fake):
    provider = build_provider(provider="openai", openai_api_key=fake.api_key, openai_deadline=12,
                              openai_options={"base_url": fake.url, "model": fake.model, "quality": "",
                                              "styles": ("vivid",), "sizes": ()})

    assert isinstance(provider, OpenAIImagesProvider) and provider.deadline_seconds == 12
    assert provider.quality is None and provider.styles() == [{"name": "vivid", "title": "Vivid"}]
    assert provider.run(GenerationRequest("wired")).kind == "done"


def test_given_only_an_openai_key_when_built_without_a_name_then_openai():
    assert build_provider(openai_api_key="sk-x").name == "openai"
    assert build_provider(api_key="a", secret_key="b", openai_api_key="sk-x").name == "fusionbrain"


def test_given_openai_without_a_key_when_built_then_value_error_that_names_the_setting():
    with pytest.raises(ValueError, match="OPENAI_IMAGES_API_KEY"):
        build_provider(provider="openai", openai_api_key="")


def test_given_a_server_that_stalls_inside_the_body_when_run_then_failed_as_generation_timeout():
    # Headers at once, then a trickle that never ends: only the overall deadline can stop it.
    listener = socket.create_server(("127.0.0.1", 0))
    release = threading.Event()

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                         b'{"created": 1, "data": [{"b64_json": "')
            release.wait(10)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        provider = OpenAIImagesProvider(api_key="sk-x", base_url=f"http://127.0.0.1:{listener.getsockname()[1]}/v1",
                                        deadline_seconds=0.3)
        result = provider.run(GenerationRequest("a fox"))
    finally:
        release.set()
        server.join(5)
        listener.close()

    assert result.kind == "failed" and result.code == "generation_timeout"
