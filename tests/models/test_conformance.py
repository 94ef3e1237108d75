"""Conformance: one small suite, run end to end through every provider path, each against
the same tiny random Llama (tests/tinymodel.py) except the bundled model:

* ``hf/<dir>``: the local transformers provider;
* ``openai/<dir>`` against ``transformers serve`` (tests/servers.py);
* ``openai/tiny-gguf`` against llama.cpp's server (llama-cpp-python) on that model converted to
  GGUF; it skips, saying why, unless scripts/build_llama_cpp_wheel.sh has been run;
* ``embedded/default``: the bundled model.

A random model's answers are garbage, so the assertions are about plumbing: every sample has a
row, with an output, token counts and a finish reason; the gate prints its line and sets the
exit status; both servers generate what the local provider does (greedy decoding of the same
weights: transformers serve to the byte, llama.cpp up to its decoding of stray bytes); and each
server's own refusal, from its real error body, reaches the user.

Each run is ``python -m pytest`` in a subprocess, as pytester's ``runpytest_subprocess`` does
(torch cannot be re-imported in-process), but under a session-scoped runner, so the local
reference run is made once and shared by the comparisons.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from servers import LLAMA_N_CTX, REPO, Served

pytest_plugins = ["servers"]
pytestmark = pytest.mark.slow

PATHS = ["hf", "transformers-serve", "llama.cpp", "embedded"]
SERVERS = {"transformers-serve": "transformers_server", "llama.cpp": "llama_cpp_server"}
MAX_TOKENS = {"qa": 8, "json_extraction": 16}
#: llama-cpp-python's completion loop does not stop on a token that ends inside a UTF-8
#: character: it generates up to 3 more to finish it (``multibyte_fix`` in ``llama.py``), and
#: reports them, so its server can count more completion tokens than ``max_tokens``.
UTF8_OVERRUN = {"llama.cpp": 3}


def write_suite(root: Path) -> set[str]:
    """Six QA samples and two JSON extractions from the project's test splits, with short
    replies and thresholds any model meets: the gate runs and passes, whatever the answers."""
    ids: set[str] = set()
    for task, source, n, threshold in [
        ("qa", "data/qa/test.jsonl", 6, "accuracy"),
        ("json_extraction", "data/json_extraction/test.jsonl", 2, "parse_rate"),
    ]:
        records = (REPO / source).read_text().splitlines()[:n]
        ids |= {json.loads(r)["id"] for r in records}
        (root / "data").mkdir(exist_ok=True)
        (root / "data" / f"{task}.jsonl").write_text("\n".join(records) + "\n")
        (root / "evals").mkdir(exist_ok=True)
        (root / "evals" / f"eval_{task}.yaml").write_text(
            f"task: {task}\ndataset: data/{task}.jsonl\n"
            f"params:\n  temperature: 0\n  max_tokens: {MAX_TOKENS[task]}\n"
            f'thresholds:\n  {threshold}: ">=0"\n'
        )
    return ids


def write_long_prompts(root: Path) -> set[str]:
    """Four QA samples whose context alone is longer than llama.cpp's ``LLAMA_N_CTX``."""
    records = [
        {
            "id": f"long-{i}",
            "question": "What is the code?",
            "context": " ".join(f"Item {j} has code c{j}x." for j in range(LLAMA_N_CTX)),
            "expected_answer": f"c{i}x",
        }
        for i in range(4)
    ]
    (root / "data").mkdir()
    (root / "data" / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (root / "evals").mkdir()
    (root / "evals" / "eval_qa.yaml").write_text(
        "task: qa\ndataset: data/qa.jsonl\nparams:\n  max_tokens: 8\n"
    )
    return {r["id"] for r in records}


@dataclass(frozen=True)
class SuiteRun:
    """One ``pytest evals`` run in a subprocess: its exit status, output and stored rows."""

    spec: str
    ids: set[str]  # the samples the suite holds
    ret: int
    stdout: str
    rows: dict[str, dict[str, Any]]  # by sample id, from the run's results table
    run: dict[str, Any]  # its row in the runs table

    @property
    def outcomes(self) -> dict[str, int]:
        return pytest.RunResult.parse_summary_nouns(self.stdout.splitlines())

    def fnmatch_lines(self, lines: list[str]) -> None:
        pytest.LineMatcher(self.stdout.splitlines()).fnmatch_lines(lines)


class Runner:
    """Runs suites through a model in fresh directories; ``path`` runs are made once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: dict[str, SuiteRun] = {}

    def path(self, name: str, request: pytest.FixtureRequest) -> SuiteRun:
        if name not in self.made:
            spec, args = provider(name, request)
            self.made[name] = self.run(name, write_suite, spec, *args)
        return self.made[name]

    def run(self, label: str, suite: Callable[[Path], set[str]], spec: str, *args: str) -> SuiteRun:
        where = self.root / f"{label}-{len(list(self.root.iterdir()))}"
        where.mkdir()
        (where / "pytest.ini").write_text("[pytest]\n")
        ids = suite(where)
        db = where / "results.db"
        command = [sys.executable, "-m", "pytest", "evals", "--model", spec, "--llmeval-db"]
        command += [str(db), "-p", "no:cacheprovider", *args]
        # an outer xdist worker's or pytest's own variables would leak into the inner run
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env |= {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        done = subprocess.run(
            command, cwd=where, env=env, capture_output=True, text=True, timeout=300
        )
        stdout = done.stdout + done.stderr
        run: dict[str, Any] = {}
        results: dict[str, dict[str, Any]] = {}
        if db.exists():  # not when the run ended before it started (a usage error)
            with sqlite3.connect(db) as conn:
                conn.row_factory = sqlite3.Row
                last = conn.execute("SELECT * FROM runs ORDER BY started_at DESC").fetchone()
                run = dict(last) if last else {}
                rows = conn.execute("SELECT * FROM results WHERE run_id = ?", (run.get("id"),))
                results = {r["sample_id"]: dict(r) for r in rows}
        return SuiteRun(spec, ids, done.returncode, stdout, results, run)


def provider(name: str, request: pytest.FixtureRequest) -> tuple[str, list[str]]:
    """``--model`` and its other options for one provider path (starting its server)."""
    if name == "hf":
        return f"hf/{request.getfixturevalue('tiny_model')}", []
    if name == "embedded":
        return "embedded/default", []
    served: Served = request.getfixturevalue(SERVERS[name])
    return f"openai/{served.model}", ["--llmeval-base-url", served.base_url]


@pytest.fixture(scope="session")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """The session's suite runs, each provider path's made once."""
    pytest.importorskip("transformers")
    return Runner(tmp_path_factory.mktemp("conformance"))


@pytest.mark.parametrize("name", PATHS)
def test_the_suite_runs_through_every_provider_path(
    runner: Runner, request: pytest.FixtureRequest, name: str
) -> None:
    """A row per sample with an output, the model's own token counts and a finish reason; the
    gate's line; exit 0 and a complete run."""
    result = runner.path(name, request)
    assert result.ret == pytest.ExitCode.OK, result.stdout
    outcomes = result.outcomes
    assert outcomes.get("passed", 0) + outcomes.get("missed", 0) == 8, result.stdout
    assert set(result.rows) == result.ids  # every sample has its row
    for sample_id, row in result.rows.items():
        assert row["error"] is None and row["output"], (sample_id, row)
        assert row["prompt_tokens"] > 50, (sample_id, row)  # the counts are the model's own
        limit = MAX_TOKENS[row["task"]] + UTF8_OVERRUN.get(name, 0)
        assert 1 <= row["completion_tokens"] <= limit, (sample_id, row)
        assert row["finish_reason"] in {"stop", "length"}, (sample_id, row)
    result.fnmatch_lines(
        [
            "llmeval gate PASSED: 2/2 thresholds met",
            f"llmeval run *: complete; model {result.spec}; results in *",
        ]
    )
    assert result.run["status"] == "complete" and result.run["exitstatus"] == 0, result.run


@pytest.mark.parametrize("name", list(SERVERS))
def test_a_server_answers_as_the_local_provider_does(
    runner: Runner, request: pytest.FixtureRequest, name: str
) -> None:
    """Greedy decoding of the same weights: the same prompt tokens, the same generated tokens.

    transformers serve returns exactly the local provider's text and counts. llama.cpp's
    server decodes with ``errors="ignore"`` where transformers writes U+FFFD for bytes that
    are not UTF-8 (a random model emits many), and may run past ``max_tokens`` to finish a
    character (``UTF8_OVERRUN``): its text extends the local one with the U+FFFD left out.
    """
    served = runner.path(name, request)  # first, so that a missing server skips at once
    local = runner.path("hf", request)
    for sample_id, want in local.rows.items():
        got = served.rows[sample_id]
        assert got["prompt_tokens"] == want["prompt_tokens"], sample_id
        assert got["finish_reason"] == want["finish_reason"], sample_id
        if name == "llama.cpp":
            assert got["output"].startswith(want["output"].replace("\ufffd", "")), sample_id
            extra = got["completion_tokens"] - want["completion_tokens"]
            assert 0 <= extra <= UTF8_OVERRUN[name], sample_id
        else:
            assert got["output"] == want["output"], sample_id
            assert got["completion_tokens"] == want["completion_tokens"], sample_id


def test_transformers_serve_refusing_the_model_name_ends_the_run(
    runner: Runner, transformers_server: Served
) -> None:
    """Its real body is ``{"detail": "Server is pinned to ...; requested ..."}`` (HTTP 400)."""
    result = runner.run(
        "pinned",
        write_suite,
        "openai/not-the-served-model",
        "--llmeval-base-url",
        transformers_server.base_url,
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout
    reason = "Server is pinned to '*'; requested 'not-the-served-model'."
    result.fnmatch_lines([f"*HTTP 400 from {transformers_server.base_url}: {reason}*"])
    errors = [r["error"] for r in result.rows.values() if r["error"]]
    assert errors and all("Server is pinned to" in e for e in errors), result.rows


def test_llama_cpp_refusing_a_prompt_beyond_its_context_ends_the_run(
    runner: Runner, llama_cpp_server: Served
) -> None:
    """Its real body is OpenAI's shape (HTTP 400): ``{"error": {"message": "This model's maximum
    context length is N tokens. ...", "code": "context_length_exceeded", ...}}``."""
    result = runner.run(
        "too-long",
        write_long_prompts,
        f"openai/{llama_cpp_server.model}",
        "--llmeval-base-url",
        llama_cpp_server.base_url,
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout
    reason = f"This model's maximum context length is {LLAMA_N_CTX} tokens. However, you requested"
    result.fnmatch_lines([f"*HTTP 400 from {llama_cpp_server.base_url}: {reason}*"])
    errors = [r["error"] for r in result.rows.values() if r["error"]]
    assert errors and all("maximum context length" in e for e in errors), result.rows
