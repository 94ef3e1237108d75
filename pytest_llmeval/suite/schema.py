"""What a suite file may say: the JSON Schema of a suite, and the checks that turn a
mistake into one line naming the key (an unknown key with "did you mean", a bare
comparison that YAML read as a block scalar)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from pytest_llmeval.yamlines import key_lines

_NAME = r"^[A-Za-z0-9_\-]+$"
_FIELD = {"type": "string", "minLength": 1}

SUITE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["dataset"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": _NAME},
        "task": {"type": "string", "pattern": _NAME},
        "dataset": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        # the field holding each sample's id (default: `id` where present, else an id
        # derived from the sample's content)
        "id": _FIELD,
        # the expected answer: a field, or a field and a regex whose group 1 is the answer
        "expected": {
            "oneOf": [
                _FIELD,
                {
                    "type": "object",
                    "required": ["field"],
                    "additionalProperties": False,
                    "properties": {"field": _FIELD, "extract": _FIELD},
                },
            ]
        },
        "repeats": {"type": "integer", "minimum": 1},
        "prompt": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"system": {"type": "string"}, "user": {"type": "string"}},
        },
        # a field holding chat messages (a list of {role, content}); a list of such lists
        # is a conversation of several user turns
        "messages": _FIELD,
        "turns": _FIELD,  # a field holding further user turns (strings or message lists)
        "tools": _FIELD,  # a field holding OpenAI function tools (BFCL's shape converted)
        "tool_results": _FIELD,  # a field: mocked tool results by tool name
        "max_tool_steps": {"type": "integer", "minimum": 1},
        "solver": _FIELD,  # a registered async solver that runs the sample's program
        "checks": _FIELD,  # a field holding per-sample checks (promptfoo's assert list)
        "fewshot": {
            "type": "object",
            "required": ["dataset", "n"],
            "additionalProperties": False,
            "properties": {
                "dataset": {"type": "string", "minLength": 1},
                "n": {"type": "integer", "minimum": 1},
                "seed": {"type": "integer"},
                "sampler": {"enum": ["random", "first_n"]},
                "as": {"enum": ["turns", "text"]},
                "target_delimiter": {"type": "string"},
                "fewshot_delimiter": {"type": "string"},
            },
        },
        "params": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "temperature": {"type": "number", "minimum": 0},
                "max_tokens": {"type": "integer", "minimum": 1},
                "top_p": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                "stop": {"type": "array", "items": {"type": "string"}},
                "seed": {"type": "integer"},
                "response_format": {"enum": ["json_object", "json_schema", None]},
                # the schema json_schema asks for (a JSON Schema, or OpenAI's {name,
                # schema, strict}); without one, each sample's `schema` field
                "json_schema": {"type": "object"},
                "reasoning_effort": {"type": "string", "minLength": 1},
                "tool_choice": {
                    "oneOf": [{"enum": ["auto", "none", "required"]}, {"type": "object"}]
                },
                # any other request field, sent as it is (verbosity, service_tier...)
                "extra_body": {"type": "object"},
            },
        },
        # a scorer's name, or {name: {option: value}} for a scorer that takes options
        "scorers": {
            "type": "array",
            "minItems": 1,
            "items": {
                "oneOf": [
                    {"type": "string"},
                    {
                        "type": "object",
                        "minProperties": 1,
                        "maxProperties": 1,
                        "additionalProperties": {"type": ["object", "string", "null"]},
                    },
                ]
            },
        },
        "pass_on": {"type": "array", "items": {"type": "string"}},
        "thresholds": {"type": "object", "additionalProperties": {"type": "string"}},
        "model_thresholds": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": {"type": "string"},
            },
        },
        "judge": {
            "oneOf": [
                {"type": "string", "minLength": 1},
                {
                    "type": "object",
                    "required": ["rubric"],
                    "additionalProperties": False,
                    "properties": {
                        "rubric": {"type": "string", "minLength": 1},
                        "pass_mark": {"type": "number"},
                    },
                },
            ]
        },
    },
}


def unknown_keys(spec: Any, schema: Mapping[str, Any], path: list[Any], fail: Any) -> None:
    """A key the schema does not know, on its own line, with the closest known key: a typo
    such as ``threshholds`` must not read as a problem on line 1."""
    if not isinstance(spec, Mapping) or schema.get("additionalProperties") is not False:
        return
    known = schema.get("properties", {})
    for key in spec:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise fail(
                [*path, key],
                f"unknown key ({hint}known: {', '.join(sorted(known))})",
            )
        sub = known[key]
        if sub.get("type") == "object":
            unknown_keys(spec[key], sub, [*path, key], fail)
        for alt in sub.get("oneOf", ()):
            if alt.get("type") == "object" and isinstance(spec[key], Mapping):
                unknown_keys(spec[key], alt, [*path, key], fail)


def yaml_hint(text: str, mark: Any) -> str:
    """A bare comparison (``accuracy: >=0.7``) starts a YAML block scalar: say to quote it."""
    if mark is None:
        return ""
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    if re.search(r":\s*[<>]=?\s*[-+.\d]", line):
        key = line.split(":")[0].strip().strip("{ ")
        value = line.split(":", 1)[1].strip().rstrip("}, ")
        return f" (quote a comparison in YAML: {key}: '{value}')"
    return ""


@dataclass
class Located:
    """A YAML mapping plus the line of each key path, for error messages."""

    data: Any
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict)


def compose(text: str) -> Located:
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    return Located(yaml.safe_load(text), key_lines(node))
