"""The OpenAPI 3.1 document, built from the route declarations of the app's routes (``routing.operations``).

Pure: operations in, a dict out. Every route is declared once with ``routing.route``; this module only
translates those declarations, so the document says exactly what the routes enforce and cannot drift.
Outgoing requests (the webhook POST) are described under ``webhooks``, as OpenAPI 3.1 provides.
"""

import dataclasses
import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from functions.api.schemas import ERROR
from functions.errors import UNAUTHORIZED_MESSAGE

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"
ERROR_COMPONENT = "Error"

# Statuses whose answer is a Location header rather than a body, and statuses that never have a body.
REDIRECTS = frozenset({301, 302, 303, 307, 308})
NO_BODY = frozenset({204, 304})

# What each error status means on every route; the body is always the common error shape.
ERROR_DESCRIPTIONS = {
    400: "The body is missing, is not JSON, or is not a JSON object.",
    401: "Not authenticated: the access token (or the credentials) are missing, invalid or expired.",
    403: "Authenticated, but not allowed to do this.",
    404: "Not found, or not the caller's.",
    409: "Conflicts with what is stored.",
    413: "The request is too large.",
    422: "A value is not acceptable; error.field names it.",
    429: "Too many attempts; Retry-After says how many seconds to wait.",
    503: "A dependency (database, storage, provider) did not answer, or the database is resuming from a pause; "
         "Retry-After says how many seconds to wait.",
}

# One typical body per status, so Swagger UI does not show a 422 example under 401.
ERROR_EXAMPLES = {
    400: ("invalid_json", "The request body is not valid JSON.", None),
    401: ("unauthorized", UNAUTHORIZED_MESSAGE, None),
    404: ("not_found", "No such thing.", None),
    409: ("conflict", "This clashes with what is stored.", None),
    422: ("invalid_input", "email is required.", "email"),
    429: ("throttled", "Too many attempts; try again later.", None),
    503: ("unavailable", "A dependency did not answer.", None),
}

BEARER = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "An access token from POST /auth/login, sent as `Authorization: Bearer <token>`.",
}

# Keywords whose values are data, not sub-schemas: never replaced by a $ref.
_DATA_KEYWORDS = frozenset({"examples", "example", "enum", "const", "default", "required"})
# Keywords holding a map of name -> sub-schema.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})
_PATH_PARAMETER = re.compile(r"{([^}]+)}")


@dataclasses.dataclass(frozen=True)
class Webhook:
    """A request pixelflow sends to a URL the user gave: its body schema and the headers it carries."""

    name: str
    summary: str
    description: str
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()  # (name, description)


def build_document(operations: Iterable[Any], *, title: str, version: str, server_url: str | None = None,
                   description: str = "", schemas: Mapping[str, dict[str, Any]] | None = None,
                   webhooks: Iterable[Webhook] = ()) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``operations`` (``routing.Operation`` records) and ``webhooks``.

    ``schemas`` names shared schemas (``{"User": USER}``): wherever an equal schema appears it becomes
    a ``$ref`` to ``components.schemas``. The common error body is always the component ``Error``.
    """
    refs = _Components({ERROR_COMPONENT: ERROR, **(schemas or {})})
    paths: dict[str, dict[str, Any]] = {}
    tags: list[str] = []
    operation_ids = set()
    for operation in operations:
        method = operation.method.lower()
        item = paths.setdefault(operation.path, {})
        if method in item:
            raise ValueError(f"{operation.method} {operation.path} is declared twice")
        if operation.name in operation_ids:
            raise ValueError(f"operationId {operation.name!r} is used by two routes")
        operation_ids.add(operation.name)
        if operation.tag not in tags:
            tags.append(operation.tag)
        item[method] = _operation(operation, refs)

    document: dict[str, Any] = {"openapi": OPENAPI_VERSION, "info": {"title": title, "version": version}}
    if description:
        document["info"]["description"] = description
    if server_url is not None:
        document["servers"] = [{"url": server_url}]
    document["tags"] = [{"name": tag} for tag in tags]
    document["paths"] = paths
    hooks = {hook.name: {"post": _webhook(hook, refs)} for hook in webhooks}
    if hooks:
        document["webhooks"] = hooks
    document["components"] = {"schemas": refs.used(), "securitySchemes": {"bearer": BEARER}}
    return document


def _operation(operation: Any, refs: "_Components") -> dict[str, Any]:
    result: dict[str, Any] = {"operationId": operation.name, "summary": operation.summary,
                              "tags": [operation.tag]}
    if operation.description:
        result["description"] = operation.description
    result["security"] = [{"bearer": []}] if operation.auth else []
    parameters = _path_parameters(operation.path, operation.ids) + _query_parameters(
        operation.query, refs)
    if parameters:
        result["parameters"] = parameters
    if operation.body is not None:
        result["requestBody"] = _request_body(operation.body, operation.body_required, refs)
    responses = {str(status): _response(status, text, schema, refs)
                 for status, (text, schema) in sorted(operation.responses.items())}
    for status in operation.errors:
        # A status declared with its own body (503 of /health) keeps that body.
        responses.setdefault(str(status), _error_response(status))
    result["responses"] = dict(sorted(responses.items()))
    return result


def _path_parameters(path: str, ids: Iterable[str] = ()) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True,
             "schema": {"type": "string", "format": "uuid"} if name in ids else {"type": "string", "minLength": 1}}
            for name in _PATH_PARAMETER.findall(path)]


def _webhook(hook: Webhook, refs: "_Components") -> dict[str, Any]:
    return {
        "operationId": hook.name, "summary": hook.summary, "description": hook.description,
        "parameters": [{"name": name, "in": "header", "required": True, "description": text,
                        "schema": {"type": "string"}} for name, text in hook.headers],
        "requestBody": {"required": True, "content": {JSON: {"schema": refs.inline(hook.body)}}},
        "responses": {"2XX": {"description": "Received. Any other answer (or none within the timeout) is "
                                             "retried later with the same event id."}},
    }


def _query_parameters(query: dict[str, Any] | None, refs: "_Components") -> list[dict[str, Any]]:
    if not query:
        return []
    required = set(query.get("required", ()))
    parameters = []
    for name, schema in query.get("properties", {}).items():
        parameter = {"name": name, "in": "query", "required": name in required, "schema": refs.inline(schema)}
        if schema.get("description"):
            parameter["description"] = schema["description"]
        parameters.append(parameter)
    return parameters


def _request_body(schema: dict[str, Any], required: bool, refs: "_Components") -> dict[str, Any]:
    media: dict[str, Any] = {"schema": refs.inline(schema)}
    examples = schema.get("examples") or []
    if examples:
        # Media-type examples are what Swagger UI pre-fills "Try it out" with.
        names = ["example"] if len(examples) == 1 else [f"example{index}" for index in range(1, len(examples) + 1)]
        media["examples"] = {name: {"value": value} for name, value in zip(names, examples)}
    return {"required": required, "content": {JSON: media}}


def _response(status: int, description: str, schema: dict[str, Any] | None,
              refs: "_Components") -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if status in REDIRECTS:
        response["headers"] = {"Location": {"description": "Where the answer is.", "required": True,
                                            "schema": {"type": "string", "format": "uri-reference"}}}
        return response
    if status in NO_BODY or schema is None:
        return response
    # A string schema with contentMediaType (text/html) is a non-JSON body of that type.
    media_type = schema.get("contentMediaType", JSON) if schema.get("type") == "string" else JSON
    response["content"] = {media_type: {"schema": refs.inline(schema)}}
    return response


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"description": ERROR_DESCRIPTIONS.get(status) or HTTPStatus(status).phrase}
    if status in (429, 503):
        response["headers"] = {"Retry-After": {"description": "Seconds to wait before trying again.",
                                               "required": True, "schema": {"type": "integer", "minimum": 0}}}
    media: dict[str, Any] = {"schema": {"$ref": _ref(ERROR_COMPONENT)}}
    if status in ERROR_EXAMPLES:
        code, message, field = ERROR_EXAMPLES[status]
        error = {"code": code, "message": message, **({"field": field} if field else {})}
        media["examples"] = {code: {"value": {"error": error}}}
    response["content"] = {JSON: media}
    return response


def _ref(name: str) -> str:
    return f"#/components/schemas/{name}"


class _Components:
    """Named schemas, replaced by $refs wherever an equal schema appears; remembers which were used."""

    def __init__(self, named: Mapping[str, dict[str, Any]]):
        self._named = list(named.items())
        self._used: dict[str, dict[str, Any]] = {}

    def inline(self, schema: Any, own: str | None = None) -> Any:
        """``schema`` with every named sub-schema (other than ``own``) replaced by its $ref."""
        if not isinstance(schema, dict):
            return schema
        for name, named in self._named:
            if name != own and schema == named:
                self._use(name)
                return {"$ref": _ref(name)}
        result: dict[str, Any] = {}
        for key, value in schema.items():
            if key in _DATA_KEYWORDS:
                result[key] = value
            elif key in _SCHEMA_MAPS and isinstance(value, dict):
                result[key] = {name: self.inline(sub) for name, sub in value.items()}
            elif isinstance(value, dict):
                result[key] = self.inline(value)
            elif isinstance(value, list):
                result[key] = [self.inline(item) for item in value]
            else:
                result[key] = value
        return result

    def used(self) -> dict[str, dict[str, Any]]:
        """The used components, Error first, then sorted by name."""
        self._use(ERROR_COMPONENT)
        return {name: self._used[name] for name in sorted(self._used, key=lambda n: (n != ERROR_COMPONENT, n))}

    def _use(self, name: str) -> None:
        if name in self._used:
            return
        self._used[name] = {}  # placeholder first: a schema may refer to itself through its parts
        self._used[name] = self.inline(dict(self._named)[name], own=name)
