"""Reading stored runs: the public Python API behind the CLI, exporters and reports.

    from pytest_llmeval.store.results import Results

    results = Results(".llmeval/llmeval.db")
    run = results.run("latest")              # or a run id, or a unique prefix of one
    run.metrics["qa"][""]["accuracy"]        # {"value", "lo", "hi", "n", "method"}
    rows = results.samples(run.id)           # one dict per sample
    df = results.dataframe(run.id)           # the same as a pandas DataFrame (needs pandas)
    cmp = results.compare("latest", run.id)  # the baseline gate's paired comparison

No pytest here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from pytest_llmeval.gate.baseline import ALPHA, Comparison, Margin, compare
from pytest_llmeval.result import SampleResult
from pytest_llmeval.store.storage import Store, StoreError

DEFAULT_DB = Path(".llmeval/llmeval.db")


@dataclass(frozen=True)
class Run:
    """One stored run (a row of the ``runs`` table, JSON columns decoded)."""

    id: str
    started_at: str
    status: str
    finished_at: str | None = None
    partial: bool = False
    exitstatus: int | None = None
    model: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    git_commit: str | None = None
    git_dirty: bool | None = None
    datasets: Mapping[str, str] = field(default_factory=dict)
    host: str | None = None
    pid: int | None = None
    plugin_version: str | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    verdicts: list[Mapping[str, Any]] = field(default_factory=list)
    n_results: int = 0
    heartbeat_at: str | None = None
    baseline: str | None = None
    comparison: Mapping[str, Any] = field(default_factory=dict)
    verdict: str | None = None  # the gate's: passed, failed, not evaluated
    reason: str | None = None  # why it is errored, interrupted, incomplete or aborted
    n_errors: int = 0
    suites: list[str] = field(default_factory=list)
    resumed: int = 0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Run:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in names})

    def metric(self, task: str, name: str, slice: str = "") -> float | None:
        """A metric's point value, or None where the run has no such metric."""
        value = self.metrics.get(task, {}).get(slice, {}).get(name, {}).get("value")
        return None if value is None else float(value)


class Results:
    """A results database, opened for reading (an older schema is migrated first)."""

    def __init__(self, db: Path | str = DEFAULT_DB) -> None:
        self.path = Path(db)
        if not self.path.exists():
            raise StoreError(f"no results database at {self.path}")
        self.store = Store(self.path)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Results:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def runs(
        self,
        limit: int | None = 20,
        model: str | None = None,
        status: str | None = None,
        verdict: str | None = None,
        exitstatus: int | None = None,
    ) -> list[Run]:
        """Newest first; ``model`` matches a substring of the model spec."""
        rows = self.store.list_runs(limit, model, status, verdict, exitstatus)
        return [Run.from_row(r) for r in rows]

    def resolve(self, ref: str, model: str | None = None) -> str:
        """``latest`` (the newest complete, full run without errors, of ``model`` when
        given), a run id or a unique prefix -> the run id (LookupError otherwise)."""
        return self.store.resolve(ref, model)

    def run(self, ref: str, model: str | None = None) -> Run:
        row = self.store.get_run(self.resolve(ref, model))
        assert row is not None
        return Run.from_row(row)

    def samples(self, ref: str) -> list[SampleResult]:
        """Per-sample results (``SampleResult``: ``.task``, ``.sample_id``, ``.scores``,
        ``.passed``, ``.model.output``...; ``row["output"]`` reads the stored columns)."""
        return self.store.results(self.resolve(ref))

    def metrics(self, ref: str) -> list[dict[str, Any]]:
        """Flat metric rows: task, slice ('' = all), metric, value, lo, hi, n, method."""
        return self.store.metrics(self.resolve(ref))

    def dataframe(self, ref: str) -> Any:
        """The samples as a pandas DataFrame (``pip install pandas``)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Results.dataframe needs pandas: pip install pandas") from None
        return pd.DataFrame([s.columns() for s in self.samples(ref)])

    def compare(
        self,
        baseline: str,
        candidate: str,
        margins: Iterable[Margin | str] = (),
        alpha: float = ALPHA,
        top: int = 10,
    ) -> Comparison:
        """The baseline gate's paired comparison between two stored runs."""
        a, b = self.resolve(baseline), self.resolve(candidate)
        return compare(
            self.samples(a),
            self.samples(b),
            margins,
            alpha,
            top=top,
            baseline_label=a,
            candidate_label=b,
            baseline_model=self.run(a).model,
            candidate_model=self.run(b).model,
        )


def check_baseline(
    run: Run,
    root: Path,
    force: bool = False,
    hint: str = "evaluate a new baseline on this data",
) -> None:
    """Why ``run`` cannot be a baseline for a run in ``root`` (ValueError), if it cannot:
    not complete (unless ``force``), or a dataset it used has changed since."""
    if run.status != "complete" and not (force and run.status != "running"):
        why = (
            ": its samples errored beyond the error budget, so it was not evaluated"
            if run.status == "errored"
            else ""
        )
        raise ValueError(
            f"run {run.id} has status {run.status!r}{why}; only complete runs can be "
            "baselines (--llmeval-baseline-force to use it anyway)"
        )
    from pytest_llmeval.dataset import file_hash

    for name, digest in run.datasets.items():
        path = Path(name) if Path(name).is_absolute() else root / name
        if path.is_file() and file_hash(path) != digest:
            raise ValueError(
                f"run {run.id} evaluated {name} at sha256 {digest[:12]}, which has changed "
                f"since (now {file_hash(path)[:12]}): {hint}"
            )
