"""Suites under evals/judged/ need a judge model: without --judge-model they are skipped
at collection, so `pytest evals/ --model ...` runs everything else."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    judge = config.getoption("llmeval_judge_model", None) or config.getini("llmeval_judge_model")
    if collection_path.name == "judged" and not judge:
        return True
    return None
