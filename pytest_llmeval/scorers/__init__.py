"""Scorers: the registry and the built-ins (importing this package registers them)."""

from __future__ import annotations

from pytest_llmeval.scorers import json_extraction, qa
from pytest_llmeval.scorers.base import SCORERS, Score, Scorer, ScorerInfo, get_scorer, scorer
from pytest_llmeval.scorers.json_extraction import parse_json

__all__ = [
    "SCORERS",
    "Score",
    "Scorer",
    "ScorerInfo",
    "get_scorer",
    "json_extraction",
    "parse_json",
    "qa",
    "scorer",
]
