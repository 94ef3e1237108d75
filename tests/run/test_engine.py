"""The prefetch engine through the plugin: concurrency, caching, faults, cancellation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from evalkit import EvalProject, answers, qa_records, write_jsonl


def _engine(project: EvalProject, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    result = project.run("--json-report", "--json-report-file=report.json", *args)
    report = json.loads((project.path / "report.json").read_text())
    return result, report["llmeval"]["engine"]


def test_requests_run_concurrently_and_ahead(project: EvalProject) -> None:
    project.qa_suite(40)
    project.server.configure(latency_ms=100)
    result, engine = _engine(project, "--llmeval-concurrency", "8")
    result.assert_outcomes(passed=40)
    assert engine["planned"] == 40 and engine["prefetched"] == 40 and engine["cold"] == 0
    stats = project.server.stats()
    assert stats["requests"] == 40
    assert 6 <= stats["max_in_flight"] <= 8  # never more than the limit
    result.stdout.fnmatch_lines(["llmeval engine: 40 planned, 40 prefetched, 0 cold*"])


def test_concurrency_is_global_across_xdist_workers(project: EvalProject) -> None:
    project.qa_suite(40)
    project.server.configure(latency_ms=60)
    result = project.run("-n", "2", "--llmeval-concurrency", "4")
    result.assert_outcomes(passed=40)
    stats = project.server.stats()
    assert stats["requests"] == 40 and stats["max_in_flight"] == 4
    assert {r["worker"] for r in project.results()} == {"gw0", "gw1"}


def test_exitfirst_wastes_at_most_the_window(project: EvalProject) -> None:
    project.qa_suite(100, wrong={"q004"})
    project.server.configure(latency_ms=30)
    result, engine = _engine(project, "-x", "--llmeval-concurrency", "4", "--llmeval-window", "8")
    result.assert_outcomes(passed=4, failed=1)
    assert engine["model_calls"] <= 5 + 8
    assert project.server.stats()["requests"] <= 5 + 8


def test_ten_percent_faults_lose_no_sample(project: EvalProject) -> None:
    project.qa_suite(150)
    project.server.configure(error_rate=0.1, error_codes=[500, 429], retry_after_ms=5, seed=3)
    result, engine = _engine(project, "--llmeval-concurrency", "16")
    result.assert_outcomes(passed=150)
    assert len(project.results()) == 150
    stats = project.server.stats()
    assert 150 < stats["requests"] <= 150 * 1.3
    assert engine["rate_limited"] > 0


def test_faults_beyond_retries_are_error_items_and_rows(project: EvalProject) -> None:
    project.qa_suite(100)
    project.server.configure(error_rate=0.1, error_codes=[500], seed=5)
    result = project.run("--llmeval-max-retries", "0", "--llmeval-cache", "off")
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] + outcomes["errors"] == 100 and 3 <= outcomes["errors"] <= 20
    rows = project.results()
    assert len(rows) == 100
    assert sum(1 for r in rows if r["error"]) == outcomes["errors"]
    run = project.runs()[-1]
    metrics = json.loads(run["metrics"])["qa"][""]
    assert metrics["accuracy"]["value"] == 1.0  # errors are never counted as wrong answers


def test_adaptive_concurrency_backs_off_under_429(project: EvalProject) -> None:
    project.qa_suite(120)
    project.server.configure(latency_ms=20, max_inflight=4, retry_after_ms=20)
    result, engine = _engine(project, "--llmeval-concurrency", "32")
    result.assert_outcomes(passed=120)
    assert engine["rate_limited"] > 0 and engine["min_concurrency"] <= 8
    # without adaptation nearly every request would be refused at least once
    assert project.server.stats()["requests"] < 120 * 1.6


def test_cache_serves_a_rerun_without_the_model(project: EvalProject) -> None:
    project.qa_suite(20, wrong={"q003"})
    project.server.configure(latency_ms=20)
    first = project.run()
    first.assert_outcomes(passed=19, failed=1)
    assert project.server.stats()["requests"] == 20
    project.server.reset()
    result, engine = _engine(project)
    result.assert_outcomes(passed=19, failed=1)
    assert project.server.stats()["requests"] == 0
    assert engine["cache_hits"] == 20 and engine["model_calls"] == 0
    one, two = (project.results(r["id"]) for r in project.runs())
    assert all(r["cached"] == 1 for r in two) and not any(r["cached"] for r in one)
    for a, b in zip(one, two, strict=True):
        assert (a["output"], a["passed"]) == (b["output"], b["passed"])
        assert b["original_latency_ms"] == a["latency_ms"] and b["latency_ms"] < 5
    metrics = json.loads(project.runs()[-1]["metrics"])["qa"][""]
    assert metrics["latency_p50_ms"]["value"] >= 20  # the model's latency, not the lookup's


def test_two_models_never_share_a_cache_entry(project: EvalProject) -> None:
    records = qa_records(10)
    write_jsonl(project.path / "data" / "qa.jsonl", records)
    (project.path / "evals").mkdir()
    (project.path / "evals" / "eval_qa.yaml").write_text("task: qa\ndataset: data/qa.jsonl\n")
    project.server.configure(
        script={"models": {"good": answers(records), "bad": {"default": "nope"}}}
    )
    assert project.run(model="openai/good").ret == 0
    result = project.run(model="openai/bad")
    result.assert_outcomes(failed=10)
    assert project.server.stats()["by_model"] == {"good": 10, "bad": 10}
    assert project.query("SELECT COUNT(*), COUNT(DISTINCT model) FROM cache")[0] == (20, 2)
    project.run(model="openai/good").assert_outcomes(passed=10)  # its own entries
    assert project.server.stats()["by_model"]["good"] == 10
    # the same model behind another base URL is another model too
    other_url = project.server.base_url.replace("127.0.0.1", "localhost")
    project.pytester.runpytest(
        *project.args(model="openai/good"), "--llmeval-base-url", other_url
    ).assert_outcomes(passed=10)
    assert project.server.stats()["by_model"]["good"] == 20


def test_cache_modes(project: EvalProject) -> None:
    project.qa_suite(5)
    project.run()
    project.run("--llmeval-cache", "refresh")
    assert project.server.stats()["requests"] == 10  # refresh ignores, then rewrites entries
    project.run("--llmeval-cache", "off")
    assert project.server.stats()["requests"] == 15
    project.run("--temperature", "0.7")  # sampled: not cached by default
    project.run("--temperature", "0.7")
    assert project.server.stats()["requests"] == 25
    project.run("--temperature", "0.7", "--llmeval-cache", "on")
    project.run("--temperature", "0.7", "--llmeval-cache", "on")
    assert project.server.stats()["requests"] == 30
    assert project.query("SELECT COUNT(*) FROM cache")[0][0] == 10  # t=0 and t=0.7 entries


def test_deselected_and_unused_items_are_never_requested(project: EvalProject) -> None:
    records = qa_records(6)
    write_jsonl(project.path / "data" / "qa.jsonl", records)
    script = answers(records)
    # the test body asks the bare question; its answer is what the suite scores
    script["replies"].update({r["question"]: r["expected_answer"] for r in records})
    project.server.configure(script=script)
    project.pytester.makepyfile(
        test_qa="""
        import pytest

        @pytest.mark.llmeval(dataset="data/qa.jsonl", task="qa")
        def test_with(sample, completion):
            pass

        @pytest.mark.llmeval(dataset="data/qa.jsonl", task="qa", name="direct")
        def test_direct(sample, model, llmeval_record):
            reply = model.generate(sample["question"], max_tokens=5)
            llmeval_record("answered", float(bool(reply.text)), passed=True)
    """
    )
    result = project.run("-k", "test_direct or q001")
    result.assert_outcomes(passed=7)  # 6 direct, 1 planned
    requests = project.server.requests()
    assert len(requests) == 7
    assert sum(1 for r in requests if r["max_tokens"] == 5) == 6


def test_a_dead_server_is_given_up_on_quickly(project: EvalProject) -> None:
    project.qa_suite(200)
    dead = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there
    result = project.pytester.runpytest(
        "--model",
        "openai/m",
        "--llmeval-base-url",
        dead,
        "--llmeval-db",
        str(project.db),
        "--llmeval-max-retries",
        "2",
        "--llmeval-concurrency",
        "4",
        "--durations=0",
        "-q",
    )
    # nothing listens: the first request to spend its retries ends the run, exit 6
    assert result.ret == 6
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "llmeval NOT EVALUATED (exit 6): 1 of 200 samples errored and 199 were not run: "
            "cannot connect to http://127.0.0.1:9/v1: * (after 3 attempts) (since *)",
            "*Interrupted: llmeval: cannot connect to http://127.0.0.1:9/v1*",
        ]
    )
    rows = project.results()
    assert len(rows) == 1 and rows[0]["error"].startswith("cannot connect")
    run = project.runs()[-1]
    assert run["status"] == "errored" and run["reason"].startswith("1 of 200 samples errored")
    # one request spends its retries (0.5 s + 1 s backoff); nothing else is sent
    assert float(result.stdout.str().split(" in ")[-1].split("s")[0]) < 10
