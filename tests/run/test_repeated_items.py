"""``--llmeval-repeats K``: every sample tried K times, as one item (the tries' verdict) or
K items, stored one row per try, cached per try, through -n, --lf and resume."""

from __future__ import annotations

import json
from typing import Any

import pytest
from evalkit import EvalProject, key, lines, user_message

GATED = "thresholds:\n  accuracy: '>=0.5'\n"
R, W = "right", "wrong answer"


def _script(records: list[dict[str, Any]], tries: dict[str, list[str]]) -> dict[str, Any]:
    """Per sample, its replies in the order its tries arrive (R: the right answer)."""
    replies: dict[str, Any] = {}
    for r in records:
        seq = tries.get(r["id"], [R])
        replies[key(user_message(r))] = [r["expected_answer"] if t == R else t for t in seq]
    return {"replies": replies}


def _setup(project: EvalProject, extra: str = GATED) -> list[dict[str, Any]]:
    records = project.qa_suite(6, extra=extra)
    project.server.configure(
        script=_script(records, {"q001": [R, W, R], "q002": [W, W, R], "q003": [W, W, W]})
    )
    return records


def test_k_tries_are_one_item_that_passes_on_a_majority(project: EvalProject) -> None:
    _setup(project)
    result = project.run("--llmeval-repeats", "3", "-v")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        lines(
            "evals/eval_qa.yaml::q001 PASSED*",
            "evals/eval_qa.yaml::q002 MISSED*",
            "*[qa] q002 missed (data/qa.jsonl:3) in 2 of 3 tries (passes on a majority)",
            "*4 passed, 2 missed*",
        )
    )
    assert project.server.stats()["requests"] == 18
    rows = project.results()
    assert len(rows) == 18
    by_sample: dict[str, list[int]] = {}
    for row in rows:
        by_sample.setdefault(row["sample_id"], []).append(row["passed"])
    assert sorted(by_sample["q001"]) == [0, 1, 1] and sorted(by_sample["q003"]) == [0, 0, 0]
    assert sorted({row["repeat"] for row in rows}) == [0, 1, 2]
    metrics = json.loads(project.runs()[-1]["metrics"])["qa"][""]
    assert metrics["accuracy"]["n"] == 6  # samples are the unit
    assert metrics["accuracy"]["value"] == pytest.approx((1 + 2 / 3 + 1 / 3 + 0 + 1 + 1) / 6)
    assert metrics["pass@3"]["value"] == pytest.approx(5 / 6)
    assert metrics["pass^3"]["value"] == pytest.approx(3 / 6)
    assert metrics["flip_rate"]["value"] == pytest.approx((2 / 3 + 2 / 3) / 6)
    result.stdout.fnmatch_lines(["*pass@3*", "*pass^3*", "*flip_rate*"])

    # the K tries are K cache entries: a rerun at temperature 0 sends nothing
    project.server.reset()
    again = project.run("--llmeval-repeats", "3", "--llmeval-cache", "on")
    assert project.server.stats()["requests"] == 0
    again.stdout.fnmatch_lines(["*4 passed, 2 missed*"])
    assert all(r["cached"] for r in project.results())


def test_all_tries_must_pass_with_repeat_pass_all(project: EvalProject) -> None:
    _setup(project)
    result = project.run("--llmeval-repeats", "3", "--llmeval-repeat-pass", "all")
    result.stdout.fnmatch_lines(
        lines(
            "*[qa] q001 missed (data/qa.jsonl:2) in 1 of 3 tries (passes on all)",
            "*3 passed, 3 missed*",
        )
    )


def test_one_item_per_try_with_repeat_items(project: EvalProject) -> None:
    _setup(project)
    listed = project.run("--llmeval-repeats", "2", "--llmeval-repeat-items", "--co", "-q")
    listed.stdout.fnmatch_lines(
        ["evals/eval_qa.yaml::q000@r0", "evals/eval_qa.yaml::q000@r1", "*12 tests collected*"]
    )
    result = project.run("--llmeval-repeats", "3", "--llmeval-repeat-items", "-k", "q001")
    result.stdout.fnmatch_lines(["qa  (n=1)", "*2 passed, 15 deselected, 1 missed*"])
    rows = project.results()
    assert sorted((r["nodeid"].rpartition("::")[2], r["repeat"]) for r in rows) == [
        ("q001@r0", 0),
        ("q001@r1", 1),
        ("q001@r2", 2),
    ]
    metrics = json.loads(project.runs()[-1]["metrics"])["qa"][""]
    assert metrics["accuracy"]["n"] == 1 and metrics["pass^3"]["value"] == 0.0


def test_the_suite_key_the_ini_and_the_command_line(project: EvalProject) -> None:
    _setup(project, GATED + "repeats: 2\n")
    project.pytester.makeini("[pytest]\nllmeval_repeats = 4\n")
    project.run()
    assert len(project.results()) == 12  # the suite's own beats ini
    project.run("--llmeval-repeats", "3")
    assert len(project.results()) == 18  # the command line beats the suite
    (project.path / "evals" / "eval_qa.yaml").write_text(
        "task: qa\ndataset: data/qa.jsonl\n" + GATED
    )
    project.run()
    assert len(project.results()) == 24  # ini for a suite without its own
    project.pytester.makeini("[pytest]\n")
    bad = project.run("--llmeval-repeats", "0")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--llmeval-repeats: must be > 0, got 0*"])


def test_a_marked_test_runs_its_body_once_per_try(project: EvalProject) -> None:
    records = _setup(project)
    del records
    project.pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.llmeval(dataset="data/qa.jsonl", task="qa", repeats=3,
                             thresholds={"accuracy": ">=0.3"})
        def test_qa(sample, completion, llmeval_record):
            llmeval_record("short", float(len(completion.text) < 6))
        """
    )
    result = project.run("test_marked.py", "-k", "q001 or q003")
    result.stdout.fnmatch_lines(["*1 passed, 4 deselected, 1 missed*"])
    rows = project.results()
    assert len(rows) == 6
    outputs = sorted(r["output"] for r in rows if r["sample_id"] == "q001")
    assert outputs == ["c1x", "c1x", "wrong answer"]  # each try saw its own completion
    short = sorted(json.loads(r["scores"])["short"]["value"] for r in rows)
    assert short == [0.0] * 4 + [1.0] * 2


def test_repeats_under_xdist_and_last_failed(project: EvalProject) -> None:
    _setup(project)
    result = project.run("--llmeval-repeats", "3", "-n", "2", cache=True)
    result.stdout.fnmatch_lines(["*4 passed, 2 missed*"])
    assert len(project.results()) == 18
    project.server.reset()
    rerun = project.run("--llmeval-repeats", "3", "--lf", "--llmeval-cache", "off", cache=True)
    rerun.stdout.fnmatch_lines(
        ["run-last-failure: rerun previous 2 failures", "evals/eval_qa.yaml mm *"]
    )
    assert project.server.stats()["requests"] == 6  # the two missed samples' three tries


def test_resume_sends_only_the_missing_tries(project: EvalProject) -> None:
    _setup(project)
    project.pytester.makeconftest(
        """
        def pytest_runtest_call(item):
            if item.name == "q004":
                raise KeyboardInterrupt
        """
    )
    # in a subprocess: pytester's inline run re-raises KeyboardInterrupt into this session
    first = project.pytester.runpytest_subprocess(
        *project.args("--llmeval-repeats", "3", "--llmeval-cache", "off")
    )
    assert first.ret == pytest.ExitCode.INTERRUPTED
    run = project.runs()[-1]
    assert run["status"] == "interrupted"
    (project.path / "conftest.py").unlink()
    project.server.reset()
    project.server.configure(
        script=_script(
            project_records(project), {"q001": [R, W, R], "q002": [W, W, R], "q003": [W, W, W]}
        )
    )
    result = project.run("--llmeval-repeats", "3", "--llmeval-resume", "latest")
    result.stdout.fnmatch_lines(["*4 passed, 2 missed*"])
    assert project.server.stats()["requests"] <= 6  # q004 and q005 only (some may be kept)
    final = project.runs()[-1]
    assert final["id"] == run["id"] and final["status"] == "complete" and final["n_results"] == 18


def project_records(project: EvalProject) -> list[dict[str, Any]]:
    text = (project.path / "data" / "qa.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_thresholds_on_pass_k_need_repeats(project: EvalProject) -> None:
    _setup(project)
    result = project.run("--llmeval-repeats", "3", "--llmeval-threshold", "qa.pass^3>=0.6")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*FAIL qa.pass^3 = 0.500, needs >=0.6*"])
    ok = project.run("--llmeval-repeats", "3", "--llmeval-threshold", "qa.pass@3>=0.8")
    assert ok.ret == 0
    once = project.run("--llmeval-threshold", "qa.pass@3>=0.8")
    assert once.ret == pytest.ExitCode.USAGE_ERROR
    once.stderr.fnmatch_lines(["*threshold qa.pass@3>=0.8: no such metric 'pass@3'*"])
