"""Verdicts: parsing a judge reply into a :class:`Verdict`, or a one-line
:class:`JudgeParseError` saying why it cannot be one; the verdict JSON Schema of a rubric
(``JUDGE_SCHEMA`` for the default rubric, built on first use); and :func:`normalize_key`,
how reply keys are matched to dimension names."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pytest_llmeval.judge._text import (
    _RATIONALE,
    _RATIONALE_ALIASES,
    _one_line,
    _show,
    normalize_key,
)
from pytest_llmeval.judge.rubric import DEFAULT_RUBRIC, Rubric
from pytest_llmeval.scorers.jsontext import balanced_objects, parse_json

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

__all__ = [
    "JudgeParseError",
    "Verdict",
    "normalize_key",
    "parse_verdict",
    "verdict_response_schema",
    "verdict_schema",
]


def verdict_schema(rubric: Rubric) -> dict[str, Any]:
    """JSON Schema of a verdict under ``rubric``: one integer per dimension within the
    scale, and a non-empty ``rationale`` string; other keys are allowed (and ignored)."""
    lo, hi = rubric.scale
    props: dict[str, Any] = {_RATIONALE: {"type": "string", "minLength": 1}}
    for name in rubric.names:
        props[name] = {"type": "integer", "minimum": lo, "maximum": hi}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"verdict ({rubric.name})",
        "type": "object",
        "properties": props,
        "required": [_RATIONALE, *rubric.names],
    }


def verdict_response_schema(rubric: Rubric) -> dict[str, Any]:
    """What the judge is asked to produce (``response_format: json_schema``): the verdict
    closed for strict mode, so a server that enforces it cannot return anything the parser
    would reject. Every key required and no other; each score one of the scale's integers
    (an enum: strict mode and the grammar engines of llama.cpp, vLLM and Ollama all take
    it); the rationale first, so a judge that decodes in order reasons before it scores."""
    lo, hi = rubric.scale
    props: dict[str, Any] = {_RATIONALE: {"type": "string"}}
    for name in rubric.names:
        props[name] = {"type": "integer", "enum": list(range(lo, hi + 1))}
    return {
        "title": "verdict",
        "type": "object",
        "properties": props,
        "required": [_RATIONALE, *rubric.names],
        "additionalProperties": False,
    }


@functools.lru_cache(maxsize=32)
def _validator(rubric: Rubric) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(verdict_schema(rubric))


def __getattr__(name: str) -> Any:
    # JUDGE_SCHEMA is the verdict schema of the default rubric, built on first use so that
    # importing this module reads no file and does not import jsonschema.
    if name == "JUDGE_SCHEMA":
        return verdict_schema(Rubric.load(DEFAULT_RUBRIC))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Verdict:
    """A valid judgement. ``raw`` and ``guard`` are set when :func:`apply_guard` overrode
    the judge: ``raw`` holds the judge's own scores, ``guard`` the reason."""

    scores: Mapping[str, int]
    rationale: str
    mean: float
    passed: bool
    raw: Mapping[str, int] | None = None
    guard: str | None = None

    @classmethod
    def from_scores(cls, scores: Mapping[str, int], rationale: str, rubric: Rubric) -> Verdict:
        ordered = {n: int(scores[n]) for n in rubric.names}
        return cls(
            scores=MappingProxyType(ordered),
            rationale=rationale,
            mean=sum(ordered.values()) / len(ordered),
            passed=rubric.passes(ordered),
        )

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scores": dict(self.scores),
            "rationale": self.rationale,
            "mean": self.mean,
            "passed": self.passed,
        }
        if self.raw is not None:
            out["raw"] = dict(self.raw)
        if self.guard is not None:
            out["guard"] = self.guard
        return out


@dataclass(frozen=True)
class JudgeParseError:
    """Why a judge reply was rejected (one line). Returned, not raised: the caller repairs
    it or records an error; it is never a score."""

    reason: str

    def __str__(self) -> str:
        return self.reason


_SCORE_RE = re.compile(
    r"^\s*([+-]?\d+)(?:\.0+)?\s*(?:(?:/|out\s+of|of)\s*(\d+)(?:\.0+)?)?\s*$", re.IGNORECASE
)


def _coerce(value: Any, rubric: Rubric) -> int | str:
    """An integer score, or why the value is not one (no rounding, no rescaling)."""
    if isinstance(value, bool):
        return f"{json.dumps(value)} is not an integer"
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else f"{value!r} is not an integer"
    if isinstance(value, str):
        m = _SCORE_RE.match(value)
        if not m:
            return f"{_show(value)} is not an integer"
        if m.group(2) is not None and int(m.group(2)) != rubric.maximum:
            return f"{_show(value)} is not on the {rubric.minimum}-{rubric.maximum} scale"
        return int(m.group(1))
    return f"expected an integer, got {_json_kind(value)}"


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "a string" if isinstance(value, str) else "a number"


def _extract(
    pairs: Iterable[tuple[str, Any]], rubric: Rubric
) -> tuple[dict[str, int], dict[str, str], list[str]]:
    """Scores by dimension name, errors by dimension name, and conflicting repeats."""
    wanted = {normalize_key(n): n for n in rubric.names}
    scores: dict[str, int] = {}
    errors: dict[str, str] = {}
    conflicts: list[str] = []
    for key, value in pairs:
        name = wanted.get(normalize_key(str(key)))
        if name is None:
            continue
        coerced = _coerce(value, rubric)
        if isinstance(coerced, str):
            errors.setdefault(name, coerced)
        elif name in scores and scores[name] != coerced:
            conflicts.append(f"conflicting values for {name!r}: {scores[name]} and {coerced}")
        else:
            scores[name] = coerced
    return scores, errors, conflicts


def _rationale(obj: Mapping[str, Any]) -> Any:
    by_key = {normalize_key(str(k)): v for k, v in obj.items()}
    for alias in _RATIONALE_ALIASES:
        if alias in by_key:
            return by_key[alias]
    return None


class _Pairs(list[tuple[str, Any]]):
    """A decoded JSON object as its (key, value) pairs, repeated keys included."""


def _conflicts_elsewhere(text: str, scores: Mapping[str, int], rubric: Rubric) -> str | None:
    """Why the reply is ambiguous, or None: a JSON object in it (the verdict itself
    included) repeats a dimension with another value (json.loads would keep the last one
    silently), or a second object scores a dimension differently from the verdict."""
    for span in balanced_objects(text):
        try:
            pairs = json.loads(span, object_pairs_hook=_Pairs)
        except ValueError:
            continue
        other, _, conflicts = _extract(pairs, rubric)
        if conflicts:
            return conflicts[0]
        for name, value in other.items():
            if name in scores and scores[name] != value:
                return f"the reply holds two verdicts ({name}: {scores[name]} and {value})"
    return None


# Reasoning models (DeepSeek-R1, Qwen3...) may think out loud, drafts included, before the
# verdict: a closed <think> block is dropped before the JSON is looked for.
_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def parse_verdict(text: str, rubric: Rubric) -> Verdict | JudgeParseError:
    """Turn a judge reply into a :class:`Verdict`, or say in one line why it cannot.

    Drops ``<think>...</think>`` blocks, then finds the JSON with :func:`parse_json` (the
    whole reply, a code fence, or the first balanced object in prose). Keys match
    dimensions through :func:`normalize_key`; unknown keys are ignored. A score may be an
    integer, an integer-valued float (``4.0``) or a numeric string (``"4"``, ``"4/5"``,
    ``"4 out of 5"``, the denominator being the scale's maximum).

    Errors, never scores: no JSON object; a missing dimension; a value that is not an
    integer (``4.5``, ``true``, ``"four"``); a value outside the scale (never clamped);
    two values for one dimension anywhere in the reply; a missing, empty or non-string
    ``rationale`` (``reasoning``, ``reason``, ``explanation`` or ``justification`` stand in
    for it). The rationale is required because the output contract asks for it and a
    human auditing a failed item reads it; a reply that drops it gets a repair turn.
    """
    text = _THINK_RE.sub("", text)
    value, how = parse_json(text)
    if value is None:
        return JudgeParseError(_one_line(f"reply is not JSON: {how}"))
    if not isinstance(value, dict):
        return JudgeParseError(f"reply is {_json_kind(value)}, not a JSON object")
    scores, errors, conflicts = _extract(value.items(), rubric)
    conflict = conflicts[0] if conflicts else _conflicts_elsewhere(text, scores, rubric)
    if conflict:
        return JudgeParseError(_one_line(conflict))
    lo, hi = rubric.scale
    for name in rubric.names:
        if name in errors:
            return JudgeParseError(_one_line(f"field {name!r}: {errors[name]}"))
        if name in scores and not lo <= scores[name] <= hi:
            return JudgeParseError(f"field {name!r}: {scores[name]} is outside the scale {lo}-{hi}")
    missing = [n for n in rubric.names if n not in scores]
    if missing:
        return JudgeParseError(f"missing {', '.join(repr(n) for n in missing)}")
    rationale = _rationale(value)
    if rationale is None:
        return JudgeParseError(f"missing {_RATIONALE!r}")
    if not isinstance(rationale, str):
        return JudgeParseError(
            f"field {_RATIONALE!r}: expected a string, got {_json_kind(rationale)}"
        )
    rationale = rationale.strip()
    if not rationale:
        return JudgeParseError(f"field {_RATIONALE!r}: empty")
    clean: dict[str, Any] = {_RATIONALE: rationale, **scores}
    from jsonschema.exceptions import best_match

    # Belt and braces: the checks above should leave nothing for the schema to find.
    error = best_match(_validator(rubric).iter_errors(clean))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "reply"
        return JudgeParseError(_one_line(f"field {where!r}: {error.message}"))
    return Verdict.from_scores(scores, rationale, rubric)
