"""Route declarations: validation with fastjsonschema, ids checked at the edge, metadata read from app.routes."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from chalice import Blueprint, Chalice
from chalice.test import Client
from openapi_spec_validator import validate as validate_openapi

from functions.api import docs, schemas
from functions.api.routing import Reply, operations, route
from functions.api.schema import obj, validate, validator
from functions.errors import ImageNotFound, InvalidInput

ROOT = Path(__file__).resolve().parents[2]
THING = "0b6f4c55-8d6a-4d8a-9a53-6f1d2b7c9e10"


def _app():
    api = Blueprint(__name__)

    @route(api, "GET", "/things/{thing_id}", summary="A thing", tag="things", auth=False,
           ids={"thing_id": ImageNotFound})
    def get_thing(call, thing_id):
        return {"id": thing_id}

    @route(api, "POST", "/things", summary="Make a thing", tag="things", auth=False,
           body=obj({"email": schemas.EMAIL, "variants": schemas.VARIANT_REQUESTS}, ["email"]))
    def make_thing(call):
        return Reply(201, call.body)

    app = Chalice(app_name="things")
    app.register_blueprint(api)
    return app


def _post(client, body):
    answer = client.http.post("/things", body=json.dumps(body), headers={"Content-Type": "application/json"})
    return answer.status_code, json.loads(answer.body or b"null")


def test_given_an_id_that_is_not_a_uuid_when_requested_then_the_edge_answers_the_domains_404():
    with Client(_app()) as client:
        answer = client.http.get("/things/not-a-uuid")
    assert answer.status_code == 404
    assert json.loads(answer.body) == {"error": {"code": "image_not_found", "message": "No such image."}}


def test_given_a_uuid_in_another_spelling_when_requested_then_the_view_gets_the_canonical_form():
    with Client(_app()) as client:
        answer = client.http.get("/things/" + THING.upper().replace("-", ""))
    assert answer.status_code == 200 and json.loads(answer.body) == {"id": THING}


def test_given_a_body_when_accepted_then_defaults_are_filled_by_the_validator():
    with Client(_app()) as client:
        status, body = _post(client, {"email": "ada@example.com", "variants": [{"name": "card", "width": 10}]})
    assert status == 201
    assert body["variants"] == [{"name": "card", "width": 10, "fit": "inside", "format": "webp", "quality": 80,
                                  "gravity": "center"}]


@pytest.mark.parametrize("body, field", [
    ({}, "email"),
    ({"email": "not-an-email"}, "email"),
    ({"email": "ada@example.com", "surprise": 1}, "surprise"),
    ({"email": "ada@example.com", "variants": [{"width": 10}]}, "variants[0].name"),
    ({"email": "ada@example.com", "variants": [{"name": "x", "width": 1.0}]}, "variants[0].width"),
    ({"email": "ada@example.com", "variants": [{"name": "x", "width": True}]}, "variants[0].width"),
    ({"email": "ada@example.com", "variants": [{"name": "x", "fit": "stretch"}]}, "variants[0].fit"),
])
def test_given_a_bad_body_when_posted_then_422_names_the_field(body, field):
    with Client(_app()) as client:
        status, answer = _post(client, body)
    assert status == 422
    assert answer["error"]["code"] == "invalid_input" and answer["error"]["field"] == field


@pytest.mark.parametrize("fmt, good, bad", [
    ("email", "ada@example.com", "ada-at-example"),
    ("uuid", THING, "1234"),
    ("uri", "https://photos.example/a.jpg", "ftp://photos.example/a.jpg"),
    ("date-time", "2026-12-02T04:30:00Z", "yesterday"),
])
def test_given_a_documented_format_then_it_is_enforced(fmt, good, bad):
    schema = obj({"value": {"type": "string", "format": fmt}})
    assert validate({"value": good}, schema) == {"value": good}
    with pytest.raises(InvalidInput) as caught:
        validate({"value": bad}, schema)
    assert caught.value.field == "value"


def test_given_a_schema_then_it_is_compiled_once_and_kept():
    schema = obj({"value": {"type": "integer"}})
    assert validator(schema) is validator(schema)


def test_given_import_app_then_no_schema_is_compiled_and_fastjsonschema_is_not_loaded():
    code = "import sys, app; print('fastjsonschema' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False"


def test_given_a_route_registered_without_a_declaration_then_reading_the_operations_names_it():
    app = _app()
    app.route("/bare")(lambda: {})
    with pytest.raises(ValueError, match="/bare"):
        operations(app)


def test_given_the_declarations_then_the_document_has_only_the_apps_routes_and_a_uuid_path_parameter():
    document = docs.describe(_app())
    assert set(document["paths"]) == {"/things", "/things/{thing_id}"}
    get = document["paths"]["/things/{thing_id}"]["get"]
    assert get["parameters"][0]["schema"] == {"type": "string", "format": "uuid"}
    assert "404" in get["responses"]
    validate_openapi(document)


def test_given_the_webhook_payload_then_it_is_published_under_webhooks():
    document = docs.describe(_app())
    event = document["webhooks"]["event"]["post"]
    assert event["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WebhookEvent"}
    assert {p["name"] for p in event["parameters"]} == {"X-Pixelflow-Signature", "X-Pixelflow-Event-Id"}
    assert "EventImage" in document["components"]["schemas"]


def test_given_the_code_then_only_entry_points_import_app():
    # app imports every blueprint; a runtime module importing app back would make an import circle.
    entry_points = {"functions/local/serve.py", "functions/local/runner.py", "infra/readme_tables.py"}
    offenders = []
    for folder in ("functions", "infra"):
        for source in sorted((ROOT / folder).rglob("*.py")):
            name = source.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(source.read_text())):
                imported = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                            else [node.module] if isinstance(node, ast.ImportFrom) and not node.level else [])
                if "app" in imported and name not in entry_points:
                    offenders.append(name)
    assert offenders == []
