"""Exporters: one module per format, one table of names, the same code behind
``--llmeval-export FORMAT:PATH`` and ``llmeval export RUN --format FORMAT``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import IO

from pytest_llmeval.export import csv, json, prometheus
from pytest_llmeval.result import SampleResult
from pytest_llmeval.store.results import Run

Exporter = Callable[[Run, Sequence[SampleResult], IO[str]], None]

EXPORTERS: dict[str, Exporter] = {
    "csv": csv.write_samples,
    "csv-metrics": csv.write_metrics,
    "json": json.write,
    "prometheus": prometheus.write,
}


def export(name: str, run: Run, samples: Sequence[SampleResult], out: IO[str]) -> None:
    try:
        exporter = EXPORTERS[name]
    except KeyError:
        known = ", ".join(sorted(EXPORTERS))
        raise ValueError(f"unknown export format {name!r} (known: {known})") from None
    exporter(run, samples, out)
