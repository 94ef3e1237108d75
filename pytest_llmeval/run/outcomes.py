"""How an eval item can end besides passing: a miss, or a sample that was not evaluated."""

from __future__ import annotations


class SampleMiss(AssertionError):
    """The sample scored below its pass mark. In a gated suite it is reported as *missed*
    (``m``), one line with expected vs got; in a suite without thresholds, a failure (F)."""


class EvalError(Exception):
    """The sample could not be evaluated: an error item (E) with a one-line reason,
    counted in ``error_rate``, never a wrong answer."""


class ModelFailure(EvalError):
    """The model call failed after retries."""


class JudgeFailure(ModelFailure):
    """The judge failed (its model errored, or its verdict stayed invalid after repairs):
    an E item counted in ``invalid_judge_rate``, never a score."""


class ScorerFailure(EvalError):
    """A scorer raised (a missing field, a bug in a custom scorer)."""


class SampleUnsent(Exception):
    """The sample's request was not sent: it could have passed the run's budget. Its own
    outcome (``u``, ``N unsent``), reported as a skip with the reason; no row is stored, so
    ``--llmeval-resume`` with a larger budget sends it."""
