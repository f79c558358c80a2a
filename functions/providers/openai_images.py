"""An OpenAI-compatible Images API (``POST {base}/images/generations``), over ``requests``.

OpenAI itself, Azure OpenAI's v1 API and the many self-hosted servers that speak the same
protocol answer one synchronous request with the image in it, so ``run`` finishes the
generation: its result is ``done``, ``censored``, ``failed``, ``rejected`` or ``busy``
(rate-limited), never ``started``. The whole call is bounded by ``deadline_seconds``,
which the wiring keeps below the function timeout. The API key goes only into the
request header: never into a message, a log line or ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3

from functions.providers.base import GenerationRequest, PollResult, ProviderUnavailable, RunResult

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-image-1"
CONNECT_TIMEOUT = 5.0
CHUNK_BYTES = 64 * 1024

# What the APIs answer when their safety system refuses a prompt (DALL-E and gpt-image models).
_REFUSAL_CODES = {"content_policy_violation", "moderation_blocked"}
_KEY_LIKE = re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_*\-]{4,}")
_SIZE = re.compile(r"^(\d+)x(\d+)$")


class OpenAIImagesProvider:
    """One synchronous image per request; ``session`` is any ``requests.Session`` (created lazily if not given)."""

    name = "openai"
    supports_negative_prompt = False  # the API has no such field

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        model: str = DEFAULT_MODEL,
        quality: str | None = None,
        styles: tuple[str, ...] = (),
        sizes: tuple[str, ...] = (),
        auth_header: str = "authorization",
        deadline_seconds: float = 45.0,
        max_image_bytes: int = 25 * 1024 * 1024,
        session: requests.Session | None = None,
    ):
        self._api_key = api_key
        self.url = _endpoint(base_url)
        self.model = model
        self.quality = quality or None
        self.style_names = tuple(styles)
        self.sizes = tuple(size for size in sizes if _SIZE.match(size))
        self._headers = (
            {"api-key": api_key} if auth_header.lower() == "api-key" else {"Authorization": f"Bearer {api_key}"}
        )
        self.deadline_seconds = float(deadline_seconds)
        # base64 makes 3 bytes 4, plus a little JSON around it.
        self.max_response_bytes = max_image_bytes * 4 // 3 + 64 * 1024
        self._session = session

    def __repr__(self) -> str:
        return f"OpenAIImagesProvider(url={self.url!r}, model={self.model!r})"  # never the key

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
        return self._session

    def run(self, req: GenerationRequest) -> RunResult:
        """Generate the image now, within ``deadline_seconds``; the answer is final unless ``busy``."""
        if req.style is not None and req.style not in self.style_names:
            return RunResult.rejected(f"Style {req.style!r} is not offered by this provider.")
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": req.prompt,  # the API has no negative prompt; it is not sent
            "n": 1,
            "size": self.size_for(req.width, req.height),
            "response_format": "b64_json",
        }
        if self.quality:
            body["quality"] = self.quality
        if req.style:
            body["style"] = req.style

        started = time.monotonic()
        try:
            response = self.session.post(
                self.url, json=body, headers=self._headers, stream=True,
                timeout=(CONNECT_TIMEOUT, self.deadline_seconds),
            )
        except requests.ReadTimeout:
            return self._timed_out()
        except requests.ConnectionError as exc:
            # Nothing reached the provider, so nothing was generated or billed: retry later.
            raise ProviderUnavailable(f"Could not reach the image API: {type(exc).__name__}.") from exc
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"The image API request failed: {type(exc).__name__}.") from exc

        with response:
            try:
                raw = self._read(response, started)
            except TimeoutError:
                return self._timed_out()
            except _TooLarge:
                return RunResult.failed(
                    f"The image API answered with more than {self.max_response_bytes // (1024 * 1024)} MB.",
                    code="generation_failed")
            except requests.RequestException as exc:
                if exc.args and isinstance(exc.args[0], urllib3.exceptions.ReadTimeoutError):
                    return self._timed_out()  # requests reports a body read timeout as ConnectionError
                raise ProviderUnavailable(f"The image API connection broke: {type(exc).__name__}.") from exc
        return self._outcome(response, raw)

    def status(self, job_id: str) -> PollResult:
        """Nothing to poll: ``run`` already returned the outcome (a stray poll ends the job)."""
        return PollResult.failed("This provider answers synchronously; there is no job to poll.")

    def styles(self) -> list[dict]:
        """The configured styles (sent as the API's ``style``), e.g. DALL-E 3's ``vivid`` and ``natural``."""
        return [{"name": name, "title": name.replace("_", " ").capitalize()} for name in self.style_names]

    def size_for(self, width: int, height: int) -> str:
        """The requested size, or, when the endpoint allows only some sizes, the one closest in shape."""
        wanted = f"{width}x{height}"
        if not self.sizes or wanted in self.sizes:
            return wanted

        def distance(size: str) -> tuple[float, int]:
            w, h = (int(side) for side in size.split("x"))  # checked against _SIZE when configured
            return abs(w / h - width / height), abs(w * h - width * height)

        return min(self.sizes, key=distance)

    # -- answers -----------------------------------------------------------

    def _read(self, response: requests.Response, started: float) -> bytes:
        """The body, within what is left of the deadline: each socket read waits at most that long."""
        chunks: list[bytes] = []
        total = 0
        sock = getattr(getattr(response.raw, "_connection", None), "sock", None)
        body = response.iter_content(CHUNK_BYTES)
        while True:
            remaining = self.deadline_seconds - (time.monotonic() - started)
            if remaining <= 0:
                raise TimeoutError()
            if sock is not None:
                sock.settimeout(remaining)
            chunk = next(body, None)
            if chunk is None:
                return b"".join(chunks)
            total += len(chunk)
            if total > self.max_response_bytes:
                raise _TooLarge()
            chunks.append(chunk)

    def _outcome(self, response: requests.Response, raw: bytes) -> RunResult:
        status = response.status_code
        body = _json(raw)
        found = body.get("error") if isinstance(body, dict) else None
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        code = str(error.get("code") or "")
        message = self._scrub(str(error.get("message") or "")[:300]) or f"HTTP {status}"

        if status == 200:
            return self._image(body)
        if code in _REFUSAL_CODES or error.get("type") == "image_generation_user_error":
            return RunResult.censored(f"The image API's safety system refused the prompt: {message}")
        if status in (401, 403):
            # The vendor's own message may echo part of the key: say nothing of it.
            return RunResult.rejected(
                f"The image API refused the API key (HTTP {status}); check OPENAI_IMAGES_API_KEY.",
                code="generation_unauthorized")
        if status == 429 and code == "insufficient_quota":
            return RunResult.failed("The image API account has no quota left.", code="generation_quota_exceeded")
        if status == 429:
            return RunResult.busy(_retry_after(response), f"The image API is rate limiting requests: {message}")
        if status in (408, 409) or status >= 500:
            # Transient on the vendor's side: the step is retried with backoff until the deadline.
            raise ProviderUnavailable(f"The image API answered HTTP {status}.", retry_after=_retry_after(response))
        if status == 404:
            return RunResult.rejected(f"The image API does not know model {self.model!r} or this URL: {message}",
                                      code="generation_rejected")
        if 400 <= status < 500:
            return RunResult.rejected(f"The image API refused the request (HTTP {status}): {message}",
                                      code="generation_rejected")
        raise ProviderUnavailable(f"The image API answered HTTP {status}.")

    def _image(self, body) -> RunResult:
        data = body.get("data") if isinstance(body, dict) else None
        first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else None
        if first is None:
            return RunResult.failed("The image API answered without an image.", code="generation_failed")
        encoded = first.get("b64_json")
        if not encoded:
            # A link instead of bytes: fetching an address chosen by the vendor is not done here.
            return RunResult.failed("The image API answered with a link instead of the image.",
                                    code="generation_failed")
        try:
            return RunResult.done(base64.b64decode(encoded, validate=True))
        except (binascii.Error, TypeError, ValueError):
            return RunResult.failed("The image API returned an image that is not valid base64.",
                                    code="generation_failed")

    def _timed_out(self) -> RunResult:
        return RunResult.failed(
            f"The image generator did not answer within {self.deadline_seconds:g} seconds. Please try again.",
            code="generation_timeout")

    def _scrub(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return _KEY_LIKE.sub("***", text)


class _TooLarge(Exception):
    pass


def _endpoint(base_url: str) -> str:
    """``{base}/images/generations``, keeping a query (Azure's ``?api-version=``) at the end."""
    parts = urlsplit(base_url.strip())
    path = parts.path.rstrip("/") + "/images/generations"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _json(raw: bytes):
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds; an HTTP date is not honoured)."""
    for header, scale in (("retry-after-ms", 1000.0), ("Retry-After", 1.0)):
        try:
            value = float(response.headers.get(header, "")) / scale
        except ValueError:
            continue
        if value >= 0:
            return value
    return None
