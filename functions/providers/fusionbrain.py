"""Fusion Brain (Kandinsky) text-to-image pipeline API, over ``requests``.

Protocol: list the TEXT2IMAGE pipelines once, POST a multipart run request,
then GET the job status until DONE or FAIL. A finished result can be read only
once; the provider answers 404 afterwards.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from urllib.parse import quote, urljoin

import requests

from functions.providers.base import (
    STANDARD_STYLES,
    GenerationRequest,
    PollResult,
    ProviderUnavailable,
    RunResult,
)

DEFAULT_BASE_URL = "https://api-key.fusionbrain.ai/"
DEFAULT_STYLES_URL = "https://cdn.fusionbrain.ai/static/styles/key"
DEFAULT_TIMEOUT = (5.0, 20.0)  # (connect, read) seconds

PIPELINES_PATH = "key/api/v1/pipelines"
RUN_PATH = "key/api/v1/pipeline/run"
STATUS_PATH = "key/api/v1/pipeline/status/"

# How long the built-in style list stands in before the CDN is asked again.
STYLES_FALLBACK_TTL = 60.0

_KEYS_MESSAGE = (
    "Fusion Brain refused the API keys (HTTP {status}); check the configured API key and secret key."
)


class _Refused(Exception):
    """A permanent refusal found deep in a call; ``run`` and ``status`` turn it into a value."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class FusionBrainProvider:
    """Fusion Brain's pipeline API; ``session`` is any ``requests.Session`` (created lazily if not given)."""

    name = "fusionbrain"
    supports_negative_prompt = True

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        styles_url: str = DEFAULT_STYLES_URL,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ):
        self._auth_headers = {"X-Key": f"Key {api_key}", "X-Secret": f"Secret {secret_key}"}
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.styles_url = styles_url
        self.timeout = timeout
        self._session = session
        self._pipeline_id: str | None = None
        self._styles: list[dict] | None = None
        self._styles_expire_at: float | None = None  # set only while the fallback list stands in

    def __repr__(self) -> str:
        return f"FusionBrainProvider(base_url={self.base_url!r})"  # never the keys

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
        return self._session

    def run(self, req: GenerationRequest) -> RunResult:
        """Start one image; ``started`` carries the provider's uuid and its suggested first-poll delay."""
        try:
            pipeline_id = self._text2image_pipeline_id()
        except _Refused as refusal:
            return RunResult.rejected(refusal.message)

        params = {
            "type": "GENERATE",
            "numImages": 1,
            "width": req.width,
            "height": req.height,
            "generateParams": {"query": req.prompt},
        }
        if req.style:
            params["style"] = req.style
        if req.negative_prompt:
            params["negativePromptDecoder"] = req.negative_prompt
        # The provider insists that the params part itself is typed application/json.
        files = {
            "pipeline_id": (None, pipeline_id),
            "params": (None, json.dumps(params), "application/json"),
        }
        response = self._send("POST", RUN_PATH, files=files)

        if response.status_code in (401, 403):
            return RunResult.rejected(_KEYS_MESSAGE.format(status=response.status_code))
        if response.status_code == 404:
            # The cached pipeline may have been retired: look it up afresh on the retry.
            self._pipeline_id = None
            raise ProviderUnavailable("Fusion Brain no longer knows the pipeline; it will be looked up again.")
        if response.status_code == 429:
            return RunResult.busy(_retry_after_header(response), "Fusion Brain is rate limiting requests.")
        if 400 <= response.status_code < 500:  # 400/422 and kin: the request itself is wrong
            return RunResult.rejected(f"Fusion Brain refused the request: {_provider_message(response)}")

        body = _json(response)
        if not isinstance(body, dict):
            raise ProviderUnavailable("Fusion Brain answered the run request with something unexpected.")
        if body.get("uuid"):
            return RunResult.started(str(body["uuid"]), retry_after=_seconds(body.get("status_time")))
        # A full queue answers 201 (the SDK's shape) or 200 (older answers) with a status and no uuid.
        queue_status = body.get("model_status") or body.get("pipeline_status")
        if queue_status == "DISABLED_MANUALLY":
            # Switched off by its operators, not busy: waiting until the deadline would not help.
            return RunResult.rejected(
                "Fusion Brain has switched its text-to-image pipeline off for now; try again later.",
                code="generation_disabled",
            )
        if queue_status:
            return RunResult.busy(message=f"Fusion Brain is not taking jobs right now ({queue_status}).")
        raise ProviderUnavailable("Fusion Brain answered the run request without a job id.")

    def status(self, job_id: str) -> PollResult:
        """Report on a job; ``done`` carries the decoded image, which the provider hands out only once."""
        response = self._send("GET", STATUS_PATH + quote(job_id, safe=""))

        if response.status_code in (401, 403):
            return PollResult.failed(_KEYS_MESSAGE.format(status=response.status_code))
        if response.status_code == 404:
            return PollResult.failed("result no longer available")
        if 400 <= response.status_code < 500:
            return PollResult.failed(f"Fusion Brain refused the status request: {_provider_message(response)}")

        body = _json(response)
        if not isinstance(body, dict):
            raise ProviderUnavailable("Fusion Brain answered the status request with something unexpected.")
        status = str(body.get("status") or "")
        if status == "FAIL":
            return PollResult.failed(body.get("errorDescription") or "Fusion Brain could not generate the image.")
        if status != "DONE":
            # INITIAL, PROCESSING, or a word we do not know yet: the caller's deadline bounds the wait.
            return PollResult.pending(status or None)

        result = body.get("result") or {}
        if result.get("censored") or body.get("censored"):
            return PollResult.censored()
        files = result.get("files") or body.get("images") or []
        if not files:
            return PollResult.failed("Fusion Brain finished without an image.")
        try:
            return PollResult.done(base64.b64decode(files[0], validate=True))
        except (binascii.Error, TypeError, ValueError):
            return PollResult.failed("Fusion Brain returned an image that is not valid base64.")

    def styles(self) -> list[dict]:
        """Fusion Brain's styles as ``[{"name", "title", "image"?}]``, English titles preferred."""
        now = time.monotonic()
        if self._styles is not None and (self._styles_expire_at is None or now < self._styles_expire_at):
            return [dict(style) for style in self._styles]
        fetched = self._fetch_styles()
        if fetched:
            self._styles, self._styles_expire_at = fetched, None
        else:
            # The public style list is a nicety: if the CDN is down, offer the
            # styles Fusion Brain has always had and ask again a minute later.
            self._styles = [dict(style) for style in STANDARD_STYLES]
            self._styles_expire_at = now + STYLES_FALLBACK_TTL
        return [dict(style) for style in self._styles]

    def _text2image_pipeline_id(self) -> str:
        if self._pipeline_id is None:
            response = self._send("GET", PIPELINES_PATH, params={"type": "TEXT2IMAGE"})
            if response.status_code in (401, 403):
                raise _Refused(_KEYS_MESSAGE.format(status=response.status_code))
            if 400 <= response.status_code < 500:
                raise _Refused(f"Fusion Brain refused to list pipelines: {_provider_message(response)}")
            pipelines = _json(response)
            if not isinstance(pipelines, list):
                raise ProviderUnavailable("Fusion Brain answered the pipeline list with something unexpected.")
            if not pipelines or not isinstance(pipelines[0], dict) or not pipelines[0].get("id"):
                raise _Refused("Fusion Brain offers no TEXT2IMAGE pipeline to these API keys.")
            self._pipeline_id = str(pipelines[0]["id"])
        return self._pipeline_id

    def _send(self, method: str, path: str, **kwargs) -> requests.Response:
        """One authenticated call; outages and 5xx become ``ProviderUnavailable``."""
        url = urljoin(self.base_url, path)
        try:
            response = self.session.request(
                method, url, headers=self._auth_headers, timeout=self.timeout, **kwargs
            )
        except requests.Timeout as exc:
            raise ProviderUnavailable(f"Fusion Brain did not answer in time ({method} {path}).") from exc
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"Could not reach Fusion Brain ({method} {path}): {type(exc).__name__}.") from exc
        if response.status_code >= 500:
            raise ProviderUnavailable(
                f"Fusion Brain answered HTTP {response.status_code} ({method} {path}).",
                retry_after=_retry_after_header(response),
            )
        return response

    def _fetch_styles(self) -> list[dict] | None:
        # A public CDN file: no auth headers, so the keys never leave for another host.
        try:
            response = self.session.get(self.styles_url, timeout=self.timeout)
        except requests.RequestException:
            return None
        if response.status_code != 200:
            return None
        raw = _json(response)
        if not isinstance(raw, list):
            return None
        styles = []
        for item in raw:
            if not isinstance(item, dict) or not item.get("name"):
                continue
            style = {"name": str(item["name"]), "title": str(item.get("titleEn") or item.get("title") or item["name"])}
            if item.get("image"):
                style["image"] = str(item["image"])
            styles.append(style)
        return styles or None


def _json(response: requests.Response):
    try:
        return response.json()
    except ValueError:
        return None


def _provider_message(response: requests.Response) -> str:
    """The provider's own explanation of a 4xx, kept short."""
    body = _json(response)
    if isinstance(body, dict):
        for key in ("message", "errorDescription", "error_description", "detail", "error"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key][:300]
    text = (response.text or "").strip()
    return text[:300] if text else f"HTTP {response.status_code}"


def _seconds(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return float(value)


def _retry_after_header(response: requests.Response) -> float | None:
    try:
        return _seconds(float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None
