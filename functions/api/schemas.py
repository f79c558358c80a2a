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

EMAIL = {"type": "string", "minLength": 1, "maxLength": 254, "examples": ["ada@example.com"]}

CREDENTIALS = obj({
    "email": EMAIL,
    "password": {"type": "string", "minLength": 1, "maxLength": 128, "examples": ["correct horse battery"]},
}, ["email", "password"], example={"email": "ada@example.com", "password": "correct horse battery"})

REGISTRATION = obj({
    "email": EMAIL,
    "password": {"type": "string", "minLength": 10, "maxLength": 128,
                 "description": "10 to 128 characters; never truncated."},
}, ["email", "password"], example={"email": "ada@example.com", "password": "correct horse battery"})

REFRESH = obj({
    "refresh_token": {"type": "string", "minLength": 1, "maxLength": 512},
}, ["refresh_token"])

USER = obj({
    "id": {"type": "string", "format": "uuid"},
    "email": {"type": "string"},
    "created_at": {"type": "string", "format": "date-time"},
}, ["id", "email", "created_at"])

USER_ENVELOPE = obj({"user": USER}, ["user"])

TOKENS = obj({
    "access_token": {"type": "string", "description": "JWT for the Authorization: Bearer header."},
    "token_type": {"type": "string", "enum": ["Bearer"]},
    "expires_in": {"type": "integer", "description": "Seconds until the access token expires."},
    "refresh_token": {"type": "string", "description": "Opaque; rotated on every use."},
}, ["access_token", "token_type", "expires_in", "refresh_token"])
