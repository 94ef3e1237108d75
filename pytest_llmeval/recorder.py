"""The controller's side of a run: rows in, SQLite out, metrics and the gate at the end.

Only the controller (or the single process) records: it receives every item's row on its
test report, stores rows in batches, and at session end aggregates, checks thresholds and
decides the exit status.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_llmeval import __version__, aggregate
from pytest_llmeval import thresholds as th
from pytest_llmeval.compare import UNDERPOWERED, Comparison, compare
from pytest_llmeval.dataset import file_hash
from pytest_llmeval.options import Options
from pytest_llmeval.storage import Store, new_run_row, utcnow

FLUSH_ROWS = 200
FLUSH_SECONDS = 1.0  # a hard kill of the controller loses at most about this much
# What is kept in memory per row for the end-of-session metrics.
AGGREGATED = (
    "task", "sample_id", "slices", "scores", "passed", "error", "error_kind", "latency_ms",
    "original_latency_ms", "prompt_tokens", "completion_tokens", "cached", "judged",
    "judge_latency_ms", "judge_prompt_tokens", "judge_completion_tokens",
)  # fmt: skip


@dataclass
class Outcome:
    """How the session went, as the exit-status decision needs it."""

    exitstatus: int
    interrupted: bool
    stopped_early: bool  # -x / --maxfail


class Recorder:
    """Rows, storage, metrics and verdicts for one run (controller only)."""

    def __init__(self, config_root: Path, options: Options, run_id: str) -> None:
        self.root = config_root
        self.options = options
        self.run_id = run_id
        self.started_at = utcnow()
        self.store: Store | None = None
        self.rows: list[dict[str, Any]] = []
        self.suite_info: dict[str, dict[str, Any]] = {}
        self.misses: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.other_failures: set[str] = set()
        self.collect_errors = 0
        self.crashed = 0
        self._buffer: list[dict[str, Any]] = []
        self._last_flush = time.monotonic()

    # -- during the run ----------------------------------------------------------------------
    def failed(self, nodeid: str, row: dict[str, Any] | None) -> None:
        """Classify a failed report: a sample miss, a model error, or a real failure."""
        if row is None:
            self.other_failures.add(nodeid)
        elif row.get("miss"):
            self.misses[row["task"]] += 1
        elif row.get("error_kind") in ("model", "judge"):
            self.errors[row["task"]] += 1
        else:
            self.other_failures.add(nodeid)

    def add(self, row: dict[str, Any]) -> None:
        info = self.suite_info.setdefault(
            row["task"],
            {
                "size": row["suite_size"],
                "thresholds": row["thresholds"],
                "dataset": row["dataset"],
            },
        )
        info["size"] = max(info["size"], row["suite_size"])
        self.rows.append({k: row.get(k) for k in AGGREGATED})
        self._buffer.append(row)
        if len(self._buffer) >= FLUSH_ROWS or time.monotonic() - self._last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if not self._buffer:
            return
        if self.store is None:
            self.store = Store(self.options.db_path)
            self.store.sweep_stale(socket.gethostname())
            self.store.create_run(
                new_run_row(
                    self.run_id,
                    started_at=self.started_at,
                    model=self.model_spec,
                    params=self._run_params(),
                    plugin_version=__version__,
                    **git_info(self.root),
                )
            )
        rows, self._buffer = self._buffer, []
        self.store.add_results(self.run_id, rows)
        self.store.put_cache(
            [
                {
                    "key": r["cache_key"],
                    "model": self.model_spec,
                    "latency_ms": r["latency_ms"],
                    "run_id": self.run_id,
                    "response": {
                        "text": r["output"],
                        "finish_reason": r["finish_reason"],
                        "prompt_tokens": r["prompt_tokens"],
                        "completion_tokens": r["completion_tokens"],
                        "model": r.get("response_model"),
                    },
                }
                for r in rows
                if r.get("cache_key") and not r.get("cached")
            ]
            + [{**e, "run_id": self.run_id} for r in rows for e in r.get("judge_cache") or ()]
        )

    # -- at the end --------------------------------------------------------------------------
    def finish(
        self,
        outcome: Outcome,
        engine: dict[str, Any] | None,
        baseline: str | None,
        contamination: dict[str, dict[str, Any]] | None = None,
    ) -> tuple[dict[str, Any], list[th.Verdict], Comparison | None, int]:
        """Aggregate, gate (thresholds, then the baseline), store; returns (result,
        verdicts, comparison, exit status)."""
        self.flush()
        metrics = aggregate.summarize(self.rows)
        for task, found in (contamination or {}).items():
            if task in metrics:  # the share of evaluated samples also seen in training
                metrics[task][""]["contamination_rate"] = aggregate.rate(
                    found["contaminated"], found["n_eval"]
                )
        values = aggregate.values(metrics)
        thresholds = self.thresholds()
        verdicts = th.evaluate(thresholds.values(), values)
        gated = {t.task for t in thresholds.values()}
        status, partial = self.status(outcome)
        comparison = self.compare(baseline) if baseline and status != "interrupted" else None
        exitstatus = self.exit_status(outcome, status, values, gated, verdicts, comparison)
        result = {
            "run_id": self.run_id,
            "status": status,
            "partial": partial,
            "db": str(self.options.db_path),
            "model": self.model_spec,
            "metrics": metrics,
            "verdicts": [v.as_dict() for v in verdicts],
            "gated": sorted(gated & set(values)),
            "misses": dict(self.misses),
            "errors": dict(self.errors),
            "suites": self.suite_info,
            "exitstatus": exitstatus,
            "engine": engine,
            "baseline": comparison.as_dict() if comparison is not None else None,
            "contamination": contamination or {},
        }
        assert self.store is not None
        self.store.save_metrics(self.run_id, aggregate.rows_for_storage(metrics))
        self.store.update_run(
            self.run_id,
            status=status,
            partial=int(partial),
            finished_at=utcnow(),
            exitstatus=exitstatus,
            metrics=metrics,
            verdicts=result["verdicts"],
            datasets=self._dataset_hashes(),
            baseline=baseline,
            comparison=result["baseline"],
        )
        return result, verdicts, comparison, exitstatus

    def compare(self, baseline: str) -> Comparison:
        """Pair this run's samples with the baseline's (checked before any test ran)."""
        assert self.store is not None
        return compare(
            self.store.results(baseline),
            self.rows,
            self.options.margins,
            self.options.alpha,
            baseline_label=baseline,
            candidate_label=self.run_id,
        )

    def thresholds(self) -> dict[tuple[str, str], th.Threshold]:
        """Suite defaults, overridden by the project's (pyproject, ini, CLI). A gated task
        also gets ``error_rate <= 0``, and ``invalid_judge_rate <= 0.02`` when it is judged,
        unless it says otherwise: samples that silently failed to be evaluated must not
        let a gate pass."""
        suite_layer = [
            th.Threshold.parse(task, metric, spec, info.get("source", task))
            for task, info in self.suite_info.items()
            for metric, spec in info["thresholds"].items()
        ]
        merged = th.merge(suite_layer, self.options.thresholds)
        judged = {r["task"] for r in self.rows if r.get("judged")}
        for task in {t for t, _ in merged}:
            merged.setdefault(
                (task, "error_rate"), th.Threshold(task, "error_rate", "<=", 0.0, "default")
            )
            if task in judged:
                merged.setdefault(
                    (task, "invalid_judge_rate"),
                    th.Threshold(task, "invalid_judge_rate", "<=", 0.02, "default"),
                )
        return merged

    def status(self, outcome: Outcome) -> tuple[str, bool]:
        counts = Counter(r["task"] for r in self.rows)
        partial = (
            any(counts[t] < info["size"] for t, info in self.suite_info.items())
            or self.options.limit is not None
        )
        if self.collect_errors or self.crashed or outcome.stopped_early:
            return "incomplete", True
        if outcome.interrupted:
            return "interrupted", True
        return "complete", partial

    def exit_status(
        self,
        outcome: Outcome,
        status: str,
        values: dict[str, Any],
        gated: set[str],
        verdicts: list[th.Verdict],
        comparison: Comparison | None = None,
    ) -> int:
        """With thresholds, the gate decides; misses in a task without any fail as in
        plain pytest; real test failures and baseline regressions always fail. Other exit
        codes pass through."""
        if outcome.exitstatus not in (0, 1) or status == "interrupted":
            return outcome.exitstatus
        ungated = any(self.misses[t] or self.errors[t] for t in values if t not in gated)
        strict = self.options.strict and sum(self.misses.values()) > 0
        regressed = comparison is not None and (
            comparison.failed
            or (self.options.fail_underpowered and bool(comparison.with_verdict(UNDERPOWERED)))
        )
        failed = (
            bool(self.other_failures)
            or self.collect_errors > 0
            or ungated
            or strict
            or any(not v.passed for v in verdicts)
            or regressed
        )
        return 1 if failed else 0

    # -- run metadata ------------------------------------------------------------------------
    @property
    def model_spec(self) -> str | None:
        return self.options.model.spec if self.options.model else None

    def _run_params(self) -> dict[str, Any]:
        m = self.options.model
        return {
            "base_url": m.base_url if m else None,
            "temperature": self.options.temperature,
            "max_tokens": self.options.max_tokens,
            "limit": self.options.limit,
            "seed": self.options.seed,
            "strict": self.options.strict,
            "concurrency": self.options.concurrency,
            "cache": self.options.cache,
            "baseline": self.options.baseline,
            # adapter, quantization, dtype: what makes this run's model differ from its base
            **(m.options if m else {}),
        }

    def _dataset_hashes(self) -> dict[str, str]:
        out = {}
        for info in self.suite_info.values():
            path = Path(info["dataset"])
            path = path if path.is_absolute() else self.root / path
            if path.is_file():
                out[info["dataset"]] = file_hash(path)
        return out

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def git_info(root: Path) -> dict[str, Any]:
    """Commit and dirty flag of the project, or None outside a git checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return {"git_commit": None, "git_dirty": None}
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return {"git_commit": commit.stdout.strip(), "git_dirty": int(bool(dirty.stdout.strip()))}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}
