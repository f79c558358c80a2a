"""The OpenAPI document: built from the route declarations, valid OpenAPI 3.1, and in step with app.routes."""

import ast
import copy
import dataclasses
import json
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

import functions.api
from app import app
from functions.api import docs, routing
from functions.api.schema import validate as schema_validate
from functions.api.schemas import ERROR
from functions.openapi import build_document

ERROR_REF = {"$ref": "#/components/schemas/Error"}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@pytest.fixture(scope="module")
def document():
    return docs.describe(app)


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method.upper(), operation


def _declared(**fields):
    """A routing.Operation as a route declaration would make it."""
    base = dict(method="GET", path="/things", name="list_things", summary="Things", tag="things", auth=True,
                body=None, body_required=True, query=None, responses={200: ("OK", None)}, errors=(401,))
    names = {field.name for field in dataclasses.fields(routing.Operation)}
    return routing.Operation(**{key: value for key, value in {**base, **fields}.items() if key in names})


def test_given_the_app_when_its_document_is_built_then_it_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    validate(document)
    json.dumps(document)  # what GET /openapi.json sends


def test_given_the_app_when_documented_then_every_route_and_method_is_there_and_nothing_else(document):
    routes = {path: set(methods) for path, methods in app.routes.items()}
    documented = {}
    for path, method, _ in _operations(document):
        documented.setdefault(path, set()).add(method)
    assert documented == routes


def test_given_a_route_declared_in_functions_api_when_the_app_is_built_then_the_app_serves_it():
    # A blueprint that declares routes but is not registered in app.py would be silently missing.
    # Read from the source: the declarations of a blueprint the app never registered are nowhere else.
    missing = []
    for source in sorted(Path(functions.api.__file__).parent.glob("*.py")):
        for method, path in _declared_routes(source):
            if method not in app.routes.get(path, {}):
                missing.append(f"{method} {path} ({source.name})")
    assert not missing, f"declared but not registered in app.py: {missing}"


def _declared_routes(source):
    """(method, path) of every ``@route(api, "METHOD", "/path", ...)`` in a module's source."""
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "route" and len(node.args) >= 3:
            method, path = node.args[1], node.args[2]
            if isinstance(method, ast.Constant) and isinstance(path, ast.Constant):
                yield method.value, path.value


def test_given_any_operation_then_it_has_a_unique_operation_id_a_summary_and_a_tag(document):
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids))
    declared_tags = {tag["name"] for tag in document["tags"]}
    for _, _, operation in _operations(document):
        assert operation["summary"]
        assert len(operation["tags"]) == 1 and operation["tags"][0] in declared_tags


def test_given_protected_routes_then_they_need_the_bearer_token_and_document_401(document):
    bearer = document["components"]["securitySchemes"]["bearer"]
    assert (bearer["type"], bearer["scheme"], bearer["bearerFormat"]) == ("http", "bearer", "JWT")
    declared = {(operation.method, operation.path): operation for operation in routing.operations(app)}
    protected = 0
    for path, method, operation in _operations(document):
        if declared[method, path].auth:
            protected += 1
            assert operation["security"] == [{"bearer": []}], (method, path)
            assert operation["responses"]["401"]["content"]["application/json"]["schema"] == ERROR_REF
        else:
            assert operation["security"] == [], (method, path)
    assert protected, "no protected route found; the registry is not what this test expects"


def test_given_routes_with_a_body_then_400_422_and_the_json_body_are_documented(document):
    declared = {(operation.method, operation.path): operation for operation in routing.operations(app)}
    for path, method, operation in _operations(document):
        if declared[method, path].body is None:
            assert "requestBody" not in operation
            continue
        assert {"400", "422"} <= set(operation["responses"]), (method, path)
        body = operation["requestBody"]
        assert body["required"] == declared[method, path].body_required
        assert "schema" in body["content"]["application/json"]


def test_given_any_declared_error_then_it_answers_with_the_common_error_body(document):
    declared = {(operation.method, operation.path): operation for operation in routing.operations(app)}
    assert document["components"]["schemas"]["Error"] == ERROR
    for path, method, operation in _operations(document):
        own = declared[method, path]
        for status in own.errors:
            response = operation["responses"][str(status)]
            if status in own.responses:
                continue  # a status declared with its own body (503 of /health) keeps that body
            assert response["content"]["application/json"]["schema"] == ERROR_REF, (method, path, status)


def test_given_documented_examples_then_the_routes_own_validation_accepts_them_and_errors_fit_the_error_schema(
        document):
    declared = {(operation.method, operation.path): operation for operation in routing.operations(app)}
    for path, method, operation in _operations(document):
        body = declared[method, path].body
        for example in body.get("examples", []) if body else []:
            schema_validate(copy.deepcopy(example), body)  # raises InvalidInput naming the field
        for status, response in operation["responses"].items():
            if response.get("content", {}).get("application/json", {}).get("schema") == ERROR_REF:
                for example in response["content"]["application/json"].get("examples", {}).values():
                    schema_validate(example["value"], ERROR)


def test_given_path_templates_then_each_parameter_is_documented_as_required(document):
    for path, method, operation in _operations(document):
        names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        documented = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        assert documented == names, (method, path)
        assert all(p["required"] for p in operation.get("parameters", []) if p["in"] == "path")


def test_given_the_docs_routes_when_declared_then_they_are_public(document):
    for path in ("/openapi.json", "/docs", "/docs/{asset}"):
        assert any(operation.path == path and not operation.auth for operation in routing.operations(app)), path


# The builder on its own: declarations in, document out.

def test_given_a_query_schema_then_each_property_is_a_query_parameter_with_its_schema():
    query = {"type": "object", "properties": {"limit": {"type": "integer", "minimum": 1, "description": "Page size."},
                                              "cursor": {"type": "string"}}, "required": ["cursor"]}
    document = build_document([_declared(query=query, errors=(401, 422))], title="t", version="1")
    parameters = document["paths"]["/things"]["get"]["parameters"]
    assert parameters == [
        {"name": "limit", "in": "query", "required": False, "schema": query["properties"]["limit"],
         "description": "Page size."},
        {"name": "cursor", "in": "query", "required": True, "schema": {"type": "string"}},
    ]
    validate(document)


def test_given_a_body_with_examples_then_the_request_body_carries_them_for_try_it_out():
    body = {"type": "object", "properties": {"name": {"type": "string"}}, "examples": [{"name": "a"}, {"name": "b"}]}
    document = build_document([_declared(method="POST", body=body, body_required=False, errors=(400, 401, 422))],
                              title="t", version="1")
    request_body = document["paths"]["/things"]["post"]["requestBody"]
    assert request_body["required"] is False
    assert request_body["content"]["application/json"]["examples"] == {"example1": {"value": {"name": "a"}},
                                                                       "example2": {"value": {"name": "b"}}}
    validate(document)


def test_given_a_redirect_and_a_204_then_neither_has_a_body_and_the_redirect_has_a_location():
    document = build_document([
        _declared(path="/things/{id}/download", name="download", responses={302: ("Go there", None)}),
        _declared(method="DELETE", path="/things/{id}", name="delete", responses={204: ("Gone", None)}),
    ], title="t", version="1")
    redirect = document["paths"]["/things/{id}/download"]["get"]["responses"]["302"]
    assert "content" not in redirect and redirect["headers"]["Location"]["required"] is True
    assert "content" not in document["paths"]["/things/{id}"]["delete"]["responses"]["204"]
    validate(document)


def test_given_named_schemas_then_equal_schemas_become_refs_to_components_and_only_used_ones_are_listed():
    item = {"type": "object", "properties": {"id": {"type": "string"}}, "additionalProperties": False}
    page = {"type": "object", "properties": {"items": {"type": "array", "items": item}}}
    document = build_document([_declared(responses={200: ("A page", page)})], title="t", version="1",
                              schemas={"Item": item, "Page": page, "Unused": {"type": "object"}})
    content = document["paths"]["/things"]["get"]["responses"]["200"]["content"]["application/json"]
    assert content["schema"] == {"$ref": "#/components/schemas/Page"}
    schemas = document["components"]["schemas"]
    assert list(schemas) == ["Error", "Item", "Page"]
    assert schemas["Page"]["properties"]["items"]["items"] == {"$ref": "#/components/schemas/Item"}
    assert schemas["Item"] == item
    validate(document)


def test_given_a_string_schema_with_a_media_type_then_the_response_has_that_content_type():
    html = {"type": "string", "contentMediaType": "text/html"}
    document = build_document([_declared(auth=False, errors=(), responses={200: ("A page", html)})],
                              title="t", version="1")
    assert document["paths"]["/things"]["get"]["responses"]["200"]["content"] == {"text/html": {"schema": html}}
    assert document["paths"]["/things"]["get"]["security"] == []


def test_given_429_then_it_documents_retry_after():
    document = build_document([_declared(errors=(401, 429))], title="t", version="1")
    assert document["paths"]["/things"]["get"]["responses"]["429"]["headers"]["Retry-After"]["required"] is True


@pytest.mark.parametrize("second", [
    {"name": "other"},                      # same method and path twice
    {"path": "/other"},                     # same operationId twice
])
def test_given_clashing_declarations_then_building_fails_naming_them(second):
    with pytest.raises(ValueError):
        build_document([_declared(), _declared(**second)], title="t", version="1")


def test_given_a_broken_schema_then_the_validator_used_here_notices():
    # Guards the guard: the validation in these tests really rejects a bad document.
    document = build_document([_declared(responses={200: ("OK", {"type": "no-such-type"})})],
                              title="t", version="1")
    with pytest.raises(OpenAPIValidationError):
        validate(document)
