"""promptfoo's deterministic text checks, as scorers and as the per-sample checks' types.

The meaning of each check is promptfoo's (``src/assertions/contains.ts``, ``equals.ts``,
``startsWith.ts``, ``regex.ts``, ``json.ts``, documented in
``site/docs/configuration/expected-outputs/deterministic.md``): case-sensitive substring
tests on the raw output (``icontains*`` lower-case both sides), a comma-separated string
as the value list of the ``*-any``/``*-all`` checks, ``equals`` on the exact text (or
deep JSON equality when the value is an object), ``is-json`` on the whole output with an
optional JSON Schema, and the reasons worded as promptfoo words them.

In ``scorers:`` each check takes a ``value`` option; without one the suite's expected
answer is the value. A list of acceptable answers then passes when any passes
(``not_contains``: when none appears), except for the ``*_any``/``*_all`` scorers,
whose value *is* a list.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pytest_llmeval.scorers.base import Score, Scorer, scorer
from pytest_llmeval.scorers.json_extraction import schema_problem
from pytest_llmeval.scorers.jsontext import balanced_objects

if TYPE_CHECKING:
    from pytest_llmeval.dataset import Sample
    from pytest_llmeval.models.base import Completion

__all__ = ["CHECKS", "CheckValueError", "js_string", "run_check", "split_values"]

_SHOW_MAX = 80


class CheckValueError(ValueError):
    """A check's value has the wrong shape (promptfoo's ``invariant`` failures)."""


# A check: (output, value, inverse) -> (passed, reason when it failed).
Check = Callable[[str, Any, bool], tuple[bool, str]]


def js_string(value: Any) -> str:
    """``String(value)`` as JavaScript writes it: ``1.0`` is ``1``, ``true`` is ``true``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        return "null"
    return value if isinstance(value, str) else str(value)


def split_values(value: str) -> list[str]:
    """promptfoo's ``parseCommaSeparatedValues``: commas split, whitespace around fields is
    dropped, a double-quoted field keeps its commas (``\\"`` and ``""`` are a quote)."""
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and (value[i].isspace() or value[i] == ","):
            i += 1
        if i >= n:
            break
        if value[i] != '"':
            j = value.find(",", i)
            j = n if j == -1 else j
            out.append(value[i:j].strip())
            i = j
            continue
        i += 1
        field: list[str] = []
        while True:
            if i >= n:
                raise CheckValueError("Unterminated quoted field in contains assertion value")
            ch = value[i]
            if ch == "\\" and i + 1 < n and value[i + 1] in '"\\':
                field.append(value[i + 1])
                i += 2
            elif ch == '"' and i + 1 < n and value[i + 1] == '"':
                field.append('"')
                i += 2
            elif ch == '"':
                i += 1
                break
            else:
                field.append(ch)
                i += 1
        out.append("".join(field))
        while i < n and value[i].isspace():
            i += 1
        if i < n and value[i] != ",":
            raise CheckValueError("Expected comma after quoted field in contains assertion value")
    return out


def _not(inverse: bool) -> str:
    return "not " if inverse else ""


def _needle(kind: str, value: Any) -> str:
    ok = (isinstance(value, str) and value != "") or (
        isinstance(value, int | float) and not isinstance(value, bool) and value == value
    )
    if not ok:
        raise CheckValueError(f'"{kind}" assertion type must have a string or number value')
    return js_string(value)


def _contains(output: str, value: Any, inverse: bool, fold: bool = False) -> tuple[bool, str]:
    needle = _needle("icontains" if fold else "contains", value)
    hay = output.lower() if fold else output
    passed = ((needle.lower() if fold else needle) in hay) != inverse
    return passed, "" if passed else f'Expected output to {_not(inverse)}contain "{needle}"'


def _value_list(kind: str, value: Any) -> list[Any]:
    if isinstance(value, str) and value:
        return split_values(value)
    if not isinstance(value, list) or not value:
        raise CheckValueError(f'"{kind}" assertion type must have an array value')
    return value


def _contains_any(output: str, value: Any, inverse: bool, fold: bool = False) -> tuple[bool, str]:
    values = _value_list("icontains-any" if fold else "contains-any", value)
    hay = output.lower() if fold else output
    found = any((js_string(v).lower() if fold else js_string(v)) in hay for v in values)
    passed = found != inverse
    listed = ", ".join(js_string(v) for v in values)
    return passed, "" if passed else f'Expected output to {_not(inverse)}contain one of "{listed}"'


def _contains_all(output: str, value: Any, inverse: bool, fold: bool = False) -> tuple[bool, str]:
    values = _value_list("icontains-all" if fold else "contains-all", value)
    hay = output.lower() if fold else output
    missing = [
        js_string(v) for v in values if (js_string(v).lower() if fold else js_string(v)) not in hay
    ]
    passed = (not missing) != inverse
    if passed:
        return True, ""
    listed = ", ".join(js_string(v) for v in values)
    reason = f"Expected output to {_not(inverse)}contain all of [{listed}]"
    return False, f"{reason}. Missing: [{', '.join(missing)}]"


def _starts_with(output: str, value: Any, inverse: bool) -> tuple[bool, str]:
    if not isinstance(value, str) or not value:
        raise CheckValueError('"starts-with" assertion type must have a string value')
    passed = output.startswith(value) != inverse
    return passed, "" if passed else f'Expected output to {_not(inverse)}start with "{value}"'


def _equals(output: str, value: Any, inverse: bool) -> tuple[bool, str]:
    if isinstance(value, Mapping | list):  # promptfoo: deep equality with the parsed output
        try:
            same = json_equal(_loads(output), value)
        except ValueError:
            same = False
        shown = json.dumps(value, ensure_ascii=False)
    else:
        shown = js_string(value)
        same = output == shown
    passed = same != inverse
    reason = f'Expected output "{_show(output)}" to {_not(inverse)}equal "{shown}"'
    return passed, "" if passed else reason


@functools.lru_cache(maxsize=256)
def compiled(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Patterns are compiled once per run, not once per sample."""
    return re.compile(pattern, flags)


def _regex(output: str, value: Any, inverse: bool) -> tuple[bool, str]:
    if not isinstance(value, str) or not value:
        raise CheckValueError('"regex" assertion type must have a string value')
    try:
        rx = compiled(value)
    except re.error as exc:
        return False, f"Invalid regex pattern: {exc}"
    passed = (rx.search(output) is not None) != inverse
    return passed, "" if passed else f'Expected output to {_not(inverse)}match regex "{value}"'


def _loads(text: str) -> Any:
    """``JSON.parse``: NaN and Infinity are not JSON."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def json_equal(a: Any, b: Any) -> bool:
    """Deep equality of JSON values, with ``true`` never equal to ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping | list) or isinstance(b, Mapping | list):
        return False
    return bool(a == b)


def _is_json(output: str, value: Any, inverse: bool) -> tuple[bool, str]:
    try:
        parsed = _loads(output)
    except ValueError:
        return inverse, "" if inverse else "Expected output to be valid JSON"
    if value is None or value == "":
        return not inverse, "" if not inverse else "Expected output to not be valid JSON"
    problem = schema_problem(value, parsed)
    if inverse:
        return problem is not None, "" if problem else "Output is JSON that conforms to the schema"
    if problem is None:
        return True, ""
    return False, f"JSON does not conform to the provided schema: {problem}"


def _contains_json(output: str, value: Any, inverse: bool) -> tuple[bool, str]:
    found = [_loads(s) for s in balanced_objects(output) if _parses(s)]
    if not found or value is None or value == "":
        passed = bool(found) != inverse
        return passed, "" if passed else f"Expected output to {_not(inverse)}contain valid JSON"
    problems = [schema_problem(value, obj) for obj in found]
    valid = any(p is None for p in problems)
    passed = valid != inverse
    if passed:
        return True, ""
    if inverse:
        return False, "Output contains JSON conforming to the provided schema"
    return False, f"JSON does not conform to the provided schema: {problems[-1]}"


def _parses(s: str) -> bool:
    try:
        _loads(s)
    except ValueError:
        return False
    return True


# promptfoo's type names; ``not-`` before any of them negates it (checks.py)
CHECKS: dict[str, Check] = {
    "equals": _equals,
    "contains": _contains,
    "icontains": lambda o, v, i: _contains(o, v, i, fold=True),
    "contains-any": _contains_any,
    "icontains-any": lambda o, v, i: _contains_any(o, v, i, fold=True),
    "contains-all": _contains_all,
    "icontains-all": lambda o, v, i: _contains_all(o, v, i, fold=True),
    "starts-with": _starts_with,
    "regex": _regex,
    "is-json": _is_json,
    "contains-json": _contains_json,
}


def run_check(kind: str, output: str, value: Any, inverse: bool = False) -> tuple[bool, str]:
    """One promptfoo check on ``output``: (passed, why not)."""
    return CHECKS[kind](output, value, inverse)


def _show(s: str) -> str:
    return s if len(s) <= _SHOW_MAX else s[: _SHOW_MAX - 3] + "..."


# --------------------------------------------------------------------------- scorers


def _value_or_expected(options: Mapping[str, Any]) -> tuple[str, ...]:
    return () if options.get("value") is not None else ("expected",)


def _answers(sample: Sample, value: Any) -> list[Any]:
    """The ``value`` option, else the suite's expected answer, as acceptable answers."""
    raw = sample.expected if value is None else value
    if raw is None:
        raise ValueError("this scorer needs a 'value' option or the suite's 'expected:'")
    return list(raw) if isinstance(raw, list) else [raw]


def _value_list_of(sample: Sample, value: Any) -> Any:
    """The value list of a ``*_any``/``*_all`` scorer: the option as promptfoo takes it
    (a list, or comma-separated), else the expected answer (one string is one value)."""
    if value is not None:
        return value
    raw = sample.expected
    if raw is None:
        raise ValueError("this scorer needs a 'value' option or the suite's 'expected:'")
    return raw if isinstance(raw, list) else [raw]


def _any_of(kind: str, sample: Sample, completion: Completion, value: Any) -> Score:
    reasons = []
    for answer in _answers(sample, value):
        passed, reason = run_check(kind, completion.text, answer)
        if passed:
            return Score(1.0, True, metadata={"matched": answer})
        reasons.append(reason)
    if len(reasons) > 1:
        return Score(0.0, False, f"none of {len(reasons)} acceptable answers: {reasons[0]}, ...")
    return Score(0.0, False, reasons[0])


def _list_check(kind: str, sample: Sample, completion: Completion, value: Any) -> Score:
    passed, reason = run_check(kind, completion.text, _value_list_of(sample, value))
    return Score(float(passed), passed, reason)


def _text_scorer(kind: str, values_are_a_list: bool) -> Scorer:
    def check(sample: Sample, completion: Completion, *, value: Any = None) -> Score:
        if values_are_a_list:
            return _list_check(kind, sample, completion, value)
        return _any_of(kind, sample, completion, value)

    check.__doc__ = f"promptfoo's ``{kind}``; without ``value``, the expected answer."
    return check


# scorer name -> promptfoo's check; the *_any/*_all ones take their value as a list
for _name, _kind in [
    ("equals", "equals"), ("contains", "contains"), ("icontains", "icontains"),
    ("starts_with", "starts-with"), ("contains_any", "contains-any"),
    ("contains_all", "contains-all"), ("icontains_any", "icontains-any"),
    ("icontains_all", "icontains-all"),
]:  # fmt: skip
    scorer(_name, needs_for=_value_or_expected)(_text_scorer(_kind, _kind.endswith(("any", "all"))))


@scorer("not_contains", needs_for=_value_or_expected)
def not_contains(sample: Sample, completion: Completion, *, value: Any = None) -> Score:
    for answer in _answers(sample, value):
        passed, reason = run_check("contains", completion.text, answer, inverse=True)
        if not passed:
            return Score(0.0, False, reason, {"found": answer})
    return Score(1.0, True)


@scorer("is_json")
def is_json(sample: Sample, completion: Completion, *, schema: Any = None) -> Score:
    """promptfoo's ``is-json``: the whole output parses (no fence, no prose around it)
    and, with ``schema``, validates against it."""
    passed, reason = run_check("is-json", completion.text, schema)
    return Score(float(passed), passed, reason)
