"""Structured outputs: the ``json_schema`` a request asks for, whether a schema can be sent
in strict mode, and how a reply measures up to what was asked (for providers that cannot
constrain their decoding, and for servers that fell back to a weaker format).

Pure: jsonschema is imported on first validation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pytest_llmeval.models.base import GenerateParams
from pytest_llmeval.scorers.jsontext import parse_json

FORMATS = ("json_object", "json_schema")

# Keywords OpenAI's strict mode does not support (its Structured Outputs guide); llama.cpp,
# vLLM and Ollama compile schemas to grammars and ignore or refuse the same ones.
_NOT_STRICT = frozenset(
    {
        "minLength", "maxLength", "patternProperties", "unevaluatedProperties",
        "propertyNames", "minProperties", "maxProperties", "unevaluatedItems", "contains",
        "minContains", "maxContains", "uniqueItems", "allOf", "not", "if", "then", "else",
        "dependentRequired", "dependentSchemas",
    }
)  # fmt: skip
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "prefixItems")
_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def response_schema(schema: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
    """OpenAI's ``json_schema`` object for ``schema`` (or for a ``{name, schema, strict}``
    already in that shape): named after its title, strict where the schema allows."""
    if "schema" in schema and isinstance(schema["schema"], Mapping):
        wrapper = dict(schema)
        body = dict(wrapper["schema"])
        name = str(wrapper.get("name") or name or body.get("title") or "response")
        strict = wrapper.get("strict")
    else:
        body, strict = dict(schema), None
        name = name or str(body.get("title") or "response")
    body.pop("$schema", None)  # a draft URI says nothing to a server; some refuse it
    out: dict[str, Any] = {
        "name": _NAME.sub("_", name)[:64] or "response",
        "schema": body,
        "strict": strict_ok(body) if strict is None else bool(strict),
    }
    return out


def strict_ok(schema: Any, root: bool = True) -> bool:
    """Whether ``schema`` fits strict mode: an object at the root; every object closed
    (``additionalProperties: false``) with every property required (optional fields are
    nullable instead); none of the keywords strict mode does not support."""
    if not isinstance(schema, Mapping):
        return isinstance(schema, bool) and not root
    if root and schema.get("type") != "object":
        return False
    if _NOT_STRICT & set(schema):
        return False
    types = schema.get("type")
    is_object = types == "object" or (isinstance(types, list) and "object" in types)
    if is_object or "properties" in schema:
        props = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            return False
        if set(schema.get("required") or ()) != set(props):
            return False
    for key in _SUBSCHEMA_MAPS:
        for sub in (schema.get(key) or {}).values():
            if not strict_ok(sub, root=False):
                return False
    for key in _SUBSCHEMA_LISTS:
        for sub in schema.get(key) or ():
            if not strict_ok(sub, root=False):
                return False
    items = schema.get("items")
    return items is None or strict_ok(items, root=False)


def check_reply(text: str, params: GenerateParams) -> dict[str, Any] | None:
    """How a reply measures up to the ``response_format`` asked for: ``{"format", "valid",
    "error"}``, or None when no format was asked. Valid means the whole reply is the JSON
    (as a server that enforces the format returns it) and, for ``json_schema``, matches
    the schema."""
    fmt = params.response_format
    if fmt not in FORMATS:
        return None
    value, how = parse_json(text)
    error: str | None = None
    if value is None:
        error = how
    elif how != "direct":
        error = f"the JSON is not the whole reply (found by {how} search)"
    elif not isinstance(value, dict):
        error = f"a JSON {type(value).__name__}, not an object"
    elif fmt == "json_schema" and params.json_schema is not None:
        error = _schema_error(value, params.json_schema.get("schema") or {})
    return {"format": fmt, "valid": error is None, "error": error}


def _schema_error(value: Any, schema: Mapping[str, Any]) -> str | None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        error = next(iter(Draft202012Validator(schema).iter_errors(value)), None)
    except SchemaError as exc:
        return f"the schema itself is invalid: {exc.message}"
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{where or '(root)'}: {error.message}"[:300]
