"""The served OpenAPI document against the running app, and the Swagger UI page and its files.

Schemathesis generates requests for every documented operation, valid ones and invalid ones, sends
them to the local HTTP server on the embedded stack as a signed-in user, and checks that no answer is
a 5xx and that every status, Content-Type, documented header and body matches the document.
"""

import collections
import functools
import hashlib
import io
import random
import re
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from functions import wiring
from functions.api import docs
from tests.integration.helpers import PASSWORD, bearer, sign_up, wait_for

# Cases per operation: bounded so the whole run stays well under the 300 s test timeout on 2 cores.
EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 20}
DOCUMENTED_EXAMPLES = 5      # cases built from the document's own examples (they succeed, so 2xx bodies get checked)
KNOWN_RESOURCE_EXAMPLES = 3  # cases per existing thing as path parameter (3 images in 3 states, served files)
# Not positive_data_acceptance / negative_data_rejection: by design some schema-valid values are refused with
# a documented 422 (an unknown e-mail form, an unsupported content type) and unknown query parameters are ignored.
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance,
          response_headers_conformance]
# Signs sessions out: it runs as an account of its own, logged in afresh before each case.
FRESH_SESSION = {("POST", "/auth/logout")}
STATIC = Path(docs.__file__).resolve().parent / "static" / "swagger"


@pytest.fixture(scope="module")
def api_schema(server):
    # from_dict rather than from_url: from_url leaves out the operation that serves the document itself.
    return schemathesis.openapi.from_dict(requests.get(server.url + "/openapi.json", timeout=10).json())


def test_given_the_served_document_then_it_is_valid_openapi_3_1(server):
    answer = requests.get(server.url + "/openapi.json", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    validate(answer.json())


@pytest.fixture
def live_configured(monkeypatch):
    """A stack with live updates, as make run and AWS are: without a socket URL, POST /live/tickets answers
    its documented 503 live_unavailable, which the fuzzing would count as a server error. The ticket's URL
    is never opened here."""
    monkeypatch.setenv("LIVE_SOCKET_URL", "ws://127.0.0.1:9/live")
    wiring.configure()
    yield
    monkeypatch.undo()
    wiring.configure()


def test_given_every_documented_operation_when_fuzzed_as_a_signed_in_user_then_no_check_fails(
        server, runner, api_schema, live_configured, capsys):
    user = sign_up(server.url)
    spare = sign_up(server.url)
    known = {"image_id": _seed_images(server.url, user, api_schema), "asset": ["swagger-init.js", "NOTICE"],
             "name": ["style.css"]}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    # Destructive operations last, so the seeded resources are there for every other one.
    operations.sort(key=lambda operation: operation.method.upper() == "DELETE")
    with requests.Session() as session:
        campaign = Campaign(server.url, session)
        for operation in operations:
            if (operation.method.upper(), operation.path) in FRESH_SESSION:
                headers = functools.partial(_fresh_bearer, server.url, spare)
            else:
                headers = functools.partial(bearer, user)
            campaign.fuzz(operation, "examples", lambda: _documented_examples(operation), DOCUMENTED_EXAMPLES,
                          headers)
            for mode, examples in EXAMPLES.items():
                campaign.fuzz(operation, mode.value, functools.partial(operation.as_strategy, generation_mode=mode),
                              examples, headers)
            for name, values in known.items():
                if operation.get_parameter(name, "path"):
                    for value in values:
                        campaign.fuzz(operation, "known id", functools.partial(
                            operation.as_strategy, path_parameters={name: value}), KNOWN_RESOURCE_EXAMPLES, headers)

    with capsys.disabled():  # the counts are part of the result: show them under pytest -q too
        print(campaign.report(operations))
    assert not campaign.failures, "\n\n".join(campaign.failures.values())


@pytest.mark.parametrize("path", ["/docs", "/docs/"])
def test_given_the_docs_page_then_it_loads_swagger_ui_from_the_app_only_and_points_at_the_document(server, path):
    page = requests.get(server.url + path, timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "default-src 'none'" in policy
    [base] = re.findall(r'<base href="([^"]+)">', page.text)
    links = re.findall(r'(?:src|href)="([^"]+)"', page.text.split("</title>")[1])
    assert not [link for link in links if "//" in link], "every file must come from the app itself"
    loaded = {urljoin(urljoin(page.url, base), link).split("?")[0] for link in links if not link.startswith("data:")}
    assert loaded == {server.url + "/docs/" + name
                      for name in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-init.js")}
    for link in links:
        if not link.startswith("data:"):
            assert requests.get(urljoin(urljoin(page.url, base), link), timeout=30).status_code == 200, link
    assert 'url: "openapi.json"' in (STATIC / "swagger-init.js").read_text()


@pytest.mark.parametrize("name, media_type", [
    ("swagger-ui-bundle.js", "text/javascript"),
    ("swagger-ui.css", "text/css"),
    ("swagger-init.js", "text/javascript"),
    ("LICENSE", "text/plain"),
])
def test_given_an_allowed_asset_then_it_is_served_intact_with_its_type_and_a_long_cache(server, name, media_type):
    answer = requests.get(f"{server.url}/docs/{name}?v=1", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].split(";")[0] == media_type
    assert "max-age=604800" in answer.headers["Cache-Control"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    # The bundle is about 1.7 MB: every byte must come through the local gateway unchanged.
    expected = (STATIC / name).read_bytes()
    assert int(answer.headers["Content-Length"]) == len(expected)
    assert hashlib.sha256(answer.content).hexdigest() == hashlib.sha256(expected).hexdigest()


@pytest.mark.parametrize("name", ["swagger-ui.css.map", "README.md", "docs.py", "%2E%2E", "%2E%2E%2Fdocs.py"])
def test_given_a_file_outside_the_allow_list_then_it_is_404_with_the_error_body(server, name):
    answer = requests.get(f"{server.url}/docs/{name}", timeout=10)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "asset_not_found"


class Campaign:
    """Sends generated cases, runs the checks on each answer, and keeps counts and distinct failures."""

    KINDS = ("examples", "positive", "negative", "known id")

    def __init__(self, base_url, session):
        self.base_url = base_url
        self.session = session
        self.cases = collections.Counter()      # (operation label, kind) -> cases sent
        self.statuses = collections.Counter()   # (operation label, status) -> answers
        self.failures = {}                      # (operation label, failure title) -> first report

    def fuzz(self, operation, kind, make_strategy, examples, headers):
        """Up to ``examples`` cases from ``make_strategy()``, the same ones on every run, never shrunk."""
        label = operation.label
        # Schemathesis also draws from the global random module, partly while building strategies.
        saved = random.getstate()
        random.seed(f"{label} {kind}")
        try:
            strategy = make_strategy()
            if strategy is not None:
                self._run(label, kind, strategy, examples, headers)
        finally:
            random.setstate(saved)

    def _run(self, label, kind, strategy, examples, headers):
        @settings(max_examples=examples, phases=[Phase.generate], derandomize=True, database=None,
                  deadline=None, suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)
        @given(case=strategy)
        def run(case):
            sent = headers()
            response = case.call(base_url=self.base_url, session=self.session, headers=sent, timeout=30)
            self.cases[label, kind] += 1
            self.statuses[label, response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS, headers=sent)
            except FailureGroup as group:
                for failure in group.exceptions:
                    self.failures.setdefault((label, failure.title), (
                        f"{label} ({kind}): {failure.title}\n{failure.message}\n"
                        f"status {response.status_code}, body {response.text[:400]!r}\n"
                        f"reproduce: {case.as_curl_command(headers=sent)}"))

        try:
            run()
        except Unsatisfiable:
            pass  # nothing to make invalid (no body, query or constrained parameter): 0 cases, shown as such

    def report(self, operations):
        lines = ["", f"schemathesis cases per operation ({' / '.join(self.KINDS)}), and the statuses answered:"]
        for operation in operations:
            label = operation.label
            cases = " / ".join(f"{self.cases[label, kind]:>3}" for kind in self.KINDS)
            statuses = " ".join(f"{status}:{count}" for (name, status), count in sorted(self.statuses.items())
                                if name == label)
            lines.append(f"  {label:<34} {cases}   {statuses}")
        lines.append(f"  total: {sum(self.cases.values())} cases over {len(operations)} operations, "
                     f"{len(self.failures)} distinct failure(s)")
        return "\n".join(lines)


def _documented_examples(operation):
    strategies = operation.get_strategies_from_examples()
    return st.one_of(strategies) if strategies else None


def _seed_images(base_url, user, api_schema):
    """Images of the signed-in user in three states: awaiting upload, done and failed."""
    operation = api_schema["/uploads"]["POST"]
    example = next(iter(operation.definition.raw["requestBody"]["content"]["application/json"]["examples"].values()))
    pixels = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(pixels, "PNG")
    awaiting = _upload(base_url, user, example["value"])
    done = _upload(base_url, user, {"filename": "tiny.png", "content_type": "image/png", "size": 1},
                   pixels.getvalue())
    failed = _upload(base_url, user, {"filename": "fake.png", "content_type": "image/png", "size": 1},
                     b"these bytes are not a PNG")

    def status(image_id):
        return requests.get(f"{base_url}/images/{image_id}", headers=bearer(user), timeout=10).json()["status"]

    assert wait_for(lambda: status(done) == "done" and status(failed) == "failed", timeout=60), \
        (status(done), status(failed))
    return [awaiting, done, failed]


def _upload(base_url, user, body, data=None):
    if data is not None:
        body = {**body, "size": len(data)}
    ticket = requests.post(base_url + "/uploads", json=body, headers=bearer(user), timeout=10)
    assert ticket.status_code == 201, ticket.text
    ticket = ticket.json()
    if data is not None:
        posted = requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                               files={"file": (body["filename"], data, body["content_type"])}, timeout=30)
        assert posted.status_code in (200, 201, 204), posted.text
    return ticket["image_id"]


def _fresh_bearer(base_url, account):
    """The Authorization header of a new session of ``account``."""
    answer = requests.post(base_url + "/auth/login", json={"email": account["email"], "password": PASSWORD},
                           timeout=10)
    assert answer.status_code == 200, answer.text
    return bearer(answer.json())
