"""The plugin end to end: pytester projects, the real openai SDK, the test server, SQLite."""

from __future__ import annotations

import json

import pytest
from evalkit import EvalProject, answers, lines, qa_records, write_jsonl


def test_yaml_suite_items_scores_rows_and_summary(project: EvalProject) -> None:
    project.qa_suite(10, wrong={"q003", "q007"})
    result = project.run("-v")
    result.assert_outcomes(passed=8, failed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # no thresholds: misses fail as in pytest
    result.stdout.fnmatch_lines(
        lines(
            "evals/eval_qa.yaml::q000 PASSED*",
            "*[qa] q003 missed (data/qa.jsonl:4)",
            "*qa_exact_match: expected 'c3x', got 'wrong answer'",
            "qa  (n=10)",
            "*accuracy*0.800*[0.490, 0.943]*",
            "llmeval run *: complete; model openai/test-model; results in *results.db",
        )
    )
    (run,) = project.runs()
    assert run["status"] == "complete" and run["partial"] == 0 and run["n_results"] == 10
    metrics = json.loads(run["metrics"])
    assert metrics["qa"][""]["accuracy"]["value"] == pytest.approx(0.8)
    assert metrics["qa"]["hard"]["accuracy"]["n"] == 5
    rows = project.results()
    assert [r["sample_id"] for r in rows] == [f"q{i:03d}" for i in range(10)]
    q3 = rows[3]
    assert q3["passed"] == 0 and q3["output"] == "wrong answer" and q3["expected"] == "c3x"
    scores = json.loads(q3["scores"])
    assert scores["qa_exact_match"]["value"] == 0.0 and scores["qa_f1"]["metric"] == "f1"
    assert json.loads(q3["prompt"])[-1]["content"].startswith("Context:\nItem 3 has code")
    assert rows[0]["prompt_tokens"] > 0 and rows[0]["latency_ms"] > 0
    stored = project.query("SELECT COUNT(*) FROM metrics WHERE slice = '' AND task = 'qa'")
    assert stored[0][0] >= 5


@pytest.mark.parametrize(
    ("spec", "ret", "verdict"),
    [(">=0.7", 0, "PASSED: 1/1"), (">=0.9", 1, "FAILED: 0/1")],
)
def test_thresholds_decide_the_exit_code(
    project: EvalProject, spec: str, ret: int, verdict: str
) -> None:
    project.qa_suite(10, wrong={"q003", "q007"}, extra=f"thresholds:\n  accuracy: '{spec}'\n")
    result = project.run()
    assert result.ret == ret
    result.stdout.fnmatch_lines(lines(f"llmeval gate {verdict} thresholds met"))
    # misses are their own outcome: a letter, a count on the last line, no FAILURES section
    assert result.parseoutcomes() == {"passed": 8, "missed": 2, **({"failed": 1} if ret else {})}
    assert "evals/eval_qa.yaml ...m...m.." in result.stdout.str()
    # the gate's item counts as collected: the progress never passes 100%
    assert "%]" in result.stdout.str() and "[110%]" not in result.stdout.str()
    # the miss is told once, in the llmeval summary, not as a FAILURES entry
    assert result.stdout.str().count("[qa] q003 missed (data/qa.jsonl:4)") == 1
    if ret:
        result.stdout.fnmatch_lines(
            lines(
                "*FAIL qa.accuracy = 0.800, needs >=0.9",
                "FAILED llmeval::gate[qa.accuracy] - [qa] accuracy 0.800 does not meet >=0.9*",
            )
        )
    run = project.runs()[0]
    assert run["exitstatus"] == ret
    assert [v["passed"] for v in json.loads(run["verdicts"])].count(False) == ret


def test_strict_fails_on_any_miss(project: EvalProject) -> None:
    project.qa_suite(10, wrong={"q003"}, extra="thresholds:\n  accuracy: '>=0.5'\n")
    assert project.run().ret == 0
    assert project.run("--llmeval-strict").ret == 1


def test_project_thresholds_override_the_suite(project: EvalProject) -> None:
    project.qa_suite(10, wrong={"q003"}, extra="thresholds:\n  accuracy: '>=0.5'\n")
    project.pytester.makepyprojecttoml(
        "[tool.llmeval.thresholds]\nqa = { accuracy = '>=0.95', f1 = '>=0.5' }\n"
    )
    result = project.run()
    assert result.ret == 1
    result.stdout.fnmatch_lines(lines("*FAIL qa.accuracy = 0.900, needs >=0.95"))
    result = project.run("--llmeval-threshold", "qa.accuracy>=0.85")
    assert result.ret == 0
    result.stdout.fnmatch_lines(lines("llmeval gate PASSED: 2/2 thresholds met"))


def test_marker_suite_with_recorded_scores(project: EvalProject) -> None:
    records = qa_records(6)
    write_jsonl(project.path / "data" / "qa.jsonl", records)
    project.server.configure(script=answers(records, wrong={"q002"}))
    project.pytester.makepyfile(
        test_qa="""
        import pytest

        @pytest.mark.llmeval(dataset="data/qa.jsonl", task="qa",
                             thresholds={"accuracy": ">=0.8", "short": ">=0.5"})
        def test_qa(sample, completion, llmeval_record):
            assert sample["question"].startswith("What")
            llmeval_record("short", 1.0 if len(completion.text) < 5 else 0.0)
    """
    )
    result = project.run("-v")
    assert result.parseoutcomes() == {"passed": 5, "missed": 1}
    result.stdout.fnmatch_lines(
        lines(
            "test_qa.py::test_qa[q000] PASSED*",
            "test_qa.py::test_qa[q002] MISSED*",
            "*short*0.833*",
            "*[qa] q002 missed*",
            "llmeval gate PASSED: 2/2 thresholds met",
        )
    )
    assert result.ret == 0
    rows = project.results()
    assert rows[0]["nodeid"] == "test_qa.py::test_qa[q000]"
    assert json.loads(rows[0]["scores"])["short"]["value"] == 1.0


def test_an_assertion_in_the_test_body_is_a_real_failure(project: EvalProject) -> None:
    records = qa_records(4)
    write_jsonl(project.path / "data" / "qa.jsonl", records)
    project.server.configure(script=answers(records))
    project.pytester.makepyfile(
        test_qa="""
        import pytest

        @pytest.mark.llmeval(dataset="data/qa.jsonl", task="qa", thresholds={"accuracy": ">=0.5"})
        def test_qa(sample, completion):
            assert sample.id != "q001", "custom check"
    """
    )
    result = project.run()
    result.assert_outcomes(passed=3, failed=1)
    assert result.ret == 1  # the gate passes, but a broken assertion is not a sample miss
    assert len(project.results()) == 4  # the failing item's scores are still stored


def test_model_errors_are_error_items_and_never_wrong_answers(project: EvalProject) -> None:
    records = project.qa_suite(6)
    script = answers(records)
    script["replies"][next(iter(script["replies"]))] = {"status": 500, "message": "boom"}
    project.server.configure(script=script)
    result = project.run("--llmeval-max-retries", "0", "--llmeval-max-error-rate", "0.2")
    result.assert_outcomes(passed=5, errors=1)
    result.stdout.fnmatch_lines(lines("*model error: HTTP 500 from http://127.0.0.1:*: boom*"))
    assert result.ret == 1  # within the error budget, an E item fails a suite without thresholds
    rows = project.results()
    assert rows[0]["error"].startswith("HTTP 500") and rows[0]["passed"] is None
    metrics = json.loads(project.runs()[0]["metrics"])["qa"][""]
    assert metrics["accuracy"]["value"] == 1.0 and metrics["accuracy"]["n"] == 5
    assert metrics["error_rate"]["value"] == pytest.approx(1 / 6)


def test_errors_beyond_the_budget_are_not_evaluated(project: EvalProject) -> None:
    records = project.qa_suite(6, extra="thresholds:\n  accuracy: '>=0.5'\n")
    script = answers(records)
    script["replies"][next(iter(script["replies"]))] = {"status": 500, "message": "boom"}
    project.server.configure(script=script)
    result = project.run("--llmeval-max-retries", "0")
    assert result.ret == 6  # an outage, not a regression: CI may retry
    result.stdout.fnmatch_lines(
        lines(
            "==*llmeval*==",
            "llmeval NOT EVALUATED (exit 6): 1 of 6 samples errored (error budget: none): "
            "HTTP 500 from http://127.0.0.1:*/v1: boom (since *)",
            "*llmeval gate NOT EVALUATED: the thresholds were not checked",
        )
    )
    run = project.runs()[-1]
    assert (run["status"], run["verdict"], run["exitstatus"]) == ("errored", "not evaluated", 6)
    result = project.run("--llmeval-max-retries", "0", "--llmeval-max-error-rate", "20%")
    assert result.ret == 0


def test_transient_faults_are_retried_by_the_sdk(project: EvalProject) -> None:
    project.qa_suite(5)
    project.server.configure(fail_first=1, retry_after_ms=1)
    result = project.run("--llmeval-max-retries", "2")
    result.assert_outcomes(passed=5)
    assert project.server.stats()["requests"] == 10


def test_no_model_is_a_usage_error(project: EvalProject) -> None:
    project.qa_suite(3)
    # with the bundled default model switched off, as a team that wants explicit models can
    result = project.pytester.runpytest("-p", "no:cacheprovider", "-o", "llmeval_default_model=")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(lines("ERROR: pytest-llmeval: no model configured: pass --model*"))
    result = project.pytester.runpytest("--co", "-q")
    assert result.ret == 0
    result.stdout.fnmatch_lines(lines("evals/eval_qa.yaml::q000", "3 tests collected*"))


def test_plain_tests_are_untouched(project: EvalProject) -> None:
    project.pytester.makepyfile("def test_ok():\n    assert True\n")
    result = project.pytester.runpytest()  # no --model, no evals: nothing to say
    assert result.ret == 0
    assert "llmeval run" not in result.stdout.str()
    assert not project.db.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "meta-llama/x"], "unknown provider 'meta-llama'"),
        (["--model", "openai/x", "--llmeval-threshold", "qa.accuracy=0.5"], "cannot parse '=0.5'"),
        (["--model", "openai/x", "--llmeval-threshold", "accuracy>0.5"], "TASK.METRIC"),
        (["--model", "openai/x", "--llmeval-limit", "0"], "--llmeval-limit: must be > 0"),
    ],
)
def test_bad_options_are_usage_errors(project: EvalProject, args: list[str], message: str) -> None:
    project.qa_suite(3)
    result = project.pytester.runpytest(*args, "--llmeval-base-url", project.server.base_url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert project.server.stats()["requests"] == 0


def test_bare_model_name_needs_an_api_key(
    project: EvalProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.qa_suite(3)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    result = project.pytester.runpytest("--model", "gpt-4o-mini")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "OPENAI_API_KEY is not set" in result.stderr.str()


def test_openai_environment_variables_are_honoured(
    project: EvalProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.qa_suite(3)
    project.server.configure(api_key="sk-test-secret-4242")
    monkeypatch.setenv("OPENAI_BASE_URL", project.server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-4242")
    result = project.pytester.runpytest(
        "--model", "test-model", "--llmeval-db", str(project.db), "--junitxml", "junit.xml"
    )
    result.assert_outcomes(passed=3)
    assert project.server.request_log()[0]["authorization"] is True
    # the key reaches the server and nothing else
    assert b"sk-test-secret" not in project.db.read_bytes()
    assert "sk-test-secret" not in (project.path / "junit.xml").read_text()
    assert "sk-test-secret" not in result.stdout.str() + result.stderr.str()
    project.server.configure(api_key="another-key")
    # the cache key never holds the API key: without --llmeval-cache off the answers
    # cached by the first run would be served and the bad key never sent
    result = project.pytester.runpytest(
        "--model",
        "test-model",
        "--llmeval-db",
        str(project.db),
        "--llmeval-max-retries",
        "0",
        "--llmeval-cache",
        "off",
    )
    # a bad key ends the session at once: one error item, one line, exit 4 (fix the config)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(lines("*Interrupted: llmeval: * refused the request (HTTP 401)*"))
    assert "sk-test-secret" not in result.stdout.str()


def test_contamination_with_the_train_split_is_reported(project: EvalProject) -> None:
    records = project.qa_suite(10, dataset="data/qa/test.jsonl")
    leaked = [dict(r, id=f"t{i}") for i, r in enumerate(records[:3])]
    fresh = [
        dict(r, id=f"f{i}", question=f"Who owns crate {i}?", context=f"Crate {i} is old.")
        for i, r in enumerate(records)
    ]
    write_jsonl(project.path / "data" / "qa" / "train.jsonl", leaked + fresh)
    result = project.run("--json-report", "--json-report-file=r.json")
    result.stdout.fnmatch_lines(
        lines(
            "  contamination vs data/qa/train.jsonl: exact 3/10 (30.0%), *; e.g. q000, q001, q002",
        )
    )
    report = json.loads((project.path / "r.json").read_text())["llmeval"]
    assert report["metrics"]["qa"][""]["contamination_rate"]["value"] == 0.3
    assert report["contamination"]["qa"]["exact_ids"] == ["q000", "q001", "q002"]


def test_per_model_thresholds_replace_the_suite_bar(project: EvalProject) -> None:
    project.qa_suite(
        10,
        wrong={"q001", "q002", "q003"},
        extra=(
            "thresholds:\n  accuracy: '>=0.9'\n"
            "model_thresholds:\n  'openai/small-*':\n    accuracy: '>=0.5'\n"
        ),
    )
    assert project.run().ret == 1  # test-model is held to 0.9
    project.server.configure(script={"default": "wrong"})
    result = project.run(model="openai/small-1")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*FAIL qa.accuracy = 0.000, needs >=0.5"])
