"""Scorers: the registry and the built-ins (importing this package registers them)."""

from __future__ import annotations

from pytest_llmeval.scorers import (
    checks,
    extraction,
    json_extraction,
    matching,
    qa,
    text,
    toolcalls,
)
from pytest_llmeval.scorers.base import SCORERS, Score, Scorer, ScorerInfo, get_scorer, scorer
from pytest_llmeval.scorers.json_extraction import parse_json

__all__ = [
    "SCORERS",
    "Score",
    "Scorer",
    "ScorerInfo",
    "checks",
    "extraction",
    "get_scorer",
    "json_extraction",
    "matching",
    "parse_json",
    "qa",
    "scorer",
    "text",
    "toolcalls",
]
