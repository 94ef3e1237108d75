"""Multi-step samples run by the engine: a solver's calls and the `model` fixture's calls are
concurrent where they can be, cached, stored and shown."""

from __future__ import annotations

import json

from evalkit import EvalProject, lines, qa_records, write_jsonl

from pytest_llmeval import Results


def test_model_fixture_calls_are_cached_stored_and_shown(project: EvalProject) -> None:
    records = qa_records(6)
    write_jsonl(project.path / "data" / "qa.jsonl", records)
    wrong = {"q001", "q004"}
    replies = {
        r["question"]: ("no idea" if r["id"] in wrong else r["expected_answer"]) for r in records
    }
    project.server.configure(script={"replies": replies})
    project.pytester.makepyfile(
        test_direct="""
        import pytest

        @pytest.mark.llmeval(dataset="data/qa.jsonl", task="qa", thresholds={"accuracy": ">=0.5"})
        def test_direct(sample, model):
            model.generate(
                [{"role": "system", "content": "Answer briefly."},
                 {"role": "user", "content": sample["question"]}],
                max_tokens=8,
            )
        """
    )
    first = project.run("-rA")
    assert first.parseoutcomes() == {"passed": 4, "missed": 2}
    first.stdout.fnmatch_lines(lines("*q001 missed*", "*expected: c1x", "*got:      no idea"))
    assert len(project.server.requests()) == 6
    with Results(project.db) as results:
        rows = {r.sample_id: r for r in results.samples("latest")}
    assert rows["q001"].output == "no idea" and rows["q002"].output == "c2x"
    assert rows["q002"].passed and not rows["q001"].passed
    assert [m["role"] for m in rows["q002"].model.transcript] == ["system", "user", "assistant"]

    again = project.run()
    assert again.parseoutcomes() == {"passed": 4, "missed": 2}
    assert len(project.server.requests()) == 6  # every call answered from the cache
    with Results(project.db) as results:
        rows2 = results.samples("latest")
    assert all(r.model is not None and r.model.cached for r in rows2)


SOLVER = """
from pytest_llmeval import solver


@solver("plan_then_answer")
async def plan_then_answer(sample, generate):
    plan = await generate("Plan: " + sample["question"])
    return await generate(
        [
            {"role": "user", "content": sample["question"]},
            {"role": "assistant", "content": plan.text},
            {"role": "user", "content": "Answer: " + sample["question"]},
        ],
        max_tokens=16,
    )
"""


def test_a_solver_runs_every_sample_concurrently_and_records_each_call(
    project: EvalProject,
) -> None:
    records = qa_records(24)
    write_jsonl(project.path / "data" / "qa.jsonl", records)
    replies = {f"Plan: {r['question']}": "look it up" for r in records}
    replies |= {f"Answer: {r['question']}": r["expected_answer"] for r in records}
    project.server.configure(script={"replies": replies}, latency_ms=50)
    (project.path / "evals").mkdir()
    (project.path / "evals" / "conftest.py").write_text(SOLVER)
    (project.path / "evals" / "eval_plan.yaml").write_text(
        "dataset: data/qa.jsonl\nsolver: plan_then_answer\nexpected: expected_answer\n"
        "scorers: [qa_exact_match]\nthresholds: {accuracy: '>=0.9'}\n"
    )
    for extra in ([], ["-n", "2"]):
        before = project.server.stats()["requests"]
        result = project.run("--llmeval-cache", "off", *extra)
        result.assert_outcomes(passed=24)
        stats = project.server.stats()
        assert stats["requests"] - before == 48
        assert stats["max_in_flight"] > 4  # the samples' programs ran side by side
    with Results(project.db) as results:
        row = results.samples("latest")[0]
    transcript = row.model.transcript
    assert [m["role"] for m in transcript] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert transcript[-1]["content"] == row.output == row.expected
    assert transcript[0]["content"] == f"Plan: {records[0]['question']}"
    assert json.loads(row.prompt or "null") == []  # a solver sends what it decides
