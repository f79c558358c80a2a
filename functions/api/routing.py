"""Route declaration: one declaration per operation feeds Chalice, input validation and OpenAPI.

``@route(api, "POST", "/uploads", body=UPLOAD_SCHEMA, responses={201: ...})`` registers the
Chalice route, validates the body, the query and the id path parameters before the view runs,
translates domain errors into HTTP status codes with one JSON error shape, and attaches the
``Operation`` to the registered view function. ``operations(app)`` reads them back from
``app.routes``, so the OpenAPI document describes exactly what the app serves; there is no
process-wide registry.
"""

import dataclasses
import functools
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from chalice import Response

from functions import errors
from functions.api import schema as schemas
from functions.api.guard import access_token
from functions.openapi import JSON

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


@dataclasses.dataclass(frozen=True)
class Operation:
    """Everything the OpenAPI document says about one route and method."""

    method: str
    path: str
    name: str
    summary: str
    tag: str
    auth: bool
    body: dict[str, Any] | None
    body_required: bool
    query: dict[str, Any] | None
    responses: dict[int, tuple[str, dict[str, Any] | None]]
    errors: tuple[int, ...]
    description: str = ""
    ids: tuple[str, ...] = ()  # path parameters that are UUIDs


# The attribute of a registered view function that holds its Operation.
OPERATION = "operation"


@dataclasses.dataclass(frozen=True)
class Reply:
    """A view's answer when it is not a plain 200 with a JSON body."""

    status: int
    body: Any = None
    headers: dict[str, str] | None = None


@dataclasses.dataclass(frozen=True)
class Call:
    """What a view receives: the validated body and query, the caller, and the raw request."""

    body: Any
    query: dict[str, Any]
    user_id: str | None
    request: Any


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The one error shape every route answers with."""
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return {"error": error}


def error_response(error: errors.PixelflowError) -> Response:
    status = next((code for kind, code in STATUS_BY_ERROR if isinstance(error, kind)), 400)
    headers: dict[str, str | list[str]] = {"Content-Type": JSON}
    if isinstance(error, errors.Throttled):
        headers["Retry-After"] = str(error.retry_after)
    elif isinstance(error, errors.Unavailable):
        # A paused database resumes in seconds: say when to come back rather than hold the request.
        headers["Retry-After"] = str(int(error.retry_after or errors.Unavailable.DEFAULT_RETRY_AFTER))
    return Response(error_body(error.code, error.message, error.field), status_code=status, headers=headers)


def route(api, method: str, path: str, *, summary: str, tag: str, auth: bool = True,
          body: dict[str, Any] | None = None, query: dict[str, Any] | None = None,
          responses: dict[int, tuple[str, dict[str, Any] | None]] | None = None,
          errors_: tuple[int, ...] = (), description: str = "", authorizer=None,
          body_required: bool = True, ids: Mapping[str, type[errors.NotFound]] | None = None) -> Callable:
    """Register ``view(call, **path_params)`` on the blueprint ``api`` (see module docstring).

    ``ids`` maps each path parameter that is a UUID to the NotFound its domain raises for an unknown
    one: anything else is answered with that error here, and the view gets the canonical form.
    """
    not_found = dict(ids or {})

    def decorator(view: Callable) -> Callable:
        operation = Operation(
            method=method, path=path, name=view.__name__, summary=summary, tag=tag, auth=auth,
            body=body, body_required=body_required, query=query, responses=responses or {200: ("OK", None)},
            errors=tuple(sorted(set(errors_) | _implied_errors(auth, body, query, not_found))),
            description=description or (view.__doc__ or "").strip(), ids=tuple(not_found),
        )

        @functools.wraps(view)
        def handle(**path_params: str) -> Response:
            request = api.current_request
            try:
                for name, error in not_found.items():
                    path_params[name] = _canonical_id(path_params[name], error)
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

        setattr(handle, OPERATION, operation)
        guard = (authorizer or access_token) if auth else None  # one authorizer for every protected route
        api.route(path, methods=[method], authorizer=guard)(handle)
        return view
    return decorator


def operations(app) -> list[Operation]:
    """The declared operation of every route ``app`` serves, in registration order.

    Raises ValueError naming a route registered without ``route()``: it would be served undocumented.
    """
    found = []
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            operation = getattr(entry.view_function, OPERATION, None)
            if operation is None:
                raise ValueError(f"{method} {path} is registered without a route() declaration")
            found.append(operation)
    return found


def _canonical_id(text: str, not_found: Callable[[], errors.NotFound]) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise not_found() from None


def _implied_errors(auth: bool, body, query, ids) -> set:
    implied = set()
    if auth:
        implied.update({401, 503})  # the authorizer asks the database; a paused one answers 503 + Retry-After
    if ids:
        implied.add(404)
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


def _read_body(request, schema: dict[str, Any] | None, required: bool) -> Any:
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
    return schemas.validate(value, schema)


def _read_query(request, schema: dict[str, Any] | None) -> dict[str, Any]:
    raw = dict(request.query_params or {})
    if schema is None:
        return raw
    properties = schema.get("properties", {})
    values: dict[str, Any] = {}
    for name, text in raw.items():
        if name not in properties:
            continue  # unknown query parameters are ignored, as most APIs do
        values[name] = _convert(name, text, properties[name])
    return schemas.validate(values, schema)


def _convert(name: str, text: str, schema: dict[str, Any]) -> Any:
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
        headers: dict[str, str | list[str]] = {"Content-Type": JSON, **(result.headers or {})}
        return Response(result.body if result.body is not None else "", status_code=result.status,
                        headers=headers)
    return Response(result, status_code=200, headers={"Content-Type": JSON})
