"""Suites: what a suite file (or the ``llmeval`` marker) says, resolved into a ``Suite``
whose samples become ``Case``s. No pytest here."""

from __future__ import annotations

from pytest_llmeval.conversation import Conversation
from pytest_llmeval.suite.build import build_suite, load_suite_file
from pytest_llmeval.suite.model import SAMPLE_SCHEMA, Case, Suite
from pytest_llmeval.suite.schema import SUITE_SCHEMA

__all__ = [
    "SAMPLE_SCHEMA",
    "SUITE_SCHEMA",
    "Case",
    "Conversation",
    "Suite",
    "build_suite",
    "load_suite_file",
]
