"""CSV: one row per sample (``csv``), or one row per task, slice and metric (``csv-metrics``)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from typing import IO, Any

from pytest_llmeval.result import SampleResult
from pytest_llmeval.store.results import Run
from pytest_llmeval.untrusted import printable

SAMPLE_COLUMNS = (
    "run_id", "task", "sample_id", "slices", "difficulty", "passed", "error", "latency_ms",
    "original_latency_ms", "prompt_tokens", "completion_tokens", "cost_usd", "cached",
    "finish_reason", "output", "expected",
)  # fmt: skip
METRIC_COLUMNS = ("run_id", "model", "task", "slice", "metric", "value", "lo", "hi", "n", "method")


def write_samples(run: Run, samples: Sequence[SampleResult], out: IO[str]) -> None:
    """Fixed columns, then one ``score.<name>`` column per score seen in the run."""
    score_names = sorted({name for s in samples for name in s.scores})
    writer = csv.writer(out)
    writer.writerow([*SAMPLE_COLUMNS, *(f"score.{n}" for n in score_names)])
    for s in samples:
        row = {**s.columns(), "run_id": run.id, "slices": ";".join(s.slices)}
        fixed = [row.get(c) for c in SAMPLE_COLUMNS]
        scores = s.scores
        writer.writerow(
            [
                *(_cell(v) for v in fixed),
                *(_cell(scores.get(n, {}).get("value")) for n in score_names),
            ]
        )


def write_metrics(run: Run, samples: Sequence[SampleResult], out: IO[str]) -> None:
    writer = csv.writer(out)
    writer.writerow(METRIC_COLUMNS)
    for task, slices in run.metrics.items():
        for sl, metrics in slices.items():
            for name, m in metrics.items():
                writer.writerow(
                    [
                        run.id,
                        run.model,
                        task,
                        sl,
                        name,
                        *(_cell(m.get(k)) for k in ("value", "lo", "hi", "n", "method")),
                    ]
                )


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, str):
        # a model's text, opened in a terminal or a spreadsheet: controls escaped, its own
        # newlines and tabs kept (quoted by the csv module); the database has it exactly
        return printable(value, block=True)
    return "" if value is None else value
