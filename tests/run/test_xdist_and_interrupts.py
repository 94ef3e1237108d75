"""xdist gives the same rows, metrics and verdict; crashes and Ctrl-C lose nothing recorded."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from evalkit import EvalProject

COMPARED = ("sample_id", "task", "passed", "output", "expected", "error", "prompt")


def _rows(project: EvalProject, run_id: str) -> list[tuple[object, ...]]:
    return [
        (*tuple(r[c] for c in COMPARED), json.loads(r["scores"])) for r in project.results(run_id)
    ]


def test_xdist_run_equals_single_process_run(project: EvalProject) -> None:
    project.qa_suite(
        30, wrong={"q004", "q011", "q019"}, extra="thresholds:\n  accuracy: '>=0.95'\n"
    )
    single = project.run()
    multi = project.run("-n", "2")
    assert single.ret == multi.ret == 1
    # three misses and the gate report
    expected = {"passed": 27, "missed": 3, "failed": 1}
    assert single.parseoutcomes() == multi.parseoutcomes() == expected
    first, second = project.runs()
    assert _rows(project, first["id"]) == _rows(project, second["id"])
    assert {r["worker"] for r in project.results(second["id"])} == {"gw0", "gw1"}
    m1, m2 = json.loads(first["metrics"]), json.loads(second["metrics"])
    for task in m1:
        for sl in m1[task]:
            for name in ("accuracy", "exact_match", "f1", "error_rate"):
                assert m1[task][sl][name] == m2[task][sl][name], (task, sl, name)
    assert json.loads(first["verdicts"]) == json.loads(second["verdicts"])
    assert second["status"] == "complete" and second["n_results"] == 30


def test_no_model_under_xdist_is_a_usage_error(project: EvalProject) -> None:
    project.qa_suite(3)
    result = project.pytester.runpytest(
        "-n", "2", "-p", "no:cacheprovider", "-o", "llmeval_default_model="
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "no model configured" in result.stderr.str()


def test_worker_crash_keeps_every_other_row(project: EvalProject) -> None:
    project.qa_suite(12)
    project.pytester.makeconftest("""
        import os
        def pytest_runtest_call(item):
            if item.name == "q005":
                os._exit(3)
    """)
    result = project.run("-n", "2")
    result.stdout.fnmatch_lines(["*worker 'gw*' crashed while running*q005*"])
    assert result.ret == 1
    run = project.runs()[-1]
    assert run["status"] == "incomplete" and run["n_results"] == 11


def test_keyboard_interrupt_keeps_completed_rows(project: EvalProject) -> None:
    project.qa_suite(10)
    project.pytester.makeconftest("""
        def pytest_runtest_call(item):
            if item.name == "q006":
                raise KeyboardInterrupt
    """)
    # in a subprocess: pytester's inline run re-raises KeyboardInterrupt into this session
    result = project.pytester.runpytest_subprocess(*project.args())
    assert result.ret == pytest.ExitCode.INTERRUPTED
    run = project.runs()[-1]
    assert run["status"] == "interrupted" and run["n_results"] == 6
    result.stdout.fnmatch_lines(["llmeval run *: interrupted (partial*"])


def test_ctrl_c_on_a_real_process_keeps_completed_rows(project: EvalProject) -> None:
    project.qa_suite(200)
    project.server.configure(latency_ms=30)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *project.args("-q", "--llmeval-concurrency", "1")],
        cwd=project.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if project.db.exists():
                try:
                    if project.query("SELECT COUNT(*) FROM results")[0][0] >= 5:
                        break
                except sqlite3.OperationalError:
                    pass
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, out
    run = project.runs()[-1]
    passed = int(out.split(" passed")[0].split()[-1])
    assert run["status"] == "interrupted"
    # every item pytest counted is stored; the signal may also land between the moment a
    # finished item's row is recorded and the moment the terminal counts it: one more row
    assert passed <= run["n_results"] <= passed + 1 and 5 <= passed < 200


def test_answers_that_arrived_before_ctrl_c_are_not_paid_for_again(project: EvalProject) -> None:
    project.qa_suite(200)
    project.server.configure(latency_ms=20)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *project.args("-q", "--llmeval-concurrency", "16")],
        cwd=project.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.1)
            if project.server.stats()["requests"] >= 60:
                break
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, out
    kept = project.runs()[-1]["n_results"]
    cached = project.query("SELECT COUNT(*) FROM cache")[0][0]
    # the engine runs ahead of the items: more answers arrived than items scored, and every
    # one of them is in the cache
    assert cached > kept
    sent_before = project.server.stats()["requests"]
    result = project.run("-q")  # a plain rerun at temperature 0, not a resume
    result.assert_outcomes(passed=200)
    assert project.server.stats()["requests"] - sent_before == 200 - cached
