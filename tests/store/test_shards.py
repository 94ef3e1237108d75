"""Shards on many machines, one verdict: --llmeval-shard, llmeval merge, llmeval gate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from evalkit import EvalProject, answers, qa_records, write_jsonl

from pytest_llmeval import Results
from pytest_llmeval.dataset import Sample, shard

GATED = "thresholds:\n  accuracy: '>=0.85'\n"


def _cli(project: EvalProject, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_llmeval.cli", *args],
        cwd=project.path, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_shards_are_a_stable_partition_by_sample_id() -> None:
    samples = [Sample(f"s{i}", "t", {}, "x", i) for i in range(1000)]
    parts = [shard(samples, i, 4) for i in range(1, 5)]
    assert sorted(s.id for p in parts for s in p) == sorted(s.id for s in samples)
    assert all(200 < len(p) < 300 for p in parts)
    # by id alone: the same sample lands in the same shard whatever else the file holds
    again = shard([*reversed(samples[:500]), Sample("new", "t", {}, "x", 0)], 2, 4)
    assert {s.id for s in again} - {"new"} == {s.id for s in parts[1] if int(s.id[1:]) < 500}


def test_four_shards_merged_are_the_run_a_single_machine_makes(project: EvalProject) -> None:
    records = qa_records(1000)
    wrong = [r["id"] for r in records[::9]]  # about 89% right
    write_jsonl(project.path / "data" / "qa.jsonl", records)
    (project.path / "evals").mkdir()
    (project.path / "evals" / "eval_qa.yaml").write_text(
        "task: qa\ndataset: data/qa.jsonl\n" + GATED
    )
    project.server.configure(script=answers(records, wrong))
    single = project.run("--llmeval-db", str(project.path / "single.db"), "-q")
    assert single.ret == 0
    dbs = []
    for i in range(1, 5):
        db = project.path / f"shard{i}.db"
        out = project.run("--llmeval-shard", f"{i}/4", "--llmeval-db", str(db), "-q")
        assert out.ret == 0  # a shard is not gated on its own
        out.stdout.fnmatch_lines(["llmeval gate not applied: this run is shard */4 of every*"])
        dbs.append(str(db))
    merged_db = project.path / "merged.db"
    m = _cli(project, "merge", *dbs, "--into", str(merged_db))
    assert m.returncode == 0, m.stderr
    assert "1000 rows" in m.stdout
    gate = _cli(project, "--db", str(merged_db), "gate", "latest")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "llmeval gate PASSED: 1/1 thresholds met" in gate.stdout

    with Results(project.path / "single.db") as a, Results(merged_db) as b:
        one, merged = a.run("latest"), b.run("latest")
        rows_a = {(r.sample_id, r.passed, r.output) for r in a.samples(one.id)}
        rows_b = {(r.sample_id, r.passed, r.output) for r in b.samples(merged.id)}
        assert rows_a == rows_b and len(rows_a) == 1000
        strip = {"latency_p50_ms", "latency_p95_ms"}  # the only measured, not scored values
        metrics_a = {k: v for k, v in one.metrics["qa"][""].items() if k not in strip}
        metrics_b = {k: v for k, v in merged.metrics["qa"][""].items() if k not in strip}
        assert json.dumps(metrics_a, sort_keys=True) == json.dumps(metrics_b, sort_keys=True)
        assert (merged.verdict, merged.exitstatus) == (one.verdict, one.exitstatus) == ("passed", 0)
        assert not merged.partial and merged.status == "complete"


def test_a_merged_run_is_gated_against_a_baseline_with_the_same_exit_codes(
    project: EvalProject,
) -> None:
    records = qa_records(200)
    ids = [r["id"] for r in records]
    write_jsonl(project.path / "data" / "qa.jsonl", records)
    (project.path / "evals").mkdir()
    (project.path / "evals" / "eval_qa.yaml").write_text(
        "task: qa\ndataset: data/qa.jsonl\nthresholds:\n  accuracy: '>=0.5'\n"
    )
    project.server.configure(
        script={"models": {"good": answers(records, ids[::20]),
                           "worse": answers(records, ids[::20] + ids[1::8])}}
    )  # fmt: skip
    db = project.path / "all.db"
    project.run("--llmeval-db", str(db), model="openai/good")
    with Results(db) as results:
        good = results.run("latest").id
    # the same comparison, made by the pytest session on one machine...
    plugin = project.run("--llmeval-db", str(db), f"--llmeval-baseline={good}",
                         model="openai/worse")  # fmt: skip
    assert plugin.ret == 1
    # ...and by llmeval gate over two shards merged
    shards = []
    for i in (1, 2):
        path = project.path / f"w{i}.db"
        project.run("--llmeval-shard", f"{i}/2", "--llmeval-db", str(path), model="openai/worse")
        shards.append(str(path))
    assert _cli(project, "merge", *shards, "--into", str(db)).returncode == 0
    gate = _cli(project, "--db", str(db), "gate", "latest", "--baseline", good)
    assert gate.returncode == plugin.ret == 1, gate.stdout + gate.stderr
    assert "REGRESSION" in gate.stdout
    with Results(db) as results:
        merged = results.run("latest")
        assert merged.verdict == "failed" and merged.exitstatus == 1 and merged.baseline == good


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("missing", "missing shard(s) 3/3 (given: 1/3, 2/3)"),
        ("twice", "shard 2/3 twice:"),
        ("model", 'differ in model: "openai/other" against "openai/test-model"'),
    ],
)
def test_shards_that_do_not_make_one_run_are_refused(
    project: EvalProject, which: str, message: str
) -> None:
    project.qa_suite(30)
    dbs = []
    for i in (1, 2, 3):
        db = project.path / f"s{i}.db"
        model = "openai/other" if which == "model" and i == 3 else "openai/test-model"
        project.run("--llmeval-shard", f"{i}/3", "--llmeval-db", str(db), model=model)
        dbs.append(str(db))
    if which == "missing":
        dbs = dbs[:2]
    elif which == "twice":
        dbs = [dbs[0], dbs[1], dbs[1]]
    out = _cli(project, "merge", *dbs, "--into", str(project.path / "m.db"))
    assert out.returncode == 2
    assert message in out.stderr, out.stderr
    assert not Path(project.path / "m.db").exists() or "Traceback" not in out.stderr
