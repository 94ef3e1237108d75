"""Scorers for JSON extraction: parse rate, schema validity, exact match and field-level P/R/F1.

Sample fields: ``expected_output`` (a JSON object) and ``schema`` (a JSON Schema object).
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_llmeval.scorers.base import Score, scorer
from pytest_llmeval.scorers.jsontext import parse_json

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

    from pytest_llmeval.dataset import Sample
    from pytest_llmeval.models.base import Completion

__all__ = [
    "FieldScores",
    "canonical",
    "diff_summary",
    "field_scores",
    "flatten",
    "parse_json",
    "schema_problem",
]

_EXPLAIN_MAX = 200


# --------------------------------------------------------------------------- comparison


def _norm_str(s: str) -> str:
    return " ".join(unicodedata.normalize("NFC", s).split())


def canonical(value: Any) -> Any:
    """A hashable form where equal means "the same answer".

    Numbers compare by value (1 == 1.0) but never equal booleans; strings are NFC-normalized
    with whitespace stripped and collapsed (case kept); key order is ignored, list order kept.
    """
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("num", value)
    if isinstance(value, str):
        return ("str", _norm_str(value))
    if isinstance(value, Mapping):
        items = ((unicodedata.normalize("NFC", str(k)), canonical(v)) for k, v in value.items())
        return ("obj", tuple(sorted(items, key=lambda kv: kv[0])))
    if isinstance(value, list | tuple):
        return ("list", tuple(canonical(v) for v in value))
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def flatten(value: Any, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Leaves as ``{dotted.path: (canonical, original)}``; list items are ``path.0``...

    Empty objects and lists below the root are leaves themselves, so ``{"tags": []}`` and
    ``{}`` differ; a bare root value (not a container) sits at the path ``""``.
    """
    out: dict[str, tuple[Any, Any]] = {}
    if isinstance(value, Mapping):
        children: list[tuple[str, Any]] = [
            (unicodedata.normalize("NFC", str(k)), v) for k, v in value.items()
        ]
    elif isinstance(value, list | tuple):
        children = [(str(i), v) for i, v in enumerate(value)]
    else:
        out[prefix] = (canonical(value), value)
        return out
    if not children and prefix:
        out[prefix] = (canonical(value), value)
    for key, child in children:
        out.update(flatten(child, f"{prefix}.{key}" if prefix else key))
    return out


@dataclass(frozen=True)
class FieldScores:
    """Leaf counts and the precision, recall and F1 computed from them."""

    matched: int
    predicted: int
    expected: int

    @property
    def precision(self) -> float:
        return _ratio(self.matched, self.predicted, other=self.expected)

    @property
    def recall(self) -> float:
        return _ratio(self.matched, self.expected, other=self.predicted)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)

    def as_dict(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "predicted": self.predicted,
            "expected": self.expected,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


def _ratio(num: int, den: int, *, other: int) -> float:
    # 0/0: perfect when the other side is empty too (nothing expected, nothing predicted),
    # otherwise 0 (nothing predicted but something expected, or vice versa).
    if den:
        return num / den
    return 1.0 if other == 0 else 0.0


def field_scores(predicted: Any, expected: Any) -> FieldScores:
    """Field-level match counts between two JSON values (see :func:`flatten`)."""
    pred, exp = flatten(predicted), flatten(expected)
    matched = sum(1 for path, (c, _) in pred.items() if path in exp and exp[path][0] == c)
    return FieldScores(matched, len(pred), len(exp))


def diff_summary(predicted: Any, expected: Any, limit: int = _EXPLAIN_MAX) -> str:
    """``price: expected 12.5, got 12; missing: date; extra: note`` (truncated to ``limit``)."""
    pred, exp = flatten(predicted), flatten(expected)
    parts = [
        f"{path or '(root)'}: expected {_show(exp[path][1])}, got {_show(pred[path][1])}"
        for path in exp
        if path in pred and pred[path][0] != exp[path][0]
    ]
    missing = [path or "(root)" for path in exp if path not in pred]
    extra = [path or "(root)" for path in pred if path not in exp]
    if missing:
        parts.append("missing: " + ", ".join(missing))
    if extra:
        parts.append("extra: " + ", ".join(extra))
    return _truncate("; ".join(parts), limit)


def _show(value: Any, limit: int = 40) -> str:
    return _truncate(json.dumps(value, ensure_ascii=False), limit)


def _truncate(s: str, limit: int) -> str:
    return s if len(s) <= limit else s[: max(limit - 3, 0)] + "..."


# --------------------------------------------------------------------------- scorers


def _parsed_object(completion: Completion) -> tuple[dict[str, Any] | None, str]:
    """The completion's JSON object, or None and why not (with a truncation hint)."""
    value, how = parse_json(completion.text)
    if isinstance(value, dict):
        return value, how
    reason = how if value is None else f"parsed ({how}) a JSON {_json_kind(value)}, not an object"
    if completion.finish_reason == "length":
        reason += " (output truncated: finish_reason=length)"
    return None, reason


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null"


def _expected(sample: Sample) -> Any:
    """The suite's expected field (``expected:``), by default ``expected_output``."""
    return sample.expected if sample.expected_key else sample["expected_output"]


@functools.lru_cache(maxsize=128)
def _validator(schema_json: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    schema = json.loads(schema_json)
    Draft202012Validator.check_schema(schema)  # a broken schema is a dataset bug: fail loudly
    return Draft202012Validator(schema)


def schema_problem(schema: Any, instance: Any) -> str | None:
    """Why ``instance`` breaks ``schema`` (a JSON Schema, or its JSON or YAML text), as
    ``$.path: message``, or None when it validates."""
    from jsonschema.exceptions import best_match

    if isinstance(schema, str):
        import yaml

        schema = yaml.safe_load(schema)  # promptfoo takes a schema's text as YAML
    if not isinstance(schema, Mapping | bool):
        raise ValueError("a JSON Schema must be an object or a boolean")
    error = best_match(_validator(json.dumps(schema, sort_keys=True)).iter_errors(instance))
    return None if error is None else f"{error.json_path}: {error.message}"


@scorer("json_parse", metric="parse_rate")
def json_parse(sample: Sample, completion: Completion) -> Score:
    obj, how = _parsed_object(completion)
    if obj is None:
        return Score(0.0, False, _truncate(how, _EXPLAIN_MAX))
    return Score(1.0, True, f"parsed ({how})", {"method": how})


def _schema_needs(options: Mapping[str, Any]) -> tuple[str, ...]:
    return () if options.get("schema") is not None else ("schema",)


@scorer("json_schema", metric="schema_valid_rate", needs_for=_schema_needs)
def json_schema(sample: Sample, completion: Completion, *, schema: Any = None) -> Score:
    """The output's JSON object validates against ``schema`` (the option: a JSON Schema
    or its text), else against the sample's own ``schema`` field."""
    obj, how = _parsed_object(completion)
    if obj is None:
        return Score(0.0, False, _truncate(how, _EXPLAIN_MAX))
    problem = schema_problem(sample["schema"] if schema is None else schema, obj)
    if problem is None:
        return Score(1.0, True)
    return Score(0.0, False, _truncate(problem, _EXPLAIN_MAX))


@scorer("json_exact_match", metric="exact_match", needs=("expected",))
def json_exact_match(sample: Sample, completion: Completion) -> Score:
    obj, how = _parsed_object(completion)
    if obj is None:
        return Score(0.0, False, _truncate(how, _EXPLAIN_MAX))
    expected = _expected(sample)
    if canonical(obj) == canonical(expected):
        return Score(1.0, True)
    return Score(0.0, False, diff_summary(obj, expected))


def _field_score(sample: Sample, completion: Completion, which: str) -> Score:
    obj, how = _parsed_object(completion)
    expected = _expected(sample)
    if obj is None:
        counts = FieldScores(0, 0, len(flatten(expected)))
        meta = counts.as_dict() | {"precision": 0.0, "recall": 0.0, "f1": 0.0}
        return Score(0.0, None, _truncate(how, _EXPLAIN_MAX), meta)
    counts = field_scores(obj, expected)
    value: float = getattr(counts, which)
    explanation = f"{counts.matched}/{counts.expected} expected fields matched"
    explanation += f", {counts.predicted} predicted"
    if counts.matched != counts.expected or counts.matched != counts.predicted:
        explanation += "; " + diff_summary(obj, expected)
    return Score(value, None, _truncate(explanation, _EXPLAIN_MAX), counts.as_dict())


@scorer("json_field_f1", metric="field_f1", needs=("expected",))
def json_field_f1(sample: Sample, completion: Completion) -> Score:
    return _field_score(sample, completion, "f1")


@scorer("json_field_precision", metric="field_precision", needs=("expected",))
def json_field_precision(sample: Sample, completion: Completion) -> Score:
    return _field_score(sample, completion, "precision")


@scorer("json_field_recall", metric="field_recall", needs=("expected",))
def json_field_recall(sample: Sample, completion: Completion) -> Score:
    return _field_score(sample, completion, "recall")
