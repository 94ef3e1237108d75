"""LLM-as-judge building blocks: rubrics, the judge prompt, verdict parsing, an injection
guard and judge-vs-human agreement. Pure functions; no model calls and no pytest here.

The rule everything here serves: an invalid judge reply never becomes a score. A reply that
does not parse, misses a dimension, or puts a value outside the rubric's scale is a
:class:`JudgeParseError` (to be repaired with :func:`repair_messages`, then recorded as an
error); numbers are never clamped, rounded or rescaled.
"""

from __future__ import annotations

from typing import Any

from pytest_llmeval.judge import verdict as _verdict
from pytest_llmeval.judge.guard import apply_guard, looks_injected
from pytest_llmeval.judge.kappa import agreement, cohen_kappa
from pytest_llmeval.judge.prompt import JUDGE_PROMPT_VERSION, build_messages, repair_messages
from pytest_llmeval.judge.rubric import (
    DEFAULT_RUBRIC,
    RUBRIC_SCHEMA,
    Dimension,
    Rubric,
    RubricError,
    builtin_rubrics,
)
from pytest_llmeval.judge.verdict import (
    JudgeParseError,
    Verdict,
    normalize_key,
    parse_verdict,
    verdict_schema,
)

__all__ = [
    "DEFAULT_RUBRIC",
    "JUDGE_PROMPT_VERSION",
    "RUBRIC_SCHEMA",
    "Dimension",
    "JudgeParseError",
    "Rubric",
    "RubricError",
    "Verdict",
    "agreement",
    "apply_guard",
    "build_messages",
    "builtin_rubrics",
    "cohen_kappa",
    "looks_injected",
    "normalize_key",
    "parse_verdict",
    "repair_messages",
    "verdict_schema",
]


def __getattr__(name: str) -> Any:
    # JUDGE_SCHEMA is the verdict schema of the default rubric, built on first use (in
    # verdict.py) so that importing this package reads no file and does not import jsonschema.
    if name == "JUDGE_SCHEMA":
        return _verdict.JUDGE_SCHEMA
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
