"""A local HTTP server that speaks Fusion Brain's pipeline API, for tests.

The remote text-to-image API is the one outside service with no local
counterpart, so tests talk to this instead, over real HTTP on 127.0.0.1.

Usage::

    with FakeFusionBrain() as fb:            # or fb = FakeFusionBrain().start() ... fb.stop()
        provider = FusionBrainProvider(fb.api_key, fb.secret_key,
                                       base_url=fb.url, styles_url=fb.styles_url)
        fb.queue_full(2)                     # the next 2 valid runs answer DISABLED_BY_QUEUE
        fb.censor_next()                     # the next job ends DONE with censored: true
        fb.fail_next("No GPU left")          # the next job ends FAIL with that errorDescription
        fb.error_every(3)                    # every 3rd request from now on answers 500
        fb.requests_to(fb.RUN_PATH)          # what the server received, for assertions

Endpoints (paths as on api-key.fusionbrain.ai; everything under ``/key/``
needs ``X-Key: Key <api_key>`` and ``X-Secret: Secret <secret_key>``, else 401):

- ``GET  /key/api/v1/pipelines?type=TEXT2IMAGE`` -> ``[{"id" (a UUID), "name", "nameEn",
  "description", "tags": [{"name", "name_en"}], "version", "status", "type", "createdDate",
  "lastModified"}]``, every field the official SDK validates.
- ``GET  /key/api/v1/pipeline/{id}/availability`` -> ``{"status": ..., "pipeline_status": ...}``
  (both names, same value: ACTIVE, DISABLED_BY_QUEUE or DISABLED_MANUALLY). The official SDK
  reads ``status``; the published API docs show ``pipeline_status``; a client may rely on either.
- ``POST /key/api/v1/pipeline/run`` (multipart: ``pipeline_id`` field, ``params`` part
  typed application/json) -> 201 ``{"uuid", "status": "INITIAL", "status_time"}``
  (``status_time`` a whole number of seconds). A full queue answers 201
  ``{"model_status": "DISABLED_BY_QUEUE"}`` (what the SDK expects; the older 200
  ``{"pipeline_status": ...}`` shape is a knob), a switched-off pipeline 201
  ``{"model_status": "DISABLED_MANUALLY"}``. The
  request is checked: a missing or unknown pipeline_id, a params part without
  Content-Type application/json, invalid JSON, or bad fields (type GENERATE,
  numImages 1, width/height whole numbers from 1 to ``max_side``, non-empty
  generateParams.query, a known style, a string negativePromptDecoder) answer
  400 ``{"status": 400, "error": "Bad Request", "message"}``.
- ``GET  /key/api/v1/pipeline/status/{uuid}`` -> ``{"uuid", "status", "errorDescription", "result"}``:
  INITIAL for ``polls_initial`` reads, PROCESSING for the next ``polls_processing``,
  then DONE with ``result: {"files": [base64 PNG of the requested size], "censored"}``
  or FAIL. A DONE result is handed out once; later reads (and unknown uuids) answer 404.
- ``GET  /static/styles/key`` (no auth; ``styles_url``) -> ``[{"name", "title", "titleEn", "image"}]``
  with Russian ``title`` and English ``titleEn``, like the real CDN file.

Knobs: constructor arguments ``api_key``, ``secret_key``, ``pipeline_id``,
``polls_initial`` (1), ``polls_processing`` (1), ``status_time`` (0, whole seconds),
``max_side`` (1024), ``response_delay`` (0 s, sleep before every answer, to
provoke client timeouts), ``result_image`` (bytes served as the result instead
of a generated PNG); they are plain attributes and can be changed while running.
Methods ``queue_full(runs, http_status=201, field="model_status")``, ``disable(True)`` (the
pipeline is switched off: DISABLED_MANUALLY until ``disable(False)``),
``censor_next(jobs=1)``, ``fail_next(description, jobs=1)``,
``error_every(n, status=500)`` (0 turns it off), ``clear_requests()``.
Records: ``requests`` (every ``RecordedRequest``, in order, with the status the
fake answered) and ``jobs`` (uuid -> ``FakeJob``).

Run it on its own for manual work: ``python -m tests.fakes.fusionbrain_server --port 8765``.
"""

from __future__ import annotations

import argparse
import base64
import email.parser
import email.policy
import hashlib
import io
import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from PIL import Image

DEFAULT_STYLES = [
    {"name": "KANDINSKY", "title": "Кандинский", "titleEn": "Kandinsky"},
    {"name": "UHD", "title": "Детальное фото", "titleEn": "Detailed photo"},
    {"name": "ANIME", "title": "Аниме", "titleEn": "Anime"},
    {"name": "DEFAULT", "title": "Свой стиль", "titleEn": "No style"},
]


@dataclass
class FormPart:
    """One part of a multipart body; ``content_type`` is None when the part carried no Content-Type."""

    name: str
    content_type: str | None
    value: bytes

    def text(self) -> str:
        return self.value.decode("utf-8")

    def json(self):
        return json.loads(self.value)


@dataclass
class RecordedRequest:
    """A request as the fake received it, and the status it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    form: dict[str, FormPart] | None = None  # multipart parts by name, when the body was multipart
    status: int | None = None


@dataclass
class FakeJob:
    """A generation job: how it will end and how often its status was read."""

    uuid: str
    params: dict
    outcome: str  # "done" | "censored" | "fail"
    error_description: str | None = None
    polls: int = 0
    delivered: bool = False  # a DONE result was read; it is gone now


class FakeFusionBrain:
    """Fusion Brain's pipeline API on 127.0.0.1 (a free port); see the module docstring."""

    PIPELINES_PATH = "/key/api/v1/pipelines"
    RUN_PATH = "/key/api/v1/pipeline/run"
    STATUS_PATH = "/key/api/v1/pipeline/status/"  # + uuid
    STYLES_PATH = "/static/styles/key"

    def __init__(
        self,
        *,
        api_key: str = "test-api-key",
        secret_key: str = "test-secret-key",
        pipeline_id: str = "4d6f4d0a-2b39-4f5e-9c1e-3a0f8f6e2b71",
        polls_initial: int = 1,
        polls_processing: int = 1,
        status_time: int = 0,
        max_side: int = 1024,
        response_delay: float = 0.0,
        result_image: bytes | None = None,
        styles: list[dict] | None = None,
        port: int = 0,
    ):
        self.api_key = api_key
        self.secret_key = secret_key
        self.pipeline_id = pipeline_id
        self.polls_initial = polls_initial
        self.polls_processing = polls_processing
        self.status_time = status_time
        self.max_side = max_side
        self.response_delay = response_delay
        self.result_image = result_image
        self.styles = [dict(s) for s in (styles if styles is not None else DEFAULT_STYLES)]
        self.requests: list[RecordedRequest] = []
        self.jobs: dict[str, FakeJob] = {}
        self.uuid_padding = ""  # appended to every new job's uuid (a provider answering an oversized id)
        self._port = port
        self._lock = threading.Lock()
        self._queue_full_runs = 0
        self._queue_full_answer = (201, "model_status")
        self._disabled = False
        self._censor_jobs = 0
        self._fail_jobs: list[str] = []
        self._error_every = 0
        self._error_status = 500
        self._requests_since_error_knob = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------

    def start(self) -> FakeFusionBrain:
        """Listen on 127.0.0.1 and serve from a background thread."""
        self._server = _Server(("127.0.0.1", self._port), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits up to one interval
            name="fake-fusionbrain",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> FakeFusionBrain:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL with a trailing slash, for the provider's ``base_url``."""
        if self._server is None:
            raise RuntimeError("FakeFusionBrain is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    @property
    def styles_url(self) -> str:
        return self.url + self.STYLES_PATH.lstrip("/")

    # -- knobs -----------------------------------------------------------

    def queue_full(self, runs: int = 1, *, http_status: int = 201, field: str = "model_status") -> None:
        """The next ``runs`` valid run requests answer ``{field: "DISABLED_BY_QUEUE"}`` and no uuid.

        The default is what the official SDK expects; ``http_status=200, field="pipeline_status"``
        is the shape some older answers had (our provider accepts both).
        """
        with self._lock:
            self._queue_full_runs = runs
            self._queue_full_answer = (http_status, field)

    def disable(self, disabled: bool = True) -> None:
        """Switch the pipeline off (or on again): runs answer ``model_status: DISABLED_MANUALLY``."""
        with self._lock:
            self._disabled = disabled

    def _availability(self) -> str:
        if self._disabled:
            return "DISABLED_MANUALLY"
        return "DISABLED_BY_QUEUE" if self._queue_full_runs > 0 else "ACTIVE"

    def censor_next(self, jobs: int = 1) -> None:
        """The next ``jobs`` jobs end DONE with ``censored: true``."""
        with self._lock:
            self._censor_jobs += jobs

    def fail_next(self, description: str = "The generation failed.", jobs: int = 1) -> None:
        """The next ``jobs`` jobs end FAIL with ``errorDescription`` = ``description``."""
        with self._lock:
            self._fail_jobs.extend([description] * jobs)

    def error_every(self, n: int, *, status: int = 500) -> None:
        """From now on every ``n``-th request (any path) answers ``status``; 0 turns it off."""
        with self._lock:
            self._error_every = n
            self._error_status = status
            self._requests_since_error_knob = 0

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests whose path equals ``path`` (or starts with it, if it ends in ``/``)."""
        with self._lock:
            return [
                r for r in self.requests
                if (r.path == path or (path.endswith("/") and r.path.startswith(path)))
                and (method is None or r.method == method)
            ]

    # -- the protocol ----------------------------------------------------

    def _answer(self, record: RecordedRequest) -> tuple[int, object, str]:
        """(status, body, content type) for one request; bytes bodies go out as they are."""
        with self._lock:
            self._requests_since_error_knob += 1
            inject = self._error_every and self._requests_since_error_knob % self._error_every == 0
            error_status = self._error_status
        if self.response_delay:
            time.sleep(self.response_delay)
        if inject:
            return error_status, {"status": error_status, "error": "Internal Server Error", "message": "injected"}, ""

        path, method = record.path, record.method
        if method == "GET" and path == self.STYLES_PATH:
            images = f"{self.url}static/styles/images/"
            return 200, [{"image": f"{images}{s['name'].lower()}.png", **s} for s in self.styles], ""
        if method == "GET" and path.startswith("/static/styles/images/"):
            return 200, _png(64, 64, path), "image/png"
        if not path.startswith("/key/"):
            return _error(404, "Not Found", "No such path.")
        if (record.headers.get("x-key") != f"Key {self.api_key}"
                or record.headers.get("x-secret") != f"Secret {self.secret_key}"):
            return _error(401, "Unauthorized", "Invalid API key or secret key.")

        if method == "GET" and path == self.PIPELINES_PATH:
            wanted = record.query.get("type", [None])[0]
            with self._lock:
                status = "DISABLED_MANUALLY" if self._disabled else "ACTIVE"
            pipelines = [{
                "id": self.pipeline_id, "name": "Kandinsky", "nameEn": "Kandinsky",
                "description": "Fake text-to-image pipeline", "descriptionEn": "Fake text-to-image pipeline",
                "tags": [{"name": "Генерация", "name_en": "Generation"}], "version": 3.1,
                "status": status, "type": "TEXT2IMAGE",
                "createdDate": "2024-09-12T10:00:00.000Z", "lastModified": "2025-06-01T08:30:00.000Z",
            }]
            return 200, [p for p in pipelines if wanted in (None, p["type"])], ""
        if method == "GET" and path.startswith("/key/api/v1/pipeline/") and path.endswith("/availability"):
            with self._lock:
                availability = self._availability()
            # Both names: the SDK reads "status", the published docs show "pipeline_status".
            return 200, {"status": availability, "pipeline_status": availability}, ""
        if method == "POST" and path == self.RUN_PATH:
            return self._run(record)
        if method == "GET" and path.startswith(self.STATUS_PATH):
            return self._status(unquote(path[len(self.STATUS_PATH):]))
        return _error(404, "Not Found", "No such path.")

    def _run(self, record: RecordedRequest):
        form = record.form
        if form is None:
            return _error(400, "Bad Request", "Expected a multipart/form-data body.")
        if "pipeline_id" not in form:
            return _error(400, "Bad Request", "Field pipeline_id is required.")
        if form["pipeline_id"].value.decode("utf-8", "replace") != self.pipeline_id:
            return _error(400, "Bad Request", "Unknown pipeline_id.")
        if "params" not in form:
            return _error(400, "Bad Request", "Part params is required.")
        if form["params"].content_type != "application/json":
            return _error(400, "Bad Request", "Part params must have Content-Type application/json.")
        try:
            params = form["params"].json()
        except ValueError:
            return _error(400, "Bad Request", "Part params is not valid JSON.")
        problem = self._check_params(params)
        if problem:
            return _error(400, "Bad Request", problem)

        with self._lock:
            if self._disabled:
                return 201, {"model_status": "DISABLED_MANUALLY"}, ""
            if self._queue_full_runs > 0:
                self._queue_full_runs -= 1
                http_status, field_name = self._queue_full_answer
                return http_status, {field_name: "DISABLED_BY_QUEUE"}, ""
            job = FakeJob(uuid=str(uuid.uuid4()) + self.uuid_padding, params=params, outcome="done")
            if self._fail_jobs:
                job.outcome, job.error_description = "fail", self._fail_jobs.pop(0)
            elif self._censor_jobs:
                job.outcome, self._censor_jobs = "censored", self._censor_jobs - 1
            self.jobs[job.uuid] = job
        return 201, {"uuid": job.uuid, "status": "INITIAL", "status_time": int(self.status_time)}, ""

    def _check_params(self, params) -> str | None:
        if not isinstance(params, dict):
            return "params must be a JSON object."
        if params.get("type") != "GENERATE":
            return "params.type must be GENERATE."
        if params.get("numImages") != 1:
            return "params.numImages must be 1."
        for side in ("width", "height"):
            value = params.get(side)
            if value is None:
                return f"params.{side} is required."
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= self.max_side:
                return f"params.{side} must be a whole number from 1 to {self.max_side}."
        generate = params.get("generateParams")
        query = generate.get("query") if isinstance(generate, dict) else None
        if not isinstance(query, str) or not query.strip():
            return "params.generateParams.query must be a non-empty string."
        if "style" in params and params["style"] not in {s["name"] for s in self.styles}:
            return f"Unknown style {params['style']!r}."
        if "negativePromptDecoder" in params and not isinstance(params["negativePromptDecoder"], str):
            return "params.negativePromptDecoder must be a string."
        return None

    def _status(self, job_uuid: str):
        with self._lock:
            job = self.jobs.get(job_uuid)
            if job is None or job.delivered:
                return _error(404, "Not Found", "No such job.")
            job.polls += 1
            if job.polls <= self.polls_initial:
                stage = "INITIAL"
            elif job.polls <= self.polls_initial + self.polls_processing:
                stage = "PROCESSING"
            else:
                stage = "FAIL" if job.outcome == "fail" else "DONE"
            if stage == "DONE":
                job.delivered = True  # read once, like the real API
        answer = {"uuid": job.uuid, "status": stage, "errorDescription": None, "result": None}
        if stage == "FAIL":
            answer["errorDescription"] = job.error_description
        elif stage == "DONE":
            image = self.result_image or _png(job.params["width"], job.params["height"], job.uuid)
            answer["result"] = {
                "files": [base64.b64encode(image).decode("ascii")],
                "censored": job.outcome == "censored",
            }
            answer["generationTime"] = 1
        return 200, answer, ""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeFusionBrain

    def handle_error(self, request, client_address):
        pass  # a client that timed out and hung up is part of the tests, not news


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms stall between them
    server_version = "FakeFusionBrain/1"

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def log_message(self, format, *args):
        pass  # keep test output clean; the fake records requests instead

    def _serve(self, method: str):
        fake = self.server.fake
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        record = RecordedRequest(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            form=_parse_multipart(content_type, body) if content_type.startswith("multipart/") else None,
        )
        with fake._lock:
            fake.requests.append(record)
        status, payload, payload_type = fake._answer(record)
        record.status = status
        if isinstance(payload, bytes):
            data = payload
        else:
            data, payload_type = json.dumps(payload).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", payload_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _parse_multipart(content_type: str, body: bytes) -> dict[str, FormPart] | None:
    """Parts of a multipart/form-data body by name, or None if it does not parse as one."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return None
    form = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        declared = part.get("Content-Type")
        form[name] = FormPart(
            name=name,
            content_type=part.get_content_type() if declared else None,
            value=part.get_payload(decode=True) or b"",
        )
    return form


def _error(status: int, error: str, message: str):
    return status, {"status": status, "error": error, "message": message}, ""


def _png(width: int, height: int, salt: str) -> bytes:
    colour = tuple(hashlib.sha256(salt.encode()).digest()[:3])
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Fusion Brain API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default="test-api-key")
    parser.add_argument("--secret-key", default="test-secret-key")
    parser.add_argument("--polls", type=int, default=1, help="status reads spent in INITIAL and in PROCESSING each")
    args = parser.parse_args()
    fake = FakeFusionBrain(
        api_key=args.api_key, secret_key=args.secret_key, port=args.port,
        polls_initial=args.polls, polls_processing=args.polls,
    ).start()
    print(f"Fake Fusion Brain at {fake.url} (styles at {fake.styles_url}); Ctrl-C stops it.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
