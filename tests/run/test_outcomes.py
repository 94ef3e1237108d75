"""Outcomes that tell the truth: a miss is not a crash, an outage is not a regression, and a
run survives its interruptions. End to end through pytester against the test server, which
can be killed (``exit_after``), hung (``hang``, ``hang_after``) and capped (``max_inflight``).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest
from evalkit import EvalProject, answers, lines, qa_records, write_jsonl
from llm_server import LLMServer

GATED = "thresholds:\n  accuracy: '>=0.5'\n"


@pytest.fixture
def own_server() -> Iterator[LLMServer]:
    """A server of this test's own, which it may kill."""
    with LLMServer() as server:
        yield server


# -- misses ---------------------------------------------------------------------------------

# What pytest's JUnit schema (testing/example_scripts/junit-10.xsd in pytest's repository,
# which its own tests validate against) allows, checked element by element.
TESTCASE_CHILDREN = {"skipped", "error", "failure", "system-out", "system-err", "properties",
                     "rerunFailure", "rerunError", "flakyFailure", "flakyError"}  # fmt: skip
SUITE_REQUIRED = {"name", "tests", "failures", "errors"}


def check_junit_structure(root: ElementTree.Element) -> None:
    suites = [root] if root.tag == "testsuite" else list(root)
    assert root.tag in ("testsuites", "testsuite")
    for suite in suites:
        assert suite.tag == "testsuite" and set(suite.attrib) >= SUITE_REQUIRED
        for case in suite.iter("testcase"):
            assert "name" in case.attrib
            assert {child.tag for child in case} <= TESTCASE_CHILDREN
            for child in case:
                if child.tag == "properties":
                    assert all(
                        p.tag == "property" and {"name", "value"} <= set(p.attrib) for p in child
                    )


def test_a_miss_is_its_own_outcome_everywhere(project: EvalProject) -> None:
    project.qa_suite(10, wrong={"q003", "q007"}, extra=GATED)
    result = project.run(
        "--junitxml=j.xml", "--json-report", "--json-report-file=r.json", cache=True
    )
    assert result.ret == 0
    assert result.parseoutcomes() == {"passed": 8, "missed": 2}
    result.stdout.fnmatch_lines(
        lines("evals/eval_qa.yaml ...m...m..*", "*= 8 passed, 2 missed in *")
    )
    # the reports agree with the exit code: no failure, and a miss shown as neither passed
    # nor failed (a skip, which CI test reporters show grey) with why
    tree = ElementTree.parse(project.path / "j.xml")
    check_junit_structure(tree.getroot())
    suite = tree.getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("0", "0", "2")
    skipped = {
        c.get("name"): c.find("skipped")
        for c in suite.iter("testcase")
        if c.find("skipped") is not None
    }
    assert sorted(skipped) == ["q003", "q007"]
    message = skipped["q003"].get("message") or ""  # type: ignore[union-attr]
    assert message.startswith("missed: [qa] q003 missed (data/qa.jsonl:4)")
    assert "expected: c3x" in message and "got:      wrong answer" in message
    report = json.loads((project.path / "r.json").read_text())
    outcomes = {t["nodeid"].split("::")[-1]: t["outcome"] for t in report["tests"]}
    assert outcomes["q003"] == "missed" and outcomes["q000"] == "passed"
    assert report["summary"]["missed"] == 2 and report["exitcode"] == 0
    assert "failed" not in report["summary"] and "error" not in report["summary"]
    assert {r["sample_id"]: r["passed"] for r in project.results()}["q003"] == 0
    # --lf reruns exactly the misses: a selection, not gated (it would fail its threshold)
    again = project.run("--lf", cache=True)
    assert again.parseoutcomes()["missed"] == 2 and "passed" not in again.parseoutcomes()
    assert again.ret == 0
    again.stdout.fnmatch_lines(
        lines(
            "  accuracy *0.000 *>=0.5 *(would fail)",
            "llmeval gate not applied to qa: this run selected 2 of its 10 samples (-k, --lf, "
            "--deselect or node ids)*shown for information",
        )
    )
    assert "FAILED" not in again.stdout.str()
    assert project.runs()[-1]["partial"] == 1


def test_without_thresholds_a_miss_is_a_plain_failure(project: EvalProject) -> None:
    project.qa_suite(10, wrong={"q003"})
    result = project.run()
    assert result.ret == 1
    assert result.parseoutcomes() == {"passed": 9, "failed": 1}
    result.stdout.fnmatch_lines(
        lines(
            "*_ q003 (eval_qa.yaml) _*",
            "[qa] q003 missed (data/qa.jsonl:4)",
            "*qa_exact_match: expected*",
        )
    )
    assert "Traceback" not in result.stdout.str()
    # told once in FAILURES, not repeated in the llmeval summary
    assert result.stdout.lines.count("[qa] q003 missed (data/qa.jsonl:4)") == 1


def test_strict_turns_misses_into_failures(project: EvalProject) -> None:
    project.qa_suite(10, wrong={"q003"}, extra=GATED)
    result = project.run("--llmeval-strict")
    assert result.ret == 1
    assert result.parseoutcomes() == {"passed": 9, "failed": 1}


def test_every_miss_can_be_shown_in_full(project: EvalProject) -> None:
    project.qa_suite(20, wrong={f"q{i:03d}" for i in range(10)}, extra=GATED)
    result = project.run()
    result.stdout.fnmatch_lines(
        lines("missed samples (3 of 10 shown; --llmeval-show-misses all for every one):")
    )
    assert result.stdout.str().count("    expected: ") == 3
    result = project.run("--llmeval-show-misses", "all")
    assert result.stdout.str().count("    expected: ") == 10
    assert "missed samples:" in result.stdout.str()
    result = project.run("--llmeval-show-misses", "0")
    assert "missed samples" not in result.stdout.str()


def test_a_scorer_that_raises_is_an_error_item(project: EvalProject) -> None:
    records = [{**r, "label": None} for r in qa_records(6)]
    for r in records:
        del r["label"]
    write_jsonl(project.path / "data" / "qa.jsonl", records)
    (project.path / "evals").mkdir()
    (project.path / "evals" / "eval_qa.yaml").write_text(
        "task: qa\ndataset: data/qa.jsonl\nscorers: [needs_label]\nthresholds:\n"
        "  accuracy: '>=0.5'\n"
    )
    project.pytester.makeconftest(
        """
        from pytest_llmeval.scorers import Score, scorer

        @scorer("needs_label")
        def needs_label(sample, completion):
            return Score(value=float(completion.text == sample["label"]))
        """
    )
    project.server.configure(script=answers(records))
    result = project.run()
    result.assert_outcomes(errors=6)
    result.stdout.fnmatch_lines(
        lines(
            "*ERROR at call of *q000*", "[qa] q000: scorer 'needs_label' raised KeyError: 'label'"
        )
    )
    assert "Traceback" not in result.stdout.str() and "def needs_label" not in result.stdout.str()
    assert result.ret == 6  # nothing could be evaluated: not a regression
    result.stdout.fnmatch_lines(
        lines("llmeval NOT EVALUATED (exit 6): 6 of 6 samples errored (error budget: none): *")
    )
    row = project.results()[0]
    assert row["error_kind"] == "scorer" and row["passed"] is None
    assert json.loads(project.runs()[-1]["metrics"])["qa"][""]["error_rate"]["value"] == 1.0


# -- the gate refuses what it cannot check ----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--llmeval-threshold", "qaa.accuracy>=0.9"],
            "ERROR: --llmeval-threshold: threshold qaa.accuracy>=0.9: no collected suite is named "
            "'qaa' (collected: qa; did you mean 'qa'?)",
        ),
        (
            ["--llmeval-threshold", "qa.acuracy>=0.9"],
            "ERROR: --llmeval-threshold: threshold qa.acuracy>=0.9: no such metric 'acuracy' "
            "(this suite produces: accuracy, *; did you mean 'accuracy'?)",
        ),
        (
            ["--llmeval-fail", "qa.f2:-0.03"],
            "ERROR: --llmeval-fail qa.f2:0.03: no such metric 'f2' (this suite produces: *)",
        ),
        (
            ["--llmeval-threshold", "qa.accuracy>70"],
            "ERROR: --llmeval-threshold: qa.accuracy: '>70' is outside [0, 1], and accuracy is a "
            "proportion, so it could never be met (write '>0.7' or '>70%')",
        ),
    ],
)
@pytest.mark.parametrize("collect_only", [False, True], ids=["run", "co"])
def test_names_that_cannot_be_checked_are_usage_errors(
    project: EvalProject, args: list[str], message: str, collect_only: bool
) -> None:
    project.qa_suite(4, extra=GATED)
    result = project.run(*args, *(["--co"] if collect_only else []))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(lines(message))
    assert project.server.stats()["requests"] == 0  # before any request


def test_a_metric_typo_in_a_suite_is_caught_by_collect_only(project: EvalProject) -> None:
    project.qa_suite(4, extra="thresholds:\n  acuracy: '>=0.7'\n")
    result = project.run("--co")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        lines("ERROR: evals/eval_qa.yaml: threshold qa.acuracy>=0.7: no such metric 'acuracy' *; "
              "did you mean 'accuracy'?)")
    )  # fmt: skip


def test_a_proportion_threshold_out_of_range_in_a_suite_fails_collection(
    project: EvalProject,
) -> None:
    project.qa_suite(4, extra="thresholds:\n  accuracy: '>70'\n")
    result = project.run()
    result.stdout.fnmatch_lines(
        lines(
            "*evals/eval_qa.yaml:4: field 'thresholds.accuracy': '>70' is outside [0, 1], and "
            "accuracy is a proportion*"
        )
    )
    assert project.server.stats()["requests"] == 0


def test_project_thresholds_for_a_suite_not_collected_are_noted(project: EvalProject) -> None:
    project.qa_suite(4, extra=GATED)
    project.pytester.makepyprojecttoml(
        "[tool.llmeval.thresholds]\nsentiment = { accuracy = '>=0.9' }\n"
    )
    result = project.run()
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        lines(
            "llmeval: pyproject.toml [tool.llmeval.thresholds]: threshold sentiment.accuracy>=0.9:"
            " no collected suite is named 'sentiment'; not checked this run"
        )
    )


def test_a_recorded_metric_that_never_appears_cannot_pass_the_gate(project: EvalProject) -> None:
    records = qa_records(4)
    write_jsonl(project.path / "data" / "qa.jsonl", records)
    project.server.configure(script=answers(records))
    project.pytester.makepyfile(
        test_qa="""
        import pytest

        @pytest.mark.llmeval(dataset="data/qa.jsonl", task="qa",
                             thresholds={"politeness": ">=0.5"})
        def test_qa(sample, completion):
            pass
        """
    )
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        lines("llmeval NOT EVALUATED (exit 4): cannot check threshold qa.politeness>=0.5 *")
    )


# -- outages ----------------------------------------------------------------------------------


def _suite(project: EvalProject, server: LLMServer, n: int, extra: str = GATED) -> None:
    records = qa_records(n)
    write_jsonl(project.path / "data" / "qa.jsonl", records)
    (project.path / "evals").mkdir(exist_ok=True)
    (project.path / "evals" / "eval_qa.yaml").write_text(
        f"task: qa\ndataset: data/qa.jsonl\n{extra}"
    )
    server.configure(script=answers(records))


def _args(project: EvalProject, server: LLMServer, *extra: str) -> list[str]:
    return [
        "--model",
        "openai/test-model",
        "--llmeval-base-url",
        server.base_url,
        "--llmeval-db",
        str(project.db),
        "-p",
        "no:cacheprovider",
        *extra,
    ]


def test_a_killed_server_is_an_outage_not_a_regression(
    project: EvalProject, own_server: LLMServer
) -> None:
    _suite(project, own_server, 400)
    own_server.configure(latency_ms=20, exit_after=60)
    killed: list[float] = []

    def watch() -> None:
        proc = own_server._proc
        assert proc is not None
        proc.wait(timeout=120)
        killed.append(time.monotonic())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    result = project.pytester.runpytest(*_args(project, own_server))
    ended = time.monotonic()
    watcher.join(timeout=5)
    assert result.ret == 6
    result.stdout.fnmatch_lines(
        lines(
            "==*llmeval*==",
            "llmeval NOT EVALUATED (exit 6): * of 400 samples errored and * were not run: "
            "*cannot connect to http://127.0.0.1:*/v1* (since *)",
            "llmeval gate NOT EVALUATED: the thresholds were not checked",
        )
    )
    run = project.runs()[-1]
    assert (run["status"], run["verdict"], run["exitstatus"]) == ("errored", "not evaluated", 6)
    scored = project.query("SELECT COUNT(*) FROM results WHERE passed IS NOT NULL")[0][0]
    assert scored >= 40  # what was answered before the kill is kept
    seconds = ended - killed[0]
    print(f"\nkilled server: run ended {seconds:.1f} s after the kill")
    assert seconds < 15
    # such a run is never a baseline: not as latest, not by id unless forced
    result = project.pytester.runpytest(*_args(project, own_server, "--llmeval-baseline=latest"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result = project.pytester.runpytest(
        *_args(project, own_server, f"--llmeval-baseline={run['id']}")
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        lines(
            f"ERROR: --llmeval-baseline {run['id']}: run {run['id']} has status 'errored': its "
            "samples errored beyond the error budget, so it was not evaluated; only complete "
            "runs can be baselines (--llmeval-baseline-force to use it anyway)"
        )
    )


def test_a_server_that_never_answers_ends_at_the_first_timeout(project: EvalProject) -> None:
    project.qa_suite(50, extra=GATED)
    project.server.configure(hang=True)
    started = time.monotonic()
    result = project.run("--llmeval-timeout", "2")
    seconds = time.monotonic() - started
    print(f"\nnever-answering server: run ended after {seconds:.1f} s (2 s request timeout)")
    # it ended at the first timeout: 49 samples not run, the first burst its only requests
    # (what it means, counted; not a wall-clock bound, which a loaded machine breaks)
    assert result.ret == 6
    result.stdout.fnmatch_lines(
        lines(
            "llmeval NOT EVALUATED (exit 6): 1 of 50 samples errored and 49 were not run: no "
            "answer from http://127.0.0.1:*/v1 before the request timeout: no answer within "
            "the 2 s request timeout from * (since *)"
        )
    )
    assert project.server.stats()["requests"] <= 4  # the first burst only


def test_a_refused_connection_leaves_no_request_running_at_exit(project: EvalProject) -> None:
    """Items that gave up on a dead server cancel the requests they were waiting on: none
    is still retrying when the engine's loop closes (asyncio's "Task was destroyed but it
    is pending!" after the final line)."""
    import socket

    project.qa_suite(20, extra=GATED)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    args = project.args("--llmeval-base-url", f"http://127.0.0.1:{port}/v1")
    result = project.pytester.runpytest_subprocess(*args)
    assert result.ret == 6
    result.stdout.fnmatch_lines(["*cannot connect to http://127.0.0.1:*", "*1 error in *"])
    output = result.stdout.str() + result.stderr.str()
    assert "Task was destroyed" not in output and "never retrieved" not in output


def test_under_xdist_an_outage_stops_every_worker_and_is_recorded(project: EvalProject) -> None:
    project.qa_suite(40, extra=GATED)
    project.server.configure(hang=True)
    result = project.run("-n", "2", "--llmeval-timeout", "2")
    assert result.ret == 6
    result.stdout.fnmatch_lines(lines("llmeval NOT EVALUATED (exit 6): *no answer from *"))
    run = project.runs()[-1]  # written by the controller as soon as a worker sent its plan
    assert (run["status"], run["verdict"]) == ("errored", "not evaluated")


def test_resume_under_xdist(project: EvalProject) -> None:
    records = project.qa_suite(30, extra=GATED)
    script = answers(records)
    for key in list(script["replies"])[20:]:
        script["replies"][key] = {"status": 500, "message": "overloaded"}
    project.server.configure(script=script)
    result = project.run("-n", "2", "--llmeval-max-retries", "0", "--llmeval-cache", "off")
    assert result.ret == 6 and project.runs()[-1]["status"] == "errored"
    kept = project.query(
        "SELECT COUNT(*) FROM (SELECT nodeid AS id FROM results WHERE passed IS NOT NULL "
        "UNION SELECT request_id FROM answers)"
    )[0][0]
    assert kept >= 1
    project.server.reset()
    project.server.configure(script=answers(records))
    result = project.run("-n", "2", "--llmeval-resume", "latest", "--llmeval-cache", "off")
    assert result.ret == 0
    assert project.server.stats()["requests"] == 30 - kept  # only what has no answer yet
    run = project.runs()[-1]
    assert (run["status"], run["n_results"], run["resumed"]) == ("complete", 30, 1)


def test_a_server_that_stops_answering_ends_after_the_stall_timeout(project: EvalProject) -> None:
    project.qa_suite(100, extra=GATED)
    project.server.configure(hang_after=30)
    started = time.monotonic()
    result = project.run("--llmeval-stall-timeout", "2")  # the request timeout stays 60 s
    seconds = time.monotonic() - started
    print(f"\nserver hung after 30 answers: run ended after {seconds:.1f} s (stall timeout 2 s)")
    # it ended at the first timeout: 49 samples not run, the first burst its only requests
    # (what it means, counted; not a wall-clock bound, which a loaded machine breaks)
    assert result.ret == 6
    result.stdout.fnmatch_lines(
        lines("llmeval NOT EVALUATED (exit 6): *: no answer from http://127.0.0.1:*/v1 for * s*")
    )
    kept = project.query(
        "SELECT COUNT(*) FROM (SELECT nodeid AS id FROM results WHERE passed IS NOT NULL "
        "UNION SELECT request_id FROM answers)"
    )[0][0]
    assert kept == 30  # every answer is kept: scored, or stored for --llmeval-resume


def test_a_rejected_configuration_stops_at_once(project: EvalProject) -> None:
    records = project.qa_suite(100, extra=GATED)
    script = answers(records)
    bad = {
        "status": 404,
        "message": "The model `test-model` does not exist or you do not have access to it.",
    }
    project.server.configure(script={"default": bad})
    del script
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        lines(
            "llmeval NOT EVALUATED (exit 4): 1 of 100 samples errored and 99 were not run: "
            "http://127.0.0.1:*/v1 does not know this model or endpoint: HTTP 404 from *: The "
            "model `test-model` does not exist or you do not have access to it. (since *)"
        )
    )
    assert project.server.stats()["requests"] <= 4


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ({"detail": "Server is pinned to '/m'; requested 'x'."}, "Server is pinned to '/m'"),
        (
            {
                "object": "error",
                "message": "This model's maximum context length is 2048 tokens.",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            },
            "This model's maximum context length is 2048 tokens.",
        ),
        (
            {"error": "Input validation error: inputs too long", "error_type": "validation"},
            "Input validation error: inputs too long",
        ),
        (
            {
                "error": {
                    "code": 400,
                    "message": "the request exceeds the available context size, try increasing it",
                    "type": "exceed_context_size_error",
                }
            },
            "the request exceeds the available context size, try increasing it",
        ),
        ("upstream said\nno", "upstream said no"),
    ],
)
def test_the_servers_own_reason_reaches_the_item_summary_and_database(
    project: EvalProject, body: object, shown: str
) -> None:
    records = project.qa_suite(6, extra=GATED)
    script = answers(records)
    first = next(iter(script["replies"]))
    script["replies"][first] = {"status": 400, "body": body}
    project.server.configure(script=script)
    result = project.run("--llmeval-max-error-rate", "0.5")
    result.stdout.fnmatch_lines(
        lines(f"*model error: HTTP 400 from http://127.0.0.1:*/v1: {shown}*")
    )
    errors = [r["error"] for r in project.results() if r["error"]]
    assert len(errors) == 1 and shown in errors[0] and "\n" not in errors[0]


LLAMA_CPP_TOO_LONG = {  # llama.cpp's server (llama-cpp-python 0.3.36), verbatim
    "error": {
        "message": "This model's maximum context length is 1024 tokens. However, you requested "
        "18158 tokens (18150 in the messages, 8 in the completion). Please reduce the length "
        "of the messages or completion.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}


def test_a_sample_the_server_refuses_is_input_to_fix_not_an_outage(project: EvalProject) -> None:
    """One sample past the server's context is refused the same way on every run: exit 4 and
    a line that says so, not exit 6 ("retry"); the table shows no PASS the gate never gave."""
    records = project.qa_suite(8, extra=GATED)
    script = answers(records)
    last = list(script["replies"])[-1]
    script["replies"][last] = {"status": 400, "body": LLAMA_CPP_TOO_LONG}
    project.server.configure(script=script)
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        lines(
            "llmeval NOT EVALUATED (exit 4): 1 of 8 samples were rejected by the server (error "
            "budget: none): HTTP 400 from *: This model's maximum context length is 1024 tokens.*"
            "; a rerun will be rejected the same way: fix those samples or the server's limits"
        )
    )
    out = result.stdout.str()
    assert "PASS" not in out and "not checked" in out
    assert project.runs()[-1]["status"] == "errored"
    # within the budget the refused sample is an E and the gate decides on the rest
    result = project.run("--llmeval-max-error-rate", "0.2")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*llmeval gate PASSED: 1/1 thresholds met*"])


# -- a trace from the first second, and resume --------------------------------------------------


def _popen(project: EvalProject, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", *project.args(*args)],
        cwd=project.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_for(project: EvalProject, sql: str, at_least: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if project.db.exists():
            try:
                if project.query(sql)[0][0] >= at_least:
                    return
            except sqlite3.OperationalError:
                pass
    raise AssertionError(f"timed out waiting for {sql}")


def test_a_killed_job_leaves_a_run_marked_aborted(project: EvalProject) -> None:
    project.qa_suite(20, extra=GATED)
    project.server.configure(hang=True)
    proc = _popen(project)
    try:
        _wait_for(project, "SELECT COUNT(*) FROM runs WHERE status = 'running'", 1, 20)
        os.killpg(proc.pid, signal.SIGKILL)  # a CI job killed on its timeout
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed = project.runs()[-1]
    assert killed["status"] == "running" and killed["n_results"] == 0
    listing = subprocess.run(
        [sys.executable, "-m", "pytest_llmeval.cli", "--db", str(project.db), "runs"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert killed["id"] in listing and "aborted" in listing  # the next reader marks it
    run = project.runs()[-1]
    assert run["status"] == "aborted" and "the process ended" in run["reason"]


def test_ctrl_c_keeps_answers_and_resume_sends_nothing_twice(project: EvalProject) -> None:
    records = qa_records(400)
    write_jsonl(project.path / "data" / "qa.jsonl", records)
    (project.path / "evals").mkdir()
    (project.path / "evals" / "eval_qa.yaml").write_text(
        f"task: qa\ndataset: data/qa.jsonl\nparams: {{temperature: 0.7}}\n{GATED}"
    )
    project.server.configure(script=answers(records), latency_ms=50)
    concurrency = 8
    proc = _popen(project, "-q", "--llmeval-concurrency", str(concurrency))
    try:
        deadline = time.monotonic() + 30
        while project.server.stats()["requests"] < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, out
    run = project.runs()[-1]
    assert run["status"] == "interrupted"
    sent = project.server.stats()["requests"]
    kept = project.query(
        "SELECT COUNT(*) FROM (SELECT nodeid AS id FROM results WHERE passed IS NOT NULL "
        "UNION SELECT request_id FROM answers)"
    )[0][0]
    print(f"\nCtrl-C: {sent} requests sent, {kept} answers kept ({sent - kept} lost in flight)")
    assert 0 <= sent - kept <= concurrency
    project.server.reset()
    project.server.configure(script=answers(records), latency_ms=1)
    result = project.run("--llmeval-resume", "latest")
    assert result.ret == 0, result.stdout.str()
    resent = project.server.stats()["requests"]
    print(f"resume at temperature 0.7: {resent} requests for the {400 - kept} missing samples")
    assert resent == 400 - kept
    result.stdout.fnmatch_lines(
        lines(f"llmeval: resuming run {run['id']} (interrupted): *", "*= 400 passed in *")
    )
    final = project.runs()[-1]
    assert len(project.runs()) == 1 and final["id"] == run["id"]
    assert (final["status"], final["n_results"], final["resumed"]) == ("complete", 400, 1)
    assert project.query("SELECT COUNT(*) FROM answers")[0][0] == 0  # all in the rows now


def test_resume_refuses_another_model_or_changed_data(project: EvalProject) -> None:
    project.qa_suite(10, extra=GATED)
    project.server.configure(error_rate=1.0, error_codes=[500])
    project.run("--llmeval-max-retries", "0")
    run = project.runs()[-1]
    assert run["status"] == "errored"
    project.server.configure(error_rate=0.0)
    result = project.run("--llmeval-resume", run["id"], model="openai/other")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        lines(
            f"ERROR: --llmeval-resume {run['id']}: run {run['id']} evaluated model "
            "openai/test-model, not openai/other"
        )
    )
    data = project.path / "data" / "qa.jsonl"
    data.write_text(data.read_text().replace("code", "kode"))
    result = project.run("--llmeval-resume", run["id"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "which has changed since" in result.stderr.str()


# -- rate limits, --help, install ------------------------------------------------------------------


def test_a_server_capping_requests_in_flight_costs_few_extra_requests(
    project: EvalProject,
) -> None:
    project.qa_suite(400, extra=GATED)
    project.server.configure(max_inflight=4, latency_ms=10, retry_after=0, retry_after_ms=20)
    result = project.run()
    assert result.parseoutcomes() == {"passed": 400}
    sent = project.server.stats()["requests"]
    print(f"\n4-in-flight cap: {sent} requests for 400 samples ({sent / 400:.3f} N)")
    assert sent <= 1.12 * 400


def test_help_works_with_the_plugin_installed(pytester: pytest.Pytester) -> None:
    for args in ([], ["-p", "pytester"]):
        result = pytester.runpytest_subprocess("--help", *args)
        assert result.ret == 0, result.stderr.str()
        result.stdout.fnmatch_lines(lines("*--llmeval-fail=METRIC:MARGIN*", "*accuracy:-2%*"))


@pytest.mark.slow
def test_a_plain_install_runs_the_headline_command(tmp_path: Path, llm_server: LLMServer) -> None:
    """``pip install`` the package alone (no extras) in a new virtualenv: ``-n`` and
    ``--json-report`` work, as the README's quick start shows."""
    repo = Path(__file__).resolve().parents[2]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "-c", str(repo / "constraints.txt"), str(repo)],
        capture_output=True,
        text=True,
    )
    if install.returncode != 0 and "No matching distribution" in install.stderr:
        pytest.skip(f"no package index reachable: {install.stderr[-300:]}")
    assert install.returncode == 0, install.stderr[-2000:]
    work = tmp_path / "project"
    records = qa_records(8)
    write_jsonl(work / "data" / "qa.jsonl", records)
    (work / "evals").mkdir()
    (work / "evals" / "eval_qa.yaml").write_text("task: qa\ndataset: data/qa.jsonl\n" + GATED)
    llm_server.configure(script=answers(records))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    run = subprocess.run(
        [
            str(py),
            "-m",
            "pytest",
            "evals/",
            "-n",
            "2",
            "--model",
            "openai/test-model",
            "--llmeval-base-url",
            llm_server.base_url,
            "--json-report",
            "--json-report-file=report.json",
            "-p",
            "no:cacheprovider",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "8 passed" in run.stdout
    report = json.loads((work / "report.json").read_text())
    assert report["llmeval"]["verdict"] == "passed"
    modules = subprocess.run(
        [str(py), "-c", "import importlib.util as u; print(u.find_spec('torch') is None)"],
        capture_output=True,
        text=True,
    )
    assert modules.stdout.strip() == "True"  # no extra was pulled in


def test_a_selection_of_a_suite_is_not_gated_but_whole_suites_and_limits_are(
    project: EvalProject,
) -> None:
    project.qa_suite(10, wrong={"q003", "q007"}, extra="thresholds:\n  accuracy: '>=0.9'\n")
    (project.path / "evals" / "eval_more.yaml").write_text(
        "task: qa\nname: more\ndataset: data/qa.jsonl\nthresholds:\n  accuracy: '>=0.5'\n"
    )
    # two of qa's samples by node id: the items decide (misses are m), exit 0
    picked = project.run("evals/eval_qa.yaml::q003", "evals/eval_qa.yaml::q004")
    assert picked.parseoutcomes() == {"passed": 1, "missed": 1} and picked.ret == 0
    picked.stdout.fnmatch_lines(lines("llmeval gate not applied to qa: this run selected 2 of*"))
    picked.stdout.no_fnmatch_line("*llmeval gate PASSED*")
    # -k picking a whole suite gates it: qa at 0.8 fails its 0.9
    whole = project.run("-k", "qa and not more")
    assert whole.ret == 1
    whole.stdout.fnmatch_lines(lines("*FAIL qa.accuracy = 0.800, needs >=0.9"))
    # -k picking part of a suite: not gated; the other, whole suite is
    part = project.run("-k", "q003 or more")
    assert part.ret == 0, part.stdout.str()
    part.stdout.fnmatch_lines(
        lines(
            "llmeval gate not applied to qa: this run selected 1 of its 10 samples*",
            "llmeval gate PASSED: 1/1 thresholds met",
        )
    )
    # --llmeval-limit picks a sample: still gated
    limited = project.run("--llmeval-limit", "5", "-k", "not more")
    limited.stdout.fnmatch_lines(lines("llmeval gate *: */1 thresholds met"))
    assert "gate not applied" not in limited.stdout.str()
