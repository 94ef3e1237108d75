"""How long ``llmeval compare`` takes on two 10,000-sample runs (target: under 2 s).

Writes two synthetic runs (three binary and three continuous metrics per sample, about 10%
of items flipping between them) into a temporary results database through the storage API,
then times the whole ``llmeval compare`` command and the in-process comparison.

    python benchmarks/bench_compare.py [--n 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_llmeval.result import Call, SampleResult
from pytest_llmeval.store.results import Results
from pytest_llmeval.store.storage import Store, new_run_row


def rows(n: int, seed: int, drop: float) -> list[dict[str, object]]:
    rng = random.Random(seed)
    item = random.Random(0)  # the items' difficulty is shared by both runs
    out = []
    for i in range(n):
        p = item.choice([0.02, 0.98, 0.98, 0.98, 0.5]) - drop
        passed = rng.random() < p
        f1 = max(0.0, min(1.0, (0.9 if passed else 0.3) + rng.gauss(0, 0.1)))
        out.append(
            SampleResult(
                nodeid=f"evals/eval_qa.yaml::s{i:05d}",
                task="qa",
                sample_id=f"s{i:05d}",
                slices=("easy",),
                passed=passed,
                model=Call(latency_ms=100.0),
                scores={
                    "qa_exact_match": {
                        "value": float(passed),
                        "passed": passed,
                        "metric": "exact_match",
                    },
                    "qa_contains": {"value": float(passed), "passed": passed, "metric": "contains"},
                    "json_parse": {"value": 1.0, "passed": True, "metric": "parse_rate"},
                    "qa_f1": {"value": f1, "passed": None, "metric": "f1"},
                    "f1b": {"value": f1 * 0.9, "passed": None, "metric": "field_f1"},
                    "f1c": {"value": f1 * 0.8, "passed": None, "metric": "field_recall"},
                },
            )
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    margins = [
        "accuracy:-2%",
        "exact_match:-2%",
        "contains:-2%",
        "f1:-0.02",
        "field_f1:-0.02",
        "field_recall:-0.02",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "r.db"
        store = Store(db)
        for run_id, seed, drop in (("base", 1, 0.0), ("cand", 2, 0.03)):
            store.create_run(new_run_row(run_id, model="m"))
            store.add_results(run_id, rows(args.n, seed, drop))
            store.update_run(run_id, status="complete")
        store.close()
        command = [
            sys.executable,
            "-m",
            "pytest_llmeval.cli",
            "--db",
            str(db),
            "compare",
            "base",
            "cand",
            *(a for m in margins for a in ("--fail", m)),
        ]
        walls = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            walls.append(time.perf_counter() - start)
        with Results(db) as results:
            start = time.perf_counter()
            comparison = results.compare("base", "cand", margins)
            inproc = time.perf_counter() - start
    print(done.stdout)
    best = min(walls)
    print(
        f"{args.n:,} vs {args.n:,} samples, {len(margins)} metrics: "
        f"`llmeval compare` wall {best:.2f} s (best of {args.repeat}; "
        f"all: {', '.join(f'{w:.2f}' for w in walls)}), in-process {inproc:.2f} s; "
        f"exit {done.returncode} (regression: {comparison.failed})"
    )
    print(f"target: under 2 s: {'PASS' if best < 2 else 'MISS'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
