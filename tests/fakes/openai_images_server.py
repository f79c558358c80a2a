"""A local HTTP server that speaks the OpenAI Images API (``POST /v1/images/generations``), for tests.

Like the Fusion Brain fake, it stands in for a remote API that has no local counterpart,
over real HTTP on 127.0.0.1. tests/unit/test_openai_sdk_conformance.py drives it with the
official ``openai`` SDK, so it cannot drift from what that client accepts.

Usage::

    with FakeOpenAIImages() as fake:
        provider = OpenAIImagesProvider(base_url=fake.url, api_key=fake.api_key, model=fake.model)
        fake.refuse_next()                   # the next request: 400 content_policy_violation
        fake.rate_limit_next(2, retry_after=3)  # the next 2 requests: 429 with Retry-After: 3
        fake.fail_next(503)                  # the next request answers 503
        fake.requests                        # what the server received, for assertions

Protocol (as OpenAI documents it): ``Authorization: Bearer <key>`` (else 401, whose message
echoes a masked key, as OpenAI's does); a JSON body with ``prompt`` (required, non-empty),
``model`` (must be one the fake serves, else 404 ``model_not_found``), ``n`` (1 .. ``max_n``),
``size`` (``WxH``; one of ``sizes`` when given, else any side from 16 to ``max_side``),
``response_format`` (``url`` or ``b64_json``), ``quality`` and ``style`` (from the allowed
lists). Success is 200 ``{"created": <unix seconds>, "data": [{"b64_json" | "url",
"revised_prompt"}], "size", "quality", "output_format": "png"}``. Errors are
``{"error": {"message", "type", "param", "code"}}``. A prompt containing ``refuse-test`` is
refused by the content policy, like ``refuse_next()``.

Knobs (plain attributes, changeable while running): ``api_key``, ``model`` (served model),
``sizes`` (None: any), ``qualities``, ``styles``, ``max_side`` (2048), ``response_delay``
(seconds to sleep before answering), ``result_image`` (bytes served instead of a generated
PNG), ``refusal_code`` (``content_policy_violation``; gpt-image models say
``moderation_blocked``). Run it alone: ``python -m tests.fakes.openai_images_server --port 8766``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

GENERATIONS_PATH = "/v1/images/generations"
_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: object = None
    status: int | None = None


@dataclass
class _Scripted:
    """One scripted answer for an upcoming request."""

    status: int
    error: dict
    headers: dict[str, str] = field(default_factory=dict)


class FakeOpenAIImages:
    """The OpenAI Images API on 127.0.0.1 (a free port); see the module docstring."""

    GENERATIONS_PATH = GENERATIONS_PATH

    def __init__(
        self,
        *,
        api_key: str = "sk-test-0123456789abcdefSECRET",
        model: str = "gpt-image-1",
        sizes: list[str] | None = None,
        qualities: tuple[str, ...] = ("auto", "low", "medium", "high", "standard", "hd"),
        styles: tuple[str, ...] = ("vivid", "natural"),
        max_side: int = 2048,
        max_n: int = 1,
        response_delay: float = 0.0,
        result_image: bytes | None = None,
        refusal_code: str = "content_policy_violation",
        port: int = 0,
    ):
        self.api_key = api_key
        self.model = model
        self.sizes = sizes
        self.qualities = qualities
        self.styles = styles
        self.max_side = max_side
        self.max_n = max_n
        self.response_delay = response_delay
        self.result_image = result_image
        self.refusal_code = refusal_code
        self.requests: list[RecordedRequest] = []
        self._script: list[_Scripted] = []
        self._port = port
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------

    def start(self) -> FakeOpenAIImages:
        self._server = _Server(("127.0.0.1", self._port), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai-images", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> FakeOpenAIImages:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The API base URL, ``http://127.0.0.1:<port>/v1`` (what OpenAI's SDK calls ``base_url``)."""
        if self._server is None:
            raise RuntimeError("FakeOpenAIImages is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    # -- knobs -----------------------------------------------------------

    def refuse_next(self, requests: int = 1, message: str = "Your request was rejected as a result of "
                    "our safety system. Your prompt may contain text that is not allowed.") -> None:
        """The next ``requests`` generations are refused by the content policy (400)."""
        self._push(requests, _Scripted(400, _err(message, "invalid_request_error", self.refusal_code)))

    def rate_limit_next(self, requests: int = 1, *, retry_after: float | None = 2,
                        code: str = "rate_limit_exceeded") -> None:
        """The next ``requests`` generations answer 429 (with ``Retry-After`` when given).

        ``code="insufficient_quota"`` is the 429 OpenAI answers when the account has no credit left.
        """
        headers = {"Retry-After": _number(retry_after)} if retry_after is not None else {}
        message = ("You exceeded your current quota, please check your plan and billing details."
                   if code == "insufficient_quota" else "Rate limit reached for images per minute.")
        error_type = "insufficient_quota" if code == "insufficient_quota" else "requests"
        self._push(requests, _Scripted(429, _err(message, error_type, code), headers))

    def fail_next(self, status: int = 500, requests: int = 1) -> None:
        """The next ``requests`` generations answer ``status`` with an OpenAI-shaped error."""
        self._push(requests, _Scripted(status, _err("The server had an error while processing your request.",
                                                     "server_error", None)))

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def _push(self, count: int, answer: _Scripted) -> None:
        with self._lock:
            self._script.extend([answer] * count)

    # -- the protocol ----------------------------------------------------

    def _answer(self, record: RecordedRequest) -> tuple[int, object, dict[str, str]]:
        if self.response_delay:
            time.sleep(self.response_delay)
        if record.method != "POST" or record.path != GENERATIONS_PATH:
            return 404, _err(f"Invalid URL ({record.method} {record.path})", "invalid_request_error", None), {}
        auth = record.headers.get("authorization", "")
        if auth != f"Bearer {self.api_key}":
            given = auth.removeprefix("Bearer ").strip()
            # OpenAI's own message echoes the key, masked; the provider must not pass even that on.
            return 401, _err(f"Incorrect API key provided: {_mask(given)}. You can find your API key at "
                             "https://platform.openai.com/account/api-keys.", "invalid_request_error",
                             "invalid_api_key"), {}
        body = record.json
        if not isinstance(body, dict):
            return 400, _err("We could not parse the JSON body of your request.", "invalid_request_error", None), {}
        problem = self._check(body)
        if problem:
            return problem
        with self._lock:
            scripted = self._script.pop(0) if self._script else None
        if scripted is not None:
            return scripted.status, scripted.error, scripted.headers
        if re.search(r"\brefuse-test\b", body["prompt"], re.IGNORECASE):
            return 400, _err("Your request was rejected as a result of our safety system.",
                             "invalid_request_error", self.refusal_code), {}

        width, height = _dimensions(body.get("size"))
        image = self.result_image or _png(width, height, body["prompt"])
        item = {"revised_prompt": body["prompt"]}
        if body.get("response_format") == "url":
            item["url"] = f"http://127.0.0.1:{self._server.server_address[1]}/files/image.png"
        else:
            item["b64_json"] = base64.b64encode(image).decode("ascii")
        answer = {"created": int(time.time()), "data": [item] * int(body.get("n") or 1),
                  "size": f"{width}x{height}", "quality": body.get("quality") or "auto", "output_format": "png"}
        return 200, answer, {}

    def _check(self, body: dict):
        def invalid(message, param, code="invalid_value"):
            return 400, _err(message, "invalid_request_error", code, param), {}

        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return invalid("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter")
        model = body.get("model", self.model)
        if model != self.model:
            return 404, _err(f"The model '{model}' does not exist or you do not have access to it.",
                             "invalid_request_error", "model_not_found"), {}
        n = body.get("n", 1)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= self.max_n:
            return invalid(f"Invalid 'n': must be from 1 to {self.max_n}.", "n")
        size = body.get("size", "1024x1024")
        match = _SIZE.match(size) if isinstance(size, str) else None
        if self.sizes is not None and size not in self.sizes:
            return invalid(f"Invalid size '{size}'. Supported sizes are {', '.join(self.sizes)}.", "size")
        if not match or not all(16 <= int(side) <= self.max_side for side in match.groups()):
            return invalid(f"Invalid size '{size}': sides from 16 to {self.max_side}.", "size")
        if body.get("response_format", "url") not in ("url", "b64_json"):
            return invalid("Invalid 'response_format': expected 'url' or 'b64_json'.", "response_format")
        if "quality" in body and body["quality"] not in self.qualities:
            return invalid(f"Invalid 'quality': expected one of {', '.join(self.qualities)}.", "quality")
        if "style" in body and body["style"] not in self.styles:
            return invalid(f"Invalid 'style': expected one of {', '.join(self.styles)}.", "style")
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAIImages

    def handle_error(self, request, client_address):
        pass  # a client that timed out and hung up is part of the tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "FakeOpenAIImages/1"

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def log_message(self, format, *args):
        pass

    def _serve(self, method: str):
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        record = RecordedRequest(method=method, path=self.path.split("?", 1)[0],
                                 headers={k.lower(): v for k, v in self.headers.items()}, body=body, json=parsed)
        with fake._lock:
            fake.requests.append(record)
        status, payload, headers = fake._answer(record)
        record.status = status
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _err(message: str, error_type: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def _mask(key: str) -> str:
    return f"{key[:3]}*********{key[-4:]}" if len(key) > 8 else "***"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _dimensions(size) -> tuple[int, int]:
    match = _SIZE.match(size) if isinstance(size, str) else None
    return (int(match.group(1)), int(match.group(2))) if match else (1024, 1024)


def _png(width: int, height: int, salt: str) -> bytes:
    colour = tuple(hashlib.sha256(salt.encode()).digest()[:3])
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake OpenAI Images API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--api-key", default="sk-test-0123456789abcdefSECRET")
    parser.add_argument("--model", default="gpt-image-1")
    args = parser.parse_args()
    fake = FakeOpenAIImages(api_key=args.api_key, model=args.model, port=args.port).start()
    print(f"Fake OpenAI Images API at {fake.url}; Ctrl-C stops it.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
