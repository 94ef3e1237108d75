"""Merging shards: N shard databases of M rows each into one run, timed.

Builds the shard databases directly through the storage layer (each a complete shard run
of one QA-like suite, M rows with scores and outputs, as a pytest shard run stores them),
then times ``llmeval merge`` as a subprocess, the way CI runs it, and ``llmeval gate`` on
the merged run. It measures; it never asserts.

    python benchmarks/bench_merge.py                 # 10 shards of 10,000 rows
    python benchmarks/bench_merge.py --shards 4 --rows 2500
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from harness import child_env, format_table, run_child  # noqa: E402

from pytest_llmeval.gate import aggregate  # noqa: E402
from pytest_llmeval.result import Call, SampleResult  # noqa: E402
from pytest_llmeval.store.storage import Store, new_run_id, new_run_row, utcnow  # noqa: E402


def build_shard(path: Path, index: int, count: int, rows: int) -> None:
    store = Store(path)
    run_id = new_run_id() + f"{index:02d}"
    params = {"shard": f"{index}/{count}", "temperature": None, "max_tokens": None,
              "limit": None, "seed": 0, "max_error_rate": 0.0}  # fmt: skip
    store.create_run(new_run_row(run_id, model="openai/bench", params=params,
                                 plugin_version="bench", suites=["qa"], datasets={"d": "x"}))  # fmt: skip
    results = []
    for i in range(rows):
        sid = f"s{index:02d}-{i:06d}"
        ok = i % 10 != 0
        results.append(
            SampleResult(
                nodeid=f"evals/eval_qa.yaml::{sid}",
                task="qa",
                sample_id=sid,
                dataset="data/qa.jsonl",
                slices=("easy",),
                prompt='[{"role":"user"}]',
                expected="c1x",
                passed=ok,
                scores={
                    "qa_exact_match": {"metric": "exact_match", "value": float(ok), "passed": ok}
                },
                model=Call(
                    output="c1x" if ok else "wrong",
                    latency_ms=12.0,
                    prompt_tokens=40,
                    completion_tokens=3,
                ),
            )
        )
    store.add_results(run_id, results)
    metrics = aggregate.summarize(results)
    store.update_run(run_id, status="complete", partial=1, finished_at=utcnow(), metrics=metrics,
                     verdicts=[{"task": "qa", "metric": "accuracy", "op": ">=",
                                "threshold": 0.85, "value": 0.9, "passed": True, "note": "",
                                "source": "evals/eval_qa.yaml", "info": True}])  # fmt: skip
    store.close()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--shards", type=int, default=10)
    p.add_argument("--rows", type=int, default=10_000)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="llmeval-merge-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        dbs = []
        for i in range(1, args.shards + 1):
            db = root / f"shard{i}.db"
            build_shard(db, i, args.shards, args.rows)
            dbs.append(str(db))
        built = time.perf_counter() - started
        env = child_env(root, PYTHONPATH=str(REPO))
        cli = [sys.executable, "-m", "pytest_llmeval.cli"]
        merged = root / "merged.db"
        merge = run_child([*cli, "merge", *dbs, "--into", str(merged)], root, env, 600)
        gate = run_child([*cli, "--db", str(merged), "gate", "latest"], root, env, 600)
        rows = [
            [f"llmeval merge ({args.shards} x {args.rows:,} rows)", f"{merge.wall_s:.2f}",
             f"{merge.cpu_s:.2f}", str(merge.returncode)],
            ["llmeval gate latest", f"{gate.wall_s:.2f}", f"{gate.cpu_s:.2f}",
             str(gate.returncode)],
        ]  # fmt: skip
        print(f"(building the shard databases took {built:.1f} s)")
        print(format_table(["command", "wall s", "cpu s", "exit"], rows, (1, 2, 3)))
        if merge.returncode:
            print(merge.output[-2000:])
        target = "PASS" if merge.wall_s < 10 else "MISS"
        print(
            f"\ntarget: merging 10 shards of 10,000 rows under 10 s: {merge.wall_s:.2f} s {target}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
