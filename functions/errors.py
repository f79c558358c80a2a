"""Domain errors. Domain code raises these; the HTTP layer maps them to status codes.

Each error carries a machine-readable ``code`` (snake_case), a sentence a person
understands, and optionally the request ``field`` it concerns.
"""

import json


class PixelflowError(Exception):
    """Base of every expected, user-facing error."""

    code = "error"

    def __init__(self, message, *, code=None, field=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field


class InvalidInput(PixelflowError):
    """The request is well-formed but a value is not acceptable (HTTP 422)."""

    code = "invalid_input"


class BadRequest(PixelflowError):
    """The request cannot be read at all: not JSON, wrong shape (HTTP 400)."""

    code = "bad_request"


class Unauthorized(PixelflowError):
    """Missing or wrong credentials (HTTP 401)."""

    code = "unauthorized"


class NotFound(PixelflowError):
    """The thing does not exist, or belongs to someone else (HTTP 404)."""

    code = "not_found"


class ImageNotFound(NotFound):
    """No such image, or not the caller's (also what any id that is not a UUID gets)."""

    code = "image_not_found"

    def __init__(self, message="No such image.", **kwargs):
        super().__init__(message, **kwargs)


class BatchNotFound(NotFound):
    """No such batch, or not the caller's (also what any id that is not a UUID gets)."""

    code = "batch_not_found"

    def __init__(self, message="No such batch.", **kwargs):
        super().__init__(message, **kwargs)


class Conflict(PixelflowError):
    """The request clashes with what is stored (HTTP 409)."""

    code = "conflict"


class Throttled(PixelflowError):
    """Too many attempts; try again after ``retry_after`` seconds (HTTP 429)."""

    code = "throttled"

    def __init__(self, message, *, retry_after, code=None):
        super().__init__(message, code=code)
        self.retry_after = int(retry_after)


class Unavailable(PixelflowError):
    """A dependency (database, storage, provider) did not answer (HTTP 503 with Retry-After). Transient."""

    code = "unavailable"
    # Seconds a client should wait before trying again when the raiser does not say (Retry-After).
    DEFAULT_RETRY_AFTER = 5

    def __init__(self, message, *, code=None, field=None, retry_after=None):
        super().__init__(message, code=code, field=field)
        self.retry_after = retry_after


# What a request the authorizer refused gets (401): API Gateway's UNAUTHORIZED gateway response
# (infra/template.py), the local server (functions/local/http.py) and the OpenAPI document all use it.
UNAUTHORIZED_MESSAGE = "A valid access token is required in the Authorization header."
UNAUTHORIZED_BODY = json.dumps({"error": {"code": Unauthorized.code, "message": UNAUTHORIZED_MESSAGE}},
                               separators=(",", ":"))

# What a request gets (503 + Retry-After) when the authorizer could not reach the database (paused, restarting):
# API Gateway's authorizer-failure gateway responses (infra/template.py) and the local server use it.
UNAVAILABLE_MESSAGE = "The service is starting up or briefly unavailable; try again after Retry-After seconds."
UNAVAILABLE_BODY = json.dumps({"error": {"code": Unavailable.code, "message": UNAVAILABLE_MESSAGE}},
                              separators=(",", ":"))
