"""The suites shipped in evals/ run end to end against the test server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from evalkit import answers
from llm_server import LLMServer

REPO = Path(__file__).resolve().parents[1]


def _records(path: str) -> list[dict[str, object]]:
    lines = (REPO / path).read_text().splitlines()
    return [json.loads(line) for line in lines]


def _script(wrong_every: int | None) -> dict[str, object]:
    """Right answers for the shipped test splits, except every ``wrong_every``-th sample."""
    je = _records("data/json_extraction/test.jsonl")
    qa = _records("data/qa/test.jsonl")

    def wrong(records: list[dict[str, object]]) -> list[object]:
        return [r["id"] for r in records[::wrong_every]] if wrong_every else []

    script = answers(je, wrong(je), "json_extraction", "expected_output")
    script["replies"].update(answers(qa, wrong(qa))["replies"])
    return script


@pytest.mark.parametrize(("wrong_every", "ret"), [(20, 0), (4, 1)])
def test_shipped_suites(
    pytester: pytest.Pytester, llm_server: LLMServer, wrong_every: int, ret: int
) -> None:
    llm_server.configure(script=_script(wrong_every))
    db = pytester.path / "r.db"
    result = pytester.runpytest(
        str(REPO / "evals"),
        "--rootdir",
        str(REPO),
        "-c",
        str(REPO / "pyproject.toml"),
        "-p",
        "no:cacheprovider",
        "--model",
        "openai/oracle",
        "--llmeval-base-url",
        llm_server.base_url,
        "--llmeval-db",
        str(db),
        "-q",
    )
    assert result.ret == ret
    n_wrong = len(range(0, 200, wrong_every))
    # 6 thresholds: 4 for json_extraction, 2 for qa; misses are their own outcome
    expected = {
        "passed": 400 - 2 * n_wrong,
        "missed": 2 * n_wrong,
        **({"failed": 6} if ret else {}),
    }
    assert result.parseoutcomes() == expected
    out = result.stdout.str()
    assert "json_extraction  (n=200)" in out and "qa  (n=200)" in out
    assert f"llmeval gate {'PASSED: 6/6' if ret == 0 else 'FAILED: 0/6'}" in out


def test_the_judged_suite_runs_when_a_judge_is_given(
    pytester: pytest.Pytester, llm_server: LLMServer
) -> None:
    good = json.dumps(
        {"correctness": 5, "completeness": 5, "format_compliance": 5, "rationale": "Right."}
    )
    llm_server.configure(script={"models": {"oracle": _script(None), "judge": {"default": good}}})
    common = [
        str(REPO / "evals"),
        "--rootdir",
        str(REPO),
        "-c",
        str(REPO / "pyproject.toml"),
        "-p",
        "no:cacheprovider",
        "--llmeval-db",
        str(pytester.path / "r.db"),
    ]
    assert "400 tests collected" in pytester.runpytest(*common, "--co", "-q").stdout.str()
    result = pytester.runpytest(
        *common,
        "-q",
        "--model",
        "openai/oracle",
        "--llmeval-base-url",
        llm_server.base_url,
        "--judge-model",
        "openai/judge",
        "--judge-base-url",
        llm_server.base_url,
    )
    assert result.ret == 0
    result.assert_outcomes(passed=600)
    assert "qa_judged  (n=200)" in result.stdout.str()


@pytest.mark.slow
def test_evals_run_with_nothing_configured_on_the_bundled_model(pytester: pytest.Pytester) -> None:
    """`pytest evals/` with no model, key or network: the bundled model runs every shipped
    suite and is held to its own (smoke) thresholds, so the session passes."""
    pytest.importorskip("transformers")
    result = pytester.runpytest_subprocess(
        str(REPO / "evals"),
        "--rootdir",
        str(REPO),
        "-c",
        str(REPO / "pyproject.toml"),
        "-p",
        "no:cacheprovider",
        "--llmeval-db",
        str(pytester.path / "r.db"),
        "--llmeval-limit",
        "24",
    )
    out = result.stdout.str()
    assert result.ret == 0, out[-3000:]
    assert "no --model given: running the bundled embedded/default" in out
    assert "json_extraction  (n=24)" in out and "qa  (n=24)" in out
    assert "model embedded/default" in out and "llmeval gate PASSED" in out
