"""JSON Schema validation of request bodies and queries, with fastjsonschema.

The schema dicts of functions.api.schemas are published in the OpenAPI document and enforced here,
so what is documented is what is checked, formats included (email, uri, uuid, date-time). Each
schema is compiled to Python on its first use and cached; ``default`` values are filled in by the
validator. The first broken rule becomes ``InvalidInput`` naming its field (``variants[0].width``).
"""

import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from functions.auth.emails import normalise_email
from functions.errors import InvalidInput

# Draft 4 keeps "integer" strict (1.0 is not an integer) and knows every keyword the schemas use.
DRAFT = "http://json-schema.org/draft-04/schema#"


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


def _is_http_url(text: str) -> bool:
    # The API's "uri" is an absolute http(s) URL with a host; the fetcher and the webhook sender check more.
    parts = urlsplit(text)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc) and not re.search(r"\s", text)


def _is_email(text: str) -> bool:
    # The account rules decide what an address is; the schema only points at them.
    try:
        normalise_email(text)
    except InvalidInput:
        return False
    return True


FORMATS: dict[str, Callable[[str], bool]] = {
    "email": _is_email,
    "uuid": _is_uuid,
    "uri": _is_http_url,
}

# What each format means in an error message.
_FORMAT_WORDS = {
    "uri": "an absolute http or https URL",
    "email": "an e-mail address",
    "uuid": "a UUID",
    "date-time": "an RFC 3339 date-time",
}

# Two threads asking at once may both compile a schema; either result is right, one is kept.
_compiled: dict[int, Any] = {}


def validator(schema: dict[str, Any]) -> Callable[[Any], Any]:
    """The compiled check for ``schema`` (compiled on first use, then cached for the process)."""
    entry = _compiled.get(id(schema))
    if entry is None or entry[0] is not schema:
        import fastjsonschema  # on first use: a route without a body never pays for the compiler

        # The schema is kept alongside its check, so its id cannot be reused by another dict.
        entry = (schema, fastjsonschema.compile({**schema, "$schema": DRAFT}, formats=FORMATS))
        _compiled[id(schema)] = entry
    return entry[1]


def validate(value: Any, schema: dict[str, Any]) -> Any:
    """Return ``value`` with defaults filled in (in place); raise InvalidInput naming the first bad field."""
    from fastjsonschema import JsonSchemaValueException

    try:
        return validator(schema)(value)
    except JsonSchemaValueException as broken:
        raise _invalid(broken) from None


def _invalid(broken: Any) -> InvalidInput:
    where = broken.name[len("data"):].lstrip(".") or "body"
    rule, limit, value = broken.rule, broken.rule_definition, broken.value
    if rule == "required":
        missing = next(name for name in limit if name not in value)
        field = _join(broken.name, missing)
        return InvalidInput(f"{field} is required.", field=field)
    if rule == "additionalProperties":
        known = (broken.definition or {}).get("properties", {})
        unknown = next(name for name in value if name not in known)
        field = _join(broken.name, unknown)
        return InvalidInput(f"{field} is not a known field.", field=field)
    return InvalidInput(_sentence(where, rule, limit), field=where)


def _join(name: str, key: str) -> str:
    parent = name[len("data"):].lstrip(".")
    return f"{parent}.{key}" if parent else key


# The sentence for each broken rule; {where} is the field, {limit} the rule's value.
_SENTENCES = {
    "enum": "{where} must be one of: {limit}.",
    "minLength": "{where} must be at least {limit} characters.",
    "maxLength": "{where} must be at most {limit} characters.",
    "pattern": "{where} has an invalid format.",
    "minimum": "{where} must be at least {limit}.",
    "maximum": "{where} must be at most {limit}.",
    "multipleOf": "{where} must be a multiple of {limit}.",
    "minItems": "{where} needs at least {limit} item(s).",
    "maxItems": "{where} takes at most {limit} item(s).",
}


def _sentence(where: str, rule: str, limit: Any) -> str:
    if rule == "type":
        return f"{where} must be {' or '.join(limit if isinstance(limit, list) else [limit])}."
    if rule == "format":
        return f"{where} must be {_FORMAT_WORDS.get(limit, limit)}."
    if rule == "minLength" and limit == 1:
        return f"{where} must not be empty."
    if rule == "enum":
        limit = ", ".join(str(item) for item in limit)
    return _SENTENCES.get(rule, "{where} is not acceptable.").format(where=where, limit=limit)


def obj(properties: dict[str, Any], required=(), *, description: str | None = None,
        example: dict[str, Any] | None = None) -> dict[str, Any]:
    """A closed object schema (unknown fields are refused)."""
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    if example is not None:
        schema["examples"] = [example]
    return schema
