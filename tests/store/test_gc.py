"""Deleting runs on a real database made by real runs: ``llmeval gc --keep N`` and
``llmeval runs delete RUN...`` (the file shrinks; nothing else is lost)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from evalkit import EvalProject
from test_cache_cli import llmeval, ok, run_ids

from pytest_llmeval.store.storage import Store, new_run_row

OLD = "2020-01-01T00:00:00.000000Z"


def count(project: EvalProject, table: str, run_id: str) -> int:
    column = "id" if table == "runs" else "run_id"
    return int(project.query(f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", run_id)[0][0])


def sizes(line: str) -> tuple[int, int]:
    found = re.fullmatch(r"database .* \(([\d,]+) -> ([\d,]+) bytes\)", line)
    assert found, line
    return int(found.group(1).replace(",", "")), int(found.group(2).replace(",", ""))


def test_gc_keeps_the_last_runs_per_model_their_baselines_and_unfinished(
    project: EvalProject,
) -> None:
    project.qa_suite(30)
    for _ in range(3):
        project.run().assert_outcomes(passed=30)
    a1, a2, a3 = run_ids(project)
    project.run(f"--llmeval-baseline={a1}").assert_outcomes(passed=30)  # a4, gated against a1
    project.run("-k", "q001").assert_outcomes(passed=1)  # a5: complete, partial
    project.run(model="openai/other-model").assert_outcomes(passed=30)
    project.server.configure(error_rate=1.0, error_codes=[500])
    for _ in range(2):  # errored runs: not evaluated (exit 6)
        assert project.run("--llmeval-max-retries", "0", "--llmeval-cache", "off").ret == 6
    a4, a5, b1, old_errored, errored = run_ids(project)[3:]
    project.query("UPDATE runs SET started_at = ? WHERE id = ?", OLD, old_errored)
    store = Store(project.db)  # a live session's run (this process): never touched
    store.create_run(new_run_row("29990101T000000Z-live", model="openai/test-model"))
    store.close()
    assert project.query("SELECT baseline FROM runs WHERE id = ?", a4) == [(a1,)]
    latest = ok(project, "runs", "--status", "complete", "--full", "-n", "1", "--ids").strip()
    assert latest == b1

    dry = ok(project, "gc", "--keep", "1", "--dry-run").splitlines()
    assert dry[0] == "would delete 3 runs, keeping 6 runs (dry run)"
    assert sorted(line.split()[1] for line in dry if line.startswith("  delete")) == sorted(
        [a2, a3, old_errored]
    )
    why = {line.split()[1]: line.split(None, 2)[2] for line in dry if line.startswith("  keep")}
    assert why == {
        "29990101T000000Z-live": "running",
        errored: "errored, started within 7 days",
        b1: "one of the last 1 complete runs of openai/other-model",
        a5: "one of the last 1 complete runs of openai/test-model",
        a4: "what --llmeval-baseline=latest picks for openai/test-model",
        a1: f"baseline of {a4}",
    }
    assert len(run_ids(project)) == 9  # a dry run deletes nothing

    results = {r: count(project, "results", r) for r in (a2, a3, old_errored)}
    metrics = sum(count(project, "metrics", r) for r in (a2, a3, old_errored))
    size = os.path.getsize(project.db)
    out = ok(project, "gc", "--keep", "1").splitlines()
    assert out[0] == (
        f"deleted 3 runs ({sum(results.values())} results rows, 0 answers rows, "
        f"{metrics} metrics rows), keeping 6 runs"
    )
    before, after = sizes(out[1])
    assert after < before and os.path.getsize(project.db) == after < size
    assert sorted(run_ids(project)) == sorted([a1, a4, a5, b1, errored, "29990101T000000Z-live"])
    for r in (a2, a3, old_errored):
        assert count(project, "results", r) == count(project, "metrics", r) == 0
    assert count(project, "results", a1) == 30  # a kept baseline keeps its rows
    # the cache serves later runs: gc leaves it alone
    assert project.query("SELECT COUNT(*) FROM cache")[0][0] == 60
    # a second gc with the same N has nothing left to delete
    assert ok(project, "gc", "--keep", "1").startswith("deleted 0 runs (0 results rows")
    # the gate's 'latest' is the same run as before
    gated = project.run("--llmeval-baseline=latest")
    assert project.runs()[-1]["baseline"] == a4 and gated.ret == 0


def test_gc_keep_must_not_be_negative(project: EvalProject) -> None:
    project.qa_suite(1)
    project.run()
    done = llmeval(project, "gc", "--keep", "-1")
    assert done.returncode == 2 and done.stderr == (
        "llmeval: --keep: expected a number of runs >= 0, got -1\n"
    )
    assert len(run_ids(project)) == 1


def test_runs_delete_removes_a_runs_rows_and_shrinks_the_file(project: EvalProject) -> None:
    project.qa_suite(40)
    project.run().assert_outcomes(passed=40)
    # half the requests fail: an errored run, which keeps the answers that arrived
    project.server.configure(error_rate=0.5, error_codes=[500])
    assert project.run("--llmeval-max-retries", "0", "--llmeval-cache", "off").ret == 6
    kept, errored = run_ids(project)
    answers = count(project, "answers", errored)
    results = count(project, "results", errored)
    metrics = count(project, "metrics", errored)
    assert answers > 0 and results == 40

    size = os.path.getsize(project.db)
    out = ok(project, "runs", "delete", errored[:-2]).splitlines()  # a unique prefix
    assert out[0] == (
        f"deleted run {errored} ({results} results rows, {answers} answers rows, "
        f"{metrics} metrics rows)"
    )
    before, after = sizes(out[1])
    assert after < before and os.path.getsize(project.db) < size
    for table in ("runs", "results", "answers", "metrics"):
        assert count(project, table, errored) == 0
    assert run_ids(project) == [kept] and count(project, "results", kept) == 40


def test_runs_delete_refuses_an_unknown_or_running_run_and_deletes_nothing(
    project: EvalProject,
) -> None:
    project.qa_suite(3)
    project.run()
    project.run("--max-tokens", "50")
    first, second = run_ids(project)
    store = Store(project.db)
    store.create_run(new_run_row("29990101T000000Z-live", model="openai/test-model"))
    store.close()
    rows = project.query("SELECT COUNT(*) FROM results")

    done = llmeval(project, "runs", "delete", first, "nope")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("llmeval: unknown run id 'nope' (recent runs: ")
    done = llmeval(project, "runs", "delete", second, "29990101T000000Z-live")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("llmeval: run 29990101T000000Z-live is running (pid ")
    assert done.stderr.endswith("a session is writing it; nothing deleted\n")
    assert len(run_ids(project)) == 3 and project.query("SELECT COUNT(*) FROM results") == rows

    # a run another run was gated against: deleted, and said so
    project.run(f"--llmeval-baseline={first}")
    third = project.query("SELECT id FROM runs WHERE baseline = ?", first)[0][0]
    assert third not in (first, second, "29990101T000000Z-live")
    out = ok(project, "runs", "delete", first)
    assert out.splitlines()[-1] == f"note: run {third} was gated against {first}"


def test_the_regression_workflow_prunes_before_it_saves_the_database() -> None:
    path = Path(__file__).parents[2] / ".github" / "workflows" / "regression.yml"
    steps = yaml.safe_load(path.read_text())["jobs"]["gate"]["steps"]
    names = [s.get("name", "") for s in steps]
    prune = next(s for s in steps if "llmeval" in s.get("run", "") and " gc " in s["run"])
    assert "cache prune --older-than" in prune["run"]
    assert names.index(prune["name"]) < names.index("Save the results database")
    assert prune.get("if") == "always()"
