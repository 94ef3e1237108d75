"""Finding the JSON in a model's reply: the whole text, a Markdown code fence, or the first
balanced ``{...}`` that parses. Shared by the JSON scorers and the judge's verdict parser."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["balanced_objects", "parse_json"]

_FENCE_RE = re.compile(r"```(.*?)```", re.DOTALL)
_LANG_RE = re.compile(r"[A-Za-z0-9_+.\-]*\s*")
_MAX_BALANCED_STARTS = 200  # bounds the quadratic worst case on pathological prose


def parse_json(text: str) -> tuple[Any | None, str]:
    """Find the JSON a model produced: ``(value, method)`` or ``(None, reason)``.

    Fallbacks, in order: the whole (stripped) text (``"direct"``); the body of a Markdown
    code fence, with or without a language tag (``"fence"``); the first balanced ``{...}``
    in the text that parses, with string- and escape-aware brace matching (``"balanced"``).
    The search is memoized on the text; each call returns a freshly decoded value, so
    callers may mutate it.
    """
    method, source, reason = _locate_json(text)
    if not method:
        return None, reason
    return json.loads(source), method


@functools.lru_cache(maxsize=1024)
def _locate_json(text: str) -> tuple[str, str, str]:
    """(method, json source, "") on success, ("", "", reason) on failure; hashable for caching."""
    stripped = text.strip()
    if not stripped:
        return "", "", "empty output"
    try:
        json.loads(stripped)
        return "direct", stripped, ""
    except ValueError as exc:
        direct_error = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
    for match in _FENCE_RE.finditer(text):
        body = _fence_body(match.group(1))
        if _parses(body):
            return "fence", body, ""
    for candidate in balanced_objects(text):
        if _parses(candidate):
            return "balanced", candidate, ""
    return "", "", f"no parseable JSON (direct parse: {direct_error})"


def _fence_body(content: str) -> str:
    first, newline, rest = content.partition("\n")
    if newline and _LANG_RE.fullmatch(first):
        return rest.strip()  # drop the info string: ```json / ```JSON / ```
    return content.strip()


def _parses(source: str) -> bool:
    if not source:
        return False
    try:
        json.loads(source)
    except ValueError:
        return False
    return True


def balanced_objects(text: str) -> Iterator[str]:
    """Each balanced ``{...}`` span, by start position; braces inside strings are skipped."""
    start = text.find("{")
    tried = 0
    while start != -1 and tried < _MAX_BALANCED_STARTS:
        tried += 1
        end = _matching_brace(text, start)
        if end != -1:
            yield text[start : end + 1]
        start = text.find("{", start + 1)


def _matching_brace(text: str, start: int) -> int:
    depth = 0
    in_string = False
    escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
    return -1
