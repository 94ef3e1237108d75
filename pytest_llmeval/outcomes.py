"""How an eval item can end besides passing: a miss (F) or an error (E)."""

from __future__ import annotations


class SampleMiss(AssertionError):
    """The sample scored below its pass mark: an F item with expected vs got."""


class ModelFailure(Exception):
    """The model call failed after retries: an E item, never a wrong answer."""


class JudgeFailure(ModelFailure):
    """The judge failed (its model errored, or its verdict stayed invalid after repairs):
    an E item counted in ``invalid_judge_rate``, never a score."""
