"""Per-sample checks, as promptfoo's ``assert:`` lists, and the judge-backed ``rubric``.

A suite's ``checks: FIELD`` names a sample field holding a list like
``[{"type": "icontains", "value": "hello"}, {"type": "not-contains", "value": "sorry"},
{"type": "llm-rubric", "value": "is polite"}]``. The rules are promptfoo's
(``src/assertions/index.ts``, ``assertionsResult.ts``, ``llmRubric.ts``; documented in
``site/docs/configuration/expected-outputs/index.md`` and ``model-graded/llm-rubric.md``):

- every check must hold; ``not-`` before a type negates it;
- the sample's score is the mean of the checks' scores weighted by ``weight`` (default
  1); a check of weight 0 always passes (it only reports);
- a number in the sample's ``threshold`` field (promptfoo's test-case ``threshold``)
  replaces "every check holds" by "the weighted score reaches the threshold";
- ``metric`` names a check's score in the Score's ``named_scores`` (weighted means);
- ``{{ var }}`` in a value is the sample's field ``var`` (or ``vars.var``, where a
  promptfoo test file keeps them);
- ``llm-rubric`` reads the judge's verdict for its rubric text; its own ``threshold``
  also requires ``score >= threshold``; ``not-llm-rubric`` flips the pass and scores
  ``1 - score``.

The judge is never called here: the runner grades the texts ``rubrics_needed`` lists and
puts the verdicts on ``completion.metadata["rubrics"]`` (rubric text -> ``{"pass",
"score", "reason"}``, promptfoo's grading output), which ``rubric`` and ``llm-rubric`` read.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pytest_llmeval.scorers.base import OptionError, Score, ScorerInfo, scorer
from pytest_llmeval.scorers.text import CHECKS, CheckValueError, compiled, run_check

if TYPE_CHECKING:
    from pytest_llmeval.dataset import Sample
    from pytest_llmeval.models.base import Completion

__all__ = [
    "MissingVerdict",
    "checks_scorer",
    "fill_vars",
    "rubrics_needed",
    "validate_checks",
]

RUBRIC = "llm-rubric"
RUBRICS = "rubrics"  # completion.metadata key the runner fills with the judge's verdicts
TYPES = (*CHECKS, RUBRIC)
_KEYS = ("type", "value", "weight", "threshold", "metric", "description")
# promptfoo check types that run code of the user's: refused with a pointer to scorers
_CODE = ("javascript", "python", "ruby", "webhook")
_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_SHOW_MAX = 60


class MissingVerdict(LookupError):
    """A rubric was scored without the judge's verdict on it."""


def fill_vars(text: str, fields: Mapping[str, Any]) -> str:
    """promptfoo's ``{{ var }}`` (the simple form): the sample's field, else its ``vars``
    field's entry; objects as JSON; an unknown name stays as written."""
    nested = fields.get("vars")
    pool: Mapping[str, Any] = nested if isinstance(nested, Mapping) else {}

    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        v = fields.get(name, pool.get(name))
        if v is None:
            return m.group(0)
        return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)

    return _VAR.sub(value, text) if "{{" in text else text


def _render(value: Any, fields: Mapping[str, Any]) -> Any:
    """As promptfoo renders a value: a string, and each string in a list."""
    if isinstance(value, str):
        return fill_vars(value, fields)
    if isinstance(value, list):
        return [fill_vars(v, fields) if isinstance(v, str) else v for v in value]
    return value


def _base(kind: str) -> tuple[str, bool]:
    return (kind[4:], True) if kind.startswith("not-") else (kind, False)


# --------------------------------------------------------------------------- validation


def validate_checks(value: Any) -> str | None:
    """What is wrong with a sample's list of checks, or None.

    The message completes ``field 'FIELD.``: ``2.type': unknown check type 'icontain'
    (did you mean 'icontains'?)``, so the loader reports
    ``cases.jsonl:3: field 'assert.2.type': unknown check type ...``.
    """
    if not isinstance(value, list):
        return f"': must be a list of checks, not {type(value).__name__}"
    for i, check in enumerate(value):
        problem = _check_problem(check)
        if problem is not None:
            where, message = problem
            return f"{i}{'.' + where if where else ''}': {message}"
    return None


def _check_problem(check: Any) -> tuple[str, str] | None:
    if not isinstance(check, Mapping):
        return "", "a check must be an object with a 'type'"
    kind = check.get("type")
    if not isinstance(kind, str) or not kind:
        return "type", "missing (a check needs a 'type', e.g. icontains)"
    base, _ = _base(kind)
    if base in _CODE:
        return "type", (
            f"check type {kind!r} runs code, which per-sample checks do not: write a "
            "scorer in conftest.py (@scorer) and name it in the suite's scorers:"
        )
    if base not in TYPES:
        close = difflib.get_close_matches(kind, [*TYPES, *(f"not-{t}" for t in TYPES)], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(TYPES)})"
        return "type", f"unknown check type {kind!r}{hint}"
    for key in check:
        if key not in _KEYS:
            close = difflib.get_close_matches(str(key), _KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return str(key), f"not supported in a check{hint} (known: {', '.join(_KEYS)})"
    for key in ("weight", "threshold"):
        v = check.get(key)
        if v is not None and (not _is_number(v) or (key == "weight" and v < 0)):
            return key, "must be a number" + (" >= 0" if key == "weight" else "")
    if check.get("metric") is not None and not isinstance(check["metric"], str):
        return "metric", "must be a string"
    problem = _value_problem(base, check.get("value"))
    return None if problem is None else ("value", problem)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _value_problem(base: str, value: Any) -> str | None:
    if base == RUBRIC:
        return None if isinstance(value, str) and value.strip() else "a rubric text is needed"
    if base == "regex" and isinstance(value, str):
        try:
            compiled(value)
        except re.error as exc:
            return f"not a regular expression: {exc}"
    if base in ("is-json", "contains-json") and value not in (None, ""):
        from pytest_llmeval.scorers.json_extraction import schema_problem

        try:
            schema_problem(value, None)
        except Exception as exc:  # jsonschema's SchemaError, YAML's errors, ours
            return f"not a JSON Schema: {str(exc).splitlines()[0]}"
        return None
    try:
        run_check(base, "", value)  # the check's own value rules (promptfoo's invariants)
    except CheckValueError as exc:
        return str(exc)
    return None


# --------------------------------------------------------------------------- scoring


def verdict(completion: Completion, text: str) -> Mapping[str, Any]:
    """The judge's verdict on ``text`` for this answer; MissingVerdict if it was not graded."""
    verdicts = completion.metadata.get(RUBRICS) or {}
    found = verdicts.get(text)
    if not isinstance(found, Mapping):
        raise MissingVerdict(
            f"no judge verdict for rubric {_short(text)}: rubrics are graded by the judge "
            "model before scoring (run with --judge-model)"
        )
    return found


def _rubric_result(completion: Completion, text: str, threshold: Any) -> tuple[bool, float, str]:
    v = verdict(completion, text)
    score = float(v.get("score", 1.0 if v.get("pass", True) else 0.0))
    passed = bool(v.get("pass", True))  # promptfoo: a verdict without "pass" passes
    if threshold is not None and score < float(threshold):
        passed = False
    return passed, score, str(v.get("reason") or "")


def _run_one(check: Mapping[str, Any], output: str, fields: Mapping[str, Any],
             completion: Completion) -> dict[str, Any]:  # fmt: skip
    kind = str(check["type"])
    base, inverse = _base(kind)
    value = _render(check.get("value"), fields)
    if base == RUBRIC:
        passed, score, reason = _rubric_result(completion, value, check.get("threshold"))
        if inverse:  # promptfoo's llmRubric.ts: the pass flips, the score is 1 - score
            passed, score = not passed, min(1.0, max(0.0, 1.0 - score))
        if passed:
            reason = ""
    else:
        passed, reason = run_check(base, output, value, inverse)
        score = 1.0 if passed else 0.0
    weight = float(check.get("weight", 1.0))
    out: dict[str, Any] = {"type": kind, "pass": passed, "score": score}
    if value is not None:
        out["value"] = value if not isinstance(value, str) else _short(value, quote=False)
    if reason:
        out["reason"] = reason
    if weight != 1.0:
        out["weight"] = weight
        if weight == 0:  # promptfoo: weight 0 reports, and never fails
            out["pass"] = True
    if check.get("metric"):
        out["metric"] = fill_vars(str(check["metric"]), fields)
    return out


def run_checks(checks: Iterable[Mapping[str, Any]], completion: Completion,
               fields: Mapping[str, Any], label: str = "checks",
               threshold: Any = None) -> Score:  # fmt: skip
    """promptfoo's ``runAssertions`` over one answer: the weighted score, the pass, each
    check's result (metadata ``checks``) and the named metrics (``named_scores``)."""
    results = [_run_one(c, completion.text, fields, completion) for c in checks]
    if not results:
        return Score(1.0, True, "no checks")  # promptfoo's noAssertsResult
    total = sum(r["score"] * r.get("weight", 1.0) for r in results)
    weights = sum(r.get("weight", 1.0) for r in results)
    score = total / weights if weights > 0 else 0.0
    failed = [(i, r) for i, r in enumerate(results) if not r["pass"]]
    passed = not failed
    why = ""
    if failed:
        i, r = failed[0]
        why = f"{label}.{i} ({r['type']}): {r.get('reason') or 'failed'}"
    if _is_number(threshold):  # a test-case threshold overrides the checks' pass/fail
        passed = score >= threshold
        sign = ">=" if passed else "<"
        why = f"aggregate score {score:.2f} {sign} threshold {threshold:g}" + (
            f"; {why}" if why and not passed else ""
        )
    named: dict[str, list[float]] = {}
    for r in results:
        if "metric" in r:
            w = r.get("weight", 1.0)
            acc = named.setdefault(r["metric"], [0.0, 0.0])
            acc[0] += r["score"] * w
            acc[1] += w
    meta: dict[str, Any] = {"checks": results}
    if named:
        meta["named_scores"] = {k: (s / w if w > 0 else 0.0) for k, (s, w) in named.items()}
    return Score(score, passed, why if not passed or threshold is not None else "", meta)


def checks_scorer(field: str) -> ScorerInfo:
    """The ``checks`` scorer of a suite whose per-sample checks are in ``field``."""

    def checks(sample: Sample, completion: Completion) -> Score:
        return run_checks(sample[field], completion, sample.fields, field, sample.get("threshold"))

    return ScorerInfo("checks", checks, "checks", needs=(field,), options={"field": field})


# --------------------------------------------------------------------------- rubric


def _rubric_needs(options: Mapping[str, Any]) -> tuple[str, ...]:
    text = options.get("rubric", options.get("value"))
    if "rubric" in options and "value" in options:
        raise OptionError("scorer 'rubric' takes its text as 'rubric' (or 'value'), not both")
    if not isinstance(text, str) or not text.strip():
        raise OptionError("scorer 'rubric' needs option 'rubric': the statement to judge")
    return ()


@scorer("rubric", needs_for=_rubric_needs, judged=True)
def rubric(
    sample: Sample, completion: Completion, *, rubric: str | None = None,
    value: str | None = None, threshold: float | None = None,
) -> Score:  # fmt: skip
    """promptfoo's ``llm-rubric`` for every sample: the judge's verdict on the statement
    (``{{var}}`` filled from the sample). The value is the judge's score (0..1); the sample
    passes on its ``pass`` (and, with ``threshold``, ``score >= threshold``)."""
    text = fill_vars(rubric if rubric is not None else value or "", sample.fields)
    passed, score, reason = _rubric_result(completion, text, threshold)
    return Score(score, passed, "" if passed else reason or "the judge said no",
                 {"rubric": text, "reason": reason})  # fmt: skip


def rubrics_needed(scorers: Iterable[ScorerInfo], sample: Sample) -> list[str]:
    """The rubric texts the judge must grade for ``sample`` before it is scored, in order
    and without repeats: each ``rubric`` scorer's, then the ``llm-rubric`` (and
    ``not-llm-rubric``) checks' of the ``checks`` scorer, ``{{var}}`` filled in. These
    strings are the keys ``completion.metadata["rubrics"]`` must hold."""
    out: list[str] = []
    for info in scorers:
        if info.judged:
            text = info.options.get("rubric", info.options.get("value"))
            if isinstance(text, str):
                out.append(fill_vars(text, sample.fields))
        field = info.options.get("field") if info.name == "checks" else None
        if isinstance(field, str):
            for check in sample.get(field) or ():
                if isinstance(check, Mapping) and _base(str(check.get("type")))[0] == RUBRIC:
                    out.append(fill_vars(str(check.get("value") or ""), sample.fields))
    return list(dict.fromkeys(out))


def _short(s: str, quote: bool = True) -> str:
    s = s if len(s) <= _SHOW_MAX else s[: _SHOW_MAX - 3] + "..."
    return repr(s) if quote else s
