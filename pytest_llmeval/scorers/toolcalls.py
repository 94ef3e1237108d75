"""Function calls compared as the Berkeley Function Calling Leaderboard compares them.

The rules are BFCL's AST checker (ShishirPatil/gorilla
``berkeley-function-call-leaderboard/bfcl_eval/eval_checker/ast_eval/ast_checker.py``),
with its possible answers (``bfcl_eval/data/possible_answer/``) as the expected calls:

- an expected call is ``{"name": ..., "arguments": {arg: [acceptable values]}}`` or BFCL's
  ``{"func_name": {arg: [acceptable values]}}``; ``""`` among the values means the argument
  may be left out; a value that is not a list is the one acceptable value (a list value is
  written inside the list: ``[[3, 5]]``);
- strings compare after ``standardize_string`` (no spaces or ``,./-_*^``, lower case,
  ``'`` as ``"``); an integer is accepted where the acceptable values are floats, a float
  is not accepted where they are integers, and ``true`` is never ``1``;
- lists compare element by element, dicts key by key (an unexpected key fails, a missing
  key must be optional), recursively;
- an argument the expected call does not name fails, and so does a missing one;
- several calls (parallel, or every call of a conversation) compare as a multiset: any
  order, each expected call matched by a distinct call, and no call left over;
- BFCL's OpenAI handler sends ``a.b`` as ``a_b`` (OpenAI refuses dots in names), so an
  expected ``math.factorial`` matches a call of ``math_factorial``.

Function descriptions are not needed: the type BFCL reads from them is read from the
acceptable values, as BFCL's own ``get_possible_answer_type`` does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_llmeval.scorers.base import Score, scorer

if TYPE_CHECKING:
    from pytest_llmeval.dataset import Sample
    from pytest_llmeval.models.base import Completion, ToolCall

__all__ = ["CallsResult", "ExpectedCall", "compare_calls", "expected_calls", "standardize"]

_STRIP = re.compile(r"[ ,./\-_*^]")
_SHOW_MAX = 60


def standardize(s: str) -> str:
    """BFCL's ``standardize_string``: "April 1, 2024" and "april 1 2024" compare equal."""
    return _STRIP.sub("", s).lower().replace("'", '"')


@dataclass(frozen=True)
class ExpectedCall:
    """One expected call: each argument's acceptable values (``""``: may be omitted)."""

    name: str
    arguments: Mapping[str, list[Any]]

    def show(self) -> str:
        """``get_weather(city='Paris', unit='celsius'|omitted)``"""
        parts = []
        for key, acceptable in self.arguments.items():
            shown = [_short(v) for v in acceptable if v != ""]
            if len(shown) < len(acceptable):
                shown.append("omitted")
            parts.append(f"{key}={'|'.join(shown)}")
        return f"{self.name}({', '.join(parts)})"


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= _SHOW_MAX else s[: _SHOW_MAX - 3] + "..."


def _acceptable(v: Any) -> list[Any]:
    return list(v) if isinstance(v, list) else [v]


def expected_calls(raw: Any) -> list[ExpectedCall]:
    """The suite's expected calls, in our shape or BFCL's; ValueError says what is wrong."""
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ValueError(f"expected call {i} is not an object: {item!r}")
        inner = item.get("function")
        if isinstance(inner, Mapping):  # OpenAI's {"type": "function", "function": {...}}
            item = inner
        if isinstance(item.get("name"), str):
            args = item.get("arguments", {})
            if isinstance(args, str):  # JSON text, as a recorded call has it: exact values
                args = {k: [v] for k, v in json.loads(args or "{}").items()}
            name = item["name"]
        elif len(item) == 1:
            name, args = next(iter(item.items()))
        else:
            raise ValueError(
                f"expected call {i} is neither {{name, arguments}} nor {{func_name: args}}"
            )
        if not isinstance(args, Mapping):
            raise ValueError(f"expected call {i} ({name}): arguments must be an object")
        out.append(ExpectedCall(str(name), {str(k): _acceptable(v) for k, v in args.items()}))
    return out


def same_name(expected: str, got: str) -> bool:
    return got == expected or got == expected.replace(".", "_")


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def value_problem(value: Any, acceptable: Sequence[Any]) -> str | None:
    """Why ``value`` is none of the acceptable values, or None when it is one."""
    if isinstance(value, str):
        strings = [standardize(a) for a in acceptable if isinstance(a, str)]
        if standardize(value) in strings:
            return None
    elif isinstance(value, bool):
        if any(isinstance(a, bool) and a == value for a in acceptable):
            return None
    elif _number(value):
        numbers = [a for a in acceptable if _number(a)]
        if isinstance(value, float) and numbers and all(isinstance(a, int) for a in numbers):
            return f"{value!r} is a float where an integer is expected"
        if value in numbers:
            return None
    elif isinstance(value, list):
        for a in acceptable:
            if (
                isinstance(a, list)
                and len(a) == len(value)
                and all(value_problem(v, [x]) is None for v, x in zip(value, a, strict=True))
            ):
                return None
    elif isinstance(value, Mapping):
        problems = [dict_problem(value, a) for a in acceptable if isinstance(a, Mapping)]
        if any(p is None for p in problems):
            return None
        if len(problems) == 1:
            return problems[0]
    elif value is None and None in acceptable:
        return None
    return f"{_short(value)} is not one of {_short([a for a in acceptable if a != ''])}"


def dict_problem(value: Mapping[str, Any], expected: Mapping[str, Any]) -> str | None:
    """BFCL's ``dict_checker`` (and a call's arguments): no unexpected key, every key's
    value acceptable, every key left out optional."""
    for key, v in value.items():
        if key not in expected:
            return f"unexpected argument {key!r}"
        problem = value_problem(v, _acceptable(expected[key]))
        if problem is not None:
            return f"{key}: {problem}"
    for key, acceptable in expected.items():
        if key not in value and "" not in _acceptable(acceptable):
            return f"missing argument {key!r}"
    return None


def call_problem(expected: ExpectedCall, call: ToolCall) -> str | None:
    """Why ``call`` is not ``expected`` (name first, then arguments), or None."""
    if not same_name(expected.name, call.name):
        return f"calls {call.name}, not {expected.name}"
    args = call.parsed()
    if not isinstance(args, Mapping):
        return f"its arguments are not a JSON object: {_short(call.arguments)}"
    return dict_problem(args, expected.arguments)


def _matching(ok: list[list[bool]], n_calls: int) -> list[int | None]:
    """A maximum matching of expected calls to distinct calls (augmenting paths): for each
    expected call, the index of its call or None. BFCL matches greedily in order; this
    also finds a matching where greedy would take a call a later one needs."""
    owner: list[int | None] = [None] * n_calls

    def place(i: int, seen: set[int]) -> bool:
        for j in range(n_calls):
            if ok[i][j] and j not in seen:
                seen.add(j)
                k = owner[j]
                if k is None or place(k, seen):
                    owner[j] = i
                    return True
        return False

    for i in range(len(ok)):
        place(i, set())
    out: list[int | None] = [None] * len(ok)
    for j, owned_by in enumerate(owner):
        if owned_by is not None:
            out[owned_by] = j
    return out


@dataclass(frozen=True)
class CallsResult:
    """The comparison of the expected calls with the calls made."""

    passed: bool
    names_matched: int  # expected calls whose function was called (distinct calls)
    calls_matched: int  # expected calls matched, arguments and all
    expected: int
    explanation: str

    @property
    def name_accuracy(self) -> float:
        return self.names_matched / self.expected if self.expected else float(self.passed)

    @property
    def args_accuracy(self) -> float:
        return self.calls_matched / self.expected if self.expected else float(self.passed)


def compare_calls(expected: list[ExpectedCall], calls: Sequence[ToolCall], text: str = "") -> CallsResult:  # fmt: skip
    n, m = len(expected), len(calls)
    problems = [[call_problem(e, c) for c in calls] for e in expected]
    full = _matching([[p is None for p in row] for row in problems], m)
    names = _matching([[same_name(e.name, c.name) for c in calls] for e in expected], m)
    matched = sum(j is not None for j in full)
    named = sum(j is not None for j in names)
    passed = matched == n and m == n
    want = "expected " + _plural("call", expected)
    if passed:
        why = ""
    elif m == 0:
        got = f"got text {_short(text.strip())}" if text.strip() else "got no call"
        why = f"{want}, {got}"
    else:
        got = "got " + _plural("call", calls)
        if matched == n:  # every expected call found, and more calls besides
            extra = [calls[j].show() for j in range(m) if j not in full]
            why = f"{want}, {got}: not expected: {', '.join(extra)}"
        else:
            i = full.index(None)
            close = [j for j in range(m) if same_name(expected[i].name, calls[j].name)]
            detail = problems[i][close[0]] if close else f"no call of {expected[i].name}"
            why = f"{want}, {got}: {expected[i].name}: {detail}"
    return CallsResult(passed, named, matched, n, why)


def _plural(word: str, calls: Sequence[ExpectedCall] | Sequence[ToolCall]) -> str:
    if not calls:
        return f"no {word}"
    shown = ", ".join(c.show() for c in calls)
    return f"{word} {shown}" if len(calls) == 1 else f"{word}s {shown}"


def _result(sample: Sample, completion: Completion) -> CallsResult:
    try:
        expected = expected_calls(sample.expected)
    except ValueError as exc:
        raise ValueError(f"sample {sample.id!r}: {exc}") from None
    return compare_calls(expected, completion.tool_calls, completion.text)


def _meta(r: CallsResult) -> dict[str, Any]:
    return {"expected_calls": r.expected, "names_matched": r.names_matched,
            "calls_matched": r.calls_matched}  # fmt: skip


@scorer("tool_call", needs=("expected",), companions=("tool_call_name", "tool_call_args"))
def tool_call(sample: Sample, completion: Completion) -> Score:
    r = _result(sample, completion)
    return Score(float(r.passed), r.passed, r.explanation, _meta(r))


@scorer("tool_call_name", metric="tool_name_accuracy", needs=("expected",))
def tool_call_name(sample: Sample, completion: Completion) -> Score:
    """The share of expected calls whose function was called."""
    r = _result(sample, completion)
    return Score(r.name_accuracy, None, "", _meta(r))


@scorer("tool_call_args", metric="tool_args_accuracy", needs=("expected",))
def tool_call_args(sample: Sample, completion: Completion) -> Score:
    """The share of expected calls matched by a call with acceptable arguments."""
    r = _result(sample, completion)
    return Score(r.args_accuracy, None, "", _meta(r))
