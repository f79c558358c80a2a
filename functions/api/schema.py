"""A small JSON Schema validator for the subset pixelflow's request schemas use.

The same schema dicts are published in the OpenAPI document, so what is documented is
exactly what is enforced. Supported keywords: type (incl. lists with "null"), properties,
required, additionalProperties (bool), items, minItems, maxItems, minLength, maxLength,
minimum, maximum, multipleOf, enum, pattern, format "uri" (absolute http/https).
A pure-Python subset keeps native wheels (rpds-py) out of the Lambda package.
"""

import re
from typing import Any, Dict, Optional

from functions.errors import InvalidInput

_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def validate(value: Any, schema: Dict[str, Any], path: str = "") -> None:
    """Raise InvalidInput naming the first field (``variants[0].width``) that breaks ``schema``."""
    where = path or "body"
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        if not any(_is_type(value, name) for name in names):
            raise InvalidInput(f"{where} must be {' or '.join(names)}.", field=where)
    if value is None:
        return
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(str(item) for item in schema["enum"])
        raise InvalidInput(f"{where} must be one of: {allowed}.", field=where)
    if isinstance(value, str):
        _validate_string(value, schema, where)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _validate_number(value, schema, where)
    elif isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise InvalidInput(f"{where} needs at least {schema['minItems']} item(s).", field=where)
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise InvalidInput(f"{where} takes at most {schema['maxItems']} item(s).", field=where)
        if "items" in schema:
            for index, item in enumerate(value):
                validate(item, schema["items"], _join(path, index))
    elif isinstance(value, dict):
        _validate_object(value, schema, path)


def _validate_string(value: str, schema: Dict[str, Any], where: str) -> None:
    if len(value) < schema.get("minLength", 0):
        if schema.get("minLength", 0) == 1:
            raise InvalidInput(f"{where} must not be empty.", field=where)
        raise InvalidInput(f"{where} must be at least {schema['minLength']} characters.", field=where)
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise InvalidInput(f"{where} must be at most {schema['maxLength']} characters.", field=where)
    if "pattern" in schema and not re.search(schema["pattern"], value):
        raise InvalidInput(f"{where} has an invalid format.", field=where)
    if schema.get("format") == "uri" and not re.match(r"^https?://[^\s/]+", value, re.I):
        raise InvalidInput(f"{where} must be an absolute http or https URL.", field=where)


def _validate_number(value: float, schema: Dict[str, Any], where: str) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        raise InvalidInput(f"{where} must be at least {schema['minimum']}.", field=where)
    if "maximum" in schema and value > schema["maximum"]:
        raise InvalidInput(f"{where} must be at most {schema['maximum']}.", field=where)
    if "multipleOf" in schema and value % schema["multipleOf"]:
        raise InvalidInput(f"{where} must be a multiple of {schema['multipleOf']}.", field=where)


def _validate_object(value: Dict[str, Any], schema: Dict[str, Any], path: str) -> None:
    properties: Dict[str, Any] = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            field = _join(path, name)
            raise InvalidInput(f"{field} is required.", field=field)
    if schema.get("additionalProperties") is False:
        for name in value:
            if name not in properties:
                field = _join(path, name)
                raise InvalidInput(f"{field} is not a known field.", field=field)
    for name, sub_schema in properties.items():
        if name in value:
            validate(value[name], sub_schema, _join(path, name))


def obj(properties: Dict[str, Any], required=(), *, description: Optional[str] = None,
        example: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """A closed object schema (unknown fields are refused)."""
    schema: Dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    if example is not None:
        schema["examples"] = [example]
    return schema
