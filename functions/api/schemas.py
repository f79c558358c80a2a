"""Request and response schemas shared by the routes and the OpenAPI document."""

from functions.api.schema import obj

ERROR = obj({
    "error": obj({
        "code": {"type": "string", "description": "Machine-readable, snake_case."},
        "message": {"type": "string", "description": "A sentence a person understands."},
        "field": {"type": "string", "description": "The request field concerned, when there is one."},
    }, ["code", "message"]),
}, ["error"], example={"error": {"code": "invalid_input", "message": "email is required.", "field": "email"}})

HEALTH = obj({
    "status": {"type": "string", "enum": ["ok", "unavailable"]},
    "failed": {"type": "array", "items": {"type": "string"}},
    "checks": {"type": "object", "additionalProperties": obj({
        "ok": {"type": "boolean"},
        "ms": {"type": "number"},
        "error": {"type": "string"},
    }, ["ok", "ms"])},
}, ["status", "checks"])
