"""JSON: the run (metadata, metrics, verdicts, comparison) with every sample."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import IO

from pytest_llmeval.result import SampleResult
from pytest_llmeval.store.results import Run


def write(run: Run, samples: Sequence[SampleResult], out: IO[str]) -> None:
    payload = {"run": dataclasses.asdict(run), "samples": [s.columns() for s in samples]}
    json.dump(payload, out, indent=2, ensure_ascii=False, default=str)
    out.write("\n")
