"""Route registration: one declaration per operation feeds Chalice, input validation and OpenAPI.

``@route(api, "POST", "/uploads", body=UPLOAD_SCHEMA, responses={201: ...})`` registers the
Chalice route, validates the body and query against the declared schemas before the view
runs, translates domain errors into HTTP status codes with one JSON error shape, and
records the operation so the OpenAPI document is generated from the same declaration.
"""

import dataclasses
import functools
import json
import logging
from typing import Any, Callable, Dict, List, Optional, Tuple

from chalice import Response

from functions import errors
from functions.api import schema as schemas

log = logging.getLogger(__name__)

STATUS_BY_ERROR = (
    (errors.BadRequest, 400),
    (errors.Unauthorized, 401),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.InvalidInput, 422),
    (errors.Throttled, 429),
    (errors.Unavailable, 503),
)

JSON = "application/json"


@dataclasses.dataclass(frozen=True)
class Operation:
    """Everything the OpenAPI document says about one route and method."""

    method: str
    path: str
    name: str
    summary: str
    tag: str
    auth: bool
    body: Optional[Dict[str, Any]]
    body_required: bool
    query: Optional[Dict[str, Any]]
    responses: Dict[int, Tuple[str, Optional[Dict[str, Any]]]]
    errors: Tuple[int, ...]
    description: str = ""


OPERATIONS: List[Operation] = []


@dataclasses.dataclass(frozen=True)
class Reply:
    """A view's answer when it is not a plain 200 with a JSON body."""

    status: int
    body: Any = None
    headers: Optional[Dict[str, str]] = None


@dataclasses.dataclass(frozen=True)
class Call:
    """What a view receives: the validated body and query, the caller, and the raw request."""

    body: Any
    query: Dict[str, Any]
    user_id: Optional[str]
    request: Any


def error_body(code: str, message: str, field: Optional[str] = None) -> Dict[str, Any]:
    """The one error shape every route answers with."""
    error: Dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return {"error": error}


def error_response(error: errors.PixelflowError) -> Response:
    status = next((code for kind, code in STATUS_BY_ERROR if isinstance(error, kind)), 400)
    headers = {"Content-Type": JSON}
    if isinstance(error, errors.Throttled):
        headers["Retry-After"] = str(error.retry_after)
    return Response(error_body(error.code, error.message, error.field), status_code=status, headers=headers)


def route(api, method: str, path: str, *, summary: str, tag: str, auth: bool = True,
          body: Optional[Dict[str, Any]] = None, query: Optional[Dict[str, Any]] = None,
          responses: Optional[Dict[int, Tuple[str, Optional[Dict[str, Any]]]]] = None,
          errors_: Tuple[int, ...] = (), description: str = "", authorizer=None,
          body_required: bool = True) -> Callable:
    """Register ``view(call, **path_params)`` on the blueprint ``api`` (see module docstring)."""
    def decorator(view: Callable) -> Callable:
        operation = Operation(
            method=method, path=path, name=view.__name__, summary=summary, tag=tag, auth=auth,
            body=body, body_required=body_required, query=query, responses=responses or {200: ("OK", None)},
            errors=tuple(sorted(set(errors_) | _implied_errors(auth, body, query))),
            description=description or (view.__doc__ or "").strip(),
        )
        OPERATIONS.append(operation)

        @functools.wraps(view)
        def handle(**path_params: str) -> Response:
            request = api.current_request
            try:
                call = Call(
                    body=_read_body(request, body, body_required),
                    query=_read_query(request, query),
                    user_id=_caller(request) if auth else None,
                    request=request,
                )
                return _shape(view(call, **path_params))
            except errors.PixelflowError as error:
                return error_response(error)
            except Exception:
                log.exception("unhandled error in %s %s", method, path)
                return Response(error_body("internal_error", "Something went wrong on our side."),
                                status_code=500, headers={"Content-Type": JSON})

        guard = authorizer if auth else None
        if auth and guard is None:
            from functions.api.guard import access_token  # the one authorizer every protected route uses
            guard = access_token
        api.route(path, methods=[method], authorizer=guard)(handle)
        return view
    return decorator


def _implied_errors(auth: bool, body, query) -> set:
    implied = set()
    if auth:
        implied.add(401)
    if body is not None:
        implied.update({400, 422})
    if query is not None:
        implied.add(422)
    return implied


def _caller(request) -> str:
    # The authorizer already verified the token; its principal is the user id.
    authorizer = (request.context or {}).get("authorizer") or {}
    user_id = authorizer.get("principalId")
    if not user_id:
        raise errors.Unauthorized("A valid access token is required.", code="unauthorized")
    return user_id


def _read_body(request, schema: Optional[Dict[str, Any]], required: bool) -> Any:
    if schema is None:
        return None
    raw = request.raw_body or b""
    if not raw.strip():
        if not required:
            return None
        raise errors.BadRequest("The request needs a JSON body.", code="body_required")
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise errors.BadRequest("The request body is not valid JSON.", code="invalid_json") from None
    except RecursionError:
        # json's decoder recurses once per level; a few thousand levels exhaust Python's stack.
        raise errors.BadRequest("The request body nests arrays or objects too deeply.",
                                code="json_too_deep") from None
    if schema.get("type") == "object" and not isinstance(value, dict):
        raise errors.BadRequest("The request body must be a JSON object.", code="invalid_json")
    schemas.validate(value, schema)
    return value


def _read_query(request, schema: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    raw = dict(request.query_params or {})
    if schema is None:
        return raw
    properties = schema.get("properties", {})
    values: Dict[str, Any] = {}
    for name, text in raw.items():
        if name not in properties:
            continue  # unknown query parameters are ignored, as most APIs do
        values[name] = _convert(name, text, properties[name])
    schemas.validate(values, {**schema, "additionalProperties": True})
    return values


def _convert(name: str, text: str, schema: Dict[str, Any]) -> Any:
    if schema.get("type") == "integer":
        try:
            return int(text)
        except ValueError:
            raise errors.InvalidInput(f"{name} must be an integer.", field=name) from None
    return text


def _shape(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, Reply):
        headers = {"Content-Type": JSON, **(result.headers or {})}
        return Response(result.body if result.body is not None else "", status_code=result.status,
                        headers=headers)
    return Response(result, status_code=200, headers={"Content-Type": JSON})


def markdown_routes(operations: List[Operation]) -> str:
    """The README's routes table, generated from the registry so it cannot drift."""
    lines = ["| method | path | auth | what it does |", "| --- | --- | --- | --- |"]
    for op in sorted(operations, key=lambda op: (op.tag, op.path, op.method)):
        lines.append(f"| {op.method} | `{op.path}` | {'bearer' if op.auth else 'no'} | {op.summary} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    import app  # noqa: F401  (registers every route)
    from functions.api import routing  # the registry app filled, not this __main__ copy

    sys.stdout.write(routing.markdown_routes(routing.OPERATIONS) + "\n")
