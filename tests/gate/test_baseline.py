"""The baseline regression gate end to end, and the workflow files that use it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from evalkit import EvalProject, answers, lines, qa_records, write_jsonl

REPO = Path(__file__).resolve().parents[2]


def _two_models(
    project: EvalProject,
    n: int,
    good_wrong: set[str],
    worse_wrong: set[str],
    same_wrong: set[str] | None = None,
) -> list[dict[str, object]]:
    records = qa_records(n)
    write_jsonl(project.path / "data" / "qa.jsonl", records)
    (project.path / "evals").mkdir(exist_ok=True)
    (project.path / "evals" / "eval_qa.yaml").write_text(
        "task: qa\ndataset: data/qa.jsonl\nthresholds:\n  accuracy: '>=0.5'\n"
    )
    models = {"good": answers(records, good_wrong), "worse": answers(records, worse_wrong)}
    if same_wrong is not None:
        models["same"] = answers(records, same_wrong)
    project.server.configure(script={"models": models})
    return records


def test_a_worse_model_fails_the_gate_and_a_same_quality_one_passes(
    project: EvalProject,
) -> None:
    ids = [f"q{i:03d}" for i in range(500)]
    good = set(ids[::20])  # 95%
    worse = good | set(ids[1::10])  # 85%: 50 samples flip pass -> fail
    same = set(ids[3::20])  # 95% too, other mistakes: 25 flips each way, 10% of items
    _two_models(project, 500, good, worse, same)
    assert project.run(model="openai/good").ret == 0
    base = project.runs()[-1]["id"]

    result = project.run(
        "--llmeval-baseline", base, "--llmeval-compare-md", "cmp.md", model="openai/worse"
    )
    assert result.ret == 1  # the thresholds pass (0.85 >= 0.5); the baseline gate fails
    result.stdout.fnmatch_lines(
        lines(
            f"llmeval compare: baseline {base} (model openai/good) -> candidate * "
            "(model openai/worse)",
            "*accuracy*0.950*0.850*-10.0 pt*REGRESSION",
            "*pass->fail (50): q001, q011*",
            "FAILED llmeval::gate[baseline:qa.accuracy] - [qa] accuracy regressed against*",
        )
    )
    md = (project.path / "cmp.md").read_text()
    assert "❌" in md and "REGRESSION" in md and "<details>" in md and "q001" in md
    stored = project.runs()[-1]
    assert stored["baseline"] == base and json.loads(stored["comparison"])["failed"] is True

    result = project.run("--llmeval-baseline", base, model="openai/same")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["*accuracy*0.950*0.950*ok*", "llmeval compare PASSED: no regression vs the baseline"]
    )


def test_margin_decides_what_counts(project: EvalProject) -> None:
    ids = [f"q{i:03d}" for i in range(300)]
    _two_models(project, 300, set(ids[::20]), set(ids[::20]) | set(ids[1::10]))
    project.run(model="openai/good")
    result = project.run(
        f"--llmeval-baseline={project.runs()[-1]['id']}",
        "--llmeval-fail",
        "accuracy:-15%",
        model="openai/worse",
    )
    assert result.ret == 0  # a 10-point drop is within a 15-point margin


def test_small_comparisons_are_underpowered_not_passed(project: EvalProject) -> None:
    ids = [f"q{i:03d}" for i in range(40)]
    _two_models(project, 40, {"q000"}, {"q000", "q005", "q010"})
    project.run(model="openai/good")
    base = project.runs()[-1]["id"]
    result = project.run(f"--llmeval-baseline={base}", model="openai/worse")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["*accuracy*underpowered*", "*can only detect drops of * points or more*"]
    )
    result = project.run(
        f"--llmeval-baseline={base}",
        "--llmeval-fail-underpowered",
        "--llmeval-cache",
        "off",
        model="openai/worse",
    )
    assert result.ret == 1
    assert len(ids) == 40


def test_improvements_are_reported(project: EvalProject) -> None:
    ids = [f"q{i:03d}" for i in range(300)]
    _two_models(project, 300, set(ids[::20]) | set(ids[1::10]), set(ids[::20]))
    project.run(model="openai/good")  # here "good" is the weaker one
    result = project.run(
        f"--llmeval-baseline={project.runs()[-1]['id']}",
        "--json-report",
        "--json-report-file=r.json",
        model="openai/worse",
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*accuracy*IMPROVEMENT*"])
    report = json.loads((project.path / "r.json").read_text())["llmeval"]["baseline"]
    task = report["tasks"][0]
    assert report["failed"] is False and len(task["fail_to_pass"]) == 30


def test_partial_runs_compare_shared_samples(project: EvalProject) -> None:
    _two_models(project, 20, set(), set())
    project.run(model="openai/good")
    result = project.run("--llmeval-baseline=latest", "-k", "q001 or q002", model="openai/good")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["qa  (2 pairs, 18 removed)*"])


def test_latest_is_the_last_clean_complete_run_of_the_same_model(project: EvalProject) -> None:
    _two_models(project, 20, {"q001"}, {"q001", "q002"})
    project.run(model="openai/worse")
    result = project.run("--llmeval-baseline=latest", model="openai/good")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # none qualifies: said plainly
    result.stderr.fnmatch_lines(
        [
            "ERROR: --llmeval-baseline latest: no complete, full run without errors of model "
            "openai/good yet to use as 'latest'; run once without --llmeval-baseline to make one"
        ]
    )
    project.run(model="openai/good")
    good = project.runs()[-1]["id"]
    project.run(model="openai/worse")  # newer, but another model
    project.server.configure(error_rate=1.0, error_codes=[500])
    project.run("--llmeval-max-retries", "0", "--llmeval-cache", "off", model="openai/good")
    assert project.runs()[-1]["status"] == "errored"  # newer, but not evaluated
    project.server.configure(error_rate=0.0)
    project.run("-k", "q001", model="openai/good")  # newer, but partial
    result = project.run("--llmeval-baseline=latest", model="openai/good")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            f"llmeval: baseline latest = {good} (model openai/good, 20 samples, complete, *",
            f"llmeval compare: baseline {good} (model openai/good) -> candidate * "
            "(model openai/good)",
        ]
    )


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_bad_baselines_are_usage_errors_before_anything_runs(
    project: EvalProject, workers: list[str]
) -> None:
    project.qa_suite(4)
    project.run()
    first = project.runs()[-1]["id"]
    result = project.run("--llmeval-baseline", "nope", *workers)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --llmeval-baseline nope: unknown run id 'nope' (recent*"])
    assert len(project.runs()) == 1  # no trace of the refused run
    project.query("UPDATE runs SET status = 'interrupted' WHERE id = ?", first)
    with __import__("sqlite3").connect(project.db) as conn:
        conn.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", (first,))
    result = project.run("--llmeval-baseline", first[:12], *workers)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "has status 'interrupted'; only complete runs can be baselines" in result.stderr.str()
    with __import__("sqlite3").connect(project.db) as conn:
        conn.execute("UPDATE runs SET status = 'complete' WHERE id = ?", (first,))
    (project.path / "data" / "qa.jsonl").write_text(
        (project.path / "data" / "qa.jsonl").read_text().replace("code", "kode")
    )
    result = project.run("--llmeval-baseline", first, *workers)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "evaluated data/qa.jsonl at sha256" in result.stderr.str()
    result = project.run("--llmeval-baseline", "latest", "--llmeval-fail", "accuracy:lots")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert project.server.stats()["requests"] == 4


def test_workflows_are_valid_github_actions() -> None:
    check = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, sorted((REPO / ".github/workflows").glob("*.yml"))),
        ],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    regression = (REPO / ".github/workflows/regression.yml").read_text()
    for needed in (
        "pull_request",
        "schedule",
        "--llmeval-shard",
        "llmeval merge",
        'gate "$HEAD"',
        "--baseline",
        "compare",
        "--md comparison.md",
        "gh pr comment",
    ):
        assert needed in regression
