"""What a run means: its metrics (``aggregate``), the thresholds (``thresholds``), the paired
comparison with a baseline (``baseline``), and the run's status, verdict and exit code
(``decision``). Pure: no pytest here, shared by the plugin and the ``llmeval`` command."""

from __future__ import annotations

from pytest_llmeval.gate.decision import (
    EXIT_BUDGET,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOT_EVALUATED,
    EXIT_OK,
    EXIT_USAGE,
    FAILED,
    JUDGE_METRICS,
    NOT_EVALUATED,
    PASSED,
    RUN_METRICS,
    Decision,
    Facts,
    Findings,
    check_names,
    decide,
    evaluate,
    merge,
    never_produced,
    regressed,
)

__all__ = [
    "EXIT_BUDGET",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_EVALUATED",
    "EXIT_OK",
    "EXIT_USAGE",
    "FAILED",
    "JUDGE_METRICS",
    "NOT_EVALUATED",
    "PASSED",
    "RUN_METRICS",
    "Decision",
    "Facts",
    "Findings",
    "check_names",
    "decide",
    "evaluate",
    "merge",
    "never_produced",
    "regressed",
]
